"""The whole app through its router: every page opens from app.py without an exception."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[2]

PAGES = ["pages/overview.py", "pages/architecture.py", "pages/blocks.py",
         "pages/inference.py", "pages/compare.py", "pages/train.py", "pages/weights.py"]


@pytest.fixture(scope="module")
def app():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=180)
    at.run()
    assert not at.exception, at.exception
    return at


def test_home_is_the_overview_and_sidebar_names_the_device(app):
    assert any("Device:" in c.value for c in app.sidebar.caption)
    assert any("MACs = multiply-accumulates" in c.value for c in app.sidebar.caption)
    # How many networks have real weights here: at least the 4 trained MNIST models and the
    # packaged EfficientNet-Lite0, more where torchvision files are cached.
    line = next(c.value for c in app.sidebar.caption if c.value.startswith("**Weights:**"))
    from explorer import zoo

    real, total = map(int, re.match(r"\*\*Weights:\*\* (\d+) of (\d+) networks have real "
                                    r"weights", line).groups())
    assert real >= 5 and total == len(zoo.list_models()), line


@pytest.mark.parametrize("page", PAGES)
def test_every_page_opens_from_the_router(app, page):
    app.switch_page(page)
    app.run()
    assert not app.exception, f"{page}: {app.exception}"
    assert app.title or app.header, f"{page} shows no title"


def test_a_model_trained_on_the_train_page_is_used_by_the_inference_page():
    """Issue 6: the freshly trained model serves the other pages in this browser session."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_model").set_value("lenet5")
    at.slider(key="train_epochs").set_value(1)
    at.number_input(key="train_subset").set_value(300)
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    trained = at.session_state["trained_models"]["lenet5"]

    at.switch_page("pages/inference.py").run()
    at.selectbox(key="inference_model").set_value("lenet5").run()
    assert not at.exception, at.exception
    source = at.selectbox(key="inference_source_lenet5")
    assert source.options[0] == "Trained in this session" and source.value == "session"
    assert any("Trained in this session on the Train page" in c.value for c in at.caption)
    at.selectbox(key="inference_image_sample").set_value("MNIST digit 7").run()
    assert not at.exception and not at.error, [e.value for e in at.error]

    # The page's prediction is the session model's, not the committed checkpoint's.
    from explorer import inference, train, weights
    from explorer.data import images

    mine = weights.wrap_model("lenet5", train.model_from_state_dict("lenet5", trained["state_dict"]))
    digit = images.load_image(images.sample_images("digit")["MNIST digit 7"])
    expected = inference.predict(mine, digit, topk=1)
    headline = next(h.value for h in at.subheader if h.value.startswith("Prediction:"))
    assert headline == f"Prediction: {expected.names[0]} ({expected.probabilities[0]:.1%})"
