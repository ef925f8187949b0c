"""Feature maps of chosen layers: stages matched across networks by stride, channel pictures,
layer statistics.

Plain data in and out (no streamlit):

Layers
    :func:`feature_layers`: every layer whose output is a feature map (N×C×H×W), read from the
    meta-device analysis (no forward pass), for the pickers that offer "any layer".

Stages
    Every zoo model declares ``spec.stages = {output stride: module path}``. Networks line up
    by output stride (4, 8, 16, 32): :func:`matched_layers`, :func:`common_strides`,
    :func:`next_stride`.

Pictures and numbers
    :func:`channel_grid` (the strongest channels, in ``explorer.data.colormaps``' tables),
    :func:`channel_mean_overlay`, :func:`layer_stats`, and :func:`layer_activation`, which
    runs one image and keeps one layer's output.

The outputs are read with ``explorer.inference.shared.capture`` (hooks per call, filtered by
thread, removed in ``finally``); ``capture``, ``recording`` and ``LayerNotFoundError`` are
re-exported here for older callers. Layer similarity (linear CKA) lives in
``explorer.analysis.cka``.
"""
from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn
from PIL import Image, ImageDraw, ImageFont

from explorer import zoo
from explorer.analysis.layers import LayerInfo, analyze
from explorer.data import colormaps
from explorer.inference.shared import LayerNotFoundError, capture, recording

__all__ = [
    "LayerNotFoundError",
    "recording",
    "capture",
    "feature_layers",
    "stage_layers",
    "common_strides",
    "stride_options",
    "nearest_stride",
    "matched_layers",
    "next_stride",
    "channel_energy",
    "top_channels",
    "channel_grid",
    "channel_mean_overlay",
    "LayerStats",
    "layer_stats",
    "sign_note",
    "LayerActivation",
    "layer_activation",
    "to_png",
]


# --------------------------------------------------------------------------------------------
# Layers with a feature map


def feature_layers(name: str, input_size=None) -> list[LayerInfo]:
    """The analysis rows of every module whose first call returns a 4-D feature map
    (N×C×H×W), in execution order (the model itself excluded), at ``input_size`` (C, H, W;
    default the model's own). From the meta-device analysis: nothing runs, no weights load."""
    return [r for r in analyze(name, input_size).layers
            if r.call == 0 and r.name and r.output_shape and len(r.output_shape) == 4]


# --------------------------------------------------------------------------------------------
# Stages matched by output stride


def stage_layers(name: str) -> dict[int, str]:
    """``{output stride: module path}`` of ``name``, by increasing stride."""
    return dict(sorted(zoo.get_spec(name).stages.items()))


def common_strides(names: Sequence[str]) -> list[int]:
    """Output strides that every network in ``names`` has a stage for, increasing."""
    if not names:
        return []
    common = set(stage_layers(names[0]))
    for name in names[1:]:
        common &= set(stage_layers(name))
    return sorted(common)


def stride_options(names: Sequence[str]) -> list[int]:
    """The strides a "depth" control should offer: the common ones, or every stride any of
    the networks has when they share none."""
    return common_strides(names) or sorted({s for n in names for s in stage_layers(n)})


def nearest_stride(name: str, stride: int) -> int:
    """The stage stride of ``name`` closest to ``stride`` on a log scale (ties: the deeper)."""
    strides = list(stage_layers(name))
    if not strides:
        raise ValueError(f"{name} declares no stages")
    return min(strides, key=lambda s: (abs(math.log2(s / stride)), -s))


def matched_layers(names: Sequence[str], stride: int) -> dict[str, str]:
    """``{network: module path}`` of the stage that ends at ``stride`` in each network (the
    nearest stride where a network has no stage at exactly that one)."""
    return {n: stage_layers(n)[nearest_stride(n, stride)] for n in names}


def next_stride(names: Sequence[str], stride: int, step: int = 1) -> int:
    """The stride ``step`` places deeper (negative: shallower) than ``stride`` among
    :func:`stride_options`, clamped at both ends: moves every network together."""
    options = stride_options(names)
    if not options:
        raise ValueError("no stages to move between")
    here = min(range(len(options)), key=lambda i: (abs(math.log2(options[i] / stride)), i))
    return options[max(0, min(len(options) - 1, here + step))]


