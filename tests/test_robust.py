"""explorer.robust against independent computations: FGSM is the one-line formula, PGD stays in
its box, the attack is in pixel space (not on the normalised tensor), every ImageNet-C
corruption at every severity is the hand computation, the shared model is untouched and two
sessions get what each would get alone, and the shipped robust LeNet-5 is what its card says."""
from __future__ import annotations

import colorsys
import hashlib
import io
import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from explorer import zoo
from explorer.data.images import load_image
from explorer.robust import attacks, corruptions, damage, evaluate, mnist, training
from explorer.robust import models as robust_models
from explorer.robust.commands import attack_command, corrupt_command, curve_command
from explorer.weights import WeightsError, load_model
from tests.test_attribution import _assert_untouched, _snapshot

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "assets" / "samples"


@pytest.fixture(scope="module")
def lenet():
    return load_model("lenet5", "trained")


@pytest.fixture(scope="module")
def resnet():
    """ImageNet statistics (std ≈ 0.225) and a resizable input: small images keep it fast."""
    return load_model("resnet18", "random")


@pytest.fixture(scope="module")
def digits():
    pixels, labels = mnist.test_digits(64)
    return pixels, labels


def _photos(n: int = 2, size: int = 48) -> torch.Tensor:
    """Real photos (the bundled samples) as n×3×size×size pixels in [0, 1]."""
    files = sorted(SAMPLES.glob("*.jpg"))[:n]
    arrays = [np.asarray(load_image(f).resize((size, size)), dtype=np.float32) / 255 for f in files]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()


def _reference_gradient(loaded, pixels, labels):
    """∇x of the summed per-image cross-entropy, pixels -> (pad) -> normalise -> network,
    written out here without explorer.robust."""
    mean = torch.tensor(loaded.preprocess.mean).view(1, -1, 1, 1)
    std = torch.tensor(loaded.preprocess.std).view(1, -1, 1, 1)
    x = pixels.clone().requires_grad_(True)
    pad = (loaded.spec.input_size[1] - 28) // 2 if loaded.spec.dataset == "mnist" else 0
    z = (F.pad(x, (pad,) * 4) - mean) / std if pad else (x - mean) / std
    loss = F.cross_entropy(loaded.model(z), labels, reduction="sum")
    (grad,) = torch.autograd.grad(loss, x)
    return grad


# --- FGSM and PGD --------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["lenet", "resnet"])
def test_fgsm_is_the_one_line_formula(which, request, digits):
    loaded = request.getfixturevalue(which)
    if which == "lenet":
        pixels, labels = digits
    else:
        pixels, labels = _photos(2), torch.tensor([281, 967])
    for eps in (2 / 255, 0.1):
        expected = (pixels + eps * _reference_gradient(loaded, pixels, labels).sign()).clamp(0, 1)
        got = attacks.fgsm(attacks.pixel_model(loaded), pixels, eps, labels)
        assert torch.allclose(got, expected, atol=1e-6), (which, eps)
        assert (got != pixels).float().mean() > 0.3  # it really moved most values
    # Targeted: a step *down* the loss of the target class.
    target = torch.full_like(labels, 3)
    expected = (pixels - 0.05 * _reference_gradient(loaded, pixels, target).sign()).clamp(0, 1)
    got = attacks.fgsm(attacks.pixel_model(loaded), pixels, 0.05, 3, targeted=True)
    assert torch.allclose(got, expected, atol=1e-6)


def test_pgd_stays_in_the_box_and_the_pixel_range(lenet, resnet, digits):
    pixels, labels = digits
    forward = attacks.pixel_model(lenet)
    for eps, random_start in ((0.1, False), (0.3, True)):
        adv = attacks.pgd(forward, pixels, eps, labels, steps=7, random_start=random_start,
                          generator=torch.Generator().manual_seed(1))
        assert (adv - pixels).abs().max() <= eps + 1e-6
        assert adv.min() >= 0 and adv.max() <= 1
        with torch.no_grad():
            loss_pgd = F.cross_entropy(forward(adv), labels)
            loss_fgsm = F.cross_entropy(forward(attacks.fgsm(forward, pixels, eps, labels)), labels)
        assert loss_pgd > loss_fgsm  # many small steps find more than one big one
    # A step size larger than ε is still projected back into the box.
    photos = _photos(2)
    adv = attacks.pgd(attacks.pixel_model(resnet), photos, 4 / 255, [1, 2], steps=3, step_size=0.1)
    assert (adv - photos).abs().max() <= 4 / 255 + 1e-6 and 0 <= adv.min() and adv.max() <= 1
    # One PGD step of size ε from the image is one FGSM step (Captum's PGD iterates its FGSM).
    one = attacks.pgd(forward, pixels, 0.1, labels, steps=1, step_size=0.1)
    assert torch.allclose(one, attacks.fgsm(forward, pixels, 0.1, labels), atol=1e-6)


