"""explorer.trust: the map tests measure what they say, against independent references
(scipy, scikit-image, TorchCAM, textbook formulas), and never touch the shared model."""
import copy
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from explorer import attribution

from explorer.attribution import trust
from explorer.data import data_root
from explorer.inference import predict, shared
from explorer.weights import load_model
from explorer.zoo.efficientnet_lite import LITE0_STAGES
from tests.test_attribution import _assert_untouched, _snapshot

ROOT = Path(__file__).resolve().parents[1]
IMAGENET = data_root("imagenet-samples")
SAMPLES = ROOT / "assets" / "samples"


@pytest.fixture(scope="module")
def lite():
    return load_model("efficientnet_lite0", "package")


@pytest.fixture(scope="module")
def tench(lite):
    return lite.preprocess(Image.open(IMAGENET / "n01440764_tench.JPEG"))


@pytest.fixture(scope="module")
def lenet():
    return load_model("lenet5", "trained")


@pytest.fixture(scope="module")
def seven(lenet):
    return lenet.preprocess(Image.open(SAMPLES / "mnist_7.png"))


# --- Similarity against scipy and scikit-image ------------------------------------------------

def test_spearman_equals_scipy_with_and_without_ties():
    from scipy.stats import spearmanr

    g = np.random.default_rng(0)
    a, b = g.normal(size=(20, 30)), g.normal(size=(20, 30))
    ties_a, ties_b = g.integers(0, 5, size=(20, 30)), g.integers(0, 3, size=(20, 30))
    c = a + 0.5 * b
    for x, y in [(a, b), (a, c), (ties_a, ties_b), (ties_a, a), (np.maximum(c, 0), c)]:
        assert trust.spearman(x, y) == pytest.approx(spearmanr(x.ravel(), y.ravel())[0], abs=1e-12)
    assert trust.spearman(a, -a) == pytest.approx(-1)
    assert math.isnan(trust.spearman(np.ones((4, 4)), a[:4, :4]))


def test_ssim_equals_scikit_image():
    from skimage.metrics import structural_similarity

    g = np.random.default_rng(1)
    a = g.random((40, 52))
    b = np.clip(a + 0.2 * g.normal(size=a.shape), 0, 1)
    smooth = F.avg_pool2d(torch.as_tensor(g.random((1, 1, 44, 56))), 5, 1).numpy()[0, 0]
    for x, y in [(a, b), (a, g.random(a.shape)), (smooth, smooth ** 2), (a, a)]:
        ref = structural_similarity(x, y, data_range=1.0)
        assert trust.ssim(x, y) == pytest.approx(ref, abs=1e-9)


# --- Randomisation ---------------------------------------------------------------------------

def test_lite0_blocks_run_from_the_logits_down(lite, tench):
    blocks = [b.name for b in trust.cascade_blocks(lite.model, tench)]
    # Independently from the architecture table: stem, every MBConv block, head, classifier.
    mbconv = [f"features.{s + 1}" if n == 1 else f"features.{s + 1}.{i}"
              for s, (*_, n) in enumerate(LITE0_STAGES) for i in range(n)]
    expected = (["features.0.conv + features.0.bn"] + mbconv
                + ["features.8.conv + features.8.bn", "classifier"])
    assert blocks == expected[::-1]
    assert len(blocks) == 19


def _changed(private: nn.Module, original: dict) -> set[str]:
    return {k for k, v in private.state_dict().items()
            if not k.endswith("num_batches_tracked") and not torch.equal(v, original[k])}


def _owned(block) -> set[str]:
    return {k for k in _STATE if any(k.startswith(m + ".") for m in block.modules)}


_STATE: dict = {}


@pytest.mark.parametrize("mode", ["cascade", "independent"])
def test_randomisation_reinitialises_exactly_the_named_blocks_in_order(lite, tench, mode):
    snap = _snapshot(lite.model)
    blocks = trust.cascade_blocks(lite.model, tench)
    _STATE.clear()
    _STATE.update({k: v.clone() for k, v in lite.model.state_dict().items()
                   if not k.endswith("num_batches_tracked")})
    seen = []
    for step, block, private in trust.randomised_models(lite.model, blocks, mode, seed=3):
        assert private is not lite.model
        if step == 0:
            assert _changed(private, _STATE) == set()
            continue
        seen.append(block)
        expected = set().union(*map(_owned, seen)) if mode == "cascade" else _owned(block)
        assert expected and _changed(private, _STATE) == expected, block.name
        if block.name == "features.6.0":  # He-normal, fan-out: std sqrt(2 / (out × k × k))
            w = private.get_submodule("features.6.0.expand.conv").weight
            assert float(w.std()) == pytest.approx(math.sqrt(2 / w.shape[0]), rel=0.05)
            bn = private.get_submodule("features.6.0.expand.bn")
            assert torch.all(bn.running_var == 1) and torch.all(bn.weight == 1)
            first = w.clone()
    assert [b.name for b in seen] == [b.name for b in blocks]  # one step per block, in order
    # The same seeded weights for a block in both variants, whatever else changed.
    other = "independent" if mode == "cascade" else "cascade"
    for step, block, private in trust.randomised_models(lite.model, blocks, other, seed=3):
        if block is not None and block.name == "features.6.0":
            assert torch.equal(private.get_submodule("features.6.0.expand.conv").weight, first)
            break
    _assert_untouched(lite.model, snap)


