"""Checkpoints: writing a run's weights and card, and reading them back through the weights floor.

A checkpoint is a plain state dict (``torch.save(model.state_dict())``) beside its model card;
reading one goes through ``explorer.weights``' one safe loader (``weights_only``, a strict key
check, a :class:`~explorer.weights.WeightsError` that says what is wrong).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch
import torch.nn as nn

from explorer import zoo
from explorer.data.paths import ASSETS
from explorer.weights.checkpoint import load_checkpoint_file, load_strict

if TYPE_CHECKING:  # pragma: no cover
    from explorer.train.loop import TrainResult

__all__ = ["save", "load_checkpoint", "model_from_state_dict"]


def save(result: TrainResult, out_dir: str | Path = ASSETS) -> tuple[Path, Path]:
    """Write ``<name>.pt`` (a plain state_dict) and ``<name>.json`` (the model card)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pt = out_dir / f"{result.name}.pt"
    card_path = out_dir / f"{result.name}.json"
    torch.save(result.state_dict(), pt)
    card = dict(result.card)
    card["checkpoint"] = {"file": pt.name, "bytes": pt.stat().st_size,
                          "sha256": hashlib.sha256(pt.read_bytes()).hexdigest()}
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    result.card = card
    return pt, card_path


def load_checkpoint(name: str, path: str | Path | None = None) -> nn.Module:
    """A fresh ``name`` with the weights from ``path`` (default ``assets/<name>.pt``), eval mode."""
    path = Path(path) if path is not None else ASSETS / f"{name}.pt"
    return load_checkpoint_file(zoo.build(name), path, name).eval()


def model_from_state_dict(name: str, state_dict: dict) -> nn.Module:
    """A fresh ``name`` (eval mode, CPU) holding ``state_dict``: a session model for the pages."""
    model = zoo.build(name)
    load_strict(model, state_dict, name)
    return model.eval()
