"""Can I trust this map? Tests of attribution maps: model randomisation, class sensitivity,
deletion/insertion faithfulness with baselines, and Grad-CAM / LayerCAM at every depth.

    r = randomisation_test(loaded, x, ["saliency", "gradcam"])           # cascading (Adebayo)
    r.steps            # "trained", then the block re-initialised at each step, logits first
    r.spearman_abs["gradcam"][0, -1]   # rank correlation with the trained map, full cascade
    f = faithfulness(loaded, x, {"gradcam": cam.map})   # + "random" and "centre" baselines
    f.deletion_auc["gradcam"], f.insertion_auc["random"]
    d = cams_across_depth(loaded, x)    # d.gradcam[i], d.layercam[i] at d.layers[i]

Model randomisation (Adebayo et al., *Sanity Checks for Saliency Maps*, NeurIPS 2018)
------------------------------------------------------------------------------------
A map that explains the *network* must change when the network's weights are destroyed. The
cascading test re-initialises the blocks from the logits down, one more block per step, and
compares each step's map with the trained network's map (Spearman rank correlation of the
absolute and of the signed map, SSIM of the maps as displayed). The independent test
re-initialises one block at a time, the others trained. Blocks are the units a reader of the
architecture would name (``features.6.2``, ``layer3.1``, ``classifier``), in the order the
forward pass runs them (found by one forward pass with pre-hooks on a private copy).
Re-initialisation follows torchvision's MobileNet scheme (He-normal fan-out convolutions,
normal(0, 0.01) dense weights, zero biases, identity batch norm with reset running
statistics), drawn from a generator seeded per block: the same random weights for the same
block in both variants, on every device, without touching the global random state.

Everything happens on a private ``copy.deepcopy`` of the model: the shared cached model is
never changed, hooked or differentiated. Per step, Saliency and Grad-CAM (and the Grad-CAM
factor of Guided Grad-CAM) come from ONE forward and ONE backward pass
(``autograd.grad`` of the target logit w.r.t. the input and the Grad-CAM layer together);
the other methods go through :mod:`explorer.attribution`'s own code on the copy.

Faithfulness (Petsiuk et al., RISE, BMVC 2018)
----------------------------------------------
Deletion removes the pixels a map ranks highest first (to 0 in the normalised input, i.e. the
dataset's mean colour) and records the target's probability: a faithful map makes it fall fast
(low AUC). Insertion starts from a blurred copy of the image and puts the original pixels back
in the map's order: a faithful map makes it rise fast (high AUC). A random map and a
centre-first map are yardsticks, computed by the very same function as the methods' maps
(they are just two more maps). Every masked image of every map and both curves goes through
the network in shared batches; the three end points (full, empty, blurred image) are computed
once.
"""
from __future__ import annotations

import copy
import math
import time
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Callable, Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer import attribution
from explorer.attribution import METHODS, AttributionError, _normalise
from explorer.i18n import _
from explorer.inference import logits_of, pick_device
from explorer.inference.shared import borrowed_copy, model_on

if TYPE_CHECKING:  # pragma: no cover
    from explorer.weights import LoadedModel

__all__ = [
    "CASCADE_METHODS",
    "rankdata",
    "spearman",
    "ssim",
    "MethodMaps",
    "RandomisationBlock",
    "cascade_blocks",
    "reinitialise_",
    "randomised_models",
    "method_maps",
    "RandomisationResult",
    "randomisation_test",
    "class_sensitivity",
    "maps_of",
    "ClassSensitivity",
    "centre_map",
    "random_map",
    "blur",
    "pixel_order",
    "FaithfulnessResult",
    "faithfulness",
    "BASELINES",
    "cam_layers",
    "CamsAcrossDepth",
    "cams_across_depth",
]

# Occlusion re-runs the network per patch: minutes per cascade step, so only on request.
CASCADE_METHODS = [m for m in METHODS if m not in attribution.SLOW_METHODS]
BASELINES = ("random", "centre")
Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------------------------
# Similarity of two maps


