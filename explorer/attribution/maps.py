"""Each method's map in the three forms the trust tests compare, several methods from shared
passes.

A map is kept as it is shown (normalised to [0, 1]), as its unnormalised magnitude and signed
(:class:`MethodMaps`). On a private model, Saliency, Grad-CAM and the Grad-CAM factor of Guided
Grad-CAM come from ONE forward and ONE backward pass (:func:`gradient_pass`: ``autograd.grad``
of the target logit w.r.t. the input and the Grad-CAM layer together); the other methods go
through :func:`explorer.attribution.methods.explain_on` on the same model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.attribution.methods import (METHODS, AttributionError, AttributionResult,
                                          default_layer, explain_on, normalise)
from explorer.i18n import _
from explorer.inference import logits_of
from explorer.inference.shared import hooks

if TYPE_CHECKING:  # pragma: no cover
    from explorer.weights import LoadedModel

__all__ = ["MethodMaps", "method_maps", "maps_of", "gradient_pass", "grad_cam", "upsample"]


@dataclass
class MethodMaps:
    """One method's map of one image in the three forms the tests compare."""

    display: np.ndarray  # H×W in [0, 1], as the page shows it (attribution's normalisation)
    abs: np.ndarray  # H×W, unnormalised magnitude (the display map before scaling)
    signed: np.ndarray  # H×W, signed: channel sum of the attribution; Grad-CAM before its ReLU


def _pixel_maps(raw: torch.Tensor, method: str) -> MethodMaps:
    """C×H×W attribution -> maps, with :func:`explorer.attribution`'s display convention."""
    raw = raw.detach().float().cpu()
    heat = raw.abs().amax(0) if method == "saliency" else raw.abs().sum(0)
    heat = heat.numpy()
    return MethodMaps(normalise(heat, robust=True), heat, raw.sum(0).numpy())


def _cam_maps(cam: torch.Tensor, size) -> MethodMaps:
    """1×1×h×w Grad-CAM before its ReLU -> maps upsampled to ``size``. The magnitude map is
    ReLU first, then bilinear upsampling, as Captum's and the page's Grad-CAM (the two do not
    commute); the signed map is the upsampled CAM without the ReLU."""
    signed = upsample(cam, size)[0, 0].float().cpu().numpy()
    heat = upsample(F.relu(cam), size)[0, 0].float().cpu().numpy()
    return MethodMaps(normalise(heat, robust=False), heat, signed)


def upsample(cam: torch.Tensor, size) -> torch.Tensor:
    """N×1×h×w -> N×1×H×W, bilinear as Captum's and the page's Grad-CAM."""
    return F.interpolate(cam, size=size, mode="bilinear", align_corners=False)


