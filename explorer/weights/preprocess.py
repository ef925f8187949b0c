"""Preprocessing attached to weights: what each model's weights expect of an image.

As torchvision attaches ``transforms()`` to its ``Weights`` enums, every
:class:`~explorer.weights.LoadedModel` carries a :class:`Preprocess` made here by
:func:`default_preprocess`: ImageNet's resize, centre crop and normalisation (torchvision's own
``ImageClassification`` preset, step for step), CIFAR-10's, or MNIST's digit preparation (light
on dark, fitted into 20×20 and centred by mass, as LeCun et al. prepared the digits).
``explorer.inference`` re-exports these names.
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image

from explorer import zoo
from explorer.data.mnist import MNIST_MEAN, MNIST_STD
from explorer.i18n import N_, _
from explorer.weights import sources

__all__ = [
    "Preprocess",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "MNIST_MEAN",
    "MNIST_STD",
    "imagenet_preprocess",
    "cifar_preprocess",
    "mnist_preprocess",
    "mnist_format_digit",
    "mnist_preprocess_for",
    "default_preprocess",
]

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

# Values inside a description that are words, said in the reader's language when read.
_WORDS = {"bilinear": N_("bilinear"), "bicubic": N_("bicubic"), "nearest": N_("nearest"),
          "efficientnet-lite0 package": N_("efficientnet-lite0 package")}


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
            return _(template).format(**{k: _(_WORDS[v]) if isinstance(v, str) and v in _WORDS
                                         else v for k, v in values.items()})
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
    """Resize the shorter side to ``resize``, centre-crop ``crop``, normalise (ImageNet's)."""
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
    """Resize and centre-crop to ``size``, normalise with CIFAR-10's statistics (or a card's)."""
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
    return a.copy()  # C-contiguous and writable (np.asarray of an image is read-only)


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


# ----------------------------------------------------------------------------- per model and source


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
        tv = sources.tv_weights(spec).transforms()
        return imagenet_preprocess(crop=tv.crop_size[0], resize=tv.resize_size[0],
                                   mean=tuple(tv.mean), std=tuple(tv.std),
                                   interpolation=tv.interpolation.value,
                                   source=f"{spec.tv_weights}.transforms()")
    return imagenet_preprocess(crop=h, resize=round(h * 256 / 224))


def mnist_preprocess_for(size: int = 28, channels: int = 1) -> Preprocess:
    """:func:`mnist_preprocess` to ``size`` (32 for LeNet-5) as a :class:`Preprocess`."""
    return Preprocess(
        lambda image: mnist_preprocess(image, size=size),
        describe=((N_("greyscale → invert if dark-on-light → crop to the digit → fit 20×20 in "
                      "28×28 centred by mass → pad 2 to 32×32 → normalise mean 0.1307, std "
                      "0.3081 (an image that already is an MNIST digit: only padded and "
                      "normalised)") if size == 32 else
                   N_("greyscale → invert if dark-on-light → crop to the digit → fit 20×20 in "
                      "28×28 centred by mass → normalise mean 0.1307, std 0.3081 (an image "
                      "that already is an MNIST digit: only normalised)")), {}),
        mean=(MNIST_MEAN,), std=(MNIST_STD,), size=(size, size),
    )
