"""explorer.attribution: correct maps, and the shared cached model is never touched."""
import copy
import threading

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from explorer.data import data_root
from explorer.attribution import (METHODS, AttributionError, conv_layers, deletion_curve,
                                  estimate_seconds, explain, gradcam_layers, overlay)
from explorer.attribution.methods import occlusion_params
from explorer.inference import predict, shared
from explorer.weights import load_model

IMAGENET = data_root("imagenet-samples")


@pytest.fixture(scope="module")
def resnet():
    # torchvision's ResNet-18: in-place ReLUs, and one `relu` module reused in every block,
    # the two things Captum's guided methods cannot handle on the model itself.
    return load_model("resnet18", "random")


@pytest.fixture(scope="module")
def lite():
    return load_model("efficientnet_lite0", "package")


@pytest.fixture(scope="module")
def tench(lite):
    return lite.preprocess(Image.open(IMAGENET / "n01440764_tench.JPEG"))


def _small(seed=0, size=64):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 3, size, size, generator=g)


def _snapshot(model):
    return {
        "state": {k: v.clone() for k, v in model.state_dict().items()},
        "training": [m.training for m in model.modules()],
        "inplace": [getattr(m, "inplace", None) for m in model.modules()],
        "types": [type(m) for m in model.modules()],
    }


def _assert_untouched(model, snap):
    for m in model.modules():
        assert not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks
                    or m._backward_pre_hooks), f"hook left on {type(m).__name__}"
    assert all(p.grad is None and not p.requires_grad for p in model.parameters())
    assert [m.training for m in model.modules()] == snap["training"]
    assert [getattr(m, "inplace", None) for m in model.modules()] == snap["inplace"]
    assert [type(m) for m in model.modules()] == snap["types"]
    state = model.state_dict()
    assert state.keys() == snap["state"].keys()
    assert all(torch.equal(state[k], v) for k, v in snap["state"].items())


# --- Grad-CAM equals the textbook computation ------------------------------------------------

def reference_gradcam(model, layer, x, target):
    """Activations × spatially averaged gradients, summed over channels, ReLU, bilinear."""
    model = copy.deepcopy(model)
    saved = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(
        lambda mod, inp, out: saved.setdefault("a", out))
    try:
        out = model(x.clone().requires_grad_(True))
    finally:
        handle.remove()
    a = saved["a"]
    (g,) = torch.autograd.grad(out[0, target], a)
    cam = F.relu((g.mean(dim=(2, 3), keepdim=True) * a).sum(1, keepdim=True))
    return F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]


def test_gradcam_equals_the_reference_on_genuine_weights(lite, tench):
    result = explain(lite, tench, "gradcam")
    assert result.target == 0 and result.layer == "features.8"  # the spec's default layer
    ref = reference_gradcam(lite.model, "features.8", tench, 0)
    assert result.raw.shape == (224, 224)
    np.testing.assert_allclose(result.raw, ref.detach().numpy(), rtol=1e-4,
                               atol=1e-6 * float(ref.abs().max()))
    assert result.map.max() == pytest.approx(1.0) and result.map.min() >= 0


@pytest.mark.parametrize("layer", ["layer4", "layer3.1.conv2"])
def test_gradcam_on_any_layer_equals_the_reference(resnet, layer):
    x = _small(1)
    result = explain(resnet, x, "gradcam", target=7, layer=layer)
    ref = reference_gradcam(resnet.model, layer, x, 7)
    np.testing.assert_allclose(result.raw, ref.detach().numpy(), rtol=1e-4,
                               atol=1e-6 * float(ref.abs().max()))


def test_layer_lists(resnet):
    layers = gradcam_layers(resnet)
    assert layers[0] == "layer4" and "layer1" in layers and "conv1" in layers
    assert layers.index("layer4.1.conv2") < layers.index("conv1")  # deep to shallow
    assert set(conv_layers(resnet.model)) <= set(layers)
    assert all(isinstance(dict(resnet.model.named_modules())[n], nn.Conv2d)
               for n in conv_layers(resnet.model))


# --- Guided backprop really is guided, despite in-place and reused ReLUs ----------------------