def test_the_attack_is_in_pixel_space_not_on_the_normalised_tensor(resnet, lenet, digits):
    """The wrong way (pytorch/tutorials#1032): step on z = (x − mean)/std and map back. Its
    change per pixel is ε·std, and it differs from what explorer.robust returns."""
    for loaded, pixels, labels in ((resnet, _photos(2), torch.tensor([281, 967])),
                                   (lenet, digits[0][:16], digits[1][:16])):
        eps = 8 / 255
        std = torch.tensor(loaded.preprocess.std).view(1, -1, 1, 1)
        mean = torch.tensor(loaded.preprocess.mean).view(1, -1, 1, 1)
        forward = attacks.pixel_model(loaded)
        z = forward.network_input(pixels).clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(F.cross_entropy(loaded.model(z), labels, reduction="sum"), z)
        wrong = z.detach() + eps * grad.sign()
        if forward.pad:
            wrong = wrong[..., forward.pad:-forward.pad, forward.pad:-forward.pad]
        wrong_pixels = wrong * std + mean
        ours = attacks.fgsm(forward, pixels, eps, labels)
        inside = (pixels > eps) & (pixels < 1 - eps)  # no clamping at either end
        assert torch.allclose((ours - pixels).abs()[inside], torch.tensor(eps), atol=1e-6)
        change = (wrong_pixels - pixels).abs()
        assert change.max() <= eps * float(std.max()) + 1e-6 < eps  # a fraction of the budget
        assert not torch.allclose(ours, wrong_pixels, atol=1e-3)
        # ... and what the code hands the network is the normalisation of its pixels.
        x = loaded.preprocess(load_image(SAMPLES / ("cat.jpg" if loaded is resnet else
                                                    "mnist_7.png")))
        assert torch.allclose(attacks.to_network(loaded, attacks.to_pixels(loaded, x)), x,
                              atol=1e-5)


def test_one_image_attack_untargeted_targeted_and_bad_requests(resnet):
    pixels = _photos(1, 64)
    result = attacks.attack(resnet, pixels, "pgd", 16 / 255, steps=5, target=7)
    assert result.target == 7 and result.succeeded == (result.adv_top1 == 7)
    assert (result.perturbation.abs().max() * 255) <= 16 + 1e-3
    plain = attacks.attack(resnet, pixels, "fgsm", 2 / 255)
    assert plain.label == plain.clean_top1 and plain.steps is None
    for bad in (-0.1, 1.5, float("nan")):
        with pytest.raises(attacks.AttackError, match="between 0 and 1"):
            attacks.attack(resnet, pixels, "fgsm", bad)
    with pytest.raises(attacks.AttackError, match="Class 1000 does not exist"):
        attacks.attack(resnet, pixels, "fgsm", 0.01, target=1000)
    with pytest.raises(attacks.AttackError, match="Did you mean 4/255"):
        attacks.parse_eps("4")
    assert attacks.parse_eps("4/255") == pytest.approx(4 / 255)
    assert attacks.parse_eps(" 0.03 ") == pytest.approx(0.03)
    with pytest.raises(attacks.AttackError, match="pixel units"):
        attacks.parse_eps("four")
    assert attacks.resolve_class(resnet, "Guacamole") == 924
    with pytest.raises(attacks.AttackError, match="guacamole \\(924\\)"):
        attacks.resolve_class(resnet, "guacamolee")


