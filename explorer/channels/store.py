"""Visualisations kept on disk, one file per (model, weights, layer, objective, target, settings,
seed): a channel visualised once is there for every session and every later visit, and a class
image never depends on a media file that the server has already dropped.

Folder: ``cache_dir() / "vis" / <model>``; files are ``.npz`` (the images as uint8 arrays and
the result's numbers as JSON), written atomically. A folder that cannot be written only means
the result is not remembered.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from explorer.channels.featurevis import VisResult, VisSettings, visualize
from explorer.channels.top import cache_dir, weights_key

__all__ = ["vis_path", "save_vis", "load_vis", "lookup_vis", "cached_visualize"]

STORE_VERSION = 1


def vis_path(loaded, layer: str, target: int, objective: str, settings: VisSettings,
             seed: int = 0, root: Path | None = None) -> Path:
    key = json.dumps([STORE_VERSION, loaded.name, weights_key(loaded), layer, objective,
                      int(target), asdict(settings), int(seed)], sort_keys=True, default=str)
    digest = hashlib.sha1(key.encode()).hexdigest()[:20]
    return (Path(root) if root else cache_dir()) / "vis" / loaded.name / f"{digest}.npz"


def save_vis(result: VisResult, path: Path) -> bool:
    """Write ``result``; False when the folder cannot be written."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        buf = io.BytesIO()
        pictures = result.images or [result.image]
        np.savez(buf, images=np.stack(pictures), info=np.array(json.dumps(result.to_dict())))
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(buf.getvalue())
        os.replace(tmp, path)
        return True
    except OSError:
        return False


def load_vis(path: Path) -> VisResult | None:
    try:
        with np.load(path) as z:
            info = json.loads(str(z["info"]))
            pictures = list(z["images"])
    except (OSError, ValueError, KeyError):
        return None
    info.pop("size", None)
    info["pos"] = tuple(info["pos"]) if info.get("pos") is not None else None
    fields = VisResult.__dataclass_fields__
    return VisResult(image=pictures[0], images=pictures,
                     **{k: v for k, v in info.items() if k in fields})


def lookup_vis(loaded, layer: str, target: int, objective: str, settings: VisSettings,
               seed: int = 0, root: Path | None = None) -> VisResult | None:
    path = vis_path(loaded, layer, target, objective, settings, seed, root)
    return load_vis(path) if path.exists() else None


def cached_visualize(loaded, layer: str, target: int, objective: str, settings: VisSettings,
                     seed: int = 0, root: Path | None = None,
                     **kwargs) -> tuple[VisResult, bool]:
    """:func:`visualize` through the store; returns (result, whether it came from disk)."""
    path = vis_path(loaded, layer, target, objective, settings, seed, root)
    hit = load_vis(path) if path.exists() else None
    if hit is not None:
        return hit, True
    result = visualize(loaded, layer, target, objective=objective, settings=settings,
                       seed=seed, **kwargs)
    save_vis(result, path)
    return result, False
