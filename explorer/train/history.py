"""Record a training run epoch by epoch: predictions, features and layer statistics, small files.

A :class:`HistoryRecorder` is the callback a training run calls once before the first epoch
(``epoch 0``: the initial weights) and once after every epoch. It writes into one folder,
beside the checkpoint::

    meta.json           the run (model, seed, recipe, layers) and one row per recorded epoch
                        (the loop's history row plus test loss and accuracy)
    labels.npz          the test labels and the probe digits' indices, written once
    epoch_000.npz ...   one compressed file per epoch, the arrays below

What an epoch file holds
- ``pred``, ``p_pred``, ``p_true``: for every test digit (10,000) the predicted class, its
  softmax probability and the probability of the true class: the confusion matrix, and each
  cell's digits most confident mistake first.
- ``features``: the penultimate layer (the input of the last linear layer) for the probe
  digits, float16: the first 200 of each class in the test set's order, 2,000 fixed digits.
- per parametrised layer (``param_layers``: modules with weights of their own): histograms of
  all its parameters (biases included, so the counts add up to the layer's parameter count)
  and of their gradients, ``HIST_BINS`` bins each, the norms of both, and ``w_step``: how far
  the layer moved since the previous record, ||W - W_prev|| / ||W_prev||.
- per activation layer (``act_layers``: every ReLU and Tanh module): a histogram of its outputs
  on the first ``GRAD_DIGITS`` probe digits; over all 10,000 test digits the share of *dead*
  units (ReLU: a channel or neuron that is zero for every digit; tanh: one saturated at ±1 for
  every digit, ``|y| > SATURATED``) and the share of activations that are zero (ReLU) or
  saturated (tanh).
- ``filters``: the first convolution's weights.

Gradients are those of the mean cross-entropy over the first ``GRAD_DIGITS`` probe digits at
the epoch's final weights, in eval mode (no dropout, BatchNorm's running statistics): a
deterministic picture of how strongly each layer is still being pushed.

Recording changes nothing about the run: it works on a module copy that shares the weights
(``explorer.inference.shared.module_copy``) in eval mode, so the training model's mode, its
BatchNorm statistics and its ``.grad`` stay as they were; gradients come from
``torch.autograd.grad``, which writes no ``.grad``; nothing draws random numbers. A seeded run
gives a bit-identical checkpoint with and without a recorder (``tests/test_dynamics.py``).
"""
from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.data.mnist import load_mnist
from explorer.inference.shared import hooks, module_copy
from explorer.train.data import to_input

__all__ = [
    "PROBE_PER_CLASS",
    "GRAD_DIGITS",
    "HIST_BINS",
    "SATURATED",
    "probe_indices",
    "param_layers",
    "act_layers",
    "first_conv",
    "HistoryRecorder",
    "run_info",
    "SUMMARY",
    "read_meta",
    "read_labels",
    "read_epoch",
    "epochs_recorded",
]

PROBE_PER_CLASS = 200  # 2,000 fixed test digits for the feature space
GRAD_DIGITS = 500  # the first 50 of each class: gradients and activation histograms
HIST_BINS = 40
SATURATED = 0.99  # |tanh| above this counts as saturated
ACTIVATIONS = (nn.ReLU, nn.Tanh)
BATCH = 100  # test digits per forward pass (small batches stay in the CPU's caches)
SUMMARY = "summary.npz"  # written by explorer.train.dynamics: embeddings and kNN accuracy
GRAD_BATCH = 125