def test_smallest_epsilon_flips_at_k_and_not_below(lenet):
    pixels = attacks.to_pixels(lenet, load_image(SAMPLES / "mnist_3.png"))
    found = attacks.smallest_epsilon(lenet, pixels, "fgsm", max_k=128)
    assert found.k is not None and 1 <= found.k <= 128 and found.adv_top1 != found.label
    forward = attacks.pixel_model(lenet)

    def top1(k):
        with torch.no_grad():
            return int(forward(attacks.fgsm(forward, pixels, k / 255, found.label)).argmax())

    assert top1(found.k) != found.label  # recomputed here: flipped at k ...
    assert top1(found.k - 1) == found.label  # ... and not one grey level below
    words = attacks.describe_epsilon(found.k, pixels, found.adversarial)
    assert f"{found.k}/255" in words and f"at most {found.k} of 255 grey levels" in words


# --- Where the damage grows ----------------------------------------------------------------

def test_stage_damage_equals_hooks_on_a_private_copy(resnet):
    import copy

    clean = _photos(1, 64)
    result = attacks.attack(resnet, clean, "fgsm", 8 / 255)
    curve = damage.damage_of_attack(resnet, result)
    spec = resnet.spec
    assert [p.label for p in curve.points] == ["input"] + [f"/{s}" for s in sorted(spec.stages)] \
        + ["logits"]
    private = copy.deepcopy(resnet.model)
    seen = {}
    modules = dict(private.named_modules())
    handles = [modules[p].register_forward_hook(lambda m, i, o, p=p: seen.setdefault(p, o))
               for p in spec.stages.values()]
    try:
        mean = torch.tensor(resnet.preprocess.mean).view(1, -1, 1, 1)
        std = torch.tensor(resnet.preprocess.std).view(1, -1, 1, 1)
        with torch.no_grad():
            logits = private((torch.cat([clean, result.adversarial]) - mean) / std)
    finally:
        for h in handles:
            h.remove()

    def rel(a, b):
        return float((b.double() - a.double()).norm() / a.double().norm())

    by_path = {p.path: p.distance for p in curve.points if p.path}
    for path, out in seen.items():
        assert by_path[path] == pytest.approx(rel(out[0], out[1]), rel=1e-5)
    assert curve.points[0].distance == pytest.approx(rel(clean[0], result.adversarial[0]), rel=1e-6)
    assert curve.points[-1].distance == pytest.approx(rel(logits[0], logits[1]), rel=1e-4)


# --- ImageNet-C corruptions against hand computations --------------------------------------

PAPER = {  # the table of make_imagenet_c.py, typed in again here
    "gaussian_noise": [.08, .12, .18, .26, .38], "shot_noise": [60, 25, 12, 5, 3],
    "impulse_noise": [.03, .06, .09, .17, .27], "speckle_noise": [.15, .2, .35, .45, .6],
    "gaussian_blur": [1, 2, 3, 4, 6],
    "defocus_blur": [(3, .1), (4, .5), (6, .5), (8, .5), (10, .5)],
    "contrast": [.4, .3, .2, .1, .05], "brightness": [.1, .2, .3, .4, .5],
    "saturate": [(.3, 0), (.1, 0), (2, 0), (5, .1), (20, .2)],
    "jpeg_compression": [25, 18, 15, 10, 7], "pixelate": [.6, .5, .4, .3, .25],
}


def _blur_matrix(n: int, weights: np.ndarray, border: str) -> np.ndarray:
    """Row i holds the weights pixel i gives each source pixel, the border resolved by hand:
    "edge" repeats the last pixel, "reflect101" mirrors without repeating it."""
    r = len(weights) // 2
    m = np.zeros((n, n))
    for i in range(n):
        for k, w in enumerate(weights):
            j = i + k - r
            if border == "edge":
                j = min(max(j, 0), n - 1)
            else:
                while j < 0 or j > n - 1:
                    j = -j if j < 0 else 2 * (n - 1) - j
            m[i, j] += w
    return m


def _gauss(sigma: float, r: int) -> np.ndarray:
    w = np.array([np.exp(-d * d / (2 * sigma * sigma)) for d in range(-r, r + 1)])
    return w / w.sum()


