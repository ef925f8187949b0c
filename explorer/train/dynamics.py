"""Replay a recorded training history: confusion matrices, the feature space forming, layer
statistics, and two runs of one recipe compared layer by layer.

Reads the folders :mod:`explorer.train.history` writes (plain numpy and dicts out, no streamlit):

Confusion
    :func:`confusion_matrix` counts (true digit, predicted digit) pairs; :func:`cell_digits`
    lists one cell's test digits, mistakes most confident first (on the diagonal the least
    confident first: the digits the network nearly got wrong); :func:`confusion_summary` says
    the diagonal share and the most frequent confusion.
Feature space
    :func:`knn_accuracy`: leave-one-out k-nearest-neighbour accuracy of the probe digits'
    penultimate features (how well classes separate in that space, whatever the last layer
    does). :func:`embed_epochs`: a 2-D t-SNE map per epoch (scikit-learn), each epoch started
    from the previous epoch's map and rotated onto it (orthogonal Procrustes), so points move
    rather than jump. :func:`summarise` computes both for every epoch once and keeps them in
    the folder (``summary.npz``); :func:`compact` then drops the features of all epochs but
    the last (what ``assets/history/`` ships).
Layers
    :func:`layer_rows` per layer and epoch: parameters, norms, the step since the last epoch,
    dead or saturated units; :func:`histogram_rows` the recorded histograms in long form.
Two runs
    :func:`cka_between`: linear CKA (``explorer.analysis.cka.linear_cka``, the Compare page's
    code) between every layer of two networks of the same architecture on the same digits, each
    feature map average-pooled to at most 7×7 and flattened (same architecture, so positions
    correspond and are kept, coarsely); :func:`best_matches` per layer of run A.
Report
    :func:`report`: per epoch accuracy, confusion matrix, kNN accuracy and dead-unit shares,
    what ``python -m explorer.train dynamics --history DIR --json`` prints.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.analysis.cka import linear_cka
from explorer.inference.shared import capture
from explorer.train.history import (SUMMARY, act_layers, epochs_recorded, read_epoch, read_labels,
                                    read_meta)

__all__ = [
    "KNN_K",
    "History",
    "confusion_matrix",
    "confusion_summary",
    "cell_digits",
    "knn_accuracy",
    "embed_epochs",
    "summarise",
    "compact",
    "layer_rows",
    "histogram_rows",
    "cka_layers",
    "cka_between",
    "best_matches",
    "note_committed",
    "report",
    "report_json",
    "compact_json",
]

KNN_K = 10
CKA_SIDE = 7  # feature maps are average-pooled to at most 7×7 before CKA


# ------------------------------------------------------------------------------- a history
class History:
    """One recorded run, read lazily: ``meta``, ``labels`` (test), ``probe`` (indices of the
    probe digits), ``epochs`` (recorded epoch numbers) and :meth:`epoch` (its arrays)."""

    def __init__(self, directory: str | Path):
        self.dir = Path(directory)
        self.meta = read_meta(self.dir)
        self.labels, self.probe = read_labels(self.dir)
        self._cache: dict[int, dict] = {}

    @property
    def name(self) -> str:
        return self.meta.get("model", "")

    @property
    def epochs(self) -> list[int]:
        """Epochs whose file exists and that ``meta.json`` lists (a live run may be writing)."""
        listed = {r["epoch"] for r in self.meta.get("epochs", [])}
        return [e for e in epochs_recorded(self.dir) if e in listed]

    @property
    def rows(self) -> list[dict]:
        return sorted(self.meta.get("epochs", []), key=lambda r: r["epoch"])

    def row(self, epoch: int) -> dict:
        return next(r for r in self.rows if r["epoch"] == epoch)

    def epoch(self, epoch: int) -> dict[str, np.ndarray]:
        if epoch not in self._cache:
            self._cache[epoch] = read_epoch(self.dir, epoch)
        return self._cache[epoch]

    def confusion(self, epoch: int) -> np.ndarray:
        return confusion_matrix(self.labels, self.epoch(epoch)["pred"])

    def cell(self, epoch: int, true: int, pred: int) -> "Cell":
        e = self.epoch(epoch)
        return cell_digits(self.labels, e["pred"], e["p_pred"], true, pred)

    @cached_property
    def probe_labels(self) -> np.ndarray:
        return self.labels[self.probe]

    def refresh(self) -> "History":
        """The same folder read again (a run in progress has written more epochs)."""
        return History(self.dir)


# ------------------------------------------------------------------------------- confusion
def confusion_matrix(labels, pred, n_classes: int = 10) -> np.ndarray:
    """counts[true, predicted] over all digits (rows: the true digit)."""
    labels, pred = np.asarray(labels, np.int64), np.asarray(pred, np.int64)
    return np.bincount(labels * n_classes + pred, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes)


def confusion_summary(cm: np.ndarray) -> dict:
    """The diagonal share and the most frequent confusions (true, predicted, count), largest
    first; ``worst`` is the first of them (None when there is no mistake)."""
    cm = np.asarray(cm)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")
    pairs = [(int(i // cm.shape[1]), int(i % cm.shape[1]), int(off.flat[i]))
             for i in order[:5] if off.flat[i] > 0]
    total = int(cm.sum())
    return {"total": total, "correct": int(np.trace(cm)),
            "diagonal_share": float(np.trace(cm) / total) if total else float("nan"),
            "mistakes": total - int(np.trace(cm)), "worst": pairs[0] if pairs else None,
            "pairs": pairs}


@dataclass(frozen=True)
class Cell:
    """The test digits in one confusion-matrix cell, in display order."""

    true: int
    pred: int
    indices: np.ndarray  # into the test set
    p_pred: np.ndarray  # probability of the predicted class, same order

    def __len__(self) -> int:
        return len(self.indices)


def cell_digits(labels, pred, p_pred, true: int, predicted: int) -> Cell:
    """Test digits with label ``true`` read as ``predicted``: mistakes most confident first; on
    the diagonal (correct readings) the least confident first. Ties keep test-set order."""
    labels, pred = np.asarray(labels), np.asarray(pred)
    idx = np.flatnonzero((labels == true) & (pred == predicted))
    p = np.asarray(p_pred, np.float32)[idx]
    key = p if true == predicted else -p
    order = np.argsort(key, kind="stable")
    return Cell(int(true), int(predicted), idx[order], p[order])


# --------------------------------------------------------------------------- feature space
def knn_accuracy(features, labels, k: int = KNN_K) -> float:
    """Leave-one-out accuracy of a ``k``-nearest-neighbour vote (Euclidean) among ``features``:
    each digit is classified by its k nearest *other* digits."""
    from sklearn.neighbors import NearestNeighbors

    x = np.asarray(features, np.float32)
    y = np.asarray(labels, np.int64)
    nn_ = NearestNeighbors(n_neighbors=k + 1).fit(x)
    _dist, ind = nn_.kneighbors(x)
    votes = []
    for i, row in enumerate(ind):
        row = row[row != i][:k]  # itself out (duplicates may push it down the list)
        votes.append(np.bincount(y[row], minlength=y.max() + 1).argmax())
    return float(np.mean(np.asarray(votes) == y))


def _standard(e: np.ndarray) -> np.ndarray:
    e = e - e.mean(axis=0)
    return e / max(float(np.sqrt((e ** 2).sum(axis=1).mean())), 1e-12)


def _rotate_onto(e: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """``e`` rotated (or reflected) to lie best on ``ref`` (orthogonal Procrustes)."""
    from scipy.linalg import orthogonal_procrustes

    r, _scale = orthogonal_procrustes(e, ref)
    return e @ r


def embed_epochs(features: list[np.ndarray], previous: np.ndarray | None = None,
                 seed: int = 0, perplexity: float = 30.0) -> list[np.ndarray]:
    """A 2-D t-SNE map for each feature matrix, in order: the first from PCA (or from
    ``previous``, the map of the epoch before), each later one from the map before it (early
    exaggeration 4 for 250 of 400 iterations instead of 12 of 500: as good a map, measured by
    trustworthiness, a third faster, and smoother from epoch to epoch), then rotated onto it
    and scaled to unit RMS radius. Deterministic for a given ``seed``."""
    from sklearn.manifold import TSNE

    out = []
    for f in features:
        x = np.asarray(f, np.float32)
        if previous is None:
            tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed,
                        max_iter=500, n_jobs=1)
        else:  # from the previous map, shrunk (t-SNE wants a small start, as its PCA start is);
            # its clusters are there already, so a gentler, shorter early exaggeration will do
            tsne = TSNE(n_components=2, perplexity=perplexity, random_state=seed, n_jobs=1,
                        init=previous / previous[:, 0].std() * 1e-4, early_exaggeration=4.0,
                        max_iter=400)
        e = _standard(tsne.fit_transform(x).astype(np.float64))
        if previous is not None:
            e = _rotate_onto(e, previous)
        out.append(e.astype(np.float32))
        previous = e
    return out


def summarise(history: History, save: bool = True) -> dict[str, np.ndarray]:
    """Per epoch: the 2-D map and the kNN accuracy of the probe features (``epochs``,
    ``embedding`` E×N×2, ``knn`` E). Kept in ``summary.npz``; epochs added since are computed
    from the last map on and appended (a live run grows one epoch at a time)."""
    path = history.dir / SUMMARY
    epochs = history.epochs
    have = _read_summary(path)
    if have is not None and list(have["epochs"]) == epochs[:len(have["epochs"])]:
        done = list(have["epochs"])
    else:
        have, done = None, []
    todo = [e for e in epochs if e not in done]
    if not todo and have is not None:
        return have
    feats = [history.epoch(e)["features"].astype(np.float32) for e in todo]
    previous = have["embedding"][-1].astype(np.float64) if have is not None else None
    maps = embed_epochs(feats, previous)
    knn = [knn_accuracy(f, history.probe_labels) for f in feats]
    out = {
        "epochs": np.array(done + todo, np.int64),
        "embedding": np.concatenate([have["embedding"], np.stack(maps)]) if have is not None
        else np.stack(maps),
        "knn": np.concatenate([have["knn"], knn]) if have is not None else np.array(knn),
    }
    out["embedding"] = out["embedding"].astype(np.float16)  # 1e-3 of a unit-RMS map: invisible
    out["knn"] = out["knn"].astype(np.float64)
    if save:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **out)
        os.replace(tmp, path)
    return out


def _read_summary(path: Path) -> dict | None:
    if not path.exists():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def compact(directory: str | Path) -> int:
    """Summarise, then drop the probe features of every epoch but the last (the map and the
    kNN accuracy keep what they showed); returns the bytes saved. For shipping a history."""
    history = History(directory)
    summarise(history)
    saved = 0
    for e in history.epochs[:-1]:
        path = history.dir / f"epoch_{e:03d}.npz"
        arrays = read_epoch(history.dir, e)
        if "features" not in arrays:
            continue
        before = path.stat().st_size
        del arrays["features"]
        with open(path, "wb") as f:
            np.savez_compressed(f, **arrays)
        saved += before - path.stat().st_size
    return saved


# ---------------------------------------------------------------------------------- layers
def layer_rows(history: History, epoch: int) -> list[dict]:
    """One row per layer with parameters (weights, gradient, step) and, for activation layers,
    their units and the share dead (ReLU) or saturated (tanh)."""
    e = history.epoch(epoch)
    rows = []
    for i, layer in enumerate(history.meta["param_layers"]):
        rows.append({"layer": layer["name"], "kind": "parameters", "params": layer["params"],
                     "weight_norm": float(e["w_norm"][i]), "grad_norm": float(e["g_norm"][i]),
                     "step": float(e["w_step"][i])})
    for i, layer in enumerate(history.meta["act_layers"]):
        rows.append({"layer": layer["name"], "kind": layer["kind"], "units": int(e["units"][i]),
                     "dead": float(e["dead"][i]), "zero": float(e["zero"][i])})
    return rows


def histogram_rows(history: History, epoch: int, what: str) -> list[dict]:
    """The recorded histograms of one epoch in long form: layer, lo, hi, count.
    ``what``: "weights", "gradients" or "activations"."""
    counts_key, edges_key, layers = {
        "weights": ("w_counts", "w_edges", history.meta["param_layers"]),
        "gradients": ("g_counts", "g_edges", history.meta["param_layers"]),
        "activations": ("a_counts", "a_edges", history.meta["act_layers"]),
    }[what]
    e = history.epoch(epoch)
    rows = []
    for i, layer in enumerate(layers):
        edges = e[edges_key][i]
        for j, c in enumerate(e[counts_key][i]):
            rows.append({"layer": layer["name"], "lo": float(edges[j]), "hi": float(edges[j + 1]),
                         "count": int(c)})
    return rows


# --------------------------------------------------------------------------------- two runs
def cka_layers(model: nn.Module) -> list[str]:
    """The layers two runs are compared at: every activation's output, then the logits."""
    linears = [n for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    return [n for n, _k in act_layers(model)] + linears[-1:]


def _pooled(t: torch.Tensor) -> torch.Tensor:
    if t.dim() == 4 and max(t.shape[-2:]) > CKA_SIDE:
        t = F.adaptive_avg_pool2d(t.float(), CKA_SIDE)
    return t.float().flatten(1)


def cka_between(model_a: nn.Module, model_b: nn.Module, x: torch.Tensor,
                layers: list[str] | None = None) -> tuple[list[str], np.ndarray]:
    """(layers, matrix): linear CKA between every layer of ``model_a`` (rows) and of
    ``model_b`` (columns) on the input batch ``x``. Both models must be in eval mode; they are
    only read (``explorer.inference.shared.capture``)."""
    layers = layers or cka_layers(model_a)
    fa = capture(model_a, layers, x, reduce=_pooled)
    fb = capture(model_b, layers, x, reduce=_pooled)
    m = np.array([[linear_cka(fa[a], fb[b]) for b in layers] for a in layers])
    return layers, m


def best_matches(layers: list[str], matrix: np.ndarray) -> list[dict]:
    """For each layer of run A: the layer of run B with the highest CKA, and whether it is the
    same layer."""
    out = []
    for i, name in enumerate(layers):
        j = int(np.nanargmax(matrix[i]))
        out.append({"layer": name, "best": layers[j], "cka": float(matrix[i, j]),
                    "same_layer_cka": float(matrix[i, i]), "same": i == j})
    return out


# -------------------------------------------------------------------- beside the checkpoint
def note_committed(directory: str | Path, assets: str | Path | None = None) -> dict:
    """Compare a history's last epoch with the committed checkpoint of its model (``assets/
    <model>.pt`` and its card) on every test digit and keep the result in ``meta.json`` as
    ``rerun_of``: whether the run ends in the committed checkpoint's predictions, and both test
    accuracies. For a shipped history recorded by rerunning the committed recipe."""
    from explorer.data.mnist import load_mnist, mnist_root
    from explorer.data.paths import ASSETS
    from explorer.train.cards import load_card
    from explorer.train.checkpoints import load_checkpoint
    from explorer.train.data import to_input
    from explorer import zoo

    history = History(directory)
    assets = Path(assets) if assets is not None else ASSETS
    name, last = history.name, history.epochs[-1]
    card = load_card(name, assets) or {}
    model = load_checkpoint(name, assets / f"{name}.pt")
    images, _labels = load_mnist(mnist_root()[0], train=False)
    size = zoo.get_spec(name).input_size
    with torch.no_grad():
        pred = torch.cat([model(to_input(images[i:i + 1000], size)).argmax(1)
                          for i in range(0, len(images), 1000)]).numpy()
    ours = history.epoch(last)["pred"]
    note = {"checkpoint": f"{name}.pt", "committed_sha256": (card.get("checkpoint") or {}).get("sha256"),
            "committed_test_accuracy": card.get("test_accuracy"),
            "rerun_test_accuracy": round(100.0 * float((ours == history.labels).mean()), 2),
            "different_test_predictions": int((pred != ours).sum()),
            "same_test_predictions": bool((pred == ours).all())}
    meta = dict(history.meta, rerun_of=note)
    (history.dir / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return note


# ---------------------------------------------------------------------------------- report
def report(directory: str | Path) -> dict:
    """What a run learnt, epoch by epoch: test accuracy, the confusion matrix, kNN accuracy in
    the penultimate feature space, dead (or saturated) unit shares per activation layer."""
    history = History(directory)
    summary = summarise(history)
    knn = dict(zip(summary["epochs"].tolist(), summary["knn"].tolist()))
    acts = [a["name"] for a in history.meta["act_layers"]]
    epochs = []
    for ep in history.epochs:
        e, row = history.epoch(ep), history.row(ep)
        cm = confusion_matrix(history.labels, e["pred"])
        s = confusion_summary(cm)
        epochs.append({
            "epoch": ep,
            "test_accuracy": round(100.0 * s["diagonal_share"], 4),
            "test_loss": row.get("test_loss"),
            "train_accuracy": row.get("train_accuracy"),
            "val_accuracy": row.get("val_accuracy"),
            "knn_accuracy": round(100.0 * knn[ep], 4),
            "confusion": cm.tolist(),
            "worst": None if s["worst"] is None else
            {"true": s["worst"][0], "pred": s["worst"][1], "count": s["worst"][2]},
            "dead": {a: round(float(d), 6) for a, d in zip(acts, e["dead"])},
        })
    return {"model": history.name, "seed": history.meta.get("seed"),
            "test_images": int(len(history.labels)), "probe_digits": int(len(history.probe)),
            "knn_k": KNN_K, "dead_means": {a["name"]: ("never positive" if a["kind"] == "relu"
                                                       else "always |y| > 0.99")
                                           for a in history.meta["act_layers"]},
            "epochs": epochs}


def report_json(directory: str | Path) -> str:
    """:func:`report` as JSON text, each list of numbers (a confusion-matrix row) on one line."""
    return compact_json(report(directory))


def compact_json(data) -> str:
    """Indented JSON with every innermost list of numbers on one line."""
    text = json.dumps(data, indent=1)
    return re.sub(r"\[\s+([-+\d.eE,\s]+?)\s+\]",
                  lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