def probe_indices(labels, per_class: int = PROBE_PER_CLASS) -> np.ndarray:
    """The first ``per_class`` test digits of each class, in the test set's order: a fixed,
    balanced probe that needs no random draw. Ordered so that the first ``GRAD_DIGITS`` (50 of
    each class) come first: the digits used for gradients and activation histograms."""
    labels = np.asarray(labels)
    classes = np.unique(labels)
    firsts = [np.flatnonzero(labels == c)[:per_class] for c in classes]
    if min(len(f) for f in firsts) < per_class:
        raise ValueError(f"every class needs {per_class} test digits")
    head = min(per_class, GRAD_DIGITS // len(classes))  # 50 of each class
    first = np.concatenate([f[:head] for f in firsts])
    rest = np.concatenate([f[head:] for f in firsts])
    return np.concatenate([np.sort(first), np.sort(rest)])


def param_layers(model: nn.Module) -> list[str]:
    """Paths of the modules that own parameters (convolutions, linear layers, BatchNorm)."""
    return [n for n, m in model.named_modules()
            if n and any(True for _p in m.parameters(recurse=False))]


def act_layers(model: nn.Module) -> list[tuple[str, str]]:
    """(path, "relu" | "tanh") of every activation module, in the order they are declared."""
    return [(n, "relu" if isinstance(m, nn.ReLU) else "tanh")
            for n, m in model.named_modules() if isinstance(m, ACTIVATIONS)]


def first_conv(model: nn.Module) -> str | None:
    return next((n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)), None)


def _last_linear(model: nn.Module) -> str:
    names = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    if not names:
        raise ValueError("the model has no linear layer to read penultimate features from")
    return names[-1]


def _hist(values: torch.Tensor, lo: float, hi: float, bins: int = HIST_BINS) -> np.ndarray:
    """Integer counts of ``values`` in ``bins`` equal bins over [lo, hi] (the last bin closed).
    ``torch.histc`` counts in float32, exact below 2**24 values per call; larger tensors are
    counted in chunks."""
    v = values.detach().reshape(-1).float()
    out = np.zeros(bins, np.int64)
    for i in range(0, len(v), 1 << 23):
        out += torch.histc(v[i:i + (1 << 23)], bins, lo, hi).cpu().numpy().astype(np.int64)
    return out


def _range(lo: float, hi: float) -> tuple[float, float]:
    if not np.isfinite(lo) or not np.isfinite(hi):
        return -1.0, 1.0
    if hi <= lo:  # a constant layer (zero biases at init): one visible bin around it
        return lo - 0.5, hi + 0.5
    return lo, hi


def _write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write to a temporary name, then rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _npz(arrays: dict) -> Callable[[Path], None]:
    def write(path: Path) -> None:
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)
    return write


