"""The Robustness page headless: an attack on the default photo with the smallest ε and the
damage chart, a deep link to a targeted PGD on a digit network, bad links, a colour photo for a
digit network, corruptions across networks, the robust LeNet-5 as weights, and the MNIST tab's
curves with the price and the catch."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from explorer.robust import attacks
from explorer.weights import load_model

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "robustness.py")
ASSETS = Path(__file__).resolve().parents[2] / "assets"


def _open(**params) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240)
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, at.exception
    return at


def _button(at, prefix: str):
    return next(b for b in at.button if b.label.startswith(prefix))


def _text(at) -> str:
    """Everything the page says: markdown, captions, messages and the images' captions."""
    captions = [i.caption for img in at.get("image") for i in img.proto.imgs]
    return " ".join([m.value for m in at.markdown] + [c.value for c in at.caption]
                    + [s.value for s in at.success] + [i.value for i in at.info] + captions)


def test_attack_the_default_photo_then_the_smallest_eps_and_the_damage_chart():
    at = _open()
    assert at.selectbox(key="robust_model").value == "efficientnet_lite0"
    assert at.radio(key="robust_method").value == "fgsm" and at.slider(key="robust_eps").value == 2
    text = _text(at)
    # The page's claim, checked against an independent FGSM on the same pixels.
    lite0 = load_model("efficientnet_lite0")
    from explorer.data.images import load_image, sample_images

    pixels = attacks.to_pixels(lite0, load_image(sample_images("photo")["Cat (Chelsea)"]))
    forward = attacks.pixel_model(lite0)
    x = pixels.clone().requires_grad_(True)
    with torch.enable_grad():
        logits = forward(x)
        label = int(logits.argmax())
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([label]), reduction="sum")
        (grad,) = torch.autograd.grad(loss, x)
    with torch.no_grad():
        adv_top = int(forward((pixels + 2 / 255 * grad.sign()).clamp(0, 1)).argmax())
    assert f"into {lite0.categories[adv_top]} (#{adv_top})" in text
    assert "amplified ×64" in text  # 1/(2ε) at ε = 2/255, said beside the picture
    assert "Before: why" in text and "After: why" in text
    assert len(at.get("vega_lite_chart")) >= 2  # top-5 before and after
    assert at.query_params["eps"] == "2" and at.query_params["method"] == "fgsm"

    _button(at, "Find the smallest ε").click().run()
    assert not at.exception, at.exception
    found = attacks.smallest_epsilon(lite0, pixels, "fgsm")
    assert f"Smallest ε: {found.k}/255" in _text(at)

    _button(at, "Measure where the damage grows").click().run()
    assert not at.exception, at.exception
    assert "From the pixels to the logits the relative change grows efficientnet_lite0" in _text(at)


def test_deep_link_targeted_pgd_on_a_digit_network_with_the_robust_lenet():
    at = _open(model="lenet5", method="pgd", eps="77", steps="5", target="3")
    assert at.radio(key="robust_method").value == "pgd"
    assert at.slider(key="robust_eps").value == 77 and at.slider(key="robust_steps").value == 5
    assert at.selectbox(key="robust_target").value == 3
    text = _text(at)
    assert "PGD-5 at 77/255" in text and "amplified ×1.7" in text  # 255/(2·77)
    assert re.search(r"turns \d \(#\d\) \([\d.]+%\) into 3 \(#3\)", text) or \
        "The prediction holds" in text
    # The shipped adversarially trained LeNet-5 is one of the weights to choose.
    weights = at.selectbox(key="robust_weights_lenet5")
    assert "lenet5_adv_pgd" in weights.options or any("PGD" in o for o in weights.options)
    weights.set_value("lenet5_adv_pgd").run()
    assert not at.exception, at.exception
    assert "adversarially trained with PGD" in _text(at)
    # The damage chart compares the digit networks, the robust ones among the defaults.
    assert "lenet5_adv_pgd" in at.multiselect(key="robust_damage_models").value
    _button(at, "Measure where the damage grows").click().run()
    assert not at.exception, at.exception
    assert "lenet5_adv_pgd: ×" in _text(at)


def test_bad_links_fall_back_with_a_notice_and_a_colour_photo_for_a_digit_network():
    at = _open(model="efficientnet_lite0", eps="300", target="5000", method="cw")
    notices = " ".join(w.value for w in at.warning)
    assert "eps=" in notices and "outside 1…64" in notices
    assert "target=" in notices and "outside -1…999" in notices
    assert at.slider(key="robust_eps").value == 2 and at.selectbox(key="robust_target").value == -1
    assert at.radio(key="robust_method").value == "fgsm"

    at = _open(model="lenet5")
    at.selectbox(key="robust_image_sample").set_value("Cat (Chelsea)").run()
    assert not at.exception, at.exception
    errors = " ".join(e.value for e in at.error)
    assert "lenet5 reads grey handwritten digits" in errors and "colour photo" in errors
    assert not any(b.label.startswith("Find the smallest") for b in at.button)