# --------------------------------------------------------------------------------------------
# Looking at one layer


def _chw(act) -> np.ndarray:
    """One image's activation as float32 C×H×W (from 1×C×H×W, C×H×W or C; torch or numpy)."""
    if isinstance(act, torch.Tensor):
        act = act.detach().float().cpu().numpy()
    act = np.asarray(act, dtype=np.float32)
    if act.ndim == 4:
        if act.shape[0] != 1:
            raise ValueError(f"expected one image's activation, got a batch of {act.shape[0]}")
        act = act[0]
    if act.ndim == 1:
        act = act[:, None, None]
    if act.ndim == 2:  # tokens × features, or a 1-D signal: show as C×1×L
        act = act[:, None, :]
    if act.ndim != 3:
        raise ValueError(f"cannot show an activation of shape {act.shape}")
    return act


def channel_energy(act) -> np.ndarray:
    """Activation energy of each channel: the mean of squares over its spatial positions."""
    a = _chw(act).astype(np.float64)
    return (a * a).mean(axis=(1, 2))


def top_channels(act, n: int) -> np.ndarray:
    """Indices of the ``n`` channels with the most energy, strongest first (ties: lower
    index first)."""
    energy = channel_energy(act)
    order = np.lexsort((np.arange(energy.size), -energy))
    return order[: max(0, int(n))]


