"""The Train page's "Training dynamics" section, headless: the committed history replays, a
clicked confusion-matrix cell shows exactly its test digits, the epoch slider moves every view,
a run started on the page records its own history, and two seeds are compared."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from explorer.train import dynamics

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "train.py")
SHIPPED = ROOT / "assets" / "history"


@pytest.fixture(scope="module")
def app():
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.run()
    assert not at.exception, at.exception
    return at


def _thumbnails(at) -> list[tuple[int, int]]:
    """(test index, probability in %) under each digit of the chosen cell."""
    out = []
    for el in at.get("image"):
        for img in el.proto.imgs:
            m = re.fullmatch(r"#(\d+): (\d+)%", img.caption)
            if m:
                out.append((int(m.group(1)), int(m.group(2))))
    return out


def _cell_heading(at) -> str:
    return next(m.value for m in at.markdown if " read as " in m.value and m.value.startswith("**"))


def test_the_committed_history_replays(app):
    assert "Training dynamics" in [s.value for s in app.subheader]
    h = dynamics.History(SHIPPED / "lenet5")
    assert app.selectbox(key="dyn_source").value == "lenet5"
    labels = []
    for name in ("lenet5", "mnist_plain", "mnist_bn_dropout", "mnist_nin"):
        same = dynamics.History(SHIPPED / name).meta["rerun_of"]["same_test_predictions"]
        labels.append(f"{name} (committed checkpoint)" if same else f"{name} (committed recipe, rerun)")
    assert app.selectbox(key="dyn_source").options == labels
    assert labels[0] == "lenet5 (committed checkpoint)"
    assert any("ends in the committed checkpoint's predictions" in c.value for c in app.caption)
    slider = app.select_slider(key="dyn_epoch")
    assert slider.options == [str(e) for e in h.epochs] and slider.value == h.epochs[-1]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["test accuracy"] == f"{h.row(h.epochs[-1])['test_accuracy']:.2f} %"
    worst = dynamics.confusion_summary(h.confusion(h.epochs[-1]))["worst"]
    assert _cell_heading(app).startswith(f"**{worst[0]} read as {worst[1]}**: {worst[2]} digits")
    assert any(f"{worst[0]} read as {worst[1]}: {worst[2]} times" in c.value for c in app.caption)
    assert len(_thumbnails(app)) == worst[2]


def test_a_clicked_cell_shows_exactly_its_digits(app):
    h = dynamics.History(SHIPPED / "lenet5")
    last = h.epochs[-1]
    pred, p = h.epoch(last)["pred"], h.epoch(last)["p_pred"].astype(np.float64)
    for true, read in [(7, 2), (4, 9)]:
        app.session_state["dyn_cm"] = {"selection": {"cell": [{"true": true, "pred": read}]}}
        app.run()
        assert not app.exception, app.exception
        # Independently: the test digits labelled `true` read as `read`, most confident first.
        idx = [i for i in range(len(h.labels)) if h.labels[i] == true and pred[i] == read]
        idx.sort(key=lambda i: (-p[i], i))
        shown = _thumbnails(app)
        assert [i for i, _p in shown] == idx[:60]
        assert [q for _i, q in shown] == [round(100 * p[i]) for i in idx[:60]]
        assert _cell_heading(app).startswith(f"**{true} read as {read}**: {len(idx)} digit")


def test_the_slider_moves_the_cell_and_the_numbers(app):
    h = dynamics.History(SHIPPED / "lenet5")
    app.session_state["dyn_cm"] = {"selection": {"cell": [{"true": 4, "pred": 9}]}}
    app.run()
    for epoch in (1, 3):
        app.select_slider(key="dyn_epoch").set_value(epoch).run()
        assert not app.exception, app.exception
        count = int(h.confusion(epoch)[4, 9])
        assert _cell_heading(app).startswith(f"**4 read as 9**: {count} digit")
        metrics = {m.label: m.value for m in app.metric}
        assert metrics["test accuracy"] == f"{h.row(epoch)['test_accuracy']:.2f} %"
    for kind in ("gradients", "activations", "weights"):
        app.radio(key="dyn_hist_kind").set_value(kind).run()
        assert not app.exception, app.exception


def test_every_committed_history_draws(app):
    for name in ("mnist_plain", "mnist_bn_dropout", "mnist_nin"):
        app.selectbox(key="dyn_source").set_value(name).run()
        assert not app.exception, app.exception
        h = dynamics.History(SHIPPED / name)
        assert app.select_slider(key="dyn_epoch").value == h.epochs[-1]
        tables = [d.value for d in app.dataframe if "units" in d.value.columns]
        assert tables and list(tables[0]["layer"]) == [a["name"] for a in h.meta["act_layers"]]


def test_a_run_on_the_page_records_its_history():
    at = AppTest.from_file(PAGE, default_timeout=300)
    at.run()
    at.selectbox(key="train_model").set_value("lenet5")
    at.slider(key="train_epochs").set_value(1)
    at.number_input(key="train_subset").set_value(300)
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    assert at.selectbox(key="dyn_source").value == "session"
    folder = at.session_state["train_history_dir"]
    h = dynamics.History(folder)
    assert h.epochs == [0, 1] and h.meta["model"] == "lenet5" and h.meta["train_images"] == 270
    card = at.session_state["trained_models"]["lenet5"]["card"]
    assert h.row(1)["test_accuracy"] == pytest.approx(card["test_accuracy"], abs=0.005)
    assert at.select_slider(key="dyn_epoch").value == 1
    assert (Path(folder) / "summary.npz").is_file()  # the feature map was computed
    # Switched off, a run records nothing and the session's last history stays.
    at.checkbox(key="train_dynamics").uncheck()
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    assert at.session_state["train_history_dir"] == folder


def test_two_seeds_are_compared_on_request(app):
    app.selectbox(key="dyn_source").set_value("lenet5").run()
    next(b for b in app.button if b.label == "Train two seeds and compare").click().run()
    assert not app.exception, app.exception
    result = app.session_state["dyn_seeds"]["lenet5:2:3000"]
    assert len(result["layers"]) == 5 and np.asarray(result["matrix"]).shape == (5, 5)
    table = next(d.value for d in app.dataframe if "best" in d.value.columns)
    assert list(table["layer"]) == result["layers"]
    assert any("layers of run A find their own counterpart" in s.value
               for s in list(app.success) + list(app.warning))
