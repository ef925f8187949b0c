"""Everyday corruptions at ImageNet-C's five severities (Hendrycks & Dietterich, ICLR 2019).

Eleven of the paper's nineteen corruption types (its fifteen plus the four extra ones), with
the parameters of the code that made ImageNet-C: ``ImageNet-C/create_c/make_imagenet_c.py`` in
github.com/hendrycks/robustness (commit e0377d46411fa30c01a9559017bdb6a5f78d4abf). Severity
``s`` takes the ``s``-th entry of :data:`PARAMETERS`. The implementations are this module's own,
in numpy and Pillow, written from those definitions:

==================  ===================================================================
gaussian_noise      x + N(0, c²), clipped
shot_noise          Poisson(x·c) / c, clipped
impulse_noise       salt and pepper: each value replaced with probability c, by 0 or 1
                    with equal odds (scikit-image's ``random_noise(mode="s&p")``)
speckle_noise       x + x·N(0, c²), clipped
gaussian_blur       Gaussian of σ = c, truncated at 4σ, edges repeated (scikit-image's
                    ``gaussian``, i.e. scipy's ``gaussian_filter(mode="nearest")``)
defocus_blur        a disk of radius r, anti-aliased by a 3×3 (r ≤ 8) or 5×5 Gaussian of σ,
                    edges mirrored without repeating the edge (OpenCV's default border)
contrast            (x − mean) · c + mean, per channel
brightness          V + c in HSV, clipped
saturate            S · c₁ + c₂ in HSV, clipped (colour images only)
jpeg_compression    JPEG at quality c (Pillow)
pixelate            box-filter down to c of the size and back (Pillow's BOX)
==================  ===================================================================

What is left out needs what this project does not install (ImageMagick's motion blur for
motion blur and snow, OpenCV for spatter, the frost photographs, scipy's spline zoom for zoom
blur and the elastic transform) or assumes a 224-pixel image (glass blur, fog).

Differences from the released data, said here once: the corruption works on the image the
network sees (resized and centre-cropped by the model's own preprocessing, as ImageNet-C
corrupted the 224×224 centre crop), at any size; the result stays in floats instead of being
truncated to 8 bits and saved as a quality-85 JPEG; pixelate keeps floats through Pillow's box
filter (mode "F") and scales to ``int(side · c)``; random draws come from a seeded
``numpy.random.Generator`` of the call, so the same seed gives the same noise in every session.
"""
from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from explorer.i18n import N_, _, join

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["CORRUPTIONS", "PARAMETERS", "SEVERITIES", "SOURCE", "COLOUR_ONLY", "CorruptionError",
           "available", "describe", "corrupt", "corrupt_array", "rgb_to_hsv", "hsv_to_rgb",
           "gaussian_kernel", "disk_kernel", "correlate"]

SOURCE = ("Hendrycks & Dietterich, Benchmarking Neural Network Robustness to Common Corruptions "
          "and Perturbations, ICLR 2019; parameters from github.com/hendrycks/robustness, "
          "ImageNet-C/create_c/make_imagenet_c.py @ e0377d4")

CORRUPTIONS = {  # shown with explorer.i18n._(CORRUPTIONS[name])
    "gaussian_noise": N_("Gaussian noise"),
    "shot_noise": N_("Shot noise"),
    "impulse_noise": N_("Impulse noise"),
    "speckle_noise": N_("Speckle noise"),
    "gaussian_blur": N_("Gaussian blur"),
    "defocus_blur": N_("Defocus blur"),
    "contrast": N_("Contrast"),
    "brightness": N_("Brightness"),
    "saturate": N_("Saturate"),
    "jpeg_compression": N_("JPEG compression"),
    "pixelate": N_("Pixelate"),
}

# make_imagenet_c.py's ``c`` for severities 1–5.
PARAMETERS = {
    "gaussian_noise": (0.08, 0.12, 0.18, 0.26, 0.38),  # noise standard deviation
    "shot_noise": (60, 25, 12, 5, 3),  # photons per unit of brightness
    "impulse_noise": (0.03, 0.06, 0.09, 0.17, 0.27),  # share of values replaced
    "speckle_noise": (0.15, 0.2, 0.35, 0.45, 0.6),  # multiplicative noise std
    "gaussian_blur": (1, 2, 3, 4, 6),  # σ in pixels
    "defocus_blur": ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)),  # (radius, alias σ)
    "contrast": (0.4, 0.3, 0.2, 0.1, 0.05),  # factor on the distance from the mean
    "brightness": (0.1, 0.2, 0.3, 0.4, 0.5),  # added to V
    "saturate": ((0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)),  # S·c₁ + c₂
    "jpeg_compression": (25, 18, 15, 10, 7),  # JPEG quality
    "pixelate": (0.6, 0.5, 0.4, 0.3, 0.25),  # size factor
}
SEVERITIES = (1, 2, 3, 4, 5)
_SAYS = {  # what a severity's parameter means, shown with explorer.i18n._ and .format(c=...)
    "gaussian_noise": N_("noise of standard deviation {c} (the range is 0–1) added to every value"),
    "shot_noise": N_("photon noise: {c} photons per unit of brightness"),
    "impulse_noise": N_("{pct} of the values set to black or white"),
    "speckle_noise": N_("noise proportional to the value, standard deviation {c}"),
    "gaussian_blur": N_("a Gaussian blur of σ = {c} px"),
    "defocus_blur": N_("a defocus disk of radius {r} px"),
    "contrast": N_("the distance from the mean colour times {c}"),
    "brightness": N_("brightness (V in HSV) raised by {c}"),
    "saturate": N_("saturation (S in HSV) times {a}, plus {b}"),
    "jpeg_compression": N_("JPEG at quality {c} of 100"),
    "pixelate": N_("shrunk to {pct} of its size and enlarged again"),
}
COLOUR_ONLY = {"saturate"}


