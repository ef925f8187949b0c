"""The Compare page headless: columns per network, the depth control, layer choice, CKA."""
import re
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "compare.py")
SMALL = ["resnet18", "mobilenet_v2", "efficientnet_lite0"]  # cheap enough for a CPU test


def _shapes(at) -> list[str]:
    """The C × H × W of each column's statistics caption, in column order."""
    return [m.group(1) for c in at.caption if (m := re.match(r"\*\*([\d × ]+)\*\*", c.value))]


@pytest.fixture(scope="module")
def at():
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params["nets"] = ",".join(SMALL)
    at.query_params["stride"] = "8"
    at.run()
    assert not at.exception, at.exception
    return at


def test_one_column_per_network_with_pictures_stats_and_download(at):
    assert [s.value for s in at.subheader] == SMALL
    assert not at.error
    assert [s.value for s in at.selectbox if s.label == "Layer"] == ["layer2", "features.6",
                                                                      "features.3"]
    # Stride 8 of a 224 crop: every network's map is 28 × 28.
    assert _shapes(at) == ["128 × 28 × 28", "32 × 28 × 28", "40 × 28 × 28"]
    assert len(at.get("image")) == 2 * len(SMALL)  # overlay + grid per network
    assert [b.key for b in at.get("download_button")] == [f"compare_png_{n}" for n in SMALL]
    signs = [c.value for c in at.caption if re.search(r"\*\* (exactly|below) zero$", c.value)]
    assert len(signs) == len(SMALL)
    # resnet18's layer2 ends in a ReLU; the two inverted-residual stages end in a linear
    # projection (issue 14: no "zero after ReLU" where there is no ReLU).
    assert [s.rsplit(" ", 2)[-2] for s in signs] == ["exactly", "below", "below"]


def test_random_weights_are_named_and_genuine_ones_are_not(at):
    badges = [c for c in at.caption if c.value.startswith(":material/")]
    weights = {n: c.value for n, c in zip(SMALL, badges)}
    assert weights["efficientnet_lite0"] == ":material/verified: genuine ImageNet weights"
    assert "Genuine ImageNet weights" in badges[2].help  # the full label, as a tooltip
    random = [n for n, text in weights.items() if text == ":material/warning: random weights"]
    assert all(("warning" in text) == (n in random) for n, text in weights.items())
    warned = " ".join(w.value for w in at.warning)
    listed = re.search(r"\*\*Random weights:\*\* (.*?) ha(?:s|ve) no", warned)
    assert sorted(listed.group(1).split(", ") if listed else []) == sorted(random)


def test_the_depth_control_moves_every_network(at):
    slider = at.select_slider(key="compare_stride")
    assert slider.options == ["/2", "/4", "/8", "/16", "/32"]
    slider.set_value(16).run()
    assert not at.exception
    assert [s.value for s in at.selectbox if s.label == "Layer"] == ["layer3", "features.13",
                                                                      "features.5"]
    assert _shapes(at) == ["256 × 14 × 14", "96 × 14 × 14", "112 × 14 × 14"]
    assert at.query_params["stride"] in ("16", ["16"])  # a shareable link


def test_any_layer_can_be_chosen_per_network(at):
    box = at.selectbox(key="compare_layer_resnet18_16")
    assert any(o.startswith("layer1.0.conv1 · 64×56×56") for o in box.options)
    box.set_value("layer1.0.conv1").run()
    assert not at.exception
    assert _shapes(at)[0] == "64 × 56 × 56"
    # Channels and colour scale only redraw: no error, same layers.
    at.slider(key="compare_channels").set_value(16).run()
    at.radio(key="compare_scaling").set_value("layer").run()
    assert not at.exception and not at.error
    assert _shapes(at)[1:] == ["96 × 14 × 14", "112 × 14 × 14"]


def test_cka_of_a_network_with_itself_has_a_unit_diagonal(at):
    at.selectbox(key="cka_a").set_value("efficientnet_lite0")
    at.selectbox(key="cka_b").set_value("efficientnet_lite0")
    at.select_slider(key="cka_views").set_value(2)  # 4 bundled photos × 2 views
    at.select_slider(key="cka_batch").set_value(4)
    at.run()
    at.button(key="cka_run").click().run()
    assert not at.exception and not at.error
    result = at.session_state["cka_result"]
    assert result["n"] == 8
    for matrix in (result["biased"], result["debiased"]):
        assert matrix.shape == (5, 5)
        np.testing.assert_allclose(np.diag(matrix), 1.0, atol=1e-9)
    assert result["labels_a"][0].startswith("/2 ")
    assert any("efficientnet_lite0 vs efficientnet_lite0, 8 images" in s.value
               for s in at.subheader)
    assert at.get("vega_lite_chart")
    assert any("pulled towards 1" in c.value for c in at.caption)  # 8 images, 1280 channels
    at.toggle(key="cka_debiased").set_value(True).run()
    assert any("(debiased)" in s.value for s in at.subheader)
    assert not any("pulled towards 1" in c.value for c in at.caption)


def test_fewer_than_two_networks_asks_for_more(at):
    at.multiselect(key="compare_nets").set_value(["resnet18"]).run()
    assert not at.exception
    assert any("at least two" in i.value for i in at.info)
    assert not at.subheader


# ------------------------------------------------------------------ MNIST mode

MNIST = ["lenet5", "mnist_plain", "mnist_bn_dropout"]  # the page's default three
ASSETS = Path(__file__).resolve().parents[2] / "assets"


