"""MNIST ε-curves: accuracy on the 10,000 test digits under FGSM and PGD, batched.

The curve the PyTorch FGSM tutorial made famous, for the explorer's four digit networks and the
adversarially trained LeNet-5. Digits are attacked in pixel space (pixels / 255, in [0, 1]);
each network's normalisation (MNIST's mean 0.1307 and std 0.3081) and LeNet-5's padding to
32×32 are inside the attacked function (``explorer.robust.attacks.PixelModel``), so ε = 0.1
means what it says: no pixel moves by more than a tenth of the range. Every digit is attacked
with its true label; the accuracy counts the adversarial digits still classified correctly.

The tutorial's published curve (:data:`TUTORIAL`) is for the tutorial's own LeNet (two
convolutions of 10 and 20 filters, dropout, a 50-unit layer; inputs in [0, 1] without
normalisation), which attacks only the digits it classified correctly at first: a different
model, shown for comparison, not as a reference the explorer's networks should match.

Results shipped with the app (so the page shows them without computing) live in
``assets/mnist_robustness.json``; ``python -m explorer.robust curve`` reproduces each line.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from explorer.data.paths import ASSETS
from explorer.robust.attacks import DEFAULT_STEPS, check_eps, perturb, pixel_model

if TYPE_CHECKING:  # pragma: no cover
    from explorer.weights import LoadedModel

__all__ = ["EPSILONS", "TUTORIAL", "CURVES_FILE", "CurvePoint", "test_digits", "write_shipped_curves",
           "accuracy_under_attack", "eps_curve", "shipped_curves"]

EPSILONS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
CURVES_FILE = ASSETS / "mnist_robustness.json"

# PyTorch's "Adversarial Example Generation" tutorial (beginner_source/fgsm_tutorial.py,
# pytorch/tutorials), its printed output: correct digits of 10,000 at each ε.
TUTORIAL = {
    "eps": list(EPSILONS),
    "correct": [9810, 9426, 8510, 6826, 4301, 2082, 869],
    "accuracy": [98.10, 94.26, 85.10, 68.26, 43.01, 20.82, 8.69],
    "source": "PyTorch tutorials, Adversarial Example Generation (fgsm_tutorial.py), "
              "printed output",
    "model": "the tutorial's LeNet: conv 10 + conv 20 (5×5), dropout, fc 50, fc 10; inputs "
             "in [0, 1], no normalisation; only initially correct digits attacked",
}


@dataclass(frozen=True)
class CurvePoint:
    eps: float
    correct: int
    total: int

    @property
    def accuracy(self) -> float:
        """In %."""
        return 100.0 * self.correct / max(self.total, 1)

    def as_dict(self) -> dict:
        return {"eps": self.eps, "correct": self.correct, "total": self.total,
                "accuracy": round(self.accuracy, 2)}


def test_digits(limit: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The MNIST test digits as pixels (N×1×28×28 float in [0, 1]) and labels (N int64);
    ``limit`` takes the first N. Raises ``explorer.data.DataNotFound`` /
    ``MnistNotFoundError`` with what to do when MNIST is not on this machine."""
    from explorer.data import data_root
    from explorer.data.mnist import load_mnist

    images, labels = load_mnist(data_root("mnist"), train=False)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    return (images.float() / 255.0).unsqueeze(1), labels


def accuracy_under_attack(loaded: "LoadedModel", pixels: torch.Tensor, labels: torch.Tensor,
                          method: str, eps: float, steps: int = DEFAULT_STEPS,
                          batch: int = 1000, device=None,
                          progress: Callable[[int], None] | None = None) -> CurvePoint:
    """How many of the digits the network still classifies correctly after the attack.
    ``progress(images_done)`` after every batch."""
    eps = check_eps(eps)
    forward = pixel_model(loaded, device)
    dev = forward.mean.device
    correct = 0
    for start in range(0, len(pixels), batch):
        x = pixels[start:start + batch].to(dev)
        y = labels[start:start + batch].to(dev)
        adv = perturb(forward, x, method, eps, y, steps)
        with torch.no_grad():
            correct += int((forward(adv).argmax(-1) == y).sum())
        if progress is not None:
            progress(min(start + batch, len(pixels)))
    return CurvePoint(float(eps), correct, len(pixels))


