"""Layers with channels, receptive-field boxes from the analysis, and the effective field.

Theoretical receptive field (from :func:`explorer.analysis.analyze`): a unit at position
``(i, j)`` of a layer's feature map is centred on input pixel ``start + (i, j) · jump`` and sees
``rf`` pixels across; the box is those pixels, clipped to the image.

Effective receptive field (Luo et al., "Understanding the Effective Receptive Field in Deep
Convolutional Neural Networks", NeurIPS 2016): ``|∂ unit / ∂ pixel|``, summed over the colour
channels. It is exactly zero outside the theoretical box (no path from those pixels reaches the
unit) and, inside, concentrated near the centre: a pixel near the centre reaches the unit
through many more paths than one at the edge, so the gradient falls off roughly like a Gaussian.

Every gradient here is taken on a per-call *module copy* of the model (new module objects
sharing the parameter tensors, whose ``requires_grad`` is False, so no ``.grad`` is written),
with a hook that exists only inside :func:`tap` and is removed in ``finally``.
"""
from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn as nn

from explorer.analysis import LayerInfo, analyze
from explorer.data import colormaps
from explorer.inference.shared import StopForward, borrowed_copy, first_tensor, hooks

__all__ = ["ChannelLayer", "channel_layers", "layer_row", "rf_box", "unit_centre", "tap",
           "borrowed_copy", "EffectiveField", "effective_field", "mass_box", "mass_bounds",
           "rf_picture", "mass_levels", "RF_CONTOURS"]


@dataclass(frozen=True)
class ChannelLayer:
    """A layer whose output is a feature map (N×C×H×W), with its place in the network."""

    path: str
    type: str
    channels: int
    hw: tuple[int, int]
    receptive_field: int
    jump: float
    level: str  # "layer" (a leaf module) or "block"/"group" (a container)


def channel_layers(name: str, input_size=None) -> list[ChannelLayer]:
    """Every module whose first call returns a 4-D feature map whose units have a bounded
    receptive field, in execution order (the model itself excluded)."""
    from explorer.analysis.features import feature_layers

    return [ChannelLayer(r.name, r.type, r.output_shape[1], tuple(r.output_shape[2:]),
                         r.receptive_field, r.jump, r.level)
            for r in feature_layers(name, input_size)
            if not r.rf_global and r.receptive_field_hw is not None]


def layer_row(name: str, layer: str, input_size=None) -> LayerInfo:
    """The analysis row of ``layer``'s first call at ``input_size`` (C, H, W)."""
    return analyze(name, input_size).row(layer, 0)


def unit_centre(row: LayerInfo, pos: tuple[int, int]) -> tuple[float, float]:
    """Input-pixel coordinates (y, x) of the centre of unit ``pos`` = (i, j)."""
    return tuple(row.start_hw[a] + pos[a] * row.jump_hw[a] for a in range(2))


def rf_box(row: LayerInfo, pos: tuple[int, int], input_hw: tuple[int, int],
           clip: bool = True) -> tuple[int, int, int, int]:
    """The theoretical receptive field of unit ``pos`` as a half-open pixel box
    ``(top, left, bottom, right)``; with ``clip`` limited to an image of ``input_hw``."""
    box = []
    centre = unit_centre(row, pos)
    for a in range(2):
        half = (row.receptive_field_hw[a] - 1) / 2
        box.append((math.ceil(centre[a] - half - 1e-9), math.floor(centre[a] + half + 1e-9) + 1))
    (top, bottom), (left, right) = box
    if clip:
        top, left = max(0, top), max(0, left)
        bottom, right = min(input_hw[0], bottom), min(input_hw[1], right)
    return top, left, bottom, right


# --------------------------------------------------------------------------------------------
# A tap on a private copy


@contextmanager
def tap(model: nn.Module, layer: str, pre: bool = False):
    """Record ``layer``'s output (its input with ``pre``) *with* its autograd graph, then stop
    the forward. Use on a private copy only (``borrowed_copy``). Yields ``run(x) -> tensor``;
    the hook lives in ``shared.hooks`` and is removed in ``finally``."""
    modules = dict(model.named_modules())
    if layer not in modules:
        raise KeyError(f"no layer named {layer!r} in {type(model).__name__}")

    def hook(module, args, output=None):
        value = args[0] if pre else output
        raise StopForward(first_tensor(value))

    def run(x: torch.Tensor) -> torch.Tensor:
        try:
            model(x)
        except StopForward as stop:
            return stop.value
        raise KeyError(f"layer {layer!r} did not run in the forward pass")

    module = modules[layer]
    with hooks() as keep:
        keep(module.register_forward_pre_hook(hook) if pre else module.register_forward_hook(hook))
        yield run


# --------------------------------------------------------------------------------------------
# Effective receptive field