def _box_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Pillow's BOX resampling as a matrix: output pixel o averages the input pixels whose
    centres fall in its box (support 0.5 × scale around (o + 0.5) × scale)."""
    scale = n_in / n_out
    fs = max(scale, 1.0)
    m = np.zeros((n_out, n_in))
    for o in range(n_out):
        c = (o + 0.5) * scale
        for i in range(max(int(c - 0.5 * fs + 0.5), 0), min(int(c + 0.5 * fs + 0.5), n_in)):
            m[o, i] = 1.0 if -0.5 < (i - c + 0.5) / fs <= 0.5 else 0.0
        m[o] /= m[o].sum()
    return m


def _hand(name: str, x: np.ndarray, c, rng: np.random.Generator) -> np.ndarray:
    """x: H×W×C in [0, 1]. The paper's definition of each corruption, computed directly."""
    h, w, channels = x.shape
    if name == "gaussian_noise":
        out = x + rng.normal(size=x.shape, scale=c)
    elif name == "shot_noise":
        out = rng.poisson(x * c) / c
    elif name == "impulse_noise":  # scikit-image's s&p: replace with probability c, salt = 1/2
        replace, salt = rng.random(x.shape) <= c, rng.random(x.shape) <= 0.5
        out = np.where(replace, np.where(salt, 1.0, 0.0), x)
    elif name == "speckle_noise":
        out = x + x * rng.normal(size=x.shape, scale=c)
    elif name == "gaussian_blur":
        rows = _blur_matrix(h, _gauss(c, int(4 * c + 0.5)), "edge")
        cols = _blur_matrix(w, _gauss(c, int(4 * c + 0.5)), "edge")
        out = np.stack([rows @ x[..., k] @ cols.T for k in range(channels)], -1)
    elif name == "defocus_blur":
        radius, alias = c
        grid = np.arange(-8, 9) if radius <= 8 else np.arange(-radius, radius + 1)
        disk = np.array([[1.0 if a * a + b * b <= radius * radius else 0.0 for b in grid]
                         for a in grid])
        disk /= disk.sum()
        g = _blur_matrix(len(grid), _gauss(alias, 1 if radius <= 8 else 2), "reflect101")
        kernel = g @ disk @ g.T
        out = np.zeros_like(x)
        for a in range(len(grid)):
            for b in range(len(grid)):
                ra = _blur_matrix(h, np.eye(len(grid))[a], "reflect101")
                cb = _blur_matrix(w, np.eye(len(grid))[b], "reflect101")
                out += kernel[a, b] * np.stack([ra @ x[..., k] @ cb.T for k in range(channels)], -1)
    elif name == "contrast":
        m = x.mean(axis=(0, 1))
        out = (x - m) * c + m
    elif name in ("brightness", "saturate"):
        out = np.zeros_like(x)
        for i in range(h):
            for j in range(w):
                if channels == 1:
                    out[i, j, 0] = x[i, j, 0] + c
                    continue
                hh, ss, vv = colorsys.rgb_to_hsv(*x[i, j])
                if name == "brightness":
                    vv = min(max(vv + c, 0), 1)
                else:
                    ss = min(max(ss * c[0] + c[1], 0), 1)
                out[i, j] = colorsys.hsv_to_rgb(hh, ss, vv)
    elif name == "jpeg_compression":
        img = Image.fromarray(np.round(x * 255).astype(np.uint8).squeeze(-1) if channels == 1
                              else np.round(x * 255).astype(np.uint8))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=c)
        out = np.asarray(Image.open(buf), dtype=np.float64).reshape(h, w, channels) / 255
    else:  # pixelate
        down_r, down_c = _box_matrix(h, int(h * c)), _box_matrix(w, int(w * c))
        up_r, up_c = _box_matrix(int(h * c), h), _box_matrix(int(w * c), w)
        out = np.stack([up_r @ down_r @ x[..., k] @ down_c.T @ up_c.T
                        for k in range(channels)], -1)
    return np.clip(out, 0, 1)


def test_the_parameters_are_the_papers():
    assert {k: list(v) for k, v in corruptions.PARAMETERS.items()} == PAPER
    assert len(corruptions.CORRUPTIONS) >= 8