def rankdata(a: np.ndarray) -> np.ndarray:
    """Ranks 1…n of the flattened array, ties sharing their average rank (as scipy's)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    order = np.argsort(a)  # tied values share their mean rank, so stability does not matter
    sorted_a = a[order]
    # Runs of equal values: each gets the mean of the ranks it spans.
    starts = np.flatnonzero(np.r_[True, sorted_a[1:] != sorted_a[:-1]])
    ends = np.r_[starts[1:], a.size]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(a.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def _centred_ranks(a: np.ndarray) -> tuple[np.ndarray, float]:
    r = rankdata(a)
    r -= r.mean()
    return r, math.sqrt(float((r * r).sum()))  # elementwise: no BLAS threads for a dot product


def _rank_correlation(ra: tuple[np.ndarray, float], rb: tuple[np.ndarray, float]) -> float:
    if ra[0].size != rb[0].size:
        raise ValueError("maps of different sizes")
    denom = ra[1] * rb[1]
    return float((ra[0] * rb[0]).sum() / denom) if denom > 0 else float("nan")


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps (Pearson correlation of their ranks); NaN when
    one map is constant."""
    return _rank_correlation(_centred_ranks(a), _centred_ranks(b))


def _box_mean(a: np.ndarray, k: int) -> np.ndarray:
    """Mean over every k×k window that fits inside ``a`` (an integral image: O(H·W))."""
    s = np.zeros((a.shape[0] + 1, a.shape[1] + 1))
    s[1:, 1:] = a.cumsum(0).cumsum(1)
    return (s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]) / (k * k)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, win_size: int = 7) -> float:
    """Mean structural similarity (Wang et al. 2004) of two 2-D maps with scikit-image's
    defaults: a uniform ``win_size``² window, K1 = 0.01, K2 = 0.03, sample covariance, mean
    over the windows that fit inside the image."""
    x = np.asarray(a, dtype=np.float64)
    y = np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError("maps of different sizes")
    if x.ndim != 2 or min(x.shape) < win_size:
        raise ValueError(f"maps must be 2-D and at least {win_size}×{win_size} for SSIM")
    n = win_size ** 2
    cov = n / (n - 1)
    ux, uy = _box_mean(x, win_size), _box_mean(y, win_size)
    vx = cov * (_box_mean(x * x, win_size) - ux * ux)
    vy = cov * (_box_mean(y * y, win_size) - uy * uy)
    vxy = cov * (_box_mean(x * y, win_size) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return float(s.mean())


# --------------------------------------------------------------------------------------------
# Maps of several methods from shared passes


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
    return MethodMaps(_normalise(heat, robust=True), heat, raw.sum(0).numpy())


def _cam_maps(cam: torch.Tensor, size) -> MethodMaps:
    """1×1×h×w Grad-CAM before its ReLU -> maps upsampled to ``size``. The magnitude map is
    ReLU first, then bilinear upsampling, as Captum's and the page's Grad-CAM (the two do not
    commute); the signed map is the upsampled CAM without the ReLU."""
    signed = _upsample(cam, size)[0, 0].float().cpu().numpy()
    heat = _upsample(F.relu(cam), size)[0, 0].float().cpu().numpy()
    return MethodMaps(_normalise(heat, robust=False), heat, signed)


def _upsample(cam: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(cam, size=size, mode="bilinear", align_corners=False)


def _gradcam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Grad-CAM before the ReLU: channels weighted by their spatially averaged gradient."""
    return (g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True)  # N x 1 x h x w


def _layercam(a: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """LayerCAM (Jiang et al. 2021): every position weighted by its own positive gradient."""
    return F.relu((F.relu(g) * a).sum(1, keepdim=True))


def _gradient_pass(model: nn.Module, x: torch.Tensor, targets: torch.Tensor,
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

    handles = [modules[name].register_forward_hook(keeper(name)) for name in layers]
    xg = x.detach().clone().requires_grad_(True)
    try:
        with torch.enable_grad():
            logits = logits_of(model(xg))
    finally:
        for h in handles:
            h.remove()
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


def _as_loaded(loaded: "LoadedModel", model: nn.Module) -> "LoadedModel":
    return replace(loaded, model=model)


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
    layer = layer or attribution.default_layer(loaded)
    n = x.shape[0]
    t = torch.as_tensor(list(targets), device=x.device, dtype=torch.long)
    out: dict[str, list[MethodMaps]] = {}
    cams = None
    fused = {"saliency", "gradcam", "guided_gradcam"} & set(methods)
    if fused:
        grad_x, pairs, _logits = _gradient_pass(model, x, t,
                                                [layer] if fused - {"saliency"} else [],
                                                need_input="saliency" in fused)
        if "saliency" in fused:
            out["saliency"] = [_pixel_maps(grad_x[i], "saliency") for i in range(n)]
        if layer in pairs:
            cams = _gradcam(*pairs[layer])  # N x 1 x h x w, before the ReLU
            if "gradcam" in methods:
                out["gradcam"] = [_cam_maps(cams[i:i + 1], x.shape[-2:]) for i in range(n)]
    guided = {}
    if {"guided_backprop", "guided_gradcam"} & set(methods):
        guided = {i: _explain_on(loaded, model, x[i:i + 1], "guided_backprop", int(t[i]), None,
                                 device, opts).raw for i in range(n)}
        if "guided_backprop" in methods:
            out["guided_backprop"] = [_pixel_maps(torch.as_tensor(guided[i]), "guided_backprop")
                                      for i in range(n)]
        if "guided_gradcam" in methods:
            # Captum's GuidedGradCam: guided backprop × the ReLU'd, upsampled Grad-CAM.
            out["guided_gradcam"] = [
                _pixel_maps(torch.as_tensor(guided[i])
                            * _upsample(F.relu(cams[i:i + 1]), x.shape[-2:])[0].cpu(),
                            "guided_gradcam")
                for i in range(n)]
    for method in methods:
        if method in out:
            continue
        out[method] = [_pixel_maps(torch.as_tensor(_explain_on(
            loaded, model, x[i:i + 1], method, int(t[i]), layer, device, opts).raw), method)
            for i in range(n)]
    return {m: out[m] for m in methods}


def _explain_on(loaded, model, x, method, target, layer, device, opts):
    """``attribution.explain``'s computation on ``model`` as it is now (a randomised private
    copy): ``explain`` itself would fetch (and cache) a device copy of the model, which would go
    stale as soon as the next block is re-initialised."""
    x = x.detach().clone()
    ctx = borrowed_copy(model) if method in attribution._HOOKED else nullcontext(model)
    with ctx as m:
        return attribution._explain(_as_loaded(loaded, m), m, x, method, target, layer,
                                    torch.device(device) if device is not None else x.device,
                                    None, opts, time.perf_counter())


# --------------------------------------------------------------------------------------------
# Randomisation


@dataclass(frozen=True)
class RandomisationBlock:
    name: str  # what the page shows: "features.6.2", "conv1 + bn1"
    modules: tuple[str, ...]  # named_modules keys re-initialised together


_CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm)


def _has_params(m: nn.Module) -> bool:
    return any(True for _ in m.parameters(recurse=True))


def _units(module: nn.Module, prefix: str) -> list[str]:
    units = []
    for name, child in module.named_children():
        if not _has_params(child):
            continue
        path = f"{prefix}.{name}" if prefix else name
        # Plain containers holding two or more parameterised parts are opened (VGG's
        # `features`, a ResNet `layer3`); a block class of its own is one unit.
        inner = [c for c in child.children() if _has_params(c)]
        if type(child) in _CONTAINERS and len(inner) >= 2:
            units += _units(child, path)
        else:
            units.append(path)
    return units


def cascade_blocks(model: nn.Module, x: torch.Tensor) -> list[RandomisationBlock]:
    """The blocks of ``model`` from the logits down (the cascade's order): the units of the
    module tree that hold weights, ordered by when the forward pass on ``x`` first calls them
    (modules the forward pass never calls, e.g. Inception's auxiliary head, are left out), a
    normalisation layer joined to the unit before it (``conv1 + bn1``)."""
    model = copy.deepcopy(model)  # private: it gets pre-hooks
    modules = dict(model.named_modules())
    units = _units(model, "")
    if not units and _has_params(model):
        units = [""]
    order: dict[str, int] = {}
    handles = []
    for name in units:
        def hook(module, inputs, name=name):
            order.setdefault(name, len(order))
        handles.append(modules[name].register_forward_pre_hook(hook))
    try:
        with torch.inference_mode():
            model(x[:1].detach().to(next(model.parameters()).device))
    finally:
        for h in handles:
            h.remove()
    ran = sorted(order, key=order.get)
    blocks: list[list[str]] = []
    for name in ran:
        if blocks and isinstance(modules[name], _NORMS):
            blocks[-1].append(name)
        else:
            blocks.append([name])
    return [RandomisationBlock(" + ".join(b) or "(whole model)", tuple(b))
            for b in reversed(blocks)]


def _block_seed(seed: int, index: int) -> int:
    return seed * 100_003 + index


def reinitialise_(model: nn.Module, block: RandomisationBlock, seed: int) -> None:
    """Re-initialise every weight of ``block`` in ``model`` (in place, under no_grad), as
    torchvision initialises its MobileNets, with a generator seeded by ``seed``."""
    g = torch.Generator().manual_seed(seed)
    modules = dict(model.named_modules())

    def put(t: torch.Tensor, value: torch.Tensor) -> None:
        t.copy_(value.to(t.device, t.dtype))

    with torch.no_grad():
        for root in block.modules:
            for m in modules[root].modules():
                if isinstance(m, _NORMS):
                    if getattr(m, "weight", None) is not None:
                        m.weight.fill_(1)
                    if getattr(m, "bias", None) is not None:
                        m.bias.zero_()
                    if getattr(m, "running_mean", None) is not None:
                        m.running_mean.zero_()
                        m.running_var.fill_(1)
                    continue
                for pname, p in m.named_parameters(recurse=False):
                    cpu = torch.empty(p.shape, dtype=torch.float32)
                    if pname == "weight" and p.dim() >= 3:  # convolutions: He-normal, fan-out
                        nn.init.kaiming_normal_(cpu, mode="fan_out", generator=g)
                    elif pname == "weight" and p.dim() == 2:  # dense layers
                        nn.init.normal_(cpu, 0, 0.01, generator=g)
                    elif "bias" in pname:
                        cpu.zero_()
                    else:  # anything else with weights: small noise
                        nn.init.normal_(cpu, 0, 0.01, generator=g)
                    put(p, cpu)


def randomised_models(model: nn.Module, blocks: Sequence[RandomisationBlock],
                      mode: str = "cascade", seed: int = 0):
    """Yield ``(step, block, private_model)``: step 0 is an untouched private copy (block
    None), then one step per block. ``cascade``: block k is re-initialised on top of the ones
    before it; ``independent``: only block k is (the previous one is put back). The same
    private model is yielded every time, changed in place: use it before the next step."""
    if mode not in ("cascade", "independent"):
        raise ValueError(f"mode must be 'cascade' or 'independent', not {mode!r}")
    private = copy.deepcopy(model)
    for p in private.parameters():
        p.requires_grad_(False)
    yield 0, None, private
    modules = dict(private.named_modules())
    saved = None
    for k, block in enumerate(blocks):
        if mode == "independent":
            if saved is not None:
                with torch.no_grad():
                    for t, v in saved:
                        t.copy_(v)
            saved = [(t, t.detach().clone()) for root in block.modules
                     for t in list(modules[root].parameters()) + list(modules[root].buffers())]
        reinitialise_(private, block, _block_seed(seed, k))
        yield k + 1, block, private


@dataclass
class RandomisationResult:
    mode: str
    methods: list[str]
    steps: list[str]  # "trained", then the block re-initialised at each step
    targets: list[int]
    # method -> images × (steps + 1); column 0 compares the trained map with itself (1.0).
    spearman_abs: dict[str, np.ndarray]
    spearman_signed: dict[str, np.ndarray]
    ssim: dict[str, np.ndarray]
    # method -> [display map per step] for the first image, when asked to keep them.
    maps: dict[str, list[np.ndarray]] = field(default_factory=dict)
    seconds: float = 0.0

    def final(self, method: str, metric: str = "spearman_abs") -> float:
        """Mean over the images of ``metric`` after the last step."""
        return float(np.nanmean(getattr(self, metric)[method][:, -1]))

    def mean_curve(self, method: str, metric: str = "spearman_abs") -> np.ndarray:
        return np.nanmean(getattr(self, metric)[method], axis=0)


def _similarities(ref: tuple, now: MethodMaps) -> tuple[float, float, float]:
    """``ref``: (centred ranks of the abs map, of the signed map, the display map), computed
    once for the trained network's map."""
    return (_rank_correlation(ref[0], _centred_ranks(now.abs)),
            _rank_correlation(ref[1], _centred_ranks(now.signed)), ssim(ref[2], now.display))


def randomisation_test(loaded: "LoadedModel", x: torch.Tensor, methods: Iterable[str],
                       targets: Sequence[int] | int | None = None, mode: str = "cascade",
                       layer: str | None = None, seed: int = 0,
                       device: str | torch.device | None = None, keep_maps: bool = True,
                       progress: Progress | None = None, **opts) -> RandomisationResult:
    """Recompute each method's map as the model's blocks are re-initialised (see the module
    docstring) and compare it with the trained model's map, image by image. ``x``: N×C×H×W
    (or one image); ``targets``: the classes to explain (default: the trained model's
    predictions, kept fixed through the cascade, as in the paper)."""
    t0 = time.perf_counter()
    methods = list(dict.fromkeys(methods))
    device = pick_device(device)
    if device.type == "mps":  # several Captum ops are missing on MPS
        device = torch.device("cpu")
    x = x.detach().float().to(device)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    base = model_on(loaded.model, device)
    if targets is None:
        with torch.inference_mode():
            targets = logits_of(base(x)).argmax(-1).tolist()
    elif isinstance(targets, int):
        targets = [targets] * x.shape[0]
    targets = [int(t) for t in targets]
    layer = layer or attribution.default_layer(loaded)
    blocks = cascade_blocks(base, x)
    total = len(blocks) + 1
    n = x.shape[0]
    sims = {k: {m: np.full((n, total), np.nan) for m in methods}
            for k in ("spearman_abs", "spearman_signed", "ssim")}
    kept: dict[str, list[np.ndarray]] = {m: [] for m in methods}
    reference: dict[str, list[tuple]] = {}
    for step, block, model in randomised_models(base, blocks, mode, seed):
        maps = method_maps(loaded, model, x, methods, targets, layer, device, **opts)
        if step == 0:
            reference = {m: [(_centred_ranks(mm.abs), _centred_ranks(mm.signed), mm.display)
                             for mm in maps[m]] for m in methods}
        for m in methods:
            for i in range(n):
                s_abs, s_signed, s_ssim = _similarities(reference[m][i], maps[m][i])
                sims["spearman_abs"][m][i, step] = s_abs
                sims["spearman_signed"][m][i, step] = s_signed
                sims["ssim"][m][i, step] = s_ssim
            if keep_maps:
                kept[m].append(maps[m][0].display)
        if progress is not None:
            progress(step + 1, total)
    return RandomisationResult(mode, methods, ["trained"] + [b.name for b in blocks], targets,
                               sims["spearman_abs"], sims["spearman_signed"], sims["ssim"],
                               kept if keep_maps else {}, time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------
# Class sensitivity


@dataclass
class ClassSensitivity:
    method: str
    targets: tuple[int, int]
    maps: tuple[np.ndarray, np.ndarray]  # display maps
    spearman_abs: float
    ssim: float


def class_sensitivity(loaded: "LoadedModel", x: torch.Tensor, method: str,
                      targets: tuple[int, int], layer: str | None = None,
                      device: str | torch.device | None = None, **opts) -> ClassSensitivity:
    """The map for two classes of the same image and how alike they are: a map that does not
    change with the class explains the image, not the decision."""
    results = [attribution.explain(loaded, x, method, target=int(t), layer=layer, device=device,
                                   **opts) for t in targets]
    maps = [maps_of(r) for r in results]
    return ClassSensitivity(method, (int(targets[0]), int(targets[1])),
                            (maps[0].display, maps[1].display),
                            spearman(maps[0].abs, maps[1].abs), ssim(maps[0].display, maps[1].display))


def maps_of(result: attribution.AttributionResult) -> MethodMaps:
    """A map from :func:`explorer.attribution.explain` in the three forms the tests compare."""
    if result.method == "gradcam":  # explain() keeps only the ReLU'd, upsampled CAM
        heat = np.asarray(result.raw, dtype=np.float32)
        return MethodMaps(_normalise(heat, robust=False), heat, heat)
    return _pixel_maps(torch.as_tensor(result.raw), result.method)


# --------------------------------------------------------------------------------------------
# Faithfulness: deletion and insertion


def centre_map(h: int, w: int) -> np.ndarray:
    """A map that ranks pixels by closeness to the image centre (photographers' prior)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return -np.hypot(yy - (h - 1) / 2, xx - (w - 1) / 2)


def random_map(h: int, w: int, seed: int = 0) -> np.ndarray:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(h, w, generator=g).numpy()


def blur(x: torch.Tensor) -> torch.Tensor:
    """RISE's insertion start: a Gaussian blur (σ = 5 px at 224 px, kernel 11, scaled with the
    image), reflecting at the borders."""
    import torchvision.transforms.functional as TF

    side = min(x.shape[-2:])
    sigma = 5.0 * side / 224
    k = max(3, int(round(11 * side / 224)) | 1)
    return TF.gaussian_blur(x, [k, k], [sigma, sigma])


def pixel_order(heat: np.ndarray, seed: int = 0) -> torch.Tensor:
    """Pixel indices from the highest map value to the lowest, ties in a random (seeded) order
    rather than top-left first (a ReLU'd Grad-CAM has many equal zeros)."""
    heat = torch.as_tensor(np.asarray(heat, dtype=np.float32)).flatten()
    g = torch.Generator().manual_seed(seed + 1)
    perm = torch.randperm(heat.numel(), generator=g)
    return perm[torch.argsort(heat[perm], descending=True, stable=True)]


@dataclass
class FaithfulnessResult:
    fractions: np.ndarray  # 0 … 1: share of pixels deleted / inserted
    deletion: dict[str, np.ndarray]  # map name -> target probability per fraction
    insertion: dict[str, np.ndarray]
    deletion_auc: dict[str, float]  # lower = better
    insertion_auc: dict[str, float]  # higher = better
    target: int
    p_full: float
    p_empty: float
    p_blurred: float
    forward_images: int = 0  # how many images went through the network
    seconds: float = 0.0


def _auc(values: np.ndarray, fractions: np.ndarray) -> float:
    return float(np.trapezoid(values, fractions))


def faithfulness(loaded: "LoadedModel", x: torch.Tensor, maps: dict[str, np.ndarray],
                 target: int | None = None, steps: int = 20,
                 baselines: Sequence[str] = BASELINES, kinds: Sequence[str] = ("deletion", "insertion"),
                 seed: int = 0, device: str | torch.device | None = None, batch: int | None = None,
                 progress: Progress | None = None) -> FaithfulnessResult:
    """Deletion and insertion curves (``steps`` + 1 points each) for every map in ``maps``
    (H×W arrays, higher = more important) and for the ``baselines`` ("random", "centre"),
    which are added to ``maps`` and go through exactly the same code."""
    t0 = time.perf_counter()
    device = pick_device(device)
    if device.type == "mps":
        device = torch.device("cpu")
    model = model_on(loaded.model, device)  # no hooks, no gradients: the shared model is fine
    x = x.detach().float().to(device)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    h, w = x.shape[-2:]
    all_maps = dict(maps)
    for name in baselines:
        if name == "random":
            all_maps[name] = random_map(h, w, seed)
        elif name == "centre":
            all_maps[name] = centre_map(h, w)
        else:
            raise ValueError(f"unknown baseline {name!r}; choose from {BASELINES}")
    for name, heat in all_maps.items():
        if np.asarray(heat).shape != (h, w):
            raise AttributionError(_("The map {name} has shape {shape}; the image is {h}×{w}.")
                                   .format(name=repr(name), shape=np.asarray(heat).shape, h=h, w=w))
    kinds = [k for k in ("deletion", "insertion") if k in kinds]
    if batch is None:
        batch = 64 if device.type == "cuda" else 8
    n_pix = h * w
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = torch.as_tensor(np.round(fractions[1:-1] * n_pix).astype(np.int64), device=device)
    blurred = blur(x)
    with torch.inference_mode():
        ends = logits_of(model(torch.cat([x, torch.zeros_like(x), blurred]))).float().softmax(-1)
    if target is None:
        target = int(ends[0].argmax())
    p_full, p_empty, p_blurred = (float(v) for v in ends[:, target])

    # rank[p] = position of pixel p in the map's order; the first c pixels: rank < c.
    ranks = {}
    for name, heat in all_maps.items():
        order = pixel_order(heat, seed).to(device)  # the same tie-break for every map
        rank = torch.empty(n_pix, dtype=torch.long, device=device)
        rank[order] = torch.arange(n_pix, device=device)
        ranks[name] = rank
    jobs = [(kind, name, j) for name in all_maps for kind in kinds for j in range(len(counts))]
    probs = torch.empty(len(jobs))
    total = math.ceil(len(jobs) / batch)
    with torch.inference_mode():
        for b, start in enumerate(range(0, len(jobs), batch)):
            chunk = jobs[start:start + batch]
            picked = torch.stack([(ranks[name] < counts[j]) for _, name, j in chunk])
            picked = picked.view(len(chunk), 1, h, w).to(x.dtype)
            is_del = torch.tensor([kind == "deletion" for kind, _, _ in chunk],
                                  device=device).view(-1, 1, 1, 1)
            # Deletion: the picked pixels become 0 (the mean colour in the normalised input).
            # Insertion: the picked pixels are the photo's, the rest stays blurred.
            images = torch.where(is_del, x * (1 - picked), blurred + picked * (x - blurred))
            p = logits_of(model(images)).float().softmax(-1)[:, target]
            probs[start:start + len(chunk)] = p.cpu()
            if progress is not None:
                progress(b + 1, total)
    curves: dict[str, dict[str, np.ndarray]] = {k: {} for k in ("deletion", "insertion")}
    k = 0
    for name in all_maps:
        for kind in kinds:
            inner = probs[k:k + len(counts)].numpy()
            k += len(counts)
            first, last = (p_full, p_empty) if kind == "deletion" else (p_blurred, p_full)
            curves[kind][name] = np.concatenate([[first], inner, [last]]).astype(np.float64)
    return FaithfulnessResult(
        fractions, curves["deletion"], curves["insertion"],
        {m: _auc(c, fractions) for m, c in curves["deletion"].items()},
        {m: _auc(c, fractions) for m, c in curves["insertion"].items()},
        int(target), p_full, p_empty, p_blurred, len(jobs) + 3, time.perf_counter() - t0)


# --------------------------------------------------------------------------------------------
# CAMs across depth


def cam_layers(loaded: "LoadedModel") -> list[str]:
    """The end of every stage (the spec's stage outputs) and the spec's Grad-CAM layer, shallow
    to deep."""
    spec = loaded.spec
    modules = dict(loaded.model.named_modules())
    layers = [p for _, p in sorted(spec.stages.items()) if p in modules]
    if spec.gradcam_layer in modules and spec.gradcam_layer not in layers:
        layers.append(spec.gradcam_layer)
    if not layers:
        layers = [attribution.default_layer(loaded)]
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
        _grad_x, pairs, _logits = _gradient_pass(model, x, target_t, layers, need_input=False)
    size = x.shape[-2:]
    gradcam, layercam, shapes = [], [], []
    for name in layers:
        a, g = pairs[name]
        shapes.append(tuple(a.shape[-2:]))
        gc = _upsample(F.relu(_gradcam(a, g)), size)[0, 0].float().cpu().numpy()
        lc = _upsample(_layercam(a, g), size)[0, 0].float().cpu().numpy()
        gradcam.append(_normalise(gc, robust=False))
        layercam.append(_normalise(lc, robust=False))
    return CamsAcrossDepth(layers, shapes, gradcam, layercam, int(target), time.perf_counter() - t0)