def test_corruptions_across_networks_and_the_mnist_tab():
    at = _open(model="lenet5")
    at.selectbox(key="robust_corruption").set_value("gaussian_blur")
    at.slider(key="robust_severity").set_value(5).run()
    assert not at.exception, at.exception
    text = _text(at)
    assert "Gaussian blur, severity 5" in text and "Hendrycks & Dietterich" in text
    assert "saturate" not in at.selectbox(key="robust_corruption").options  # grey images
    assert len(at.multiselect(key="robust_corrupt_models").value) >= 2
    # The MNIST tab: shipped curves, the tutorial beside them, the price and the catch.
    data = json.loads((ASSETS / "mnist_robustness.json").read_text())
    assert "a different model, shown for scale" in text
    clean = data["models"]["lenet5_adv_pgd"]["fgsm"][0]
    assert f"clean accuracy {clean:.2f} %" in text
    assert "**The catch**" in text
    at.radio(key="robust_mnist_method").set_value("pgd").run()
    assert not at.exception, at.exception
    at.selectbox(key="robust_re_count").set_value(1000)
    at.selectbox(key="robust_re_method").set_value("fgsm")
    _button(at, "Recompute").click().run()
    assert not at.exception, at.exception
    table = at.dataframe[0].value
    assert list(table["eps"]) == [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
    assert table["total"].iloc[0] == 1000


def test_train_on_adversarial_digits_then_attack_the_session_model(monkeypatch):
    """The Train page's option trains through explorer.train's loop on attacked batches; the
    model it makes is then one of the Robustness page's weights."""
    from explorer.robust import training

    calls = []
    real = training.adversarial_batches

    def counting(*args, **kwargs):
        perturb = real(*args, **kwargs)

        def wrapped(model, x, y):
            out = perturb(model, x, y)
            calls.append(float((out - x).abs().max()))
            return out

        calls.append(kwargs.get("warmup_batches"))
        return wrapped

    monkeypatch.setattr(training, "adversarial_batches", counting)
    at = AppTest.from_file(str(Path(PAGE).parents[1] / "app.py"), default_timeout=240)
    at.run()
    at.switch_page("pages/train.py").run()
    at.selectbox(key="train_model").set_value("lenet5")
    at.slider(key="train_epochs").set_value(1)
    at.number_input(key="train_subset").set_value(300)
    at.selectbox(key="train_adversarial").set_value("fgsm").run()
    at.slider(key="train_adv_eps").set_value(0.2)
    next(b for b in at.button if b.label == "Train").click().run()
    assert not at.exception, at.exception
    assert "lenet5" in at.session_state["trained_models"]
    warmup, *changes = calls
    assert warmup == 2 and len(changes) == 5  # 270 training digits: 5 batches of 64, attacked
    # ε grows over the first half of the run (2 batches), then stays at 0.2 (normalised units)
    assert changes[0] < changes[-1] and changes[-1] == pytest.approx(0.2 / 0.3081, rel=1e-3)

    at.switch_page("pages/robustness.py").run()
    at.selectbox(key="robust_model").set_value("lenet5").run()
    at.selectbox(key="robust_weights_lenet5").set_value("session").run()
    assert not at.exception, at.exception
    assert "Trained in this session on the Train page" in _text(at)


def test_attack_this_image_from_the_inference_page():
    """The Inference page offers the link; the image it hands over (in the session: AppTest does
    not follow st.switch_page, the browser test clicks it) is what the Robustness page attacks."""
    from explorer.data.images import load_image, sample_images

    at = AppTest.from_file(str(Path(PAGE).parents[1] / "app.py"), default_timeout=240)
    at.run()
    at.switch_page("pages/inference.py").run()
    at.selectbox(key="inference_model").set_value("lenet5").run()
    assert any(b.label == "Attack this image" for b in at.button)
    digit = load_image(sample_images("digit")["MNIST digit 4"])
    at.session_state["robust_handoff"] = (digit, "MNIST digit 4")
    at.query_params["model"] = "lenet5"
    at.switch_page("pages/robustness.py").run()
    assert not at.exception, at.exception
    assert at.selectbox(key="robust_model").value == "lenet5"
    text = _text(at)
    assert "Image from the Inference page: MNIST digit 4" in text
    assert re.search(r"(turns 4 \(#4\)|holds)", text)  # the digit handed over is attacked
    next(b for b in at.button if b.label == "Choose another image").click().run()
    assert not at.exception, at.exception
    assert at.radio(key="robust_image_mode").value == "Sample"
