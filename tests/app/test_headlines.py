"""Headline numbers in the convention users compare with (issue 14, point 4): PyTorch's
parameter count leads on the Architecture page and in the Overview table, Keras's beside it."""
from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

PAGES = Path(__file__).resolve().parents[2] / "pages"


def test_architecture_leads_with_pytorchs_count():
    at = AppTest.from_file(str(PAGES / "architecture.py"), default_timeout=240)
    at.query_params["model"] = "googlenet"
    at.run()
    assert not at.exception, at.exception
    first, second = at.metric[0], at.metric[1]
    # REFERENCE.md / torchvision: GoogLeNet 6,624,904; Keras adds BN's running mean and var.
    assert (first.label, first.value) == ("Parameters (PyTorch)", "6,624,904")
    assert (second.label, second.value) == ("Parameters (Keras)", "6,639,464")


def test_overview_first_parameter_column_is_pytorchs():
    at = AppTest.from_file(str(PAGES / "overview.py"), default_timeout=240)
    at.run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    params = [c for c in table.columns if str(c).startswith("params")]
    assert params[0] == "params" and "params (Keras)" in params
    googlenet = table[table["model"] == "googlenet"].iloc[0]
    assert googlenet["params"] == 6_624_904 and googlenet["params (Keras)"] == 6_639_464