class CorruptionError(ValueError):
    """A user-readable reason why a corruption cannot be applied."""


def describe(name: str, severity: int) -> str:
    """What ``name`` does at ``severity``, in the UI language."""
    c = PARAMETERS[name][severity - 1]
    values = {"c": c, "pct": f"{c:.0%}" if isinstance(c, float) else c}
    if isinstance(c, tuple):
        values.update(r=c[0], a=c[0], b=c[1])
    return _(_SAYS[name]).format(**values)


def available(channels: int) -> list[str]:
    """The corruptions that apply to images with ``channels`` channels."""
    return [n for n in CORRUPTIONS if channels == 3 or n not in COLOUR_ONLY]


# --------------------------------------------------------------------------------------------
# Helpers: HSV, kernels, filtering


def rgb_to_hsv(rgb: np.ndarray) -> np.ndarray:
    """H×W×3 RGB in [0, 1] -> HSV in [0, 1] (hue as a fraction of the circle; grey: H = S = 0)."""
    rgb = np.asarray(rgb, dtype=np.float64)
    v = rgb.max(-1)
    delta = v - rgb.min(-1)
    safe_v = np.where(v > 0, v, 1.0)
    safe_d = np.where(delta > 0, delta, 1.0)
    s = np.where(delta > 0, delta / safe_v, 0.0)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    h = np.where(r == v, (g - b) / safe_d,
                 np.where(g == v, 2.0 + (b - r) / safe_d, 4.0 + (r - g) / safe_d))
    h = np.where(delta > 0, (h / 6.0) % 1.0, 0.0)
    return np.stack([h, s, v], axis=-1)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """The inverse of :func:`rgb_to_hsv`."""
    hsv = np.asarray(hsv, dtype=np.float64)
    h, s, v = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    sector = np.floor(h * 6.0)
    f = h * 6.0 - sector
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    sector = sector.astype(np.int64) % 6
    table = np.stack([np.stack(c, axis=-1) for c in
                      ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return np.take_along_axis(table, sector[None, ..., None].repeat(3, -1), 0)[0]


def gaussian_kernel(sigma: float, radius: int) -> np.ndarray:
    """1-D Gaussian weights at −radius … radius, summing to 1."""
    i = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (i / sigma) ** 2)
    return w / w.sum()


def correlate(x: np.ndarray, kernel: np.ndarray, mode: str) -> np.ndarray:
    """Correlate each channel of H×W×C ``x`` with a 2-D (or 1-D, applied along rows then
    columns) kernel of odd size, the border filled by ``np.pad(mode)``: ``"edge"`` repeats the
    edge value, ``"reflect"`` mirrors without repeating it (OpenCV's BORDER_REFLECT_101)."""
    if kernel.ndim == 1:
        r = len(kernel) // 2
        padded = np.pad(x, ((r, r), (0, 0), (0, 0)), mode=mode)
        rows = sum(w * padded[i:i + x.shape[0]] for i, w in enumerate(kernel))
        padded = np.pad(rows, ((0, 0), (r, r), (0, 0)), mode=mode)
        return sum(w * padded[:, i:i + x.shape[1]] for i, w in enumerate(kernel))
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    padded = np.pad(x, ((ry, ry), (rx, rx), (0, 0)), mode=mode)
    out = np.zeros_like(x, dtype=np.float64)
    h, w = x.shape[:2]
    for i in range(kernel.shape[0]):
        for j in range(kernel.shape[1]):
            if kernel[i, j] != 0:
                out += kernel[i, j] * padded[i:i + h, j:j + w]
    return out


def disk_kernel(radius: float, alias_sigma: float) -> np.ndarray:
    """ImageNet-C's defocus kernel: the pixels within ``radius`` of the centre (on a 17×17 grid
    up to radius 8, else (2r+1)²), normalised, then blurred by a 3×3 (5×5 beyond radius 8)
    Gaussian of σ = ``alias_sigma`` to soften its aliased edge."""
    if radius <= 8:
        grid, size = np.arange(-8, 9), 3
    else:
        grid, size = np.arange(-int(radius), int(radius) + 1), 5
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    disk = ((xx ** 2 + yy ** 2) <= radius ** 2).astype(np.float64)
    disk /= disk.sum()
    g = gaussian_kernel(alias_sigma, size // 2)
    return correlate(disk[..., None], g, "reflect")[..., 0]


# --------------------------------------------------------------------------------------------
# The corruptions, on one H×W×C float image in [0, 1]


def _pil_channels(x: np.ndarray, fn) -> np.ndarray:
    return np.stack([np.asarray(fn(Image.fromarray(x[..., c].astype(np.float32), mode="F")),
                                dtype=np.float64) for c in range(x.shape[2])], axis=-1)


def corrupt_array(x: np.ndarray, name: str, severity: int,
                  rng: np.random.Generator | None = None) -> np.ndarray:
    """``x`` (H×W×C float in [0, 1]) corrupted by ``name`` at ``severity`` 1–5 (0: unchanged).
    Noise is drawn from ``rng`` (default: a generator seeded with 0)."""
    if name not in CORRUPTIONS:
        raise CorruptionError(_("Unknown corruption {name}; choose one of {names}.").format(
            name=repr(name), names=join(CORRUPTIONS)))
    if severity not in (0, *SEVERITIES):
        raise CorruptionError(_("Severity goes from 1 to 5 (ImageNet-C's levels); got "
                                "{severity}.").format(severity=severity))
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise CorruptionError("corrupt_array takes one H×W×C image")
    channels = x.shape[2]
    if name in COLOUR_ONLY and channels != 3:
        raise CorruptionError(_("{corruption} changes colour saturation and needs a colour "
                                "image; this network reads grey images.").format(
            corruption=_(CORRUPTIONS[name])))
    if severity == 0:
        return x.copy()
    c = PARAMETERS[name][severity - 1]
    rng = rng if rng is not None else np.random.default_rng(0)
    if name == "gaussian_noise":
        out = x + rng.normal(size=x.shape, scale=c)
    elif name == "shot_noise":
        out = rng.poisson(x * c) / c
    elif name == "impulse_noise":
        flipped = rng.random(x.shape) <= c
        salted = rng.random(x.shape) <= 0.5
        out = x.copy()
        out[flipped & salted] = 1.0
        out[flipped & ~salted] = 0.0
    elif name == "speckle_noise":
        out = x + x * rng.normal(size=x.shape, scale=c)
    elif name == "gaussian_blur":
        out = correlate(x, gaussian_kernel(c, int(4.0 * c + 0.5)), "edge")
    elif name == "defocus_blur":
        out = correlate(x, disk_kernel(*c), "reflect")
    elif name == "contrast":
        means = x.mean(axis=(0, 1), keepdims=True)
        out = (x - means) * c + means
    elif name == "brightness":
        if channels == 3:
            hsv = rgb_to_hsv(x)
            hsv[..., 2] = np.clip(hsv[..., 2] + c, 0, 1)
            out = hsv_to_rgb(hsv)
        else:  # a grey value is its own V (H = S = 0)
            out = x + c
    elif name == "saturate":
        hsv = rgb_to_hsv(x)
        hsv[..., 1] = np.clip(hsv[..., 1] * c[0] + c[1], 0, 1)
        out = hsv_to_rgb(hsv)
    elif name == "jpeg_compression":
        grey = channels == 1
        pixels = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
        image = Image.fromarray(pixels[..., 0] if grey else pixels, mode="L" if grey else "RGB")
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=c)
        decoded = np.asarray(Image.open(buffer).convert("L" if grey else "RGB"), dtype=np.float64)
        out = (decoded[..., None] if grey else decoded) / 255.0
    else:  # pixelate
        h, w = x.shape[:2]
        small = (max(1, int(w * c)), max(1, int(h * c)))
        out = _pil_channels(x, lambda im: im.resize(small, Image.BOX).resize((w, h), Image.BOX))
    return np.clip(out, 0.0, 1.0)


def corrupt(pixels: "torch.Tensor", name: str, severity: int, seed: int = 0) -> "torch.Tensor":
    """A batch of pixel images (N×C×H×W in [0, 1]) corrupted; noise from a generator seeded
    with ``seed`` (image by image, in order)."""
    import torch

    rng = np.random.default_rng(seed)
    arrays = pixels.detach().cpu().double().permute(0, 2, 3, 1).numpy()
    out = np.stack([corrupt_array(a, name, severity, rng) for a in arrays])
    return torch.from_numpy(out).permute(0, 3, 1, 2).float().contiguous()
