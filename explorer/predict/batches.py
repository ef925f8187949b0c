"""A folder's images through a model in batches: decoded in a DataLoader, classified in order.

Decoding and preprocessing (``explorer.data.images.load_image``, the model's own preprocess)
run in DataLoader workers when there is more than one batch to overlap with the forward passes;
each batch goes through the model in one forward pass (``explorer.inference.predict_batch``,
the forward the Inference page uses). A file that cannot be read comes back in its place with
its error, and the others go on.
"""
from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.utils.data import DataLoader, Dataset

from explorer.data.images import ImageLoadError, load_image
from explorer.inference import Prediction, predict_batch

if TYPE_CHECKING:  # pragma: no cover
    from explorer.weights import LoadedModel

__all__ = ["BATCH_SIZE", "Classified", "classify_files", "loader_workers", "idle_cores",
           "forward_threads"]

BATCH_SIZE = 64  # images per forward pass: LeNet-5 to EfficientNet-Lite0 at 224², tens of MB


@dataclass
class Classified:
    """One file's outcome, in file order: its prediction and the 1×C×H×W tensor the model saw,
    or why it could not be read."""
    file: Path
    prediction: Prediction | None = None
    x: torch.Tensor | None = None
    error: str | None = None


class _Files(Dataset):
    """File i -> (i, 1×C×H×W tensor or None, error or None, preprocessing ms)."""

    def __init__(self, files: Sequence[Path], preprocess):
        self.files, self.preprocess = list(files), preprocess

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int):
        try:
            image = load_image(self.files[i])
        except ImageLoadError as exc:
            return i, None, str(exc), 0.0
        t0 = time.perf_counter()
        x = self.preprocess(image)
        return i, x, None, (time.perf_counter() - t0) * 1000


def _collate(items):
    """A batch: the items without their tensors, and the readable ones' tensors stacked (in
    the worker, so that one block of shared memory crosses to the main process)."""
    xs = [x for _, x, _, _ in items if x is not None]
    stacked = torch.cat(xs) if xs and all(x.shape == xs[0].shape for x in xs) else xs or None
    return [(i, x is not None, err, ms) for i, x, err, ms in items], stacked


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _busy() -> float:
    """How many cores other work keeps busy: the one-minute load average, or the threads
    runnable right now (less this one) where that is more (Linux: work that has just started)."""
    busy = os.getloadavg()[0]
    try:
        running = int(Path("/proc/loadavg").read_text().split()[3].split("/")[0])
        busy = max(busy, running - 1)
    except (OSError, ValueError, IndexError):
        pass
    return busy


def idle_cores() -> int:
    """Cores that other processes leave idle: this process's cores less :func:`_busy` (all
    of them where the system keeps no load average)."""
    cores = _cores()
    try:
        return max(0, min(cores, round(cores - _busy())))
    except (AttributeError, OSError):
        return cores


def forward_threads() -> int:
    """Intra-op threads for the forward passes: one per idle core, at least one, at most
    torch's default. Threads that meet at every layer wait for each other's time slices on a
    CPU other work keeps busy: beside two busy processes on two cores, LeNet-5's forward
    passes over 1,000 digits took 5–8 s with two threads and 0.3–0.4 s with one,
    EfficientNet-Lite0's over 100 photos 51–70 s and 34–49 s."""
    return max(1, min(torch.get_num_threads(), idle_cores()))


def loader_workers(n_files: int, batch_size: int = BATCH_SIZE) -> int:
    """How many decoding workers pay for themselves: none for a single batch (nothing to
    overlap with), else one per core beyond the one that runs the forward passes, at most
    two. Only where workers fork (Linux): elsewhere they would have to pickle the model's
    preprocessing."""
    if n_files <= batch_size or sys.platform != "linux" \
            or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    return max(0, min(2, _cores() - 1))


def classify_files(loaded: "LoadedModel", files: Sequence[Path], topk: int = 5,
                   device: str | torch.device | None = None, batch_size: int = BATCH_SIZE,
                   workers: int | None = None) -> Iterator[Classified]:
    """Each of ``files`` classified by ``loaded``, yielded in file order batch by batch.
    ``workers``: DataLoader workers for decoding (None: :func:`loader_workers`)."""
    files = list(files)
    if not files:
        return
    workers = loader_workers(len(files), batch_size) if workers is None else workers
    loader = DataLoader(_Files(files, loaded.preprocess), batch_size=max(1, batch_size),
                        shuffle=False, num_workers=workers, collate_fn=_collate,
                        multiprocessing_context="fork" if workers else None)
    for items, x in loader:
        if isinstance(x, list):  # preprocessing gave different sizes: one pass per image
            preds = [p for xi in x for p in predict_batch(loaded, xi, topk, device)]
        else:
            preds = predict_batch(loaded, x, topk, device) if x is not None else []
        k = 0
        for i, ok, error, ms in items:
            if not ok:
                yield Classified(files[i], error=error)
                continue
            preds[k].preprocess_ms = ms
            xi = x[k] if isinstance(x, list) else x[k:k + 1]
            yield Classified(files[i], preds[k], xi)
            k += 1
