"""Table column headers in the UI's language: every table's columns are named here once.

The frames keep their English column names (code, CSV downloads and tests use them); what the
user reads is the label: ``st.dataframe(df, column_config=columns.config(df, {...}))`` adds a
translated label to each known column, keeping any configuration already given. For
``st.table``, which has no column config, ``columns.renamed(df)``.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from explorer.i18n import N_, _

NAMES = {
    # Overview
    "model": N_("model"), "architecture": N_("diagram"), "family": N_("family"),
    "year": N_("year"), "dataset": N_("dataset"), "input": N_("input"), "depth": N_("depth"),
    "params": N_("params"), "params (Keras)": N_("params (Keras)"),
    "receptive field": N_("receptive field"), "top-1 (%)": N_("top-1 (%)"),
    # Architecture layer table
    "layer": N_("layer"), "type": N_("type"), "kind": N_("kind"), "stage": N_("stage"),
    "kernel": N_("kernel"), "stride": N_("stride"), "padding": N_("padding"),
    "groups": N_("groups"), "input shape": N_("input shape"), "output shape": N_("output shape"),
    "trainable": N_("trainable"), "non-trainable": N_("non-trainable"),
    "activations": N_("activations"), "jump": N_("jump"),
    "sees whole input": N_("sees whole input"),
    # Blocks
    "step": N_("step"), "name": N_("name"), "operation": N_("operation"), "branch": N_("branch"),
    "output": N_("output"), "shape": N_("shape"), "mean": N_("mean"), "std": N_("std"),
    "min": N_("min"), "max": N_("max"), "zeros": N_("zeros"),
    "output of step": N_("output of step"),
    # Charts' tooltips (the same frames' columns)
    "part": N_("part"), "channels": N_("channels"), "height": N_("height = width (pixels)"),
    # Train
    "weights": N_("weights"), "reads": N_("reads"), "probability": N_("probability"),
    "runner-up": N_("runner-up"),
}


def label(column: str) -> str:
    return _(NAMES[column]) if column in NAMES else column


def config(columns, given: dict[str, Any] | None = None) -> dict[str, Any]:
    """``given`` column config plus a translated label for every column named in NAMES."""
    cols = list(columns.columns) if isinstance(columns, pd.DataFrame) else list(columns)
    out = dict(given or {})
    for col in cols:
        cfg = out.get(col)
        if cfg is None:
            cfg = {}
        elif isinstance(cfg, str):
            cfg = {"label": cfg}
        else:
            cfg = dict(cfg)
        if not cfg.get("label"):  # a label the page gives is already translated
            cfg["label"] = label(col)
        out[col] = cfg
    return out


def renamed(df: pd.DataFrame) -> pd.DataFrame:
    return df.rename(columns=label)
