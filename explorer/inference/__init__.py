"""Preprocessing, device choice and prediction.

The page, the command line (``python -m explorer.predict``) and the benchmark all go through
:func:`predict`, so what the page shows is what the CLI measures.

The shared model and devices
----------------------------
A :class:`~explorer.weights.LoadedModel` is cached once per process and shared by every
browser session, so it must never be moved or changed. It lives on the CPU. For another
device, :func:`model_on` keeps one private copy per (model, device) in a weak-keyed cache:
the copy is made once (``deepcopy`` + ``.to(device)``, channels-last on CUDA), reused by every
later call, and dropped together with the shared model when the resource cache evicts it.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torchvision.transforms.functional as TF
from PIL import Image
from explorer.i18n import N_, _
from explorer.inference.shared import drop_device_copies, model_on

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
    "logits_of",
    "tensor_to_image",
]

MNIST_MEAN, MNIST_STD = 0.1307, 0.3081
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


# --------------------------------------------------------------------------------------------
# Preprocessing


class Preprocess:
    """PIL image -> 1×C×H×W float tensor, with a description and the normalisation used
    (so a preview can undo it)."""

    def __init__(self, fn: Callable[[Image.Image], torch.Tensor],
                 describe: "str | tuple[str, dict]",
                 mean: Sequence[float], std: Sequence[float], size: tuple[int, int]):
        self._fn = fn
        self._describe = describe  # text, or (N_-marked template, values): said when read
        self.mean = tuple(mean)
        self.std = tuple(std)
        self.size = size

    @property
    def describe(self) -> str:
        """The steps in the UI language of whoever reads them (a cached model is shared)."""
        if isinstance(self._describe, tuple):
            template, values = self._describe
            return _(template).format(**values)
        return self._describe

    def __call__(self, image: Image.Image) -> torch.Tensor:
        x = self._fn(image)
        return x.unsqueeze(0) if x.dim() == 3 else x

    def __repr__(self) -> str:
        return f"Preprocess({self.describe})"


def _imagenet_fn(image: Image.Image, resize: int, crop: int, mean, std, interpolation) -> torch.Tensor:
    # The same operations, in the same order, as torchvision's ImageClassification preset.
    if image.mode != "RGB":
        image = image.convert("RGB")
    image = TF.resize(image, [resize], interpolation=interpolation, antialias=True)
    image = TF.center_crop(image, [crop])
    x = TF.convert_image_dtype(TF.pil_to_tensor(image), torch.float)
    return TF.normalize(x, mean=list(mean), std=list(std))


def imagenet_preprocess(crop: int = 224, resize: int = 256, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                        interpolation: str = "bilinear", source: str = "ImageNet") -> Preprocess:
    mode = TF.InterpolationMode(interpolation)

    def fn(image):
        return _imagenet_fn(image, resize, crop, mean, std, mode)

    fmt = lambda v: ", ".join(f"{x:g}" for x in v)  # noqa: E731
    return Preprocess(fn, (N_("resize {resize} ({interpolation}) → centre crop {crop} → "
                              "normalise mean ({mean}), std ({std}) [{source}]"),
                           dict(resize=resize, interpolation=interpolation, crop=crop,
                                mean=fmt(mean), std=fmt(std), source=source)),
                      mean, std, (crop, crop))


def cifar_preprocess(size: int = 32, mean=None, std=None) -> Preprocess:
    mean = tuple(mean or (0.4914, 0.4822, 0.4465))
    std = tuple(std or (0.2470, 0.2435, 0.2616))

    def fn(image):
        image = image.convert("RGB")
        image = TF.center_crop(TF.resize(image, [size], antialias=True), [size])
        x = TF.pil_to_tensor(image)
        return TF.normalize(TF.convert_image_dtype(x, torch.float), list(mean), list(std))

    return Preprocess(fn, (N_("resize and centre crop to {size}×{size} → normalise with "
                              "CIFAR-10 mean/std"), {"size": size}), mean, std, (size, size))


def mnist_format_digit(image: Image.Image) -> np.ndarray | None:
    """The 28×28 uint8 pixels of ``image`` when it already is an MNIST digit, else None.

    An MNIST digit is 28×28 (or 32×32 with LeNet-5's 2-pixel black border), grey, light on a
    black background, its ink fitting 20×20 with the longer side 19–20 pixels, its centre of
    mass within a pixel of the centre (every one of the 70,000 MNIST digits is: 20 px at most,
    19 at least, centre of mass at most 1.0 px off). Such an image goes to the network as it
    is: resampling it again costs accuracy (issue 14: 98.10 % instead of 98.73 % for NiN).
    """
    if image.size not in ((28, 28), (32, 32)):
        return None
    a = np.asarray(image)
    if a.ndim == 3:
        if a.shape[2] in (2, 4) and (a[..., -1] != 255).any():  # transparency: not a scan
            return None
        grey = a[..., 0]
        if a.shape[2] >= 3 and not ((a[..., 1] == grey).all() and (a[..., 2] == grey).all()):
            return None
        a = grey
    if a.dtype != np.uint8:
        return None
    if a.shape == (32, 32):
        if max(a[:2].max(), a[-2:].max(), a[:, :2].max(), a[:, -2:].max()) > 0:
            return None
        a = a[2:30, 2:30]
    if np.median(a) != 0 or a.max() < 128:  # light on black, with ink
        return None
    ink = a > 0
    rows, cols = np.nonzero(ink.any(1))[0], np.nonzero(ink.any(0))[0]
    longest = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1)
    if not 19 <= longest <= 20:
        return None
    w = a.astype(np.float64)
    cy = (w.sum(1) * np.arange(28)).sum() / w.sum()
    cx = (w.sum(0) * np.arange(28)).sum() / w.sum()
    if max(abs(cy - 13.5), abs(cx - 13.5)) > 1.0:
        return None
    return np.ascontiguousarray(a)


def mnist_preprocess(image: Image.Image, size: int = 28) -> torch.Tensor:
    """A photo or drawing of one digit -> 1×1×size×size tensor the way MNIST digits look.

    MNIST digits are white on black, size-normalised to fit 20×20 (keeping the aspect ratio)
    and placed in 28×28 so that their centre of mass is the centre (LeCun et al.). So: to
    greyscale; invert when the background (the border) is light; subtract the background;
    crop to the digit; fit 20×20; centre by mass; pad to ``size`` (32 for LeNet-5, which
    pads 2 on each side); normalise with MNIST's mean 0.1307 and std 0.3081.
    An image that already is an MNIST digit (:func:`mnist_format_digit`) skips the geometry
    and is normalised exactly as the training tensors were (``explorer.train.to_input``).
    """
    digit = mnist_format_digit(image)
    if digit is not None:
        x = (torch.from_numpy(digit).float() / 255.0 - MNIST_MEAN) / MNIST_STD  # 28 x 28
        if size != 28:
            pad = (size - 28) // 2
            x = torch.nn.functional.pad(x, (pad, size - 28 - pad, pad, size - 28 - pad),
                                        value=-MNIST_MEAN / MNIST_STD)
        return x[None, None]  # 1 x 1 x size x size
    g = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
    border = np.concatenate([g[0], g[-1], g[:, 0], g[:, -1]])
    if np.median(border) > 0.5:  # dark digit on a light background
        g = 1.0 - g
        border = 1.0 - border
    background = float(np.median(border))
    g = np.clip((g - background) / max(1.0 - background, 1e-6), 0.0, 1.0)
    canvas = np.zeros((28, 28), dtype=np.float32)
    if g.max() > 0.05:
        ys, xs = np.nonzero(g > 0.25 * g.max())
        g = g[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
        g = g / g.max()
        h, w = g.shape
        scale = 20.0 / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        patch = Image.fromarray((g * 255).astype(np.uint8)).resize((nw, nh), Image.LANCZOS)
        patch = np.asarray(patch, dtype=np.float32) / 255.0
        total = patch.sum()
        if total > 0:
            cy = (patch.sum(axis=1) * np.arange(nh)).sum() / total
            cx = (patch.sum(axis=0) * np.arange(nw)).sum() / total
        else:
            cy, cx = (nh - 1) / 2, (nw - 1) / 2
        top = int(np.clip(round(13.5 - cy), 0, 28 - nh))
        left = int(np.clip(round(13.5 - cx), 0, 28 - nw))
        canvas[top:top + nh, left:left + nw] = patch
    x = torch.from_numpy(canvas)[None]  # 1 x 28 x 28
    if size != 28:
        pad = (size - 28) // 2
        x = torch.nn.functional.pad(x, (pad, size - 28 - pad, pad, size - 28 - pad))
    return ((x - MNIST_MEAN) / MNIST_STD).unsqueeze(0)  # 1 x 1 x size x size


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
        return f"GPU (CUDA): {props.name}, {props.total_memory / 2**30:.0f} GiB"
    if device.type == "mps":
        return "GPU (Apple MPS)"
    return _("CPU ({threads} threads) — no GPU found").format(threads=torch.get_num_threads())


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
    device = pick_device(device)
    notice = None
    try:
        t1 = time.perf_counter()
        logits = _forward(loaded.model, x, device)
        probs = logits.softmax(-1)[0]
        k = min(topk, probs.numel())
        values, indices = probs.topk(k)
        values, indices = values.cpu(), indices.cpu()  # waits for the device
        latency_ms = (time.perf_counter() - t1) * 1000
    except torch.OutOfMemoryError:
        if device.type == "cpu":
            raise
        drop_device_copies(loaded.model)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        result = predict(loaded, x, topk, device="cpu")
        result.notice = f"The GPU ran out of memory, so this prediction ran on the CPU."
        result.preprocess_ms = preprocess_ms
        return result
    idx = indices.tolist()
    names = [loaded.categories[i] if i < len(loaded.categories) else str(i) for i in idx]
    return Prediction(idx, names, values.tolist(), latency_ms, _device_text(device), notice,
                      preprocess_ms)


def _device_text(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return device.type
