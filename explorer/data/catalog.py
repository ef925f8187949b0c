"""The zoo's names and headline numbers without importing torch: read from a committed summary.

The Overview's table and every page's model picker need only each network's name, family, year,
dataset, input size and totals. Importing :mod:`explorer.zoo` for them costs seconds (it imports
torch), so those facts are written once by ``python -m explorer.analysis --summary`` into
``assets/zoo_summary.json`` and read from there. ``tests/test_catalog.py`` checks that the file
equals a live analysis of the registry; when a model is added or changed, regenerate it.
"""
from __future__ import annotations

import functools
import json

from explorer.data.paths import ASSETS

__all__ = ["SUMMARY_PATH", "REGENERATE", "summary", "list_models", "info", "rows", "block_kinds"]

SUMMARY_PATH = ASSETS / "zoo_summary.json"
REGENERATE = "python -m explorer.analysis --summary"


@functools.lru_cache(maxsize=1)
def summary() -> dict:
    """The committed summary: ``{"models": [{name, family, year, ...}, ...]}`` in registry order."""
    return json.loads(SUMMARY_PATH.read_text(encoding="utf-8"))


@functools.lru_cache(maxsize=1)
def _by_name() -> dict[str, dict]:
    return {m["name"]: m for m in summary()["models"]}


def list_models(dataset: str | None = None) -> list[str]:
    """Model names in registry order (as ``zoo.list_models``), optionally for one dataset."""
    return [m["name"] for m in summary()["models"] if dataset is None or m["dataset"] == dataset]


def info(name: str) -> dict:
    """One model's entry: name, family, year, dataset, input_size, num_classes, min_size,
    published_top1 and the totals (params, params_keras, macs, depth, receptive_field)."""
    try:
        return _by_name()[name]
    except KeyError:
        raise KeyError(f"{name!r} is not in {SUMMARY_PATH.name}: a model added to the zoo needs "
                       "`python -m explorer.analysis --summary` (tests/test_catalog.py checks it)"
                       ) from None


def block_kinds() -> dict[str, str]:
    """``zoo.BLOCK_KINDS``: block kind -> its English label (translate with ``_`` to show)."""
    return summary()["block_kinds"]


def rows() -> list[dict]:
    """The Overview's table, one row per model (the columns the Overview shows)."""
    out = []
    for m in summary()["models"]:
        out.append({
            "model": m["name"],
            "family": m["family"],
            "year": m["year"],
            "dataset": m["dataset"],
            "input": "×".join(str(v) for v in m["input_size"]),
            "depth": m["depth"],
            "params": m["params"],
            "params (Keras)": m["params_keras"],
            "params (M)": m["params"] / 1e6,
            "MACs": m["macs"],
            "GMACs": m["macs"] / 1e9,
            "receptive field": m["receptive_field"],
            "top-1 (%)": m["published_top1"],
        })
    return out
