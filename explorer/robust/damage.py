"""Where the damage grows: how far an adversarial image's activations are from the clean ones,
stage by stage through the network.

For each stage output the zoo declares (``ModelSpec.stages``, keyed by output stride) the
relative distance ``‖a(x_adv) − a(x)‖₂ / ‖a(x)‖₂``, from one forward pass of the two images as
a batch of two through ``explorer.inference.shared.capture`` (thread-filtered hooks, removed in
``finally``, the shared model only read). The first point is the input itself (the same ratio
for the pixels), the last one the logits. A perturbation of a few percent of the pixels'
norm typically grows to tens of percent by the last stage: each layer amplifies it a little
(Goodfellow et al. 2015's "linear" explanation).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import torch

from explorer.inference.shared import capture
from explorer.robust.attacks import AttackResult, attack, pixel_model, to_pixels

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from explorer.weights import LoadedModel

__all__ = ["StagePoint", "DamageCurve", "relative_distance", "stage_damage", "damage_of_attack",
           "compare_damage"]


@dataclass(frozen=True)
class StagePoint:
    label: str  # "input", "/2", "/4", …, "logits"
    order: int  # position along the depth axis: 0 = input, 1 … = stages by stride, last = logits
    stride: int | None  # output stride of the stage (None for input and logits)
    path: str | None  # the module whose output it is
    distance: float  # ‖a_adv − a_clean‖ / ‖a_clean‖


@dataclass
class DamageCurve:
    model: str
    points: list[StagePoint]
    attack: dict = field(default_factory=dict)  # method, eps, steps, flipped

    def rows(self) -> list[dict]:
        return [{"model": self.model, "stage": p.label, "order": p.order, "stride": p.stride,
                 "layer": p.path, "distance": p.distance} for p in self.points]


def relative_distance(clean: torch.Tensor, adv: torch.Tensor) -> float:
    """‖adv − clean‖₂ / ‖clean‖₂ over the whole tensor (0 when both are zero)."""
    clean, adv = clean.double(), adv.double()
    norm = float(clean.norm())
    diff = float((adv - clean).norm())
    if norm == 0:
        return 0.0 if diff == 0 else float("inf")
    return diff / norm


def stage_damage(loaded: "LoadedModel", clean: torch.Tensor, adversarial: torch.Tensor,
                 device=None) -> DamageCurve:
    """The relative distance at the input, every declared stage and the logits, for a clean
    and an adversarial image (1×C×H×W pixels each)."""
    forward = pixel_model(loaded, device)
    dev = forward.mean.device
    pair = torch.cat([clean, adversarial]).detach().float().to(dev)  # 2×C×H×W
    stages = sorted(loaded.spec.stages.items())
    modules = dict(forward.model.named_modules())
    stages = [(s, p) for s, p in stages if p in modules]
    outputs = capture(forward.model, [p for _, p in stages], forward.network_input(pair)) \
        if stages else {}
    with torch.no_grad():
        logits = forward(pair)
    points = [StagePoint("input", 0, 1, None, relative_distance(pair[0], pair[1]))]
    for i, (stride, path) in enumerate(stages, start=1):
        out = outputs[path]
        points.append(StagePoint(f"/{stride}", i, stride, path,
                                 relative_distance(out[0], out[1])))
    points.append(StagePoint("logits", len(stages) + 1, None, None,
                             relative_distance(logits[0], logits[1])))
    return DamageCurve(loaded.name, points)


def damage_of_attack(loaded: "LoadedModel", result: AttackResult, device=None) -> DamageCurve:
    curve = stage_damage(loaded, result.clean, result.adversarial, device)
    curve.attack = {"method": result.method, "eps": result.eps, "steps": result.steps,
                    "flipped": result.succeeded}
    return curve


def compare_damage(models: list["LoadedModel"], image: "Image.Image", method: str, eps: float,
                   steps: int = 10, device=None,
                   progress: Callable[[int, int, str], None] | None = None) -> list[DamageCurve]:
    """Attack ``image`` on each network (its own preprocessing, its own clean top-1) with the
    same method and ε, and measure where the damage grows; ``progress(done, total, name)``."""
    curves = []
    for i, loaded in enumerate(models):
        if progress is not None:
            progress(i, len(models), loaded.name)
        result = attack(loaded, to_pixels(loaded, image), method, eps, steps, device=device)
        curves.append(damage_of_attack(loaded, result, device))
    if progress is not None:
        progress(len(models), len(models), "")
    return curves
