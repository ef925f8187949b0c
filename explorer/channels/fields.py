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

__all__ = ["ChannelLayer", "channel_layers", "layer_row", "rf_box", "unit_centre", "tap",
           "borrowed_copy", "EffectiveField", "effective_field", "mass_box", "rf_picture"]


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
    rows = analyze(name, input_size).layers
    out = []
    for r in rows:
        if (r.call == 0 and r.name and r.output_shape and len(r.output_shape) == 4
                and not r.rf_global and r.receptive_field_hw is not None):
            out.append(ChannelLayer(r.name, r.type, r.output_shape[1], tuple(r.output_shape[2:]),
                                    r.receptive_field, r.jump, r.level))
    return out


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
# Hooks on private copies


class _Stop(Exception):
    """Raised by the tap once the layer has run: the rest of the network is not needed."""


@contextmanager
def borrowed_copy(model: nn.Module):
    """A module copy of ``model`` for this call alone (shares its weight tensors), from the
    pool that :mod:`explorer.attribution` keeps."""
    from explorer.inference.shared import borrowed_copy

    with borrowed_copy(model) as clone:
        yield clone


@contextmanager
def tap(model: nn.Module, layer: str, pre: bool = False):
    """Record ``layer``'s output (its input with ``pre``) *with* its autograd graph, then stop
    the forward. Use on a private copy only. Yields ``run(x) -> tensor``; the hook is removed
    in ``finally``."""
    modules = dict(model.named_modules())
    if layer not in modules:
        raise KeyError(f"no layer named {layer!r} in {type(model).__name__}")
    store: list[torch.Tensor] = []

    def hook(module, args, output=None):
        if store:
            return
        value = args[0] if pre else output
        if isinstance(value, (tuple, list)):
            value = value[0]
        store.append(value)
        raise _Stop

    module = modules[layer]
    handle = (module.register_forward_pre_hook(hook) if pre
              else module.register_forward_hook(hook))

    def run(x: torch.Tensor) -> torch.Tensor:
        store.clear()
        try:
            model(x)
        except _Stop:
            pass
        if not store:
            raise KeyError(f"layer {layer!r} did not run in the forward pass")
        return store[0]

    try:
        yield run
    finally:
        handle.remove()


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


def mass_box(grad: np.ndarray, centre: tuple[float, float], mass: float = 0.95) -> tuple[int, int]:
    """(h, w) of the smallest box centred on ``centre`` (grown one pixel a side at a time)
    that holds ``mass`` of ``grad``'s total."""
    total = float(grad.sum())
    if total <= 0:
        return 0, 0
    h, w = grad.shape
    cy, cx = int(round(centre[0])), int(round(centre[1]))
    for r in range(max(h, w) + 1):
        t, l, b, rr = max(0, cy - r), max(0, cx - r), min(h, cy + r + 1), min(w, cx + r + 1)
        if t >= b or l >= rr:
            continue
        if grad[t:b, l:rr].sum() >= mass * total:
            return 2 * r + 1, 2 * r + 1
    return h, w


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
        effective=mass_box(g, centre, mass), mass=mass, centre=centre, value=float(unit.detach()))


def rf_picture(view, field: EffectiveField, opacity: float = 0.6):
    """The network's view of the image with the effective field as a heat map (square-root
    scaled, so its tails show) and the theoretical box drawn on top, clipped to the image."""
    from PIL import Image, ImageDraw

    from explorer.attribution import overlay

    g = field.grad
    heat = np.sqrt(g / g.max()) if g.max() > 0 else g
    pic = overlay(view, heat.astype(np.float32), opacity=opacity)
    if pic.size != view.size:
        pic = pic.resize(view.size)
    scale = max(1, 448 // max(pic.size))  # small inputs (digits) are enlarged to see the box
    if scale > 1:
        pic = pic.resize((pic.width * scale, pic.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(pic)
    top, left, bottom, right = field.box
    draw.rectangle([left * scale, top * scale, right * scale - 1, bottom * scale - 1],
                   outline=(255, 255, 255), width=max(2, scale // 2))
    cy, cx = field.centre
    r = max(2, scale)
    draw.ellipse([(cx + 0.5) * scale - r, (cy + 0.5) * scale - r, (cx + 0.5) * scale + r,
                  (cy + 0.5) * scale + r], outline=(255, 0, 0), width=2)
    return pic