class _GuidedFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, upper):
        ctx.save_for_backward(x)
        ctx.upper = upper
        return x.clamp(0, upper)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad.clamp(min=0) * ((x > 0) & (x < ctx.upper)), None


class _Guided(nn.Module):
    def __init__(self, upper=float("inf")):
        super().__init__()
        self.upper = upper

    def forward(self, x):
        return _GuidedFn.apply(x, self.upper)


def reference_guided_backprop(model, x, target):
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if isinstance(child, (nn.ReLU, nn.ReLU6)):
                setattr(parent, name, _Guided(6.0 if isinstance(child, nn.ReLU6) else float("inf")))
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(model(x)[0, target], x)
    return g


def test_guided_backprop_equals_the_reference_on_resnet(resnet):
    x = _small(2)
    result = explain(resnet, x, "guided_backprop", target=3)
    ref = reference_guided_backprop(resnet.model, x, 3)[0]
    np.testing.assert_allclose(result.raw, ref.numpy(), rtol=1e-4, atol=1e-6 * float(ref.abs().max()))
    plain = explain(resnet, x, "saliency", target=3)
    assert not np.allclose(result.raw, plain.raw)  # the guidance changed something


def test_guided_backprop_also_guides_relu6(lite):
    x = _small(3, size=96)
    result = explain(lite, x, "guided_backprop", target=1)
    ref = reference_guided_backprop(lite.model, x, 1)[0]
    np.testing.assert_allclose(result.raw, ref.numpy(), rtol=1e-3, atol=1e-5 * float(ref.abs().max()))


# --- Every method, and the shared model untouched --------------------------------------------

@pytest.mark.parametrize("method", list(METHODS))
def test_every_method_gives_a_map_and_leaves_the_model_alone(resnet, method):
    snap = _snapshot(resnet.model)
    seen = []
    result = explain(resnet, _small(4), method, target=11, n_steps=8, nt_samples=4,
                     window=16, stride=8, progress=lambda done, total: seen.append((done, total)))
    assert result.method == method and result.target == 11 and result.seconds > 0
    assert result.map.shape == (64, 64) and result.map.dtype == np.float32
    assert np.isfinite(result.map).all() and 0 <= result.map.min() and result.map.max() <= 1
    assert result.map.max() > 0
    assert result.raw.shape in ((3, 64, 64), (64, 64))
    if method == "occlusion":
        assert seen and seen[-1][0] == seen[-1][1]  # progress reached the end
    _assert_untouched(resnet.model, snap)


@pytest.mark.parametrize("method", ["gradcam", "guided_backprop", "guided_gradcam", "saliency"])
def test_the_model_is_untouched_when_attribution_fails(resnet, method, monkeypatch):
    snap = _snapshot(resnet.model)

    def boom(*args, **kwargs):  # the backward pass fails after the forward set every hook
        raise RuntimeError("boom")

    monkeypatch.setattr(torch.autograd, "grad", boom)
    with pytest.raises(RuntimeError, match="boom"):
        explain(resnet, _small(5), method)
    _assert_untouched(resnet.model, snap)


def test_bad_requests_are_attribution_errors(resnet):
    with pytest.raises(AttributionError, match="no layer"):
        explain(resnet, _small(), "gradcam", layer="layer9")
    with pytest.raises(AttributionError, match="feature map"):
        explain(resnet, _small(), "gradcam", layer="fc")
    with pytest.raises(AttributionError, match="out of range"):
        explain(resnet, _small(), "saliency", target=1000)
    with pytest.raises(AttributionError, match="Unknown method"):
        explain(resnet, _small(), "lime")


def test_two_threads_on_one_model_get_their_own_results(resnet):
    inputs = [_small(10), _small(11)]
    methods = ["gradcam", "guided_backprop", "guided_gradcam", "saliency"]
    expected = {(i, m): explain(resnet, inputs[i], m, target=5 + i).raw
                for i in range(2) for m in methods}
    barrier = threading.Barrier(2)
    got, errors = {}, []

    def work(i):
        try:
            for _ in range(2):
                for m in methods:
                    barrier.wait(timeout=60)
                    got.setdefault((i, m), []).append(explain(resnet, inputs[i], m, target=5 + i).raw)
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=240)
    assert not errors, errors
    for key, results in got.items():
        for r in results:
            np.testing.assert_allclose(r, expected[key], rtol=1e-4, atol=1e-7)
    assert not np.allclose(expected[(0, "gradcam")], expected[(1, "gradcam")])
    _assert_untouched(resnet.model, _snapshot(resnet.model))


