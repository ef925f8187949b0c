"""The attribution methods: Captum's maps behind one small interface, with run-time estimates.

    result = explain(loaded, x, "gradcam")          # x: 1×C×H×W from loaded.preprocess
    result.map      # H×W float32 in [0, 1], ready to overlay
    result.raw      # the method's own numbers (C×H×W for pixel methods, H×W for Grad-CAM)

Methods (keys of :data:`METHODS`): ``saliency`` (Simonyan et al. 2014), ``integrated_gradients``
(Sundararajan et al. 2017, internally batched), ``smoothgrad`` (Smilkov et al. 2017, a
NoiseTunnel over Saliency), ``guided_backprop`` (Springenberg et al. 2015), ``gradcam``
(Selvaraju et al. 2017, LayerGradCam upsampled bilinearly), ``guided_gradcam`` and
``occlusion`` (Zeiler & Fergus 2014, slow: see :func:`estimate_seconds`).

The shared model is never touched
---------------------------------
The model inside a cached ``LoadedModel`` serves every browser session at once. Saliency,
Integrated Gradients, SmoothGrad and Occlusion need no hooks (gradients come from
``torch.autograd.grad`` on a fresh input tensor; parameters have ``requires_grad=False`` so
no ``.grad`` is ever written), so they run on the shared model directly. Grad-CAM, Guided
Backprop and Guided Grad-CAM need module hooks; a hook on the shared model would fire for
other sessions' forward passes while attached, and Captum's guided methods also break on
in-place ReLUs and on a ReLU module reused several times (torchvision's ResNet calls
``self.relu`` three times per block). So those methods run on a per-call *module copy*:
new module objects (their own hook dictionaries, ``inplace=False`` ReLUs, one ReLU module per
call site is not needed because each copy is used by one call only) that share the parameter
and buffer tensors with the cached model, so the copy costs no weight memory and a few
milliseconds. Captum removes its hooks in ``finally``; the copy is dropped afterwards anyway.
"""
from __future__ import annotations

import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.data import colormaps
from explorer.i18n import N_, _
from explorer.inference import logits_of, pick_device
from explorer.inference.shared import borrowed_copy, model_on

if TYPE_CHECKING:  # pragma: no cover
    from explorer.weights import LoadedModel

__all__ = [
    "METHODS",
    "SLOW_METHODS",
    "HOOKED_METHODS",
    "Progress",
    "AttributionError",
    "AttributionResult",
    "explain",
    "explain_on",
    "estimate_seconds",
    "estimate_from_forward",
    "conv_layers",
    "gradcam_layers",
    "default_layer",
    "normalise",
    "ig_batch",
    "occlusion_windows",
    "occlusion_params",
    "overlay",
]

METHODS = {  # names marked for translation: show them with explorer.i18n._(METHODS[m])
    "saliency": N_("Saliency (gradient)"),
    "integrated_gradients": N_("Integrated Gradients"),
    "smoothgrad": "SmoothGrad",
    "guided_backprop": N_("Guided Backprop"),
    "gradcam": "Grad-CAM",
    "guided_gradcam": "Guided Grad-CAM",
    "occlusion": N_("Occlusion (slow)"),
}
SLOW_METHODS = {"occlusion"}
# Methods that hook modules (Captum's layer and guided methods): they run on a borrowed module
# copy (explorer.inference.shared.borrowed_copy), never on the shared model itself.
HOOKED_METHODS = {"gradcam", "guided_backprop", "guided_gradcam"}
_LAYER_METHODS = {"gradcam", "guided_gradcam"}
Progress = Callable[[int, int], None]  # progress(done, total), called as work goes on


class AttributionError(ValueError):
    """A user-readable reason why an attribution cannot be computed."""


@dataclass
class AttributionResult:
    map: np.ndarray  # H×W float32 in [0, 1]
    raw: np.ndarray  # the method's output: C×H×W (pixel methods) or H×W (Grad-CAM)
    method: str
    target: int
    seconds: float
    layer: str | None = None
    notes: dict = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Layers


def conv_layers(model: nn.Module) -> list[str]:
    """Names (``named_modules`` keys) of every Conv2d, in forward-definition order."""
    return [name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)]


def gradcam_layers(loaded: "LoadedModel") -> list[str]:
    """Layers offered for Grad-CAM: the spec's default first, then stage outputs from deep to
    shallow, then every conv layer from deep to shallow."""
    spec = loaded.spec
    modules = dict(loaded.model.named_modules())
    names = [spec.gradcam_layer] if spec.gradcam_layer in modules else []
    names += [p for _, p in sorted(spec.stages.items(), reverse=True) if p in modules]
    names += list(reversed(conv_layers(loaded.model)))
    if not names:  # a model without a declared layer: its last conv
        raise AttributionError(_("{model} has no convolution layer for Grad-CAM.").format(
            model=loaded.name))
    return list(dict.fromkeys(names))


