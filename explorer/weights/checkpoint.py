"""The one checkpoint loader: reading weights from bytes or a file without running code from it.

Every checkpoint the explorer reads goes through here: the project's trained ``assets/*.pt``,
a user's upload, and ``explorer.train``'s checkpoints. ``torch.load(weights_only=True)`` or
safetensors, then a strict key and shape check (:func:`load_strict`); everything that can go
wrong is a :class:`WeightsError` whose message says what the file is and what to do.
"""
from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from explorer.i18n import _, join

__all__ = [
    "WeightsError",
    "safe_torch_load",
    "load_state_dict_bytes",
    "load_state_dict_file",
    "unwrap_state_dict",
    "load_strict",
    "load_checkpoint_file",
]


class WeightsError(RuntimeError):
    """A user-readable reason why weights could not be loaded, with what to do instead."""


def _is_safetensors(data: bytes) -> bool:
    if len(data) < 10:
        return False
    header_len = int.from_bytes(data[:8], "little")
    return 0 < header_len <= len(data) - 8 and data[8:9] == b"{"


def safe_torch_load(data: bytes, what: str | None = None) -> Any:
    """``torch.load(weights_only=True)`` of a checkpoint's bytes on the CPU: never runs code
    from the file; anything it refuses or cannot read is a :class:`WeightsError` that says
    what the file is and what to save instead (``what`` names the file in the messages)."""
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
                what=what, calls=join(dict.fromkeys(unsafe)))) from None
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


def load_state_dict_bytes(data: bytes, what: str | None = None) -> dict[str, torch.Tensor]:
    """Read a checkpoint's bytes (torch.save zip/legacy or safetensors) into a state dict,
    never running code from the file."""
    if _is_safetensors(data):
        from safetensors import SafetensorError
        from safetensors.torch import load as st_load

        try:
            return st_load(data)
        except (SafetensorError, ValueError, RuntimeError) as exc:
            raise WeightsError(f"Could not read the safetensors file: {exc}.") from None
    return unwrap_state_dict(safe_torch_load(data, what))


def unwrap_state_dict(obj: Any) -> dict[str, torch.Tensor]:
    """The tensors of a loaded checkpoint: the state dict itself, or the one a training
    checkpoint wraps (``state_dict``, ``model_state_dict``, ``model``), without the prefixes
    DataParallel and torch.compile add."""
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
    shown = join(keys[:limit])
    return shown + (" " + _("… and {n} more").format(n=len(keys) - limit)
                    if len(keys) > limit else "")


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
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


def load_state_dict_file(path: str | Path, what: str | None = None) -> dict[str, torch.Tensor]:
    """:func:`load_state_dict_bytes` of the file at ``path`` (named ``what`` in messages)."""
    path = Path(path)
    data = path.read_bytes()  # a missing file stays a FileNotFoundError
    return load_state_dict_bytes(data, what or str(path))


def load_checkpoint_file(model: nn.Module, path: str | Path, name: str,
                         what: str | None = None) -> nn.Module:
    """Load the checkpoint at ``path`` into ``model`` (the architecture ``name``) safely and
    strictly; returns ``model``."""
    load_strict(model, load_state_dict_file(path, what), name)
    return model