# --- Options -------------------------------------------------------------------------------

def test_integrated_gradients_batching_does_not_change_the_result(resnet):
    x = _small(6)
    ours = explain(resnet, x, "integrated_gradients", target=2, n_steps=12, internal_batch_size=4)
    captum_default = explain(resnet, x, "integrated_gradients", target=2, n_steps=12,
                             internal_batch_size=12)
    np.testing.assert_allclose(ours.raw, captum_default.raw, rtol=1e-4, atol=1e-7)
    # Completeness: the attributions add up to f(x) − f(baseline), up to the step error.
    assert "convergence_delta" in ours.notes


def test_occlusion_estimate_comes_before_and_is_in_the_right_range(resnet):
    x = _small(7)
    # Default window: a seventh of the side, half-overlapping.
    assert occlusion_params(x, {}) == (9, 4)
    assert occlusion_params(torch.zeros(1, 3, 224, 224), {}) == (32, 16)
    est = estimate_seconds(resnet, x, "occlusion", window=16, stride=8)
    assert est > estimate_seconds(resnet, x, "saliency") > 0
    result = explain(resnet, x, "occlusion", target=1, window=16, stride=8)
    assert result.notes["window"] == 16 and result.notes["stride"] == 8
    assert est / 20 < result.seconds < est * 20  # an order-of-magnitude guide, on a busy CPU


# --- Faithfulness ----------------------------------------------------------------------------

def test_deletion_curve_of_gradcam_on_a_real_photo(lite, tench):
    cam = explain(lite, tench, "gradcam")
    curve = deletion_curve(lite, tench, cam.map, target=0, steps=10)
    assert curve.fractions[0] == 0 and curve.fractions[-1] == 1 and len(curve.fractions) == 11
    p0 = predict(lite, tench, topk=1).probabilities[0]
    assert curve.probabilities[0] == pytest.approx(p0, abs=1e-4)
    # Everything removed = the all-mean image: the tench is gone.
    assert curve.probabilities[-1] < 0.05
    # Grad-CAM on genuine weights beats a random pixel order.
    assert curve.auc < curve.random_auc
    assert 0 <= curve.auc <= 1


def test_overlay_blends_the_map():
    image = Image.new("RGB", (32, 32), "white")
    heat = np.zeros((32, 32), dtype=np.float32)
    heat[:, 16:] = 1
    heat[:, 8:16] = 0.5
    out = np.asarray(overlay(image, heat, opacity=0.5))
    assert tuple(out[0, 0]) == (255, 255, 255)  # no attribution: the photo shows through
    assert tuple(out[0, 31]) == (128, 0, 0)  # jet at 1, fully opaque: dark red
    assert tuple(out[0, 10]) == (191, 255, 191)  # jet at 0.5 (green), half opaque
    assert tuple(np.asarray(overlay(image, heat, opacity=1.0))[0, 10]) == (128, 255, 128)
    assert tuple(np.asarray(overlay(image, heat, opacity=0.0))[0, 31]) == (255, 255, 255)


def test_hooked_methods_reuse_clean_copies_and_never_share_one(resnet):
    x = _small(8)
    explain(resnet, x, "gradcam", target=0)
    pool = shared._pools[resnet.model]  # white-box: the pool behind borrowed_copy
    assert pool and all(shared.is_clean(c) for c in pool)
    copy_ = pool[-1]
    assert copy_ is not resnet.model
    # The copy shares the weights (no extra memory) but not the modules.
    assert next(copy_.parameters()) is next(resnet.model.parameters())
    assert copy_.relu is not resnet.model.relu and copy_.relu.inplace is False
    with shared.borrowed_copy(resnet.model) as a, shared.borrowed_copy(resnet.model) as b:
        assert a is not b