@dataclass
class EffectiveField:
    grad: np.ndarray  # H×W: |∂ unit / ∂ pixel| summed over input channels
    box: tuple[int, int, int, int]  # theoretical field, clipped (top, left, bottom, right)
    box_unclipped: tuple[int, int, int, int]
    theoretical: tuple[int, int]  # rf size (h, w) from the analysis
    effective: tuple[int, int]  # side of the centred box holding ``mass`` of the gradient
    mass: float
    centre: tuple[float, float]
    value: float  # the unit's activation
    half: tuple[int, int] = (0, 0)  # side of the centred box holding half of the gradient


def mass_bounds(grad: np.ndarray, centre: tuple[float, float],
                mass: float = 0.95) -> tuple[int, int, int, int]:
    """The smallest square centred on ``centre`` (grown one pixel a side at a time, clipped to
    the image) that holds ``mass`` of ``grad``'s total, as (top, left, bottom, right)."""
    g = np.asarray(grad, dtype=np.float64)
    h, w = g.shape
    total = float(g.sum())
    cy = min(max(int(round(centre[0])), 0), h - 1)
    cx = min(max(int(round(centre[1])), 0), w - 1)
    if total <= 0:
        return cy, cx, cy + 1, cx + 1
    integral = np.zeros((h + 1, w + 1))
    integral[1:, 1:] = g.cumsum(0).cumsum(1)
    r = np.arange(max(h, w) + 1)
    t, l_ = np.maximum(0, cy - r), np.maximum(0, cx - r)
    b, rr = np.minimum(h, cy + r + 1), np.minimum(w, cx + r + 1)
    inside = integral[b, rr] - integral[t, rr] - integral[b, l_] + integral[t, l_]
    k = int(np.argmax(inside >= mass * total * (1 - 1e-12)))
    return int(t[k]), int(l_[k]), int(b[k]), int(rr[k])


def mass_box(grad: np.ndarray, centre: tuple[float, float], mass: float = 0.95) -> tuple[int, int]:
    """(h, w) of the smallest square centred on ``centre`` (grown one pixel a side at a time)
    that holds ``mass`` of ``grad``'s total, counting the part outside the image."""
    if float(np.asarray(grad).sum()) <= 0:
        return 0, 0
    t, l_, b, r = mass_bounds(grad, centre, mass)
    cy = min(max(int(round(centre[0])), 0), grad.shape[0] - 1)
    cx = min(max(int(round(centre[1])), 0), grad.shape[1] - 1)
    side = 2 * max(cy - t, b - 1 - cy, cx - l_, r - 1 - cx) + 1
    return side, side


def effective_field(model: nn.Module, name: str, x: torch.Tensor, layer: str, channel: int,
                    pos: tuple[int, int], mass: float = 0.95) -> EffectiveField:
    """Gradient of unit (``channel``, ``pos``) of ``layer`` with respect to the input ``x``
    (1×C×H×W, already preprocessed), on a private copy of ``model``."""
    x = x.detach().clone().float()
    if x.dim() == 3:
        x = x.unsqueeze(0)
    x = x.to(next(iter(model.parameters())).device).requires_grad_(True)
    row = layer_row(name, layer, tuple(x.shape[1:]))
    with borrowed_copy(model) as clone, torch.enable_grad(), tap(clone, layer) as run:
        out = run(x)
        c, i, j = int(channel), int(pos[0]), int(pos[1])
        if not (0 <= c < out.shape[1] and 0 <= i < out.shape[2] and 0 <= j < out.shape[3]):
            raise ValueError(f"unit ({c}, {i}, {j}) is outside {layer}'s output "
                             f"{tuple(out.shape[1:])}")
        unit = out[0, c, i, j]
        (grad,) = torch.autograd.grad(unit, x)
    g = grad[0].abs().sum(0).cpu().numpy().astype(np.float64)
    centre = unit_centre(row, (i, j))
    return EffectiveField(
        grad=g.astype(np.float32), box=rf_box(row, (i, j), g.shape),
        box_unclipped=rf_box(row, (i, j), g.shape, clip=False),
        theoretical=tuple(int(v) for v in row.receptive_field_hw),
        effective=mass_box(g, centre, mass), mass=mass, centre=centre, value=float(unit.detach()),
        half=mass_box(g, centre, 0.5))


def mass_levels(grad: np.ndarray) -> np.ndarray:
    """Per pixel, the share of the total held by the pixels stronger than it (ties: earlier in
    row-major order): the smallest region holding 50 % of the gradient is where this is
    < 0.5 (1 where the gradient is 0)."""
    g = np.asarray(grad, dtype=np.float64).ravel()
    total = g.sum()
    if total <= 0:
        return np.ones(np.shape(grad))
    order = np.argsort(-g, kind="stable")
    levels = np.empty_like(g)
    levels[order] = (np.cumsum(g[order]) - g[order]) / total
    levels[g <= 0] = 1.0
    return levels.reshape(np.shape(grad))


def _edge(mask: np.ndarray) -> np.ndarray:
    """The pixels of ``mask`` with a 4-neighbour outside it."""
    inner = mask.copy()
    inner[1:, :] &= mask[:-1, :]
    inner[:-1, :] &= mask[1:, :]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    return mask & ~inner


RF_CONTOURS = ((0.5, (255, 255, 255)), (0.95, (20, 20, 20)))  # share of the gradient, colour