def default_layer(loaded: "LoadedModel") -> str:
    """The layer Grad-CAM explains when none is chosen: the first of :func:`gradcam_layers`."""
    return gradcam_layers(loaded)[0]



# --------------------------------------------------------------------------------------------
# Maps


def _to_map(attr: torch.Tensor, method: str) -> tuple[np.ndarray, np.ndarray]:
    """1×C×H×W attribution -> (H×W map in [0, 1], raw C×H×W)."""
    raw = attr.detach().float()[0].cpu()
    if method == "saliency":
        heat = raw.abs().amax(0)  # Simonyan et al.: max |gradient| over colour channels
    else:
        heat = raw.abs().sum(0)
    return normalise(heat.numpy(), robust=True), raw.numpy()


def normalise(heat: np.ndarray, robust: bool) -> np.ndarray:
    """A map as it is shown: float32 in [0, 1], negative values lifted to 0, scaled by its
    maximum, or with ``robust`` by its 99.5th percentile (and clipped)."""
    heat = np.nan_to_num(heat.astype(np.float32))
    heat = heat - min(float(heat.min()), 0.0)
    # Pixel attributions have a few huge outliers; clip at the 99.5th percentile so the map
    # shows structure instead of three white dots.
    top = float(np.percentile(heat, 99.5)) if robust else float(heat.max())
    if top <= 0:
        top = float(heat.max())
    if top <= 0:
        return np.zeros_like(heat, dtype=np.float32)
    return np.clip(heat / top, 0, 1).astype(np.float32)


def _layer(model: nn.Module, name: str, model_name: str) -> nn.Module:
    modules = dict(model.named_modules())
    if name not in modules:
        raise AttributionError(_("{model} has no layer {layer}; pick one of the listed layers "
                                 "(e.g. a conv layer).").format(model=model_name,
                                                                layer=repr(name)))
    return modules[name]


# --------------------------------------------------------------------------------------------
# The interface


def _forward_fn(model: nn.Module) -> Callable[[torch.Tensor], torch.Tensor]:
    def forward(x):
        return logits_of(model(x))

    return forward


def _predicted(model: nn.Module, x: torch.Tensor) -> int:
    with torch.inference_mode():
        return int(logits_of(model(x)).argmax(-1)[0])


def ig_batch(device: torch.device) -> int:
    """Scaled images per forward/backward pass of Integrated Gradients on ``device``."""
    # Captum's default evaluates all n_steps scaled images in one batch: with 50 steps on a
    # ResNet-50 that is a 50-image backward pass (GBs of activations). Small chunks cost
    # nothing extra on a CPU (throughput per image is flat beyond a few images) and bound
    # memory; a GPU wants bigger ones to stay busy.
    return 32 if device.type == "cuda" else 8


