"""Which networks have real weights on this machine, for the sidebar, the Overview and the
Weights page (read fresh on every run: a download in one session shows up in all)."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from explorer.i18n import N_, _

STATE = {  # ModelWeights.state() → what the table says
    "ready": N_("✓ real weights"),
    "cached": N_("✓ real weights (cached)"),
    "not cached (downloads on first use)": N_("↓ random until downloaded"),
    "missing": N_("✗ random (file missing)"),
    "random only": N_("✗ random only (no pretrained weights exist)"),
}
ORIGIN = {"package": N_("package (EfficientNet-Lite0, offline)"),
          "trained": N_("trained by this project (assets/)"),
          "torchvision": N_("torchvision ImageNet weights"),
          "none": N_("none")}


def _rows():
    from explorer.weights import overview as weights_overview

    return weights_overview.overview()


def weights_here() -> dict[str, str]:
    """{model: short translated state} for the Overview's table."""
    return {r.name: _(STATE[r.state()]) for r in _rows()}


def weights_frame() -> pd.DataFrame:
    return pd.DataFrame([{
        "model": r.name, "dataset": r.dataset, "weights from": _(ORIGIN[r.origin]),
        "weights": None if r.weights == "-" else r.weights,
        "on this machine": _(STATE[r.state()]),
        # Empty where nothing applies: the page's placeholder shows "—" there, not "None".
        "size (MB)": float("nan") if r.size_mb is None else r.size_mb, "file": r.file or None,
    } for r in _rows()])


def missing() -> list:
    """Models whose torchvision weights are not cached yet (ModelWeights rows)."""
    return [r for r in _rows() if r.origin == "torchvision" and not r.real_here]


def sidebar_line() -> None:
    """One line: how many networks have real weights here (the Weights page, in the
    navigation above, says which and downloads them)."""
    rows = _rows()
    real = sum(r.real_here for r in rows)
    st.caption(_("**Weights:** {real} of {total} networks have real weights on this machine, "
                 "{more} more can be downloaded (Weights page); the rest run with random "
                 "weights, labelled as such.").format(real=real, total=len(rows),
                                 more=sum(r.origin == "torchvision" and not r.real_here
                                          for r in rows)))
