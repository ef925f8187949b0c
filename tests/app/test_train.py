"""The Train page, headless: the reproduction table, a one-epoch run on a tiny subset, Stop,
and a digit read by the committed checkpoints."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import train
from explorer.data.mnist import mnist_root

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "train.py")


@pytest.fixture()
def app():
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def test_reproduction_table_shows_the_seed_figures_beside_the_cards(app):
    table = app.table[0].value  # one column per model, one row per figure
    # The source's figures (REFERENCE.md), written out here rather than read from the code.
    assert table.loc["parameters, reported (Keras)", "mnist_plain"] == "78,602"
    assert table.loc["parameters, reported (Keras)", "mnist_bn_dropout"] == "79,114"
    assert table.loc["parameters, reported (Keras)", "mnist_nin"] == "31,850"
    assert table.loc["parameters, reported (Keras)", "lenet5"] == "61,706"
    assert table.loc["test accuracy, reported", "mnist_plain"] == "98.63 %"
    assert table.loc["test accuracy, reported", "mnist_bn_dropout"] == "99.09 %"
    assert table.loc["test accuracy, reported", "mnist_nin"] == "98.87 %"
    assert table.loc["test accuracy, reported", "lenet5"] == "99.20 %"
    pytorch = {"mnist_plain": 78_602, "mnist_bn_dropout": 78_858, "mnist_nin": 31_658, "lenet5": 61_706}
    for name in train.TRAINABLE_MODELS:
        card = train.load_card(name)
        assert card is not None, f"assets/{name}.json is missing"
        assert table.loc["test accuracy, ours", name].startswith(f"{card['test_accuracy']:.2f} %")
        ours = table.loc["parameters, ours (Keras / PyTorch)", name]
        assert ours == f"{table.loc['parameters, reported (Keras)', name]} / {pytorch[name]:,}"


def test_one_epoch_on_a_tiny_subset_lands_in_session_state(app):
    app.selectbox(key="train_model").set_value("lenet5")
    app.slider(key="train_epochs").set_value(1)
    app.number_input(key="train_subset").set_value(300)
    next(b for b in app.button if b.label == "Train").click().run()
    assert not app.exception, app.exception
    assert not app.error, [e.value for e in app.error]
    entry = app.session_state["trained_models"]["lenet5"]
    card = entry["card"]
    assert card["epochs_completed"] == 1 and not card["stopped_early"]
    assert card["data"]["train_images"] == 270 and card["data"]["val_images"] == 30
    assert card["data"]["test_images"] == 10_000
    assert set(entry["state_dict"]) == set(train.model_from_state_dict("lenet5", entry["state_dict"]).state_dict())
    assert "test accuracy" in app.success[0].value
    # The run's own curves (the page's other charts belong to the training dynamics section).
    assert len(app.get_by_key("train_curves").get("vega_lite_chart")) == 2  # accuracy and loss
    # Controls are enabled again, and Stop is not.
    assert not next(b for b in app.button if b.label == "Train").disabled
    assert next(b for b in app.button if b.label == "Stop").disabled


def test_stop_keeps_the_model_trained_so_far(app):
    # A run that is under way (a Trainer in the session, as after a rerun mid-training) ends
    # at the next script run once Stop has set the flag; the partly trained model is kept.
    root, download = mnist_root()
    job = train.Trainer("mnist_nin", 3, root, subset=300, download=download)
    job.run_epoch()
    app.session_state["train_job"] = job
    app.session_state["train_stop"] = True
    app.run()
    assert not app.exception, app.exception
    card = app.session_state["trained_models"]["mnist_nin"]["card"]
    assert card["stopped_early"] and card["epochs_completed"] == 1 and card["epochs"] == 3
    assert app.session_state["train_job"] is None
    assert "stopped early" in app.success[0].value


def test_a_sample_digit_is_read_by_the_trained_models(app):
    app.radio(key="train_input_mode").set_value("Photo or sample").run()
    app.selectbox(key="train_digit_sample").set_value("MNIST digit 7").run()
    assert not app.exception, app.exception
    tables = app.get_by_key("train_digit").get("dataframe")  # not the dynamics section's
    assert len(tables) == 1
    table = tables[0].value
    assert list(table["model"]) == list(train.TRAINABLE_MODELS)
    assert (table["reads"] == "7").all(), table