def eps_curve(loaded: "LoadedModel", pixels: torch.Tensor, labels: torch.Tensor, method: str,
              epsilons: Sequence[float] = EPSILONS, steps: int = DEFAULT_STEPS,
              batch: int = 1000, device=None,
              progress: Callable[[float, str], None] | None = None) -> list[CurvePoint]:
    """Accuracy at each ε; ``progress(fraction, text)`` as it goes (a page's bar)."""
    epsilons = [check_eps(e) for e in epsilons]
    # ε = 0 is one forward pass; an attack costs one (FGSM) or ``steps`` (PGD) backward passes.
    cost = [1 if e == 0 else (2 if method == "fgsm" else 2 * steps + 1) for e in epsilons]
    total, done = float(sum(cost)) * len(pixels), 0.0
    points = []
    t0 = time.perf_counter()
    for eps, c in zip(epsilons, cost):
        def step(images_done: int, eps=eps, c=c, before=done):
            if progress is not None:
                progress((before + c * images_done) / total, f"ε = {eps:g}")

        points.append(accuracy_under_attack(loaded, pixels, labels, method, eps, steps, batch,
                                            device, step))
        done += c * len(pixels)
    if progress is not None:
        progress(1.0, f"{time.perf_counter() - t0:.0f} s")
    return points


def shipped_curves() -> dict:
    """``assets/mnist_robustness.json``: the precomputed curves the page draws (empty when the
    file is missing)."""
    try:
        return json.loads(CURVES_FILE.read_text())
    except (OSError, ValueError):
        return {}


def write_shipped_curves(names: Sequence[str], steps: int = DEFAULT_STEPS,
                         epsilons: Sequence[float] = EPSILONS, path=CURVES_FILE,
                         log: Callable[[str], None] | None = None) -> dict:
    """Measure FGSM and PGD curves of ``names`` (zoo models with their shipped weights, or
    the robust LeNet-5s) on the 10,000 test digits and write ``path``; every line is what
    ``python -m explorer.robust curve --model NAME --images mnist-test --method M`` prints."""
    import datetime as _dt
    import platform

    from explorer.robust.models import load_any

    pixels, labels = test_digits()
    doc = {"eps": list(epsilons), "images": len(labels), "pgd_steps": steps,
           "pgd_step_size": "2.5·ε/steps", "labels": "true labels", "models": {},
           "tutorial": TUTORIAL}
    old = shipped_curves() if path == CURVES_FILE else {}
    if old.get("eps") == doc["eps"] and old.get("pgd_steps") == steps:
        doc["models"] = dict(old.get("models", {}))  # the other models' lines stay as they were
    from explorer.robust.models import ROBUST_MODELS, ROBUST_SOURCE, card

    for name in names:
        figures = card(name).get("robustness", {}) if name in ROBUST_MODELS else {}
        if (figures.get("eps") == doc["eps"] and figures.get("pgd_steps") == steps
                and figures.get("images") == doc["images"]):
            # An adversarially trained model's card holds the same curves, measured by the
            # same function (robust.training.robustness_figures) right after training.
            doc["models"][name] = {"weights": ROBUST_SOURCE, "from": f"assets/{name}.json",
                                   **{k: figures[k] for k in ("fgsm", "fgsm_correct", "pgd",
                                                             "pgd_correct")}}
            _write(doc, path)
            continue
        loaded = load_any(name)
        entry = {"weights": loaded.source}
        for method in ("fgsm", "pgd"):
            t0 = time.perf_counter()
            points = eps_curve(loaded, pixels, labels, method, epsilons, steps)
            entry[method] = [round(p.accuracy, 2) for p in points]
            entry[f"{method}_correct"] = [p.correct for p in points]
            if log is not None:
                log(f"{name} {method}: {entry[method]} ({time.perf_counter() - t0:.0f} s)")
        doc["models"][name] = entry
        _write(doc, path)  # after every model: a long run that is stopped keeps what it did
    doc["reproduce"] = ("python -m explorer.robust curve --model NAME --images mnist-test "
                        "--method fgsm|pgd --eps " + " ".join(f"{e:g}" for e in epsilons)
                        + f" [--steps {steps}] --json")
    doc["date"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    doc["torch"], doc["python"] = torch.__version__, platform.python_version()
    _write(doc, path)
    return doc


def _write(doc: dict, path) -> None:
    from pathlib import Path

    Path(path).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
