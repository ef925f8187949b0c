"""The training loop: :class:`Trainer` (epoch by epoch, resumable), :func:`train`, :func:`evaluate`.

- The validation split is a seeded random 10 % of the training images (Keras takes the last
  10 %, unshuffled); batches are reshuffled every epoch by a seeded generator.
- Training loss and accuracy per epoch are running means over the epoch's batches in train mode
  (dropout on), as Keras reports them; validation and test figures are computed in eval mode.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer import zoo
from explorer.data.mnist import load_mnist
from explorer.train.cards import make_card
from explorer.train.data import distort, to_input
from explorer.train.recipe import DEFAULT_DATA, TRAINABLE_MODELS, Recipe
from explorer.zoo import rng

__all__ = ["TrainResult", "evaluate", "Trainer", "train"]


@dataclass
class TrainResult:
    """A finished (or stopped) run: the trained model, its history and its model card."""

    name: str
    model: nn.Module  # trained, eval mode, on the CPU
    history: list[dict]  # one dict per completed epoch
    test_accuracy: float | None  # % on the test images, None when the test was skipped
    test_loss: float | None
    stopped: bool  # True when should_stop ended the run early
    card: dict = field(default_factory=dict)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}


def _device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
             input_size=(1, 28, 28), device=None, batch_size: int = 1000) -> tuple[float, float, int]:
    """(mean cross-entropy, accuracy in %, number correct) of ``model`` in eval mode."""
    device = _device(device)
    was_training = model.training
    model.eval()
    loss_sum, correct = 0.0, 0
    for i in range(0, len(images), batch_size):
        x = to_input(images[i:i + batch_size], input_size).to(device)
        y = labels[i:i + batch_size].to(device)
        logits = model(x)
        loss_sum += F.cross_entropy(logits, y, reduction="sum").item()
        correct += (logits.argmax(1) == y).sum().item()
    model.train(was_training)
    n = max(len(images), 1)
    return loss_sum / n, 100.0 * correct / n, correct


class Trainer:
    """One training run that advances epoch by epoch and can be resumed after an interruption.

    :func:`train` drives it in a loop; the Train page runs one epoch per script run, so that a
    Streamlit rerun (the Stop button, any widget) interrupts at most the current batch and the
    next run picks up where this one left off. Everything lives on the instance: the model, the
    optimiser, the seeded generator, the position inside the current epoch and the history.
    """

    def __init__(
        self,
        name: str,
        epochs: int = 5,
        data_root: str | Path | None = None,
        subset: int | None = None,
        seed: int = 0,
        device: str | torch.device | None = None,
        download: bool = False,
        recipe: Recipe = Recipe(),
        perturb: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    ):
        if name not in TRAINABLE_MODELS:
            raise ValueError(f"{name!r} is not an MNIST model; choose one of {', '.join(TRAINABLE_MODELS)}")
        if epochs < 1:
            raise ValueError("epochs must be at least 1")
        self.name, self.epochs, self.subset, self.seed, self.recipe = name, epochs, subset, seed, recipe
        # perturb(model, x, y) -> the batch the weights are trained on (adversarial training:
        # explorer.robust.training.adversarial_batches); None trains on the batch as it is.
        self.perturb = perturb
        self.data_root = Path(data_root if data_root is not None else DEFAULT_DATA).expanduser()
        self.download = download
        self.device = _device(device)
        self.spec = zoo.get_spec(name)
        # Every draw comes from generators of this run, never the process-wide one that other
        # sessions' threads share (explorer.rng): a seeded run gives the same numbers alone or
        # beside others.
        self.gen = torch.Generator().manual_seed(seed)

        x_all, y_all = load_mnist(self.data_root, train=True, download=download)
        if subset is not None:
            if subset < 10:
                raise ValueError("subset must be at least 10 images")
            pick = torch.randperm(len(x_all), generator=self.gen)[:subset]
            x_all, y_all = x_all[pick], y_all[pick]
        order = torch.randperm(len(x_all), generator=self.gen)
        n_val = max(1, round(len(x_all) * recipe.val_fraction))
        val_idx, train_idx = order[:n_val], order[n_val:]
        self.x_train, self.y_train = x_all[train_idx], y_all[train_idx]
        self.x_val, self.y_val = x_all[val_idx], y_all[val_idx]

        # Initial weights as torch.manual_seed(seed) gives them; dropout masks continue the same
        # stream (on the CPU bit-identical to the former global seeding).
        with rng.seeded(seed) as init_gen:
            model = zoo.build(name)
        if self.device.type != "cpu":
            init_gen = torch.Generator(device=self.device).manual_seed(seed)
        self.model = rng.seed_dropout(model, init_gen).to(self.device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=recipe.lr, betas=recipe.betas)
        self.batches_per_epoch = (len(self.x_train) + recipe.batch_size - 1) // recipe.batch_size
        self.history: list[dict] = []
        self.stopped = False
        self.seconds = 0.0  # time spent inside run_epoch
        self._epoch_state: dict | None = None  # position inside an unfinished epoch

    @property
    def total_batches(self) -> int:
        return self.batches_per_epoch * self.epochs

    @property
    def batches_done(self) -> int:
        partial = self._epoch_state["batch"] if self._epoch_state else 0
        return len(self.history) * self.batches_per_epoch + partial

    @property
    def progress(self) -> float:
        return self.batches_done / self.total_batches

    @property
    def done(self) -> bool:
        return self.stopped or len(self.history) >= self.epochs

    def stop(self) -> None:
        self.stopped = True

    def run_epoch(self, on_batch=None, should_stop=None, bar=None) -> dict | None:
        """Train until the current epoch ends (resuming it if it was interrupted).

        Returns the epoch's history row, or None when ``should_stop()`` ended the run.
        """
        if self.done:
            return None
        st = self._epoch_state
        if st is None:
            st = self._epoch_state = {
                "perm": torch.randperm(len(self.x_train), generator=self.gen), "batch": 0,
                "loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0,
            }
        model, bs, epoch = self.model, self.recipe.batch_size, len(self.history) + 1
        for group in self.optimizer.param_groups:
            group["lr"] = self.recipe.lr_at(epoch)
        model.train()
        t0 = time.perf_counter()
        try:
            while st["batch"] < self.batches_per_epoch:
                idx = st["perm"][st["batch"] * bs:(st["batch"] + 1) * bs]
                x = to_input(self.x_train[idx], self.spec.input_size)
                if self.recipe.distort:
                    x = distort(x, self.gen)
                x = x.to(self.device, non_blocking=True)
                y = self.y_train[idx].to(self.device, non_blocking=True)
                if self.perturb is not None:
                    x = self.perturb(model, x, y)
                logits = model(x)
                loss = F.cross_entropy(logits, y)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()
                # .item() syncs a GPU each batch; at batch 64 on MNIST that costs little and keeps
                # the bookkeeping in plain floats that survive an interruption.
                st["loss_sum"] += loss.item() * len(idx)
                st["correct"] += (logits.detach().argmax(1) == y).sum().item()
                st["seen"] += len(idx)
                st["batch"] += 1
                if bar is not None:
                    bar.update(1, f"epoch {epoch}/{self.epochs} loss {loss.item():.4f}")
                if on_batch is not None:
                    on_batch(self.progress)
                if should_stop is not None and should_stop():
                    self.stopped = True
                    return None
        finally:
            dt = time.perf_counter() - t0
            st["seconds"] += dt
            self.seconds += dt
        t1 = time.perf_counter()
        val_loss, val_acc, _preds = evaluate(model, self.x_val, self.y_val, self.spec.input_size, self.device)
        model.train()
        dt = time.perf_counter() - t1
        self.seconds += dt
        row = {
            "epoch": epoch,
            "train_loss": round(st["loss_sum"] / st["seen"], 6),
            "train_accuracy": round(100.0 * st["correct"] / st["seen"], 4),
            "val_loss": round(val_loss, 6),
            "val_accuracy": round(val_acc, 4),
            "lr": self.recipe.lr_at(epoch),
            "seconds": round(st["seconds"] + dt, 2),
        }
        self.history.append(row)
        self._epoch_state = None
        return dict(row)

    def finish(self, test: bool = True) -> TrainResult:
        """Evaluate on the 10,000 test images (unless ``test`` is False) and write the card."""
        test_loss = test_acc = test_correct = None
        n_test = 0
        if test:
            x_te, y_te = load_mnist(self.data_root, train=False, download=self.download)
            n_test = len(x_te)
            test_loss, test_acc, test_correct = evaluate(
                self.model, x_te, y_te, self.spec.input_size, self.device)
        model = self.model.cpu().eval()
        card = make_card(self, model, test_loss, test_acc, test_correct, n_test)
        return TrainResult(self.name, model, list(self.history), test_acc, test_loss, self.stopped, card)


def train(
    name: str,
    epochs: int = 5,
    data_root: str | Path | None = None,
    subset: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    on_epoch: Callable[[dict], None] | None = None,
    on_batch: Callable[[float], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    download: bool = False,
    test: bool = True,
    recipe: Recipe = Recipe(),
    progress: bool = False,
    perturb: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
) -> TrainResult:
    """Train ``name`` from scratch on MNIST with seed 002's recipe.

    subset: use only this many training images (seeded random choice) before the 10 % split.
    on_epoch(row): after each epoch, with that epoch's history row.
    on_batch(progress): after each batch, progress in [0, 1] over the whole run.
    should_stop(): checked after each batch; True ends the run (the result has ``stopped``).
    test: evaluate on the 10,000 test images at the end.
    progress: print progress (tqdm when installed and stderr is a terminal, else plain lines).
    perturb(model, x, y): replaces each training batch (adversarial training), see Trainer.
    """
    trainer = Trainer(name, epochs, data_root, subset=subset, seed=seed, device=device,
                      download=download, recipe=recipe, perturb=perturb)
    bar = _progress(trainer.total_batches, name) if progress else None
    while not trainer.done:
        row = trainer.run_epoch(on_batch=on_batch, should_stop=should_stop, bar=bar)
        if row is None:
            break
        if bar is not None:
            bar.write(f"{name} epoch {row['epoch']}/{epochs}: "
                      + ", ".join(f"{k} {v}" for k, v in row.items() if k != "epoch"))
        if on_epoch is not None:
            on_epoch(row)
    if bar is not None:
        bar.close()
    return trainer.finish(test=test)


class _progress:
    """tqdm when it is installed and stderr is a terminal, else a plain line every ~5 %."""

    def __init__(self, total: int, desc: str):
        self.total, self.desc, self.n, self.t0 = total, desc, 0, time.perf_counter()
        self.step = max(1, total // 20)
        self.tqdm = None
        if sys.stderr.isatty():
            try:
                from tqdm import tqdm

                self.tqdm = tqdm(total=total, desc=desc, unit="batch")
            except ImportError:
                pass

    def update(self, k: int, postfix: str | None = None) -> None:
        self.n += k
        if self.tqdm is not None:
            self.tqdm.update(k)
            if postfix and self.n % 50 == 0:
                self.tqdm.set_postfix_str(postfix, refresh=False)
        elif self.n % self.step == 0 or self.n == self.total:
            el = time.perf_counter() - self.t0
            eta = el / self.n * (self.total - self.n)
            print(f"{self.desc}: {self.n}/{self.total} batches ({100 * self.n / self.total:.0f} %), "
                  f"{el:.0f} s elapsed, ~{eta:.0f} s left", flush=True)

    def write(self, text: str) -> None:
        if self.tqdm is not None:
            self.tqdm.write(text)
        else:
            print(text, flush=True)

    def close(self) -> None:
        if self.tqdm is not None:
            self.tqdm.close()