def occlusion_windows(x: torch.Tensor, window: int, stride: int) -> int:
    """How many patches Occlusion covers (one forward pass each) on the image ``x``."""
    h, w = x.shape[-2:]
    return ((h - window) // stride + 1) * ((w - window) // stride + 1)


def occlusion_params(x: torch.Tensor, opts: dict) -> tuple[int, int]:
    """Occlusion's (window, stride) in pixels: from ``opts``, else a seventh of the image side
    and half a window."""
    side = min(x.shape[-2:])
    window = int(opts.get("window", max(2, round(side / 7))))
    stride = int(opts.get("stride", max(1, window // 2)))
    return window, stride


def _model_and_input(loaded: "LoadedModel", image_tensor: torch.Tensor, device):
    """The model on the chosen device and a fresh 1×C×H×W float copy of the input there.

    Several Captum ops are missing on MPS, so attribution runs on the CPU there instead."""
    device = pick_device(device)
    if device.type == "mps":
        device = torch.device("cpu")
    x = image_tensor.detach().clone().float().to(device)  # a fresh input per call
    if x.dim() == 3:
        x = x.unsqueeze(0)
    return model_on(loaded.model, device), x, device


def explain(loaded: "LoadedModel", image_tensor: torch.Tensor, method: str,
            target: int | None = None, layer: str | None = None,
            device: str | torch.device | None = None,
            progress: Callable[[int, int], None] | None = None, **opts) -> AttributionResult:
    """Attribute the ``target`` logit (default: the predicted class) to the input pixels.

    ``opts``: ``n_steps`` (IG; default: chosen by the convergence delta, see
    :mod:`explorer.attribution.ig`, within ``rtol``), ``internal_batch_size`` (IG),
    ``nt_samples`` (SmoothGrad, 16), ``noise`` (SmoothGrad stdev as a fraction of the input
    range, 0.15), ``window`` / ``stride`` / ``perturbations_per_eval`` (Occlusion).
    ``progress(done, total)`` is called during Occlusion and Integrated Gradients (steps chosen
    by the delta).
    """
    if method not in METHODS:
        raise AttributionError(f"Unknown method {method!r}; choose one of {', '.join(METHODS)}.")
    shared, x, device = _model_and_input(loaded, image_tensor, device)
    if x.shape[0] != 1:
        raise AttributionError("explain() takes one image (a 1×C×H×W tensor).")
    t0 = time.perf_counter()
    if target is None:
        target = _predicted(shared, x)
    target = int(target)
    n_classes = len(loaded.categories)
    if not 0 <= target < n_classes:
        raise AttributionError(_("Target class {target} is out of range (0–{last}).").format(
            target=target, last=n_classes - 1))

    with (borrowed_copy(shared) if method in HOOKED_METHODS else nullcontext(shared)) as model:
        return _explain(loaded, model, x, method, target, layer, device, progress, opts, t0)


def explain_on(loaded: "LoadedModel", model: nn.Module, x: torch.Tensor, method: str,
               target: int, layer: str | None = None, device: str | torch.device | None = None,
               **opts) -> AttributionResult:
    """:func:`explain`'s computation on ``model`` as it is now (a private copy, e.g. one being
    randomised), for the 1×C×H×W input ``x`` on the model's device. :func:`explain` itself
    would fetch (and cache) a device copy of the shared model, which would go stale as soon as
    a private copy's weights change. A hooked method runs on a borrowed copy of ``model``."""
    x = x.detach().clone()
    ctx = borrowed_copy(model) if method in HOOKED_METHODS else nullcontext(model)
    with ctx as m:
        return _explain(replace(loaded, model=m), m, x, method, target, layer,
                        torch.device(device) if device is not None else x.device,
                        None, opts, time.perf_counter())


def _explain(loaded, model, x, method, target, layer, device, progress, opts, t0):
    from captum.attr import (GuidedBackprop, GuidedGradCam, IntegratedGradients,
                             LayerGradCam, NoiseTunnel, Occlusion, Saliency)

    layer_name = None
    notes: dict = {}
    forward = _forward_fn(model)
    if method in _LAYER_METHODS:
        layer_name = layer or default_layer(loaded)
        layer_module = _layer(model, layer_name, loaded.name)

    x.requires_grad_(True)
    if method == "saliency":
        attr = Saliency(forward).attribute(x, target=target, abs=False)
    elif method == "integrated_gradients" and not opts.get("n_steps"):
        # Steps chosen by the convergence delta on nested grids (explorer.attribution.ig), batched.
        from explorer.attribution.ig import RTOL, integrated_gradients

        ig = integrated_gradients(
            forward, x.detach(), target, batch=int(opts.get("internal_batch_size")
                                                   or ig_batch(device)),
            rtol=float(opts.get("rtol", RTOL)), progress=progress)
        attr = ig.attributions
        notes.update(convergence_delta=abs(ig.delta), relative_delta=ig.relative_delta,
                     n_steps=ig.n_steps, converged=ig.converged, steps_tried=ig.history)
    elif method == "integrated_gradients":  # a fixed number of steps: Captum's own IG
        n_steps = int(opts["n_steps"])
        batch = int(opts.get("internal_batch_size") or ig_batch(device))
        attr, delta = IntegratedGradients(forward).attribute(
            x, baselines=torch.zeros_like(x), target=target, n_steps=n_steps,
            internal_batch_size=batch, return_convergence_delta=True)
        notes["convergence_delta"] = float(delta.abs().max())
        notes["n_steps"] = n_steps
    elif method == "smoothgrad":
        samples = int(opts.get("nt_samples", 16))
        noise = float(opts.get("noise", 0.15)) * float(x.detach().max() - x.detach().min())
        attr = NoiseTunnel(Saliency(forward)).attribute(
            x, nt_type="smoothgrad", nt_samples=samples, stdevs=noise, target=target,
            nt_samples_batch_size=int(opts.get("nt_samples_batch_size", 8)), abs=False)
        notes["nt_samples"] = samples
    elif method == "guided_backprop":
        attr = GuidedBackprop(model).attribute(x, target=target)
    elif method == "gradcam":
        cam = LayerGradCam(forward, layer_module).attribute(x, target=target,
                                                             relu_attributions=True)
        if cam.dim() != 4:
            raise AttributionError(_("Layer {layer} does not output a feature map; pick a "
                                     "convolution layer or block.").format(
                layer=repr(layer_name)))
        up = F.interpolate(cam.detach().float(), size=x.shape[-2:], mode="bilinear",
                           align_corners=False)[0, 0].cpu()
        seconds = time.perf_counter() - t0
        notes["cam_shape"] = tuple(cam.shape[-2:])
        return AttributionResult(normalise(up.numpy(), robust=False), up.numpy(), method,
                                 target, seconds, layer_name, notes)
    elif method == "guided_gradcam":
        attr = GuidedGradCam(model, layer_module).attribute(x, target=target,
                                                            interpolate_mode="bilinear")
    else:  # occlusion
        window, stride = occlusion_params(x, opts)
        channels = x.shape[1]
        per_eval = int(opts.get("perturbations_per_eval", 8))
        total = math.ceil(occlusion_windows(x, window, stride) / per_eval) + 1
        calls = [0]

        def counted(inp):
            out = forward(inp)
            calls[0] += 1
            if progress is not None:
                progress(min(calls[0], total), total)
            return out

        with torch.no_grad():
            attr = Occlusion(counted).attribute(
                x.detach(), target=target, sliding_window_shapes=(channels, window, window),
                strides=(channels, stride, stride), baselines=0.0,
                perturbations_per_eval=per_eval)
        notes.update(window=window, stride=stride)
    heat, raw = _to_map(attr, method)
    seconds = time.perf_counter() - t0
    return AttributionResult(heat, raw, method, target, seconds, layer_name, notes)


def estimate_seconds(loaded: "LoadedModel", image_tensor: torch.Tensor, method: str,
                     device: str | torch.device | None = None, **opts) -> float:
    """A rough run time for ``explain`` (times one forward pass first; ~0.1-1 s itself)."""
    model, x, device = _model_and_input(loaded, image_tensor, device)
    if method == "occlusion":
        window, stride = occlusion_params(x, opts)
        per_eval = int(opts.get("perturbations_per_eval", 8))
        batch = x.expand(per_eval, *x.shape[1:]).contiguous()
        with torch.inference_mode():
            logits_of(model(batch))  # warm-up
            t0 = time.perf_counter()
            logits_of(model(batch))
            if device.type == "cuda":
                torch.cuda.synchronize()
            per_batch = time.perf_counter() - t0
        return per_batch * (math.ceil(occlusion_windows(x, window, stride) / per_eval) + 1)
    with torch.inference_mode():
        t0 = time.perf_counter()
        logits_of(model(x))
        if device.type == "cuda":
            torch.cuda.synchronize()
        forward = time.perf_counter() - t0
    return estimate_from_forward(method, forward, x, **opts)


def estimate_from_forward(method: str, forward_seconds: float, image_tensor: torch.Tensor,
                          **opts) -> float:
    """A rough run time for ``explain`` from the time of one forward pass of one image (the
    prediction's): no extra pass, so a page can say what every method will cost before it runs.
    A backward pass costs about two forwards; batches cost about their size in forwards. For
    Integrated Gradients without ``n_steps`` it assumes 32 steps (the search can stop at 8 or go
    on to 128, see explorer.attribution.ig)."""
    f = max(float(forward_seconds), 1e-4)
    if method == "occlusion":
        window, stride = occlusion_params(image_tensor, opts)
        return f * (occlusion_windows(image_tensor, window, stride) + 1)
    passes = {"integrated_gradients": int(opts.get("n_steps") or 32) + 1,
              "smoothgrad": int(opts.get("nt_samples", 16)), "guided_gradcam": 2}.get(method, 1)
    return f * 3 * passes + f  # backward ≈ 2 forwards, plus the target forward



# --------------------------------------------------------------------------------------------
# Pictures


def overlay(image, heat: np.ndarray, opacity: float = 0.5, cmap: str = "jet"):
    """Blend an H×W map in [0, 1] over a PIL image (colour map ``jet``), each pixel's
    opacity ``min(1, 2 × opacity × map)``."""
    from PIL import Image

    heat = np.clip(np.asarray(heat, dtype=np.float32), 0, 1)
    base = np.asarray(image.convert("RGB").resize((heat.shape[1], heat.shape[0])),
                      dtype=np.float32) / 255
    colours = colormaps.apply(heat, cmap)
    # Colour where the map is high, the photo where it is low: a uniform blend would wash the
    # whole photo blue and hide what the pixel-level maps point at.
    # At opacity 0.5 the strongest pixels are fully coloured; at 1 everything above half-way.
    alpha = np.clip(2 * opacity * heat[..., None], 0, 1)
    out = (1 - alpha) * base + alpha * colours
    return Image.fromarray((np.clip(out, 0, 1) * 255).round().astype(np.uint8))