class HistoryRecorder:
    """Writes one run's history into ``directory`` (created; earlier epoch files removed).

    ``test_images`` (N×28×28 uint8) and ``test_labels`` are the test set; ``prepare`` turns a
    uint8 batch into the model's normalised input (the loop's ``to_input`` for the model's
    input size). ``info`` is written into ``meta.json`` (model name, seed, recipe, ...).
    Call :meth:`record` with the model and the epoch number, 0 before training.
    """

    def __init__(self, directory: str | Path, test_images: torch.Tensor, test_labels: torch.Tensor,
                 prepare: Callable[[torch.Tensor], torch.Tensor], info: dict | None = None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("epoch_*.npz"):
            old.unlink()
        for old in (self.dir / "meta.json", self.dir / SUMMARY):
            old.unlink(missing_ok=True)
        self.images, self.labels = test_images, torch.as_tensor(test_labels).long()
        self.prepare = prepare
        self.probe = probe_indices(self.labels.numpy())
        _write_atomic(self.dir / "labels.npz", _npz({
            "test_labels": self.labels.numpy().astype(np.uint8),
            "probe": self.probe.astype(np.int32)}))
        self._previous: dict[str, torch.Tensor] = {}  # last record's weights, for w_step
        self.info = dict(info or {})
        self.rows: list[dict] = []
        self.seconds = 0.0  # spent recording, all epochs together

    @classmethod
    def for_trainer(cls, directory: str | Path, trainer) -> "HistoryRecorder":
        """A recorder for a training loop's run (its test set, input size and settings),
        which has recorded epoch 0, the initial weights."""
        images, labels = load_mnist(trainer.data_root, train=False, download=trainer.download)
        size = tuple(trainer.spec.input_size)
        recorder = cls(directory, images, labels, lambda x: to_input(x, size), run_info(trainer))
        recorder.record(trainer.model, 0)
        return recorder

    # ------------------------------------------------------------------------------- record
    def record(self, model: nn.Module, epoch: int, row: dict | None = None) -> dict:
        """Measure ``model`` (read only) and write ``epoch_<epoch>.npz``; returns the meta row."""
        t0 = time.perf_counter()
        view = module_copy(model).eval()  # own modules, shared tensors: the model keeps its mode
        device = next(view.parameters()).device
        arrays = self._test_pass(view, device)
        arrays.update(self._probe_pass(view, device, arrays.pop("_act_range")))
        arrays.update(self._weights(view))
        out = self.dir / f"epoch_{epoch:03d}.npz"
        _write_atomic(out, _npz(arrays))
        seconds = time.perf_counter() - t0
        self.seconds += seconds
        meta_row = {"epoch": epoch, **{k: v for k, v in (row or {}).items() if k != "epoch"},
                    "test_loss": round(float(arrays["test_loss"]), 6),
                    "test_accuracy": round(float(arrays["test_accuracy"]), 4),
                    "record_seconds": round(seconds, 3)}
        self.rows = [r for r in self.rows if r["epoch"] != epoch] + [meta_row]
        self._write_meta(view)
        return meta_row

    __call__ = record

    def _write_meta(self, view: nn.Module) -> None:
        meta = {
            "format": 1,
            **self.info,
            "test_images": int(len(self.labels)),
            "probe": {"per_class": PROBE_PER_CLASS, "grad_digits": GRAD_DIGITS,
                      "digits": int(len(self.probe))},
            "param_layers": [{"name": n, "params": sum(p.numel() for p in
                                                       dict(view.named_modules())[n].parameters(recurse=False))}
                             for n in param_layers(view)],
            "act_layers": [{"name": n, "kind": k} for n, k in act_layers(view)],
            "penultimate": _last_linear(view),
            "first_conv": first_conv(view),
            "hist_bins": HIST_BINS,
            "saturated": SATURATED,
            "epochs": sorted(self.rows, key=lambda r: r["epoch"]),
        }
        _write_atomic(self.dir / "meta.json",
                      lambda p: p.write_text(json.dumps(meta, indent=1) + "\n"))

    def _test_pass(self, view: nn.Module, device: torch.device) -> dict:
        """Every test digit once, the probe digits first: predictions for all; for the probe
        digits also the penultimate features, dead units and each activation layer's range
        (hooks on the copy, active only during the probe batches, removed in ``finally``)."""
        acts = act_layers(view)
        modules = dict(view.named_modules())
        n = len(self.labels)
        rest = np.setdiff1d(np.arange(n), self.probe)
        order = torch.as_tensor(np.concatenate([self.probe, rest]))
        n_probe = len(self.probe)
        features: list[torch.Tensor] = []
        extreme = {p: None for p, _k in acts}  # per unit: ReLU max output, tanh min |output|
        zero = dict.fromkeys(extreme, 0)  # ReLU outputs at 0 / tanh outputs saturated
        total = dict.fromkeys(extreme, 0)
        lo = dict.fromkeys(extreme, np.inf)
        hi = dict.fromkeys(extreme, -np.inf)
        on = [True]

        def act_hook(path: str, kind: str):
            def hook(_m, _i, out):
                if not on[0]:
                    return
                u = out.reshape(out.shape[0], out.shape[1], -1) if out.dim() > 2 else out[..., None]
                total[path] += out.numel()
                if kind == "relu":  # outputs >= 0: the range is [0, largest unit maximum]
                    m = u.amax(dim=(0, 2))
                    extreme[path] = m if extreme[path] is None else torch.maximum(extreme[path], m)
                    zero[path] += out.numel() - int(torch.count_nonzero(out))
                    lo[path], hi[path] = 0.0, max(hi[path], float(m.max()))
                else:
                    a = u.abs()
                    m = a.amin(dim=(0, 2))
                    extreme[path] = m if extreme[path] is None else torch.minimum(extreme[path], m)
                    zero[path] += int(torch.count_nonzero(a > SATURATED))
                    mn, mx = torch.aminmax(out)
                    lo[path], hi[path] = min(lo[path], float(mn)), max(hi[path], float(mx))
            return hook

        def feature_hook(_m, args):
            if on[0]:
                features.append(args[0].float().cpu())

        pred = torch.empty(n, dtype=torch.long)
        p_pred, p_true = torch.empty(n), torch.empty(n)
        loss_sum = 0.0
        with torch.no_grad(), hooks() as keep:
            for path, kind in acts:
                keep(modules[path].register_forward_hook(act_hook(path, kind)))
            keep(modules[_last_linear(view)].register_forward_pre_hook(feature_hook))
            batches = [(order[i:min(i + BATCH, n_probe)], True) for i in range(0, n_probe, BATCH)]
            batches += [(order[i:i + BATCH], False) for i in range(n_probe, n, BATCH)]
            for idx, is_probe in batches:
                on[0] = is_probe
                x = self.prepare(self.images[idx]).to(device)
                y = self.labels[idx].to(device)
                logits = view(x).float()
                loss_sum += float(F.cross_entropy(logits, y, reduction="sum"))
                prob = logits.softmax(1)
                top, arg = prob.max(1)
                pred[idx], p_pred[idx] = arg.cpu(), top.cpu()
                p_true[idx] = prob.gather(1, y[:, None])[:, 0].cpu()
        dead = [float((extreme[p] <= 0).float().mean()) if k == "relu"
                else float((extreme[p] > SATURATED).float().mean()) for p, k in acts]
        return {
            "pred": pred.numpy().astype(np.uint8),
            "p_pred": p_pred.numpy().astype(np.float16),
            "p_true": p_true.numpy().astype(np.float16),
            "test_loss": np.float64(loss_sum / n),
            "test_accuracy": np.float64(100.0 * float((pred == self.labels).float().mean())),
            "features": torch.cat(features).numpy().astype(np.float16),
            "dead": np.array(dead, np.float32),
            "zero": np.array([zero[p] / max(total[p], 1) for p, _k in acts], np.float32),
            "units": np.array([len(extreme[p]) for p, _k in acts], np.int64),
            "_act_range": {p: _range(lo[p], hi[p]) for p, _k in acts},
        }

    def _probe_pass(self, view: nn.Module, device: torch.device, ranges: dict) -> dict:
        """The first ``GRAD_DIGITS`` probe digits with gradients: histograms of every
        activation layer (over the range seen on the whole test set) and of every parameter's
        gradient (``torch.autograd.grad``: nothing is written to ``.grad``)."""
        acts = act_layers(view)
        modules = dict(view.named_modules())
        counts = {p: np.zeros(HIST_BINS, np.int64) for p, _k in acts}
        idx = torch.as_tensor(self.probe[:GRAD_DIGITS])
        names = param_layers(view)
        params = [list(modules[n].parameters(recurse=False)) for n in names]
        flat = [p for group in params for p in group]

        def act_hook(path: str):
            def hook(_m, _i, out):
                counts[path] += _hist(out, *ranges[path])
            return hook

        grads = [torch.zeros_like(p) for p in flat]
        with torch.enable_grad(), hooks() as keep:
            for path, _k in acts:
                keep(modules[path].register_forward_hook(act_hook(path)))
            for i in range(0, len(idx), GRAD_BATCH):  # batches bound the memory of the graph
                x = self.prepare(self.images[idx[i:i + GRAD_BATCH]]).to(device)
                y = self.labels[idx[i:i + GRAD_BATCH]].to(device)
                # Summed loss / all digits: the batches' gradients add up to the mean's.
                loss = F.cross_entropy(view(x).float(), y, reduction="sum") / len(idx)
                for acc, g in zip(grads, torch.autograd.grad(loss, flat, allow_unused=True)):
                    if g is not None:
                        acc += g
        out_counts, out_edges, norms = [], [], []
        k = 0
        for group in params:
            g = torch.cat([grads[k + j].reshape(-1) for j in range(len(group))])
            k += len(group)
            lo, hi = _range(float(g.min()), float(g.max()))
            out_counts.append(_hist(g, lo, hi))
            out_edges.append(np.linspace(lo, hi, HIST_BINS + 1))
            norms.append(float(g.double().norm()))
        return {
            "a_counts": np.stack([counts[p] for p, _k in acts]) if acts else np.zeros((0, HIST_BINS)),
            "a_edges": (np.stack([np.linspace(*ranges[p], HIST_BINS + 1) for p, _k in acts])
                        if acts else np.zeros((0, HIST_BINS + 1))).astype(np.float32),
            "g_counts": np.stack(out_counts),
            "g_edges": np.stack(out_edges).astype(np.float32),
            "g_norm": np.array(norms, np.float32),
        }

    def _weights(self, view: nn.Module) -> dict:
        modules = dict(view.named_modules())
        counts, edges, norms, steps = [], [], [], []
        for name in param_layers(view):
            w = torch.cat([p.detach().reshape(-1) for p in modules[name].parameters(recurse=False)])
            lo, hi = _range(float(w.min()), float(w.max()))
            counts.append(_hist(w, lo, hi))
            edges.append(np.linspace(lo, hi, HIST_BINS + 1))
            norms.append(float(w.double().norm()))
            before = self._previous.get(name)
            steps.append(float("nan") if before is None else
                         float((w.double().cpu() - before).norm() / max(float(before.norm()), 1e-12)))
            self._previous[name] = w.double().cpu().clone()
        conv = first_conv(view)
        filters = (modules[conv].weight.detach().cpu().numpy().astype(np.float16)
                   if conv is not None else np.zeros((0,), np.float16))
        return {"w_counts": np.stack(counts), "w_edges": np.stack(edges).astype(np.float32),
                "w_norm": np.array(norms, np.float32), "w_step": np.array(steps, np.float32),
                "filters": filters}


def run_info(trainer) -> dict:
    """What ``meta.json`` says about the run, read from a training loop's trainer (duck-typed:
    ``name``, ``seed``, ``epochs``, ``subset``, ``recipe`` (a dataclass), ``x_train``, ``x_val``)."""
    recipe = trainer.recipe
    fields = {f: getattr(recipe, f) for f in getattr(recipe, "__dataclass_fields__", {})}
    fields = {k: [list(x) if isinstance(x, tuple) else x for x in v] if isinstance(v, tuple) else v
              for k, v in fields.items()}
    return {"model": trainer.name, "seed": trainer.seed, "epochs": trainer.epochs,
            "subset": trainer.subset, "train_images": len(trainer.x_train),
            "val_images": len(trainer.x_val), "recipe": fields}


# ---------------------------------------------------------------------------------- reading
def read_meta(directory: str | Path) -> dict:
    """``meta.json`` of a history folder (FileNotFoundError when there is none)."""
    return json.loads((Path(directory) / "meta.json").read_text())


def epochs_recorded(directory: str | Path) -> list[int]:
    """Epoch numbers with a complete file, ascending."""
    out = []
    for p in Path(directory).glob("epoch_*.npz"):
        try:
            out.append(int(p.stem.split("_")[1]))
        except (IndexError, ValueError):
            continue
    return sorted(out)


def read_labels(directory: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(test labels, probe indices) of a history folder."""
    with np.load(Path(directory) / "labels.npz") as z:
        return z["test_labels"].astype(np.int64), z["probe"].astype(np.int64)


def read_epoch(directory: str | Path, epoch: int) -> dict[str, np.ndarray]:
    """Every array of one epoch file, loaded (the file is closed again)."""
    with np.load(Path(directory) / f"epoch_{epoch:03d}.npz") as z:
        return {k: z[k] for k in z.files}
