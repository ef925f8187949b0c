"""What a convolution's weights can show: first-layer kernels as pictures, deeper ones as mixes.

First layer (Krizhevsky et al. 2012, figure 3): each kernel C_in×k×k is a small image in the
input's own colours; scaled *symmetrically* around zero (0 → mid grey, ±max|w| → 0 / 255), so
sign and relative strength stay visible and a kernel's colours mean what they say.

Deeper layers: a kernel there weighs the previous layer's *channels*, not colours, so drawing
it as a picture would show nothing true. What can honestly be shown is how much the channel
draws on each input channel (the L2 norm of its kernel slice) and the spatial shape of its
strongest slices; a depthwise convolution has one k×k slice per channel, shown as such.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch.nn as nn
from PIL import Image, ImageDraw

__all__ = ["first_conv", "kernel_tiles", "filter_grid", "WeightView", "weight_view"]


def first_conv(model: nn.Module) -> str | None:
    """Path of the first convolution the input meets (the first Conv2d registered)."""
    for path, module in model.named_modules():
        if isinstance(module, nn.Conv2d):
            return path
    return None


def _symmetric(w: np.ndarray) -> np.ndarray:
    """Values in [-m, m] (m = max|w|) → uint8 with 0 at 128."""
    m = float(np.abs(w).max())
    scaled = 0.5 + 0.5 * w / m if m > 0 else np.full_like(w, 0.5)
    return np.clip(np.round(scaled * 255), 0, 255).astype(np.uint8)


def kernel_tiles(weight) -> list[np.ndarray]:
    """One k×k×3 (RGB input) or k×k (one input channel) uint8 image per output channel, each
    scaled symmetrically around zero by its own largest |weight|."""
    w = weight.detach().float().cpu().numpy() if hasattr(weight, "detach") else np.asarray(weight)
    tiles = []
    for kernel in w:  # C_in × k × k
        img = _symmetric(kernel)
        tiles.append(np.transpose(img, (1, 2, 0)) if img.shape[0] == 3 else img[0])
    return tiles


def _as_rgb(tile: np.ndarray, size: int) -> Image.Image:
    img = Image.fromarray(tile).convert("RGB")
    return img.resize((size, size), Image.NEAREST)


def filter_grid(weight, maps: np.ndarray | None = None, tile: int = 48, cols: int | None = None,
                gap: int = 6) -> Image.Image:
    """Every kernel of a first convolution as a tile; with ``maps`` (C×H×W, that layer's
    output on an image) each kernel sits beside its feature map (grey, own min..max)."""
    tiles = kernel_tiles(weight)
    n = len(tiles)
    pair = 2 if maps is not None else 1
    cols = cols or max(1, math.ceil(math.sqrt(n * (1.6 if pair == 2 else 1)) / pair))
    rows = math.ceil(n / cols)
    cell_w = pair * tile + (pair - 1) * 2
    label_h = 12
    grid = Image.new("RGB", (cols * cell_w + (cols + 1) * gap,
                             rows * (tile + label_h) + (rows + 1) * gap), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    for k, t in enumerate(tiles):
        r, c = divmod(k, cols)
        x = gap + c * (cell_w + gap)
        y = gap + r * (tile + label_h + gap)
        draw.text((x, y), str(k), fill=(60, 60, 60))
        grid.paste(_as_rgb(t, tile), (x, y + label_h))
        if maps is not None:
            m = maps[k].astype(np.float32)
            lo, hi = float(m.min()), float(m.max())
            g = ((m - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(m)).astype(np.uint8)
            grid.paste(Image.fromarray(g).convert("RGB").resize((tile, tile), Image.BILINEAR),
                       (x + tile + 2, y + label_h))
    return grid


@dataclass
class WeightView:
    kind: str  # "first" | "conv" | "depthwise" | "pointwise" | "none"
    in_norms: np.ndarray | None  # L2 norm of the kernel slice per input channel
    strongest: list[tuple[int, np.ndarray]]  # (input channel, k×k slice as uint8, symmetric)
    bias: float | None
    shape: tuple[int, ...] | None  # the full weight tensor's shape


def weight_view(model: nn.Module, layer: str, channel: int, top: int = 8) -> WeightView:
    """What the weights of output ``channel`` of ``layer`` (a Conv2d) can honestly show."""
    module = dict(model.named_modules()).get(layer)
    if not isinstance(module, nn.Conv2d):
        return WeightView("none", None, [], None, None)
    w = module.weight.detach().float().cpu().numpy()[channel]  # (C_in / groups) × k × k
    bias = float(module.bias[channel]) if module.bias is not None else None
    shape = tuple(module.weight.shape)
    groups = module.groups
    per_group_out = module.out_channels // groups
    first_in = (channel // per_group_out) * (module.in_channels // groups)
    norms = np.sqrt((w.reshape(w.shape[0], -1) ** 2).sum(1))
    order = np.argsort(-norms, kind="stable")[:top]
    strongest = [(int(first_in + i), _symmetric(w[i])) for i in order]
    if layer == first_conv(model):
        kind = "first"
    elif groups == module.in_channels and groups > 1:
        kind = "depthwise"
    elif tuple(module.kernel_size) == (1, 1):
        kind = "pointwise"
    else:
        kind = "conv"
    full = np.zeros(module.in_channels, np.float32)
    full[first_in:first_in + w.shape[0]] = norms
    return WeightView(kind, full, strongest, bias, shape)
