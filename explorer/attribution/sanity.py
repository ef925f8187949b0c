"""The sanity checks of a map (Adebayo et al., *Sanity Checks for Saliency Maps*, NeurIPS 2018):
model randomisation and class sensitivity.

    r = randomisation_test(loaded, x, ["saliency", "gradcam"])           # cascading (Adebayo)
    r.steps            # "trained", then the block re-initialised at each step, logits first
    r.spearman_abs["gradcam"][0, -1]   # rank correlation with the trained map, full cascade

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

Everything happens on a private copy of the model (``explorer.inference.shared.private_copy``):
the shared cached model is never changed, hooked or differentiated. Per step, the maps come
from :func:`explorer.attribution.maps.method_maps` on the copy.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Sequence

import numpy as np
import torch
import torch.nn as nn

from explorer.attribution.maps import MethodMaps, maps_of, method_maps
from explorer.attribution.methods import (METHODS, SLOW_METHODS, Progress, default_layer,
                                          explain)
from explorer.attribution.similarity import centred_ranks, rank_correlation, spearman, ssim
from explorer.inference import logits_of, pick_device
from explorer.inference.shared import hooks, model_on, private_copy

if TYPE_CHECKING:  # pragma: no cover
    from explorer.weights import LoadedModel

__all__ = [
    "CASCADE_METHODS",
    "RandomisationBlock",
    "cascade_blocks",
    "reinitialise_",
    "randomised_models",
    "RandomisationResult",
    "randomisation_test",
    "ClassSensitivity",
    "class_sensitivity",
]

# Occlusion re-runs the network per patch: minutes per cascade step, so only on request.
CASCADE_METHODS = [m for m in METHODS if m not in SLOW_METHODS]


# --------------------------------------------------------------------------------------------
# Model randomisation


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
    model = private_copy(model)  # private: it gets pre-hooks
    modules = dict(model.named_modules())
    units = _units(model, "")
    if not units and _has_params(model):
        units = [""]
    order: dict[str, int] = {}
    with hooks() as keep:
        for name in units:
            def hook(module, inputs, name=name):
                order.setdefault(name, len(order))
            keep(modules[name].register_forward_pre_hook(hook))
        with torch.inference_mode():
            model(x[:1].detach().to(next(model.parameters()).device))
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
    private = private_copy(model)
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
    return (rank_correlation(ref[0], centred_ranks(now.abs)),
            rank_correlation(ref[1], centred_ranks(now.signed)), ssim(ref[2], now.display))


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
    layer = layer or default_layer(loaded)
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
            reference = {m: [(centred_ranks(mm.abs), centred_ranks(mm.signed), mm.display)
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
    results = [explain(loaded, x, method, target=int(t), layer=layer, device=device,
                                   **opts) for t in targets]
    maps = [maps_of(r) for r in results]
    return ClassSensitivity(method, (int(targets[0]), int(targets[1])),
                            (maps[0].display, maps[1].display),
                            spearman(maps[0].abs, maps[1].abs), ssim(maps[0].display, maps[1].display))
