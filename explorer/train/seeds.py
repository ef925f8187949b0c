"""Two seeds, one recipe: train the same network twice and compare its layers with linear CKA.

Kornblith et al. (2019, "Similarity of Neural Network Representations Revisited") show that
linear CKA finds the corresponding layer between networks trained from different random
initialisations. :func:`train_pair` trains ``name`` from two seeds with the same recipe and
data (the seed changes the initial weights, the validation split and the batch order);
:func:`compare_pair` runs both on the first ``digits`` probe digits (50 of each class: the same
digits the history uses for gradients) and returns the CKA matrix with each layer's best match
(``explorer.train.dynamics.cka_between``).

    python -m explorer.train seeds --model lenet5 --epochs 2 --subset 3000
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from explorer import zoo
from explorer.data.mnist import load_mnist
from explorer.train.data import to_input
from explorer.train.dynamics import best_matches, cka_between
from explorer.train.history import GRAD_DIGITS, probe_indices
from explorer.train.loop import Trainer, evaluate
from explorer.train.recipe import Recipe

__all__ = ["SEEDS", "SeedComparison", "default_pair_run", "train_pair", "compare_pair"]

SEEDS = (0, 1)


def default_pair_run(device_type: str) -> tuple[int, int]:
    """(epochs, training images) of each run: on a CPU a short run (2 epochs over 3,000
    images, seconds for LeNet-5), on a GPU the notes' full recipe (5 epochs, 60,000)."""
    return (2, 3_000) if device_type == "cpu" else (5, 60_000)


@dataclass
class SeedComparison:
    """The CKA matrix between run A (rows) and run B (columns), and what it says."""

    name: str
    seeds: tuple[int, int]
    layers: list[str]
    matrix: np.ndarray
    matches: list[dict]  # per layer of run A: best layer of B, its CKA, same layer or not
    accuracies: tuple[float, float]  # accuracy (%) of each run on the 2,000 probe digits
    digits: int

    @property
    def same(self) -> int:
        """How many layers of run A find their own counterpart as the best match in run B."""
        return sum(m["same"] for m in self.matches)

    def to_dict(self) -> dict:
        return {"model": self.name, "seeds": list(self.seeds), "layers": self.layers,
                "matrix": np.round(self.matrix, 4).tolist(), "matches": self.matches,
                "same": self.same, "test_accuracy": list(self.accuracies), "digits": self.digits}


def train_pair(name: str, epochs: int, data_root: str | Path, subset: int | None = None,
               seeds: tuple[int, int] = SEEDS, download: bool = False, recipe: Recipe = Recipe(),
               device: str | torch.device | None = "cpu",
               on_batch: Callable[[float], None] | None = None,
               should_stop: Callable[[], bool] | None = None) -> list[nn.Module] | None:
    """Two runs of one recipe from ``seeds``: the trained models (eval mode), or None when
    ``should_stop()`` ended them. ``on_batch(p)`` reports progress over both runs, p in [0, 1]."""
    models = []
    for k, seed in enumerate(seeds):
        trainer = Trainer(name, epochs, data_root, subset=subset, seed=seed, device=device,
                          download=download, recipe=recipe)

        def progress(p: float, k: int = k) -> None:
            if on_batch is not None:
                on_batch((k + p) / len(seeds))

        while not trainer.done:
            if trainer.run_epoch(on_batch=progress, should_stop=should_stop) is None:
                return None
        models.append(trainer.model.cpu().eval())
    return models


def compare_pair(name: str, models: list[nn.Module], data_root: str | Path,
                 seeds: tuple[int, int] = SEEDS, digits: int = GRAD_DIGITS,
                 download: bool = False) -> SeedComparison:
    """Linear CKA between every layer of two runs on ``digits`` probe digits of the test set."""
    images, labels = load_mnist(data_root, train=False, download=download)
    probe = torch.as_tensor(probe_indices(labels.numpy()))
    size = zoo.get_spec(name).input_size
    x = to_input(images[probe[:digits]], size)
    layers, matrix = cka_between(models[0], models[1], x)
    accs = tuple(round(evaluate(m, images[probe], labels[probe], size, "cpu")[1], 2)
                 for m in models)
    return SeedComparison(name, tuple(seeds), layers, matrix, best_matches(layers, matrix),
                          accs, int(len(x)))