def _smooth(g: np.ndarray, sigma: float) -> np.ndarray:
    """A separable Gaussian blur (reflecting at the edges)."""
    if sigma <= 0:
        return g
    r = max(1, int(3 * sigma))
    kernel = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    kernel /= kernel.sum()
    out = np.pad(g, r, mode="reflect")
    out = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 0, out)
    return np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="valid"), 1, out)


def rf_picture(view, field: EffectiveField, opacity: float = 0.7, side: int = 448,
               sigma: float | None = None):
    """The network's view of the image with the effective field as a heat map and the
    theoretical box. The per-pixel gradient is speckled, so the heat map is drawn from it
    smoothed (``sigma``, default 1.5 % of the image side) and coloured by share of the gradient
    (the strongest pixels holding 5 % are red): the 50 % (white) and 95 % (black) contours are
    both visible however peaked it is. A box larger than the image is drawn whole on a dark
    margin (the zero padding the unit also sees), the margin at most half the image's side
    each way; sides farther out are left undrawn."""
    from PIL import Image, ImageDraw

    g = np.asarray(field.grad, dtype=np.float64)
    if sigma is None:
        sigma = 0.015 * max(g.shape)
    inside_box = np.zeros(g.shape, bool)
    t0, l0, b0, r0 = field.box
    inside_box[t0:b0, l0:r0] = True
    smooth = np.where(inside_box, _smooth(g, sigma), 0.0)  # zero outside the box stays zero
    levels = mass_levels(smooth)
    heat = np.where(smooth > 0, 1.0 - levels, 0.0).astype(np.float32)
    base = np.asarray(view.convert("RGB").resize((g.shape[1], g.shape[0])), np.float32) / 255
    colours = colormaps.apply(heat, "jet")
    alpha = (opacity * np.clip(heat / 0.5, 0, 1))[..., None]  # the photo shows where it is weak
    pic = (1 - alpha) * base + alpha * colours
    for share, colour in RF_CONTOURS:
        edge = _edge(levels < share) & (smooth > 0)
        edge[1:] |= edge[:-1]  # two pixels wide: visible once scaled down
        edge[:, 1:] |= edge[:, :-1]
        pic[edge] = np.array(colour) / 255
    h, w = g.shape
    top, left, bottom, right = field.box_unclipped
    gap = max(4, h // 40)  # room around a box that just fits in the margin
    mt, ml = (min(max(0, -top) + gap, h // 2) if top < 0 else 0,
              min(max(0, -left) + gap, w // 2) if left < 0 else 0)
    mb, mr = (min(max(0, bottom - h) + gap, h // 2) if bottom > h else 0,
              min(max(0, right - w) + gap, w // 2) if right > w else 0)
    canvas_h, canvas_w = h + mt + mb, w + ml + mr
    scale = max(1, side // max(canvas_h, canvas_w))  # small inputs (digits) are enlarged
    k = side / max(canvas_h, canvas_w) if scale == 1 else scale
    canvas = Image.new("RGB", (round(canvas_w * k), round(canvas_h * k)), (70, 70, 70))
    draw = ImageDraw.Draw(canvas)
    step = max(6, round(8 * k))
    for d in range(-canvas.height, canvas.width, step):  # hatching: this is padding, not image
        draw.line([(d, 0), (d + canvas.height, canvas.height)], fill=(95, 95, 95))
    photo = Image.fromarray((np.clip(pic, 0, 1) * 255).round().astype(np.uint8))
    photo = photo.resize((round(w * k), round(h * k)), Image.NEAREST if scale > 1 else
                         Image.BILINEAR)
    canvas.paste(photo, (round(ml * k), round(mt * k)))
    # The theoretical box in canvas coordinates; only its sides inside the canvas are drawn.
    y0, x0 = (top + mt) * k, (left + ml) * k
    y1, x1 = (bottom + mt) * k - 1, (right + ml) * k - 1
    width = max(2, round(k))
    inside = lambda v, hi: 0 <= v <= hi  # noqa: E731
    cy0, cx0 = max(0, y0), max(0, x0)
    cy1, cx1 = min(canvas.height - 1, y1), min(canvas.width - 1, x1)
    if inside(y0, canvas.height - 1):
        draw.line([(cx0, y0), (cx1, y0)], fill=(255, 255, 255), width=width)
    if inside(y1, canvas.height - 1):
        draw.line([(cx0, y1), (cx1, y1)], fill=(255, 255, 255), width=width)
    if inside(x0, canvas.width - 1):
        draw.line([(x0, cy0), (x0, cy1)], fill=(255, 255, 255), width=width)
    if inside(x1, canvas.width - 1):
        draw.line([(x1, cy0), (x1, cy1)], fill=(255, 255, 255), width=width)

    cy, cx = field.centre
    r = max(3, k * 1.5)
    px, py = (cx + 0.5 + ml) * k, (cy + 0.5 + mt) * k
    draw.ellipse([px - r, py - r, px + r, py + r], outline=(255, 0, 0), width=2)
    return canvas