def _stats_line(act) -> str:
    """The statistics caption as the page writes it, from ``explorer.features`` directly."""
    from explorer.analysis import features

    s = features.layer_stats(act)
    return (f"**{' × '.join(map(str, s.shape))}** · mean {s.mean:.3g} · std {s.std:.3g} · "
            f"range {s.min:.3g} … {s.max:.3g} · "
            + (f"**{s.zero_fraction:.0%}** exactly zero" if s.min >= 0 else
               f"**{s.negative_fraction:.0%}** below zero"))


@pytest.fixture(scope="module")
def mnist_at():
    at = AppTest.from_file(PAGE, default_timeout=240)
    at.query_params["nets"] = ",".join(SMALL)  # opened in ImageNet mode, then switched
    at.run()
    at.radio(key="compare_dataset").set_value("mnist").run()
    assert not at.exception, at.exception
    at.selectbox(key="compare_mnist_sample").set_value("MNIST digit 7").run()
    assert not at.exception, at.exception
    return at


def test_mnist_mode_compares_the_trained_digit_networks(mnist_at):
    import json

    import torch

    from explorer import weights

    from explorer.analysis import features

    from explorer.data import images

    at = mnist_at
    assert at.query_params["data"] in ("mnist", ["mnist"])
    assert [s.value for s in at.subheader] == MNIST
    assert not at.error and not at.warning  # trained weights: no random-weights warning
    assert at.select_slider(key="compare_stride").options == ["/2", "/4"]
    # The badge is the committed model card's test accuracy.
    badges = [c.value for c in at.caption if c.value.startswith(":material/")]
    cards = [json.loads((ASSETS / f"{n}.json").read_text())["test_accuracy"] for n in MNIST]
    assert badges == [f":material/verified: trained here ({acc:.2f} % on MNIST test)"
                      for acc in cards]
    # Stride 4 by default: LeNet-5's S4 is 16@5×5 (REFERENCE.md), the Keras variants pool
    # 28 -> 14 -> 7 with 32 channels.
    layers = [s.value for s in at.selectbox if s.label == "Layer"]
    assert layers == ["s4", "max_pooling2d_1", "max_pooling2d_1"]
    assert _shapes(at) == ["16 × 5 × 5", "32 × 7 × 7", "32 × 7 × 7"]
    # Each column's numbers are those of a direct capture of that layer for that digit,
    # preprocessed by the model's own (MNIST-style) preprocessing.
    digit = images.load_image(images.sample_images("digit")["MNIST digit 7"])
    shown = [c.value for c in at.caption if re.search(r"(exactly|below) zero$", c.value)]
    for name, path, line in zip(MNIST, layers, shown):
        loaded = weights.load_model(name)
        x = loaded.preprocess(digit)
        assert x.shape[-2:] == torch.Size([32, 32] if name == "lenet5" else [28, 28])
        assert line == _stats_line(features.capture(loaded.model, path, x)[path])
    captions = [c for el in at.get("image") for c in el.captions]
    assert sum("(32×32, after MNIST-style" in c for c in captions) == 1  # LeNet-5's input
    assert sum("(28×28, after MNIST-style" in c for c in captions) == 2
    assert len(at.get("download_button")) == len(MNIST)


def test_mnist_mode_cka_over_real_test_digits(mnist_at):
    at = mnist_at
    at.selectbox(key="cka_a_mnist").set_value("mnist_plain")
    at.selectbox(key="cka_b_mnist").set_value("mnist_bn_dropout")
    at.run()
    at.button(key="cka_run").click().run()
    assert not at.exception and not at.error
    result = at.session_state["cka_result"]
    assert (result["a"], result["b"], result["n"]) == ("mnist_plain", "mnist_bn_dropout", 256)
    # The result keeps what it was computed over as parts (said in the current language).
    assert any("10 bundled digits + 246 MNIST test images" in c.value for c in at.caption)
    for matrix in (result["biased"], result["debiased"]):
        assert matrix.shape == (2, 2) and np.isfinite(matrix).all()
    assert ((result["biased"] >= 0) & (result["biased"] <= 1)).all()
    assert any("mnist_plain vs mnist_bn_dropout, 256 images" in s.value for s in at.subheader)
    # A network against itself: the diagonal is 1.
    at.selectbox(key="cka_b_mnist").set_value("mnist_plain").run()
    at.button(key="cka_run").click().run()
    assert not at.exception and not at.error
    result = at.session_state["cka_result"]
    assert (result["a"], result["b"]) == ("mnist_plain", "mnist_plain")
    np.testing.assert_allclose(np.diag(result["biased"]), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.diag(result["debiased"]), 1.0, atol=1e-9)


def test_mnist_mode_without_the_test_set_uses_views(mnist_at, monkeypatch, tmp_path):
    monkeypatch.setenv("CNN_EXPLORER_MNIST", str(tmp_path))  # a local copy that is empty
    at = mnist_at
    at.run()
    # A network against itself (the diagonal below is then 1), whatever an earlier test chose.
    at.selectbox(key="cka_b_mnist").set_value(at.selectbox(key="cka_a_mnist").value).run()
    assert at.select_slider(key="cka_views_mnist").value == 8
    at.button(key="cka_run").click().run()
    assert not at.exception and not at.error
    result = at.session_state["cka_result"]
    assert result["n"] == 80
    assert any("80 images: 10 bundled digits, × 8 views each" in c.value for c in at.caption)
    np.testing.assert_allclose(np.diag(result["biased"]), 1.0, atol=1e-9)