@pytest.mark.parametrize("severity", corruptions.SEVERITIES)
@pytest.mark.parametrize("name", list(corruptions.CORRUPTIONS))
def test_each_corruption_matches_the_hand_computation(name, severity):
    rng = np.random.default_rng(7)
    colour = rng.random((2, 3, 13, 12)).astype(np.float32)  # N×C×H×W, odd sizes on purpose
    got = corruptions.corrupt(torch.from_numpy(colour), name, severity, seed=11).numpy()
    draws = np.random.default_rng(11)  # the same generator, images in order
    c = PAPER[name][severity - 1]
    for n in range(2):
        x = colour[n].transpose(1, 2, 0).astype(np.float64)
        expected = _hand(name, x, c, draws).transpose(2, 0, 1)
        tol = 1e-5 if name != "pixelate" else 2e-6
        np.testing.assert_allclose(got[n], expected, atol=tol, err_msg=f"{name} {severity}")
    assert not np.allclose(got, colour, atol=1e-3)  # it changed the image
    grey = colour[:1, :1]
    if name in corruptions.COLOUR_ONLY:
        with pytest.raises(corruptions.CorruptionError, match="colour image"):
            corruptions.corrupt(torch.from_numpy(grey), name, severity)
    else:
        got = corruptions.corrupt(torch.from_numpy(grey), name, severity, seed=3).numpy()[0]
        expected = _hand(name, grey[0].transpose(1, 2, 0).astype(np.float64), c,
                         np.random.default_rng(3)).transpose(2, 0, 1)
        np.testing.assert_allclose(got, expected, atol=1e-5, err_msg=f"grey {name} {severity}")


# --- The shared model, and two sessions at once --------------------------------------------

def test_the_shared_model_is_untouched(lenet, resnet, digits):
    for loaded, pixels in ((lenet, digits[0][:1]), (resnet, _photos(1, 48))):
        snap = _snapshot(loaded.model)
        result = attacks.attack(loaded, pixels, "pgd", 0.05, steps=3, target=2)
        attacks.attack(loaded, pixels, "fgsm", 0.05)
        attacks.smallest_epsilon(loaded, pixels, "fgsm", max_k=8)
        damage.damage_of_attack(loaded, result)
        evaluate.severity_curve(loaded, pixels, "gaussian_noise")
        _assert_untouched(loaded.model, snap)


def test_the_shared_model_is_untouched_when_an_attack_fails(resnet, monkeypatch):
    snap = _snapshot(resnet.model)

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(torch.autograd, "grad", boom)
    with pytest.raises(RuntimeError, match="boom"):
        attacks.attack(resnet, _photos(1, 48), "pgd", 0.05, steps=2)
    _assert_untouched(resnet.model, snap)


