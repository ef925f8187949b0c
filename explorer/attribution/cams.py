"""Grad-CAM and LayerCAM at every depth, all from one forward and one backward pass.

    d = cams_across_depth(loaded, x)    # d.gradcam[i], d.layercam[i] at d.layers[i]

Grad-CAM (Selvaraju et al. 2017) weights each channel of a layer by its spatially averaged
gradient; LayerCAM (Jiang et al. 2021) weights every position by its own positive gradient, so
it stays sharp in shallow layers where Grad-CAM washes out. The pass runs on a borrowed module
copy of the shared model (``explorer.inference.shared.borrowed_copy``).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from explorer.attribution.maps import grad_cam, gradient_pass, upsample
from explorer.attribution.methods import default_layer, normalise
from explorer.inference import logits_of, pick_device
from explorer.inference.shared import borrowed_copy, model_on

if TYPE_CHECKING:  # pragma: no cover
    from explorer.weights import LoadedModel

__all__ = ["cam_layers", "CamsAcrossDepth", "cams_across_depth"]


def _layercam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """LayerCAM (Jiang et al. 2021): every position weighted by its own positive gradient."""
    return F.relu((F.relu(g) * a).sum(1, keepdim=True))


def cam_layers(loaded: "LoadedModel") -> list[str]:
    """The end of every stage (the spec's stage outputs) and the spec's Grad-CAM layer, shallow
    to deep."""
    spec = loaded.spec
    modules = dict(loaded.model.named_modules())
    layers = [p for _, p in sorted(spec.stages.items()) if p in modules]
    if spec.gradcam_layer in modules and spec.gradcam_layer not in layers:
        layers.append(spec.gradcam_layer)
    if not layers:
        layers = [default_layer(loaded)]
    position = {name: i for i, name in enumerate(modules)}
    return sorted(layers, key=position.get)  # shallow to deep, in definition order


@dataclass
class CamsAcrossDepth:
    layers: list[str]
    shapes: list[tuple[int, int]]  # each layer's feature-map size
    gradcam: list[np.ndarray]  # H×W in [0, 1], upsampled to the input
    layercam: list[np.ndarray]
    target: int
    seconds: float = 0.0


def cams_across_depth(loaded: "LoadedModel", x: torch.Tensor, target: int | None = None,
                      layers: Sequence[str] | None = None,
                      device: str | torch.device | None = None) -> CamsAcrossDepth:
    """Grad-CAM and LayerCAM at every layer of ``layers`` (default :func:`cam_layers`), all
    from one forward and one backward pass on a module copy of the shared model."""
    t0 = time.perf_counter()
    device = pick_device(device)
    if device.type == "mps":
        device = torch.device("cpu")
    x = x.detach().float().to(device)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    layers = list(layers or cam_layers(loaded))
    shared = model_on(loaded.model, device)
    if target is None:
        with torch.inference_mode():
            target = int(logits_of(shared(x)).argmax(-1)[0])
    with borrowed_copy(shared) as model:
        target_t = torch.tensor([int(target)], device=device)
        _grad_x, pairs, _logits = gradient_pass(model, x, target_t, layers, need_input=False)
    size = x.shape[-2:]
    gradcam, layercam, shapes = [], [], []
    for name in layers:
        a, g = pairs[name]
        shapes.append(tuple(a.shape[-2:]))
        gc = upsample(F.relu(grad_cam(a, g)), size)[0, 0].float().cpu().numpy()
        lc = upsample(_layercam(a, g), size)[0, 0].float().cpu().numpy()
        gradcam.append(normalise(gc, robust=False))
        layercam.append(normalise(lc, robust=False))
    return CamsAcrossDepth(layers, shapes, gradcam, layercam, int(target), time.perf_counter() - t0)