def test_randomisation_test_leaves_the_shared_model_alone(lenet, seven):
    snap = _snapshot(lenet.model)
    methods = ["saliency", "gradcam", "guided_backprop", "guided_gradcam", "integrated_gradients"]
    for mode in ("cascade", "independent"):
        r = trust.randomisation_test(lenet, seven, methods, mode=mode, n_steps=8)
        assert r.steps == ["trained", "output", "f6", "c5", "c3", "c1"]
        for m in methods:
            assert r.spearman_abs[m].shape == (1, 6) and r.spearman_abs[m][0, 0] == pytest.approx(1)
            assert r.ssim[m][0, 0] == pytest.approx(1) and len(r.maps[m]) == 6
    trust.cams_across_depth(lenet, seven)
    trust.faithfulness(lenet, seven, {"m": np.random.default_rng(0).random((32, 32))})
    trust.class_sensitivity(lenet, seven, "guided_gradcam", (7, 1))
    _assert_untouched(lenet.model, snap)
    assert shared.is_clean(lenet.model)


@pytest.fixture(scope="module")
def resnet():
    # In-place ReLUs and one ReLU module reused per block: the guided methods' hard case.
    return load_model("resnet18", "random")


def test_shared_passes_give_the_same_maps_as_explain(resnet):
    x = torch.randn(1, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    private = copy.deepcopy(resnet.model)
    methods = ["saliency", "gradcam", "guided_backprop", "guided_gradcam"]
    maps = trust.method_maps(resnet, private, x, methods, [3])
    for m in methods:
        ref = attribution.explain(resnet, x, m, target=3)
        np.testing.assert_allclose(maps[m][0].display, ref.map, atol=1e-5, err_msg=m)
    # Grad-CAM's signed map is the CAM before its ReLU, upsampled: never below the ReLU'd one's
    # negative part, and equal to it where both are positive.
    cam = maps["gradcam"][0]
    both = (cam.signed > 0) & (cam.abs > 0)
    assert cam.signed.min() < 0 < both.sum()


def test_class_sensitivity_compares_two_real_maps(lenet, seven):
    from scipy.stats import spearmanr

    same = trust.class_sensitivity(lenet, seven, "saliency", (7, 7))
    assert same.spearman_abs == pytest.approx(1) and same.ssim == pytest.approx(1)
    two = trust.class_sensitivity(lenet, seven, "gradcam", (7, 1))
    ref = [attribution.explain(lenet, seven, "gradcam", target=t) for t in (7, 1)]
    np.testing.assert_allclose(two.maps[1], ref[1].map, atol=1e-6)
    assert two.spearman_abs == pytest.approx(
        spearmanr(ref[0].raw.ravel(), ref[1].raw.ravel())[0], abs=1e-9)
    assert two.spearman_abs < 0.99  # a trained LeNet's maps for 7 and 1 differ


# --- Faithfulness ----------------------------------------------------------------------------

def _gauss_blur(x, sigma, k):
    """The reference blur: a separable Gaussian written out, reflecting at the borders."""
    r = torch.arange(k, dtype=torch.float32) - (k - 1) / 2
    g = torch.exp(-r ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    c = x.shape[1]
    x = F.pad(x, (k // 2,) * 4, mode="reflect")
    x = F.conv2d(x, g.view(1, 1, 1, k).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, k, 1).repeat(c, 1, 1, 1), groups=c)


def _prob(loaded, images, target):
    with torch.inference_mode():
        return loaded.model(images).softmax(-1)[:, target].numpy()


def test_deletion_and_insertion_start_and_end_at_the_right_images(lite, tench):
    heat = np.random.default_rng(5).random((224, 224))  # no ties
    r = trust.faithfulness(lite, tench, {"m": heat}, steps=2)
    target = predict(lite, tench, topk=1).indices[0]
    assert r.target == target and list(r.fractions) == [0, .5, 1]
    p_full, p_empty, p_blur = _prob(lite, torch.cat([tench, torch.zeros_like(tench),
                                                     _gauss_blur(tench, 5.0, 11)]), target)
    assert p_full == pytest.approx(predict(lite, tench, topk=1).probabilities[0], abs=1e-5)
    for kind, first, last in [("deletion", p_full, p_empty), ("insertion", p_blur, p_full)]:
        for name in ("m", "random", "centre"):
            curve = getattr(r, kind)[name]
            assert curve[0] == pytest.approx(first, abs=1e-5) and curve[-1] == pytest.approx(last, abs=1e-5)
    # Half-way, by hand: the top half of the pixels removed / put back into the blurred image.
    top = torch.as_tensor(heat.ravel() >= np.median(heat)).view(1, 1, 224, 224).float()
    deleted, inserted = tench * (1 - top), _gauss_blur(tench, 5.0, 11) * (1 - top) + tench * top
    assert r.deletion["m"][1] == pytest.approx(float(_prob(lite, deleted, target)[0]), abs=1e-4)
    assert r.insertion["m"][1] == pytest.approx(float(_prob(lite, inserted, target)[0]), abs=1e-4)
    assert r.deletion_auc["m"] == pytest.approx(np.trapezoid(r.deletion["m"], r.fractions))
    assert r.forward_images == 3 * 2 * 1 + 3  # 3 maps × 2 curves × 1 inner point + 3 ends


def test_baselines_go_through_the_same_code_as_maps(lenet, seven):
    h, w = seven.shape[-2:]
    base = trust.faithfulness(lenet, seven, {}, steps=8, seed=4)
    as_maps = trust.faithfulness(lenet, seven, {"r": trust.random_map(h, w, 4),
                                                "c": trust.centre_map(h, w)}, steps=8, seed=4,
                                 baselines=())
    for kind in ("deletion", "insertion"):
        np.testing.assert_array_equal(getattr(base, kind)["random"], getattr(as_maps, kind)["r"])
        np.testing.assert_array_equal(getattr(base, kind)["centre"], getattr(as_maps, kind)["c"])
    # Centre-first: the first pixels are the four central ones (in a random order among them).
    assert {int(i) for i in trust.pixel_order(trust.centre_map(h, w))[:4]} == {
        15 * 32 + 15, 15 * 32 + 16, 16 * 32 + 15, 16 * 32 + 16}
    # The old one-map deletion curve is this code too.
    curve = attribution.deletion_curve(lenet, seven, trust.centre_map(h, w), base.target, steps=8,
                                       seed=4)
    np.testing.assert_array_equal(curve.probabilities, base.deletion["centre"])
    np.testing.assert_array_equal(curve.random_probabilities, base.deletion["random"])


# --- CAMs across depth against TorchCAM --------------------------------------------------------

def test_gradcam_and_layercam_at_every_stage_equal_torchcam(lite, tench):
    from torchcam.methods import GradCAM, LayerCAM

    d = trust.cams_across_depth(lite, tench)
    assert d.layers == ["features.1", "features.2", "features.3", "features.5", "features.8"]
    assert d.shapes == [(112, 112), (56, 56), (28, 28), (14, 14), (7, 7)]
    np.testing.assert_allclose(d.gradcam[-1], attribution.explain(lite, tench, "gradcam").map,
                               atol=1e-5)
    for cls, ours in ((GradCAM, d.gradcam), (LayerCAM, d.layercam)):
        model = copy.deepcopy(lite.model)
        with cls(model, target_layer=d.layers) as extractor:
            scores = model(tench.clone().requires_grad_(True))
            cams = extractor(d.target, scores, normalized=False)
        for layer, cam, mine in zip(d.layers, cams, ours):
            ref = F.interpolate(cam[:, None].float(), size=(224, 224), mode="bilinear",
                                align_corners=False)[0, 0].detach().numpy()
            np.testing.assert_allclose(mine, ref / ref.max(), atol=2e-4, err_msg=f"{cls.__name__} {layer}")


# --- The command line ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    folder = tmp_path_factory.mktemp("digits")
    for d in (3, 7):
        shutil.copy(SAMPLES / f"mnist_{d}.png", folder / f"mnist_{d}.png")
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_sanity_cli_reports_the_cascade(lenet, digits, capsys):
    from explorer.attribution.report import run

    assert run("sanity", model="lenet5", images=digits, methods=["saliency", "gradcam"],
               as_json=True, batch=2) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 2 and report["steps"] == ["trained", "output", "f6", "c5", "c3", "c1"]
    x = torch.cat([lenet.preprocess(Image.open(digits / f"mnist_{d}.png")) for d in (3, 7)])
    direct = trust.randomisation_test(lenet, x, ["saliency", "gradcam"], keep_maps=False)
    for m in ("saliency", "gradcam"):
        entry = report["methods"][m]
        assert entry["per_step"]["spearman_abs"][0] == pytest.approx(1)
        assert entry["spearman_abs_final"] == pytest.approx(direct.final(m), abs=1e-9)
        assert -1 <= entry["class_spearman_abs"] <= 1


def test_faithfulness_cli_runs_as_a_module(digits):
    out = subprocess.run([sys.executable, "-m", "explorer.attribution", "faithfulness", "--model",
                          "lenet5", "--images", str(digits), "--methods", "gradcam", "--limit", "1",
                          "--steps", "5"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines() if not line.startswith("#")}
    assert {"gradcam", "random", "centre"} <= set(rows) and "(baseline)" in rows["random"]


def test_cli_usage_errors(digits, capsys):
    from explorer.attribution.report import run

    assert run("sanity", model="lenet5", images=digits, methods=["magic"]) == 2
    assert "unknown method" in capsys.readouterr().err
    assert run("faithfulness", model="lenet5", images=digits / "nope") == 2
    assert "not a folder" in capsys.readouterr().err
