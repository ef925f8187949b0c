"""Preprocessing, device choice and prediction.

The page, the command line (``python -m explorer.predict``) and the benchmark all go through
:func:`predict`, so what the page shows is what the CLI measures.

The shared model and devices
----------------------------
A :class:`~explorer.weights.LoadedModel` is cached once per process and shared by every
browser session, so it must never be moved or changed. It lives on the CPU. For another
device, :func:`model_on` (from :mod:`explorer.inference.shared`, the one module that runs a
shared model safely) keeps one private copy per (model, device): the copy is made once
(``deepcopy`` + ``.to(device)``, channels-last on CUDA), reused by every later call, and
dropped together with the shared model when the resource cache evicts it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn as nn
from PIL import Image
from explorer.i18n import _, ngettext
from explorer.inference.shared import drop_device_copies, model_on
# Preprocessing is attached to the weights (explorer.weights.preprocess); re-exported here.
from explorer.weights.preprocess import (IMAGENET_MEAN, IMAGENET_STD, MNIST_MEAN, MNIST_STD,
                                         Preprocess, cifar_preprocess, imagenet_preprocess,
                                         mnist_format_digit, mnist_preprocess)

if TYPE_CHECKING:  # pragma: no cover
    from explorer.weights import LoadedModel

__all__ = [
    "Preprocess",
    "imagenet_preprocess",
    "cifar_preprocess",
    "mnist_preprocess",
    "mnist_format_digit",
    "MNIST_MEAN",
    "MNIST_STD",
    "pick_device",
    "device_info",
    "model_on",
    "Prediction",
    "predict",
    "predict_batch",
    "logits_of",
    "tensor_to_image",
]

# --------------------------------------------------------------------------------------------
# Preprocessing


def tensor_to_image(x: torch.Tensor, preprocess: Preprocess) -> Image.Image:
    """Undo the normalisation of a 1×C×H×W (or C×H×W) tensor for a preview."""
    x = x.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    mean = torch.tensor(preprocess.mean).view(-1, 1, 1)
    std = torch.tensor(preprocess.std).view(-1, 1, 1)
    x = (x * std + mean).clamp(0, 1)
    arr = (x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr)


# --------------------------------------------------------------------------------------------
# Devices


def pick_device(prefer: str | torch.device | None = None) -> torch.device:
    """CUDA when available, then Apple MPS, then the CPU (or ``prefer`` when given)."""
    if prefer is not None:
        return torch.device(prefer)
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def device_info() -> str:
    """One line for the sidebar: which device predictions run on."""
    device = pick_device()
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        return _("GPU (CUDA): {name}, {memory} GiB").format(
            name=props.name, memory=f"{props.total_memory / 2**30:.0f}")
    if device.type == "mps":
        return "GPU (Apple MPS)"
    threads = torch.get_num_threads()
    return ngettext("CPU ({threads} thread) — no GPU found", "CPU ({threads} threads) — no GPU found",
                    threads).format(threads=threads)


# --------------------------------------------------------------------------------------------
# Prediction


@dataclass
class Prediction:
    indices: list[int]
    names: list[str]
    probabilities: list[float]
    latency_ms: float  # forward pass incl. transfer to and from the device, not preprocessing
    device: str
    notice: str | None = None  # e.g. "GPU out of memory: ran on the CPU"
    preprocess_ms: float = 0.0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return {
            "top": [{"index": i, "name": n, "probability": p}
                    for i, n, p in zip(self.indices, self.names, self.probabilities)],
            "latency_ms": self.latency_ms,
            "preprocess_ms": self.preprocess_ms,
            "device": self.device,
            **({"notice": self.notice} if self.notice else {}),
        }


def logits_of(output) -> torch.Tensor:
    """The logits from a model's output (plain tensor, namedtuple with ``logits``, tuple)."""
    if isinstance(output, torch.Tensor):
        return output
    if hasattr(output, "logits"):
        return output.logits
    if isinstance(output, (tuple, list)):
        return output[0]
    raise TypeError(f"cannot find logits in a {type(output).__name__}")


def _use_autocast(device: torch.device, x: torch.Tensor) -> bool:
    # Half precision pays off for ImageNet-sized inputs on CUDA tensor cores; for 28×28 digits
    # the kernels are launch-bound and autocast only adds casts.
    return device.type == "cuda" and x.shape[-1] * x.shape[-2] >= 64 * 64


def _forward(model: nn.Module, x: torch.Tensor, device: torch.device) -> torch.Tensor:
    m = model_on(model, device)
    x = x.to(device, non_blocking=True)
    if device.type == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        if _use_autocast(device, x):
            with torch.autocast("cuda", dtype=torch.float16):
                out = logits_of(m(x))
        else:
            out = logits_of(m(x))
        return out.float()


def predict(loaded: "LoadedModel", image: Image.Image | torch.Tensor, topk: int = 5,
            device: str | torch.device | None = None) -> Prediction:
    """Top-k classes of one image (a PIL image, or a tensor already preprocessed)."""
    t0 = time.perf_counter()
    x = image if isinstance(image, torch.Tensor) else loaded.preprocess(image)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    preprocess_ms = (time.perf_counter() - t0) * 1000
    result = predict_batch(loaded, x, topk, device)[0]  # one forward, one way to fall back
    result.preprocess_ms = preprocess_ms
    return result


def predict_batch(loaded: "LoadedModel", x: torch.Tensor, topk: int = 5,
                  device: str | torch.device | None = None) -> list[Prediction]:
    """Top-k classes of each image of a preprocessed batch (N×C×H×W) in one forward pass,
    (:func:`predict` is its one-image case; the command line goes through a folder with it).
    Each one's ``latency_ms`` is its share of the batch's forward pass."""
    device = pick_device(device)
    try:
        t1 = time.perf_counter()
        probs = _forward(loaded.model, x, device).softmax(-1)
        values, indices = probs.topk(min(topk, probs.shape[-1]))
        values, indices = values.cpu(), indices.cpu()  # waits for the device
        share_ms = (time.perf_counter() - t1) * 1000 / len(x)
    except torch.OutOfMemoryError:
        if device.type == "cpu":
            raise
        drop_device_copies(loaded.model)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        results = predict_batch(loaded, x, topk, device="cpu")
        for result in results:
            result.notice = _("The GPU ran out of memory, so this prediction ran on the CPU.")
        return results
    cats = loaded.categories
    return [Prediction(idx, [cats[i] if i < len(cats) else str(i) for i in idx], vals,
                       share_ms, _device_text(device))
            for idx, vals in zip(indices.tolist(), values.tolist())]


def _device_text(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