def test_two_sessions_at_once_get_their_sequential_results(resnet):
    photos = [_photos(2, 48)[i:i + 1] for i in range(2)]

    def work(i):
        r = attacks.attack(resnet, photos[i], "pgd", 8 / 255, steps=3, target=None)
        curve = damage.damage_of_attack(resnet, r)
        return r.adversarial, [p.distance for p in curve.points]

    expected = [work(i) for i in range(2)]
    got, barrier = [None, None], threading.Barrier(2)

    def run(i):
        barrier.wait()
        for _ in range(3):
            got[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        assert torch.equal(got[i][0], expected[i][0])
        assert got[i][1] == pytest.approx(expected[i][1], rel=1e-6)


# --- Adversarial training ------------------------------------------------------------------

def test_adversarial_batches_attack_pixels_and_leave_the_model_training():
    model = zoo.build("lenet5").train()
    pixels, labels = mnist.test_digits(32)
    x = F.pad((pixels - 0.1307) / 0.3081, (2,) * 4, value=-0.1307 / 0.3081)  # the loop's batch
    for method in ("fgsm", "pgd"):
        perturb = training.adversarial_batches("lenet5", method, eps=0.3, steps=3, seed=1)
        adv = perturb(model, x, labels)
        assert model.training and all(p.grad is None for p in model.parameters())
        adv_pixels = adv * 0.3081 + 0.1307
        assert torch.allclose(adv_pixels[..., :2, :], torch.zeros(()), atol=1e-6)  # the padding
        inner = adv_pixels[..., 2:30, 2:30]
        assert (inner - pixels).abs().max() <= 0.3 + 1e-5 and inner.min() >= -1e-6
        assert (inner - pixels).abs().max() > 0.29
    again = training.adversarial_batches("lenet5", "pgd", eps=0.3, steps=3, seed=1)(model, x, labels)
    assert torch.equal(again, adv)  # seeded random start: reproducible


def test_verdict_names_masked_gradients():
    figures = {"eps": [0.0, 0.3], "fgsm": [98.0, 90.0], "pgd": [98.0, 12.0]}
    assert training.verdict(figures, 0.3)[0] == "masked"
    leaking = training.verdict({**figures, "fgsm": [60.0, 95.0]}, 0.3)
    assert leaking[0] == "masked" and "label leaking" in leaking[1]
    assert "label leaking" not in training.verdict(figures, 0.3)[1]
    assert training.verdict({**figures, "pgd": [98.0, 85.0]}, 0.3)[0] == "robust"
    assert training.verdict({**figures, "fgsm": [98.0, 5.0], "pgd": [98.0, 1.0]}, 0.3)[0] == "fragile"


# --- The command line ------------------------------------------------------------------------

def _cli(fn, *args, **kwargs):
    out, err = io.StringIO(), io.StringIO()
    code = fn(*args, out=out, err=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def test_cli_bad_input_gets_a_clear_message():
    code, _out, err = _cli(attack_command, "lenet5", str(SAMPLES), "fgsm", "300/255")
    assert code == 2 and "between 0 and 1" in err
    code, _out, err = _cli(attack_command, "lenet5", str(SAMPLES), "fgsm", "2/255", target="12")
    assert code == 2 and "Class 12 does not exist" in err and "0–9" in err
    code, _out, err = _cli(attack_command, "lenet", str(SAMPLES))
    assert code == 2 and "did you mean lenet5" in err
    code, _out, err = _cli(curve_command, "efficientnet_lite0", "mnist-test")
    assert code == 2 and "digit networks only" in err
    code, _out, err = _cli(corrupt_command, "lenet5", str(SAMPLES), "saturate", [2])
    assert code == 2 and "colour image" in err
    code, _out, err = _cli(corrupt_command, "lenet5", str(SAMPLES), "contrast", [6])
    assert code == 2 and "1 to 5" in err


def test_cli_attack_skips_colour_photos_for_a_digit_network(tmp_path):
    for f in ("cat.jpg", "mnist_3.png", "mnist_7.png"):
        (tmp_path / f).write_bytes((SAMPLES / f).read_bytes())
    (tmp_path / "labels.csv").write_text("file,class_index\nmnist_3.png,3\nmnist_7.png,7\n")
    code, out, err = _cli(attack_command, "lenet5", str(tmp_path), "fgsm", "0.3", as_json=True)
    assert code == 0
    report = json.loads(out)
    assert [e["file"] for e in report["errors"]] == ["cat.jpg"]
    assert "colour photo" in report["errors"][0]["error"]
    s = report["summary"]
    assert s["images"] == 2 and s["before"]["accuracy"] == 100.0 and s["eps"] == 0.3
    for r in report["results"]:
        assert r["linf_grey_levels"] <= 0.3 * 255 + 1e-3


def test_cli_corrupt_and_curve_on_labelled_photos(tmp_path):
    for f in ("cat.jpg", "coffee.jpg"):
        (tmp_path / f).write_bytes((SAMPLES / f).read_bytes())
    (tmp_path / "labels.csv").write_text("file,class_index\ncat.jpg,281\ncoffee.jpg,967\n")
    code, out, _err = _cli(corrupt_command, "resnet18", str(tmp_path), "contrast", [1, 5],
                           as_json=True)
    report = json.loads(out)
    assert code == 0 and [lv["severity"] for lv in report["summary"]["after"]] == [1, 5]
    assert set(report["results"][0]) >= {"clean", "severity_1", "severity_5"}
    code, out, _err = _cli(curve_command, "resnet18", str(tmp_path), "fgsm", ["0", "8/255"],
                           as_json=True)
    curve = json.loads(out)["curve"]
    assert code == 0 and [p["eps"] for p in curve] == [0.0, pytest.approx(8 / 255)]
    assert curve[0]["kept_clean_top1"] == 1.0


# --- The shipped robust LeNet-5 and curves -------------------------------------------------

@pytest.mark.parametrize("name", list(robust_models.ROBUST_MODELS))
def test_the_robust_checkpoint_loads_through_the_safe_loader(name, monkeypatch, tmp_path):
    card = robust_models.card(name)
    path = ROOT / "assets" / f"{name}.pt"
    assert card["checkpoint"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    calls = []
    import explorer.weights as weights

    real = weights.load_checkpoint_file
    monkeypatch.setattr(weights, "load_checkpoint_file",
                        lambda *a, **k: calls.append(a) or real(*a, **k))
    loaded = robust_models.load_robust(name)
    assert calls and loaded.name == "lenet5" and loaded.source == "adversarial"
    assert not any(p.requires_grad for p in loaded.model.parameters())
    assert not loaded.model.training
    # A checkpoint that would run code is refused, and so is one that is not the card's.
    monkeypatch.setattr(robust_models, "ASSETS", tmp_path)
    (tmp_path / f"{name}.json").write_text(json.dumps({"checkpoint": {}}))
    (tmp_path / f"{name}.pt").write_bytes(_pickle_that_runs_code())
    with pytest.raises(WeightsError, match="run code"):
        robust_models.load_robust(name)
    (tmp_path / f"{name}.pt").write_bytes(path.read_bytes()[:-10])
    (tmp_path / f"{name}.json").write_text(json.dumps(card))
    with pytest.raises(WeightsError, match="sha256"):
        robust_models.load_robust(name)


def _pickle_that_runs_code() -> bytes:
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    buf = io.BytesIO()
    torch.save({"c1.weight": Evil()}, buf, pickle_module=pickle)
    return buf.getvalue()


@pytest.mark.parametrize("name", list(robust_models.ROBUST_MODELS))
def test_the_robust_card_is_reproduced_by_the_cli(name):
    """The card's clean accuracy, and FGSM and PGD at the training ε, from the command line
    on the 10,000 test digits (the full curves: the commands in the card's "reproduce")."""
    card = robust_models.card(name)
    fig = card["robustness"]
    eps = card["adversarial_training"]["eps"]
    i = fig["eps"].index(eps)
    base = [sys.executable, "-m", "explorer.robust", "curve", "--model", name,
            "--images", "mnist-test", "--json"]
    fgsm = json.loads(subprocess.run(base + ["--method", "fgsm", "--eps", "0", str(eps)],
                                     capture_output=True, text=True, check=True, cwd=ROOT).stdout)
    pgd = json.loads(subprocess.run(base + ["--method", "pgd", "--eps", str(eps), "--steps",
                                            str(fig["pgd_steps"])],
                                    capture_output=True, text=True, check=True, cwd=ROOT).stdout)
    assert fgsm["curve"][0]["correct"] == fig["fgsm_correct"][0]
    assert card["test_accuracy"] == pytest.approx(fgsm["curve"][0]["accuracy"], abs=0.005)
    assert fgsm["curve"][1]["correct"] == fig["fgsm_correct"][i]
    assert pgd["curve"][0]["correct"] == fig["pgd_correct"][i]


def test_the_shipped_curves_agree_with_the_model_cards_and_the_tutorial():
    data = mnist.shipped_curves()
    for name in ("lenet5", "mnist_plain", "mnist_bn_dropout", "mnist_nin"):
        card = json.loads((ROOT / "assets" / f"{name}.json").read_text())
        entry = data["models"][name]
        assert entry["fgsm_correct"][0] == entry["pgd_correct"][0] == card["test_correct"]
        assert entry["fgsm"] == sorted(entry["fgsm"], reverse=True)  # more ε, less accuracy
        assert all(p <= f + 0.5 for p, f in zip(entry["pgd"], entry["fgsm"]))
    for name in robust_models.robust_names():
        assert data["models"][name]["fgsm"] == robust_models.card(name)["robustness"]["fgsm"]
    assert [c / 100 for c in mnist.TUTORIAL["correct"]] == mnist.TUTORIAL["accuracy"]