def _levels(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Colour-table indices 0…255 of ``values`` over ``lo``..``hi``. Truncated, not rounded as
    ``colormaps.colorize`` does, so the pictures stay pixel for pixel what they were."""
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.clip((values - lo) * scale, 0, 255).astype(np.uint8)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def channel_grid(act, n: int = 16, scaling: str = "channel", cmap: str = "viridis",
                 tile: int = 96, cols: int | None = None, gap: int = 4,
                 labels: bool = True) -> Image.Image:
    """The ``n`` strongest channels of one image's activation as a grid of colour-mapped tiles.

    ``scaling="channel"`` stretches each tile over its own min..max (shows every channel's
    pattern); ``"layer"`` uses one min..max for the whole layer (shows which channels are
    strong). Maps smaller than ``tile`` are enlarged with nearest-neighbour, so single units
    stay visible; each tile is labelled with its channel index.
    """
    if scaling not in ("channel", "layer"):
        raise ValueError(f"scaling must be 'channel' or 'layer', not {scaling!r}")
    a = _chw(act)
    chans = top_channels(a, min(n, a.shape[0]))
    if chans.size == 0:
        raise ValueError("no channels to show")
    cols = cols or math.ceil(math.sqrt(chans.size))
    rows = math.ceil(chans.size / cols)
    h, w = a.shape[1:]
    th, tw = (tile, max(1, round(tile * w / h))) if h >= w else (max(1, round(tile * h / w)), tile)
    grid = Image.new("RGB", (cols * tw + (cols + 1) * gap, rows * th + (rows + 1) * gap),
                     (255, 255, 255))
    layer_lo, layer_hi = float(a.min()), float(a.max())
    font = _font(max(10, tile // 8))
    for k, c in enumerate(chans):
        m = a[c]
        lo, hi = (float(m.min()), float(m.max())) if scaling == "channel" else (layer_lo, layer_hi)
        img = Image.fromarray(colormaps.lut(cmap)[_levels(m, lo, hi)])
        resample = Image.NEAREST if h <= th else Image.BOX
        img = img.resize((tw, th), resample)
        if labels:
            draw = ImageDraw.Draw(img)
            text = f"#{c}"
            box = draw.textbbox((2, 1), text, font=font)
            draw.rectangle((0, 0, box[2] + 2, box[3] + 2), fill=(0, 0, 0))
            draw.text((2, 1), text, fill=(255, 255, 255), font=font)
        r, q = divmod(k, cols)
        grid.paste(img, (gap + q * (tw + gap), gap + r * (th + gap)))
    return grid


def channel_mean_overlay(image: Image.Image, act, alpha: float = 0.5,
                         cmap: str = "inferno") -> Image.Image:
    """The mean over channels of one image's activation, colour-mapped, enlarged (bilinear) to
    ``image``'s size and blended over it. ``image`` should be what the network saw (the crop
    after preprocessing), so that positions line up."""
    m = _chw(act).mean(axis=0)
    levels = _levels(m, float(m.min()), float(m.max()))
    heat = Image.fromarray(colormaps.lut(cmap)[levels])
    heat = heat.resize(image.size, Image.BILINEAR)
    return Image.blend(image.convert("RGB"), heat, alpha)


@dataclass(frozen=True)
class LayerStats:
    shape: tuple[int, ...]  # C, H, W of one image
    mean: float
    std: float
    min: float
    max: float
    zero_fraction: float  # fraction of values exactly 0 (a ReLU's zeros, where it has one)
    negative_fraction: float  # fraction below 0 (only a layer without a final ReLU has them)

    @property
    def nonnegative(self) -> bool:
        """No value below zero: the layer ends in a ReLU (or pools a ReLU's output)."""
        return self.min >= 0

    def as_dict(self) -> dict:
        signs = ({"exactly zero": self.zero_fraction} if self.nonnegative else
                 {"below zero": self.negative_fraction})
        return {"shape": " × ".join(map(str, self.shape)), "mean": self.mean, "std": self.std,
                "min": self.min, "max": self.max, **signs}


def layer_stats(act) -> LayerStats:
    """Shape, mean, std, range, and the fractions of values exactly zero and below zero."""
    a = _chw(act).astype(np.float64)
    return LayerStats(tuple(int(s) for s in a.shape), float(a.mean()), float(a.std()),
                      float(a.min()), float(a.max()), float((a == 0).mean()),
                      float((a < 0).mean()))


def sign_note(stats: LayerStats) -> str:
    """What was measured about the signs, for the layer's actual activation: "**31 %** exactly
    zero" when nothing is negative (a ReLU's zeros), else "**49 %** below zero" (a tanh, a linear
    projection, a batch norm: no ReLU at this output, so no ReLU zeros to count)."""
    from explorer.i18n import _

    if stats.nonnegative:
        return _("**{pct}** exactly zero").format(pct=f"{stats.zero_fraction:.0%}")
    return _("**{pct}** below zero").format(pct=f"{stats.negative_fraction:.0%}")


def to_png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


def _network_view(x: torch.Tensor, preprocess) -> Image.Image:
    """The preprocessed input as a picture: normalisation undone when the preprocess says
    what it was, else each channel stretched over its range."""
    if hasattr(preprocess, "mean") and hasattr(preprocess, "std"):
        from explorer.inference import tensor_to_image

        return tensor_to_image(x, preprocess).convert("RGB")
    a = x.detach().float().cpu()[0]
    lo = a.amin(dim=(1, 2), keepdim=True)
    hi = a.amax(dim=(1, 2), keepdim=True)
    a = ((a - lo) / (hi - lo).clamp_min(1e-12) * 255).round().byte().permute(1, 2, 0).numpy()
    return Image.fromarray(a[..., 0] if a.shape[2] == 1 else a).convert("RGB")


@dataclass
class LayerActivation:
    path: str
    activation: np.ndarray  # C×H×W float32, one image
    view: Image.Image  # the input as the network saw it (after resize and crop)


def layer_activation(model: nn.Module, preprocess, image: Image.Image, path: str,
                     device: torch.device | str | None = None) -> LayerActivation:
    """One forward pass of ``image`` through ``model`` keeping only ``path``'s output.

    ``device`` (optional) runs it on a private per-device copy (``inference.model_on``), never
    by moving the shared model.
    """
    x = preprocess(image)
    if device is not None:
        from explorer.inference import model_on

        model = model_on(model, device)
    act = capture(model, [path], x)[path]
    return LayerActivation(path, _chw(act), _network_view(x, preprocess))
