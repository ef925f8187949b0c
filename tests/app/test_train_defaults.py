"""Train page defaults (issue 14, point 6): on a CPU a short run by default, an estimate of the
full recipe from the run's own speed, and curves with whole epochs that show one epoch too."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import train
from explorer.ui import train as ui_train

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "train.py")


def test_full_recipe_estimate_counts_the_notes_batches():
    # 60,000 images, 10 % held out: 54,000 / 64 = 844 batches an epoch, 5 epochs.
    assert train.full_recipe_seconds(2.0, 10) == pytest.approx(0.2 * 844 * 5)
    assert train.full_recipe_seconds(1.0, 2) is None  # too few batches to tell
    assert ui_train.default_run("cuda") == (5, 60_000)
    epochs, images = ui_train.default_run("cpu")
    assert epochs * -(-(images * 9 // 10) // 64) <= 100  # ~1/40 of the full recipe's batches


def test_cpu_defaults_and_one_epoch_curves():
    at = AppTest.from_file(PAGE, default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    assert (at.slider(key="train_epochs").value, at.number_input(key="train_subset").value) \
        == ui_train.default_run("cpu")  # no GPU in the tests
    at.selectbox(key="train_model").set_value("lenet5")
    at.slider(key="train_epochs").set_value(1)
    at.number_input(key="train_subset").set_value(700)  # 10 batches
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    estimate = [c.value for c in at.caption if c.value.startswith("At the speed of the last run")]
    assert len(estimate) == 1 and "minutes on cpu" in estimate[0]
    charts = at.get_by_key("train_curves").get("vega_lite_chart")  # the run's own curves
    assert len(charts) == 2  # accuracy and loss
    for chart in charts:
        spec = json.loads(chart.proto.spec)
        assert spec["encoding"]["x"]["type"] == "ordinal"  # whole epochs, not 1.000000
        assert spec["mark"]["point"] is True  # one epoch is a visible point
