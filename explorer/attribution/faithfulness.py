"""Does a map point at what the network uses? Deletion and insertion curves (Petsiuk et al.,
RISE, BMVC 2018) with baselines.

    f = faithfulness(loaded, x, {"gradcam": cam.map})   # + "random" and "centre" baselines
    f.deletion_auc["gradcam"], f.insertion_auc["random"]

Deletion removes the pixels a map ranks highest first (to 0 in the normalised input, i.e. the
dataset's mean colour) and records the target's probability: a faithful map makes it fall fast
(low AUC). Insertion starts from a blurred copy of the image and puts the original pixels back
in the map's order: a faithful map makes it rise fast (high AUC). A random map and a
centre-first map are yardsticks, computed by the very same function as the methods' maps
(they are just two more maps). Every masked image of every map and both curves goes through
the network in shared batches; the three end points (full, empty, blurred image) are computed
once. No hooks and no gradients: the shared model itself runs the passes.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from explorer.attribution.methods import AttributionError, Progress
from explorer.i18n import _
from explorer.inference import logits_of, pick_device
from explorer.inference.shared import model_on

if TYPE_CHECKING:  # pragma: no cover
    from explorer.weights import LoadedModel

__all__ = [
    "BASELINES",
    "centre_map",
    "random_map",
    "blur",
    "pixel_order",
    "FaithfulnessResult",
    "faithfulness",
    "DeletionCurve",
    "deletion_curve",
]

BASELINES = ("random", "centre")


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


@dataclass
class DeletionCurve:
    fractions: np.ndarray  # fraction of pixels removed, 0 … 1
    probabilities: np.ndarray  # softmax probability of the target after removing them
    auc: float  # area under the curve: lower = the map found what matters
    random_probabilities: np.ndarray | None = None
    random_auc: float | None = None
    target: int = 0


def deletion_curve(loaded: "LoadedModel", x: torch.Tensor, attribution_map: np.ndarray,
                   target: int, steps: int = 20, device: str | torch.device | None = None,
                   with_random: bool = True, seed: int = 0, batch: int = 8) -> DeletionCurve:
    """Remove the most important pixels first (per ``attribution_map``) and watch the target's
    probability fall (Petsiuk et al., RISE, 2018). A faithful map makes it fall fast (low AUC);
    the same curve for a random pixel order is the yardstick. One map's deletion curve from
    :func:`faithfulness` (which also does insertion and a centre baseline)."""
    result = faithfulness(loaded, x, {"map": attribution_map}, target, steps=steps,
                          baselines=("random",) if with_random else (), kinds=("deletion",),
                          seed=seed, device=device, batch=batch)
    rnd = result.deletion.get("random")
    return DeletionCurve(result.fractions, result.deletion["map"], result.deletion_auc["map"],
                         rnd, result.deletion_auc.get("random"), int(target))

