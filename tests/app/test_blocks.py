"""The Blocks page headless: every block kind, from a real model and standalone, can be stepped
through; activations appear for an image; bad settings end in st.error, not a traceback."""
import pytest
from streamlit.testing.v1 import AppTest

from explorer.analysis import blocks
from explorer.zoo import BLOCK_KINDS

PAGE = "pages/blocks.py"


@pytest.fixture(scope="module")
def at():
    app = AppTest.from_file(f"../../{PAGE}", default_timeout=180)
    app.run()
    assert not app.exception, app.exception
    return app


def _step_header(at) -> str:
    return next(s.value for s in at.subheader if s.value.startswith("Step "))


def test_opens_on_an_inception_module_with_activations(at):
    assert at.title[0].value == "Blocks"
    assert _step_header(at) == "Step 1 of 20: conv 1×1"
    assert at.get("graphviz_chart")
    assert any("mean of all channels" in str(img.proto) for img in at.get("image"))
    assert any("Per-branch statistics" in m.value for m in at.markdown)
    # the cost panel spells out seed 000's figures
    text = " ".join(m.value for m in at.markdown)
    assert "120,422,400" in text and "2,408,448 + 10,035,200 = **12,443,648**" in text
    assert "class Inception(" in at.code[0].value
    at.slider(key="blk_step").set_value(20).run()
    assert _step_header(at) == "Step 20 of 20: concat"
    assert any(i.value.startswith("concat: 64+128+32+32 = 256 channels") for i in at.info)
    at.button(key="blk_prev").click().run()
    assert _step_header(at).startswith("Step 19 of 20")


@pytest.mark.parametrize("kind", list(BLOCK_KINDS))
def test_every_block_kind_steps_in_both_forms(at, kind):
    at.radio(key="blk_form").set_value("From a real model").run()
    if at.toggle(key="blk_run").value:
        at.toggle(key="blk_run").set_value(False).run()  # structure only: keeps this test fast
    at.selectbox(key="blk_kind").set_value(kind).run()
    assert not at.exception, at.exception
    real = blocks.real_blocks(kind)[0]
    n = len(blocks.trace_real(real.model, real.path).steps)
    assert _step_header(at).startswith(f"Step 1 of {n}:")
    if n > 1:
        at.button(key="blk_next").click().run()
        assert _step_header(at).startswith(f"Step 2 of {n}:")
    assert at.get("graphviz_chart") and at.code, kind

    at.radio(key="blk_form").set_value("Standalone").run()
    assert not at.exception, at.exception
    n = len(blocks.trace_standalone(kind).steps)
    assert _step_header(at).startswith(f"Step 1 of {n}:")
    at.slider(key="blk_step").set_value(n).run() if n > 1 else None
    assert _step_header(at).startswith(f"Step {n} of {n}:")
    assert not at.error


def test_bad_standalone_settings_show_an_error(at):
    at.radio(key="blk_form").set_value("Standalone").run()
    at.selectbox(key="blk_kind").set_value("inception_v1").run()
    next(n for n in at.number_input if n.label.startswith("C")).set_value(-3).run()
    assert not at.exception
    assert "C (input channels) must be between 1 and 4096" in at.error[0].value
    next(n for n in at.number_input if n.label.startswith("C")).set_value(192).run()
    at.selectbox(key="blk_kind").set_value("transition").run()
    next(n for n in at.number_input if n.label == "H").set_value(1).run()
    assert not at.exception
    assert "does not fit" in at.error[0].value


def test_residual_block_with_activations(at):
    at.radio(key="blk_form").set_value("From a real model").run()
    at.selectbox(key="blk_kind").set_value("basic").run()
    at.selectbox(key="blk_real_basic").set_value(1).run()  # resnet18 layer2.0, projection
    at.toggle(key="blk_run").set_value(True).run()
    assert not at.exception, at.exception
    at.slider(key="blk_step").set_value(8).run()
    assert _step_header(at) == "Step 8 of 9: add"
    assert any(i.value == "add: 128×28×28 + 128×28×28 → 128×28×28 (shapes must match)"
               for i in at.info)
    assert any("mean of all channels" in str(img.proto) for img in at.get("image"))


def test_the_trained_mnist_nin_block_runs_on_a_digit_by_default():
    """Issue 6: the project's trained MNIST checkpoints serve the Blocks page for digits."""
    app = AppTest.from_file(f"../../{PAGE}", default_timeout=180)
    app.run()
    app.selectbox(key="blk_kind").set_value("nin").run()
    choices = blocks.real_blocks("nin")
    index = next(i for i, b in enumerate(choices) if b.model == "mnist_nin")
    app.selectbox(key="blk_real_nin").set_value(index).run()
    assert not app.exception, app.exception
    assert app.selectbox(key="blk_image_sample").value == "MNIST digit 0"  # digits come first
    caption = next(c.value for c in app.caption if "through mnist_nin" in c.value)
    assert "Trained by this project" in caption and "16×28×28" not in caption
    assert "32×28×28" in caption  # the block's input: after conv2d + batch norm, 28×28×32
    assert any("mean of all channels" in str(img.proto) for img in app.get("image"))