def grad_cam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Grad-CAM before the ReLU: channels weighted by their spatially averaged gradient."""
    return (g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True)  # N x 1 x h x w


def gradient_pass(model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
                  layers: Sequence[str], need_input: bool = True):
    """One forward and one backward pass: d(target logit)/d(input) and, for each layer, its
    output A and d(target logit)/dA. ``model`` must be private (a module copy or deep copy):
    the hooks live only during the forward pass and are removed in ``finally``."""
    modules = dict(model.named_modules())
    missing = [name for name in layers if name not in modules]
    if missing:
        raise AttributionError(_("The model has no layer {layer}.").format(layer=repr(missing[0])))
    saved: dict[str, torch.Tensor] = {}

    def keeper(name):
        def hook(module, inputs, output):
            saved.setdefault(name, output)  # a module called twice: its first call
        return hook

    xg = x.detach().clone().requires_grad_(True)
    with hooks() as keep:
        for name in layers:
            keep(modules[name].register_forward_hook(keeper(name)))
        with torch.enable_grad():
            logits = logits_of(model(xg))
    for name in layers:
        if not isinstance(saved.get(name), torch.Tensor) or saved[name].dim() != 4:
            raise AttributionError(_("Layer {layer} does not output a feature map; pick a "
                                     "convolution layer or block.").format(layer=repr(name)))
    score = logits.gather(1, targets.view(-1, 1)).sum()  # images are independent (eval mode)
    wrt = ([xg] if need_input else []) + [saved[name] for name in layers]
    grads = torch.autograd.grad(score, wrt)
    grad_x = grads[0] if need_input else None
    pairs = {name: (saved[name].detach(), g.detach())
             for name, g in zip(layers, grads[1 if need_input else 0:])}
    return grad_x, pairs, logits.detach()


def method_maps(loaded: "LoadedModel", model: nn.Module, x: torch.Tensor, methods: Iterable[str],
                targets: Sequence[int], layer: str | None = None,
                device: torch.device | None = None, **opts) -> dict[str, list[MethodMaps]]:
    """Every method's maps for each image of ``x`` (N×C×H×W) on ``model``, a PRIVATE model
    (it gets hooks). Saliency, Grad-CAM and Guided Grad-CAM's Grad-CAM factor share one
    forward and one backward pass; Guided Grad-CAM reuses Guided Backprop's map when both are
    asked for; the rest run :mod:`explorer.attribution`'s code on ``model``."""
    methods = list(dict.fromkeys(methods))
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise AttributionError(_("Unknown method {method}; choose one of {methods}.").format(
            method=repr(unknown[0]), methods=", ".join(METHODS)))
    device = x.device if device is None else device
    layer = layer or default_layer(loaded)
    n = x.shape[0]
    t = torch.as_tensor(list(targets), device=x.device, dtype=torch.long)
    out: dict[str, list[MethodMaps]] = {}
    cams = None
    fused = {"saliency", "gradcam", "guided_gradcam"} & set(methods)
    if fused:
        grad_x, pairs, _logits = gradient_pass(model, x, t,
                                                [layer] if fused - {"saliency"} else [],
                                                need_input="saliency" in fused)
        if "saliency" in fused:
            out["saliency"] = [_pixel_maps(grad_x[i], "saliency") for i in range(n)]
        if layer in pairs:
            cams = grad_cam(*pairs[layer])  # N x 1 x h x w, before the ReLU
            if "gradcam" in methods:
                out["gradcam"] = [_cam_maps(cams[i:i + 1], x.shape[-2:]) for i in range(n)]
    guided = {}
    if {"guided_backprop", "guided_gradcam"} & set(methods):
        guided = {i: explain_on(loaded, model, x[i:i + 1], "guided_backprop", int(t[i]), None,
                                device, **opts).raw for i in range(n)}
        if "guided_backprop" in methods:
            out["guided_backprop"] = [_pixel_maps(torch.as_tensor(guided[i]), "guided_backprop")
                                      for i in range(n)]
        if "guided_gradcam" in methods:
            # Captum's GuidedGradCam: guided backprop × the ReLU'd, upsampled Grad-CAM.
            out["guided_gradcam"] = [
                _pixel_maps(torch.as_tensor(guided[i])
                            * upsample(F.relu(cams[i:i + 1]), x.shape[-2:])[0].cpu(),
                            "guided_gradcam")
                for i in range(n)]
    for method in methods:
        if method in out:
            continue
        out[method] = [_pixel_maps(torch.as_tensor(explain_on(
            loaded, model, x[i:i + 1], method, int(t[i]), layer, device, **opts).raw), method)
            for i in range(n)]
    return {m: out[m] for m in methods}



def maps_of(result: AttributionResult) -> MethodMaps:
    """A map from :func:`explorer.attribution.explain` in the three forms the tests compare."""
    if result.method == "gradcam":  # explain() keeps only the ReLU'd, upsampled CAM
        heat = np.asarray(result.raw, dtype=np.float32)
        return MethodMaps(normalise(heat, robust=False), heat, heat)
    return _pixel_maps(torch.as_tensor(result.raw), result.method)

