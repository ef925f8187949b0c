"""The Channels core: top images against a brute-force pass, receptive-field crops against hand
arithmetic, the effective field inside the theoretical one, feature visualisation against the
600-photo pool and against the other MNIST networks, and no side effects on the shared model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import channels as ch, zoo
from explorer.channels import __main__ as cli
from explorer.analysis.features import capture
from explorer.data.images import load_image, sample_images
from explorer.weights import load_model
from tests.test_attribution import _assert_untouched, _snapshot

try:
    from explorer.data import data_root
except ImportError:  # pragma: no cover - before the data resolver lands
    def data_root(kind):
        return Path(__file__).resolve().parents[2] / "shared" / "data" / kind


@pytest.fixture(autouse=True)
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CNN_EXPLORER_CACHE", str(tmp_path / "cache"))


@pytest.fixture
def one_thread():
    """On a busy two-core machine two OpenMP threads spin-wait for each other: LeNet-5's tiny
    ops took 20× longer (64 steps: 6 s instead of 0.3 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def lite():
    return load_model("efficientnet_lite0")  # genuine ImageNet weights (package)


def _photos(n):
    return ch.ImageSet.from_paths("samples", sorted(data_root("imagenet-samples")
                                                     .glob("*.JPEG"))[:n])


# --------------------------------------------------------------------------------------------
# Top images


def test_top_images_equal_a_brute_force_pass_and_come_back_from_the_disk_cache(lite, tmp_path):
    images = _photos(10)
    snap = _snapshot(lite.model)
    result, cached = ch.cached_layer_top(lite, "features.2", images, batch=4)
    assert not cached and result.maxes.shape == (10, 24) and result.hw == (56, 56)
    _assert_untouched(lite.model, snap)
    # Brute force: every image alone, every position of every channel.
    maps = np.stack([capture(lite.model, "features.2", lite.preprocess(images.load(i)))
                     ["features.2"][0].numpy() for i in range(len(images))])  # N × C × H × W
    flat = maps.reshape(10, 24, -1)
    np.testing.assert_allclose(result.maxes, flat.max(2), rtol=1e-5, atol=1e-5)
    for c in range(24):
        order = sorted(range(10), key=lambda i: -flat[i, c].max())
        top = result.ranked(c, k=3)
        assert [e.index for e in top] == order[:3]
        for e in top:
            assert flat[e.index, c, e.pos[0] * 56 + e.pos[1]] == pytest.approx(e.value, abs=1e-5)
        assert [e.index for e in result.ranked(c, k=3, least=True)] == order[::-1][:3]
    again, cached = ch.cached_layer_top(lite, "features.2", images)
    assert cached and np.array_equal(again.maxes, result.maxes)
    assert np.array_equal(again.argmax, result.argmax) and again.names == result.names
    assert list((tmp_path / "cache" / "channels").glob("efficientnet_lite0-*.npz"))


def test_mnist_digits_as_an_image_set():
    lenet = load_model("lenet5", "trained")
    digits = ch.ImageSet.from_paths("digits", list(sample_images("digit").values()))
    result, _ = ch.cached_layer_top(lenet, "c3", digits)
    assert result.maxes.shape == (len(digits), 16) and result.hw == (10, 10)
    assert result.input_hw == (32, 32)


def test_a_cache_folder_that_cannot_be_written_still_gives_the_result(tmp_path):
    """A home where nothing can be written (here: the cache 'folder' is a file, which stops
    root too): the pass still returns the full result, it is only not remembered."""
    lenet = load_model("lenet5", "trained")
    digits = ch.ImageSet.from_paths("digits", list(sample_images("digit").values()))
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would go")
    result, cached = ch.cached_layer_top(lenet, "c3", digits, root=blocked)
    direct = ch.layer_top(lenet.model, lenet.preprocess, "c3", digits)
    assert not cached and np.array_equal(result.maxes, direct.maxes)
    assert np.array_equal(result.argmax, direct.argmax)
    _, cached = ch.cached_layer_top(lenet, "c3", digits, root=blocked)
    assert not cached and blocked.is_file()


def test_unreadable_files_are_skipped_and_named(lite, tmp_path):
    files = [("good.jpg", (data_root("imagenet-samples") / "n01530575_brambling.JPEG")
              .read_bytes()), ("bad.jpg", b"not an image")]
    result = ch.layer_top(lite.model, lite.preprocess, "features.1",
                          ch.ImageSet.from_bytes("uploads", files))
    assert result.failed == ["bad.jpg"]
    assert [e.name for e in result.ranked(0, k=9)] == ["good.jpg"]


# --------------------------------------------------------------------------------------------
# Receptive-field crops


def test_crop_is_the_receptive_field_by_hand_and_clips_at_the_border(lite):
    # EfficientNet-Lite0 up to features.3, with TF "same" padding (by hand): stem 3×3/2 → RF 3,
    # jump 2, first centre 1; depthwise 3×3 → 7; 3×3/2 (pad 0 top) → 11, jump 4,
    # centre 1+1·2=3; 3×3 → 19; 5×5/2 (pad 1 top) → 35, jump 8, centre 3+1·4=7; 5×5 → 67.
    image = load_image(next(iter(sample_images("photo").values())).read_bytes())
    view = np.asarray(ch.network_view(image, lite.preprocess))
    for pos, want in [((14, 14), (119 - 33, 119 - 33, 119 + 34, 119 + 34)),
                      ((0, 0), (0, 0, 7 + 34, 7 + 34)),
                      ((27, 3), (7 + 27 * 8 - 33, 0, 224, 7 + 3 * 8 + 34))]:  # 31-33 < 0
        crop, box = ch.crop_example(lite.name, "features.3", image, lite.preprocess, pos)
        assert box == want
        top, left, bottom, right = box
        assert np.array_equal(np.asarray(crop), view[top:bottom, left:right])
    row = ch.layer_row("efficientnet_lite0", "features.3")
    assert ch.rf_box(row, (14, 14), (224, 224), clip=False) == (86, 86, 153, 153)
    assert ch.rf_box(row, (0, 0), (224, 224), clip=False) == (-26, -26, 41, 41)


# --------------------------------------------------------------------------------------------
# Effective receptive field


@pytest.mark.parametrize("name, layer", [("googlenet", "inception3b"), ("resnet50", "layer2.0"),
                                         ("densenet121", "features.transition1"),
                                         ("xception", "entry_flow.1")])
def test_gradient_is_exactly_zero_outside_the_theoretical_field(name, layer):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = zoo.build(name).eval()
        x = torch.randn(1, 3, 128, 128)
    for p in model.parameters():
        p.requires_grad_(False)
    snap = _snapshot(model)
    out = capture(model, layer, x)[layer][0]
    hw = out.shape[1:]
    for pos in [(0, 0), (hw[0] // 2, hw[1] // 2), (hw[0] - 1, hw[1] - 2)]:
        channel = int(out[:, pos[0], pos[1]].argmax())  # a unit that is on (after a ReLU)
        field = ch.effective_field(model, name, x, layer, channel, pos)
        top, left, bottom, right = field.box
        assert bottom - top < 128 or right - left < 128  # a box that is not the whole image
        outside = field.grad.copy()
        outside[top:bottom, left:right] = 0
        assert not outside.any(), f"{name} {layer} {pos}: gradient outside {field.box}"
        assert field.grad[top:bottom, left:right].any()
    _assert_untouched(model, snap)


def test_effective_field_of_a_deep_unit_is_much_smaller_than_the_theoretical_one(lite):
    image = load_image(next(iter(sample_images("photo").values())).read_bytes())
    field = ch.effective_field(lite.model, lite.name, lite.preprocess(image), "features.5", 0,
                               (7, 7))
    assert field.theoretical == (339, 339)  # more than the 224 image
    assert 0 < field.effective[0] < 339 / 2


# --------------------------------------------------------------------------------------------
# Feature visualisation


POOL_LAYERS = {"features.2": 5, "features.3": 4, "features.4": 10}  # three depths: /4, /8, /16


@pytest.fixture(scope="module")
def pool_means(lite):
    """Each POOL_LAYERS channel's mean activation on every photo of the 600-image pool: one
    batched pass, the three layers hooked together (it stops after the deepest, half-way
    through the network). One thread: on a busy two-core machine two spin-waiting threads
    doubled the CPU time, and loader workers added 30 s of system time passing tensors."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    pool = ch.ImageSet.from_folder(data_root("imagenet-pool"))
    assert len(pool) == 600
    loader = torch.utils.data.DataLoader(ch.top._Dataset(pool, lite.preprocess), batch_size=50,
                                         num_workers=0)
    means = {layer: [] for layer in POOL_LAYERS}
    for x, ok in loader:
        assert ok.all()
        out = capture(lite.model, list(POOL_LAYERS), x, reduce=lambda t: t.mean((2, 3)))
        for layer, c in POOL_LAYERS.items():
            means[layer].append(out[layer][:, c])
    torch.set_num_threads(before)
    return {layer: torch.cat(v).numpy() for layer, v in means.items()}


def test_visualisation_beats_every_pool_photo_at_three_depths(lite, pool_means, one_thread):
    snap = _snapshot(lite.model)
    for layer, c in POOL_LAYERS.items():
        result = ch.visualize(lite, layer, c, settings=ch.settings_for(lite.name, steps=48))
        assert result.image.shape == (224, 224, 3)
        assert result.final > pool_means[layer].max() > result.grey, (layer, c)
    _assert_untouched(lite.model, snap)


def test_lenet5_class_images_are_read_as_that_digit_by_the_other_mnist_networks(capsys,
                                                                                 one_thread):
    lenet = load_model("lenet5", "trained")
    others = [load_model(n, "trained") for n in ("mnist_plain", "mnist_bn_dropout", "mnist_nin")]
    snap = _snapshot(lenet.model)
    hits = 0
    for digit in range(10):
        result = ch.visualize(lenet, ch.LOGITS, digit, objective="class")
        assert result.final > result.grey
        img = torch.tensor(result.image, dtype=torch.float32)[None, None] / 255
        x = (img[:, :, 2:30, 2:30] - 0.1307) / 0.3081  # LeNet-5's 32×32 is MNIST's 28×28 + pad 2
        with torch.no_grad():
            hits += sum(int(o.model(x).argmax()) == digit for o in others)
    _assert_untouched(lenet.model, snap)
    with capsys.disabled():
        print(f"\nLeNet-5 class images read as their class by 3 other MNIST nets: {hits}/30")
    assert hits / 30 > 0.1 * 2  # chance is 1 in 10; ask for twice that


def test_neuron_objective_and_pre_activation_layers(lite):
    result = ch.visualize(lite, "features.0.act", 3, objective="neuron",
                          settings=ch.settings_for(lite.name, steps=8, size=64))
    assert result.settings["pre_activation"] and result.pos == (16, 16)
    assert result.final > result.grey


def test_a_fixed_size_network_sees_its_designed_size_under_the_transforms():
    plain = load_model("mnist_plain", "trained")  # Flatten + Linear: 28×28 only
    result = ch.visualize(plain, ch.LOGITS, 7, objective="class",
                          settings=ch.settings_for(plain.name, steps=6))
    assert result.image.shape == (28, 28) and len(result.history) == 6


# --------------------------------------------------------------------------------------------
# Filters


def test_first_layer_kernels_are_scaled_symmetrically_around_zero():
    w = torch.zeros(2, 3, 3, 3)
    w[0, 0, 0, 0], w[0, 1, 1, 1] = 2.0, -1.0
    tiles = ch.kernel_tiles(w)
    assert tiles[0].shape == (3, 3, 3)
    assert tiles[0][0, 0, 0] == 255 and tiles[0][1, 1, 1] == round(127.5 - 63.75)
    assert tiles[0][2, 2, 2] == 128 and (tiles[1] == 128).all()  # zero → mid grey
    grid = ch.filter_grid(w, maps=np.random.default_rng(0).random((2, 5, 5)))
    assert grid.mode == "RGB"


def test_weight_views_say_what_kind_of_kernel_it_is(lite):
    model = lite.model
    assert ch.first_conv(model) == "features.0.conv"
    assert ch.weight_view(model, "features.0.conv", 0).kind == "first"
    dw = ch.weight_view(model, "features.1.0.depthwise.conv", 5)
    assert dw.kind == "depthwise" and np.flatnonzero(dw.in_norms).tolist() == [5]
    pw = ch.weight_view(model, "features.1.0.project.conv", 2)
    assert pw.kind == "pointwise" and pw.in_norms.shape == (32,)
    assert ch.weight_view(model, "features.1", 0).kind == "none"


# --------------------------------------------------------------------------------------------
# Command line


def test_cli_top_and_visualize(tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for p in sorted(data_root("imagenet-samples").glob("*.JPEG"))[:5]:
        (folder / p.name).write_bytes(p.read_bytes())
    assert cli.main(["top", "--model", "efficientnet_lite0", "--layer", "features.1",
                     "--channel", "2", "--images", str(folder), "--k", "2", "--workers", "0",
                     "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    lite = load_model("efficientnet_lite0")
    direct = ch.layer_top(lite.model, lite.preprocess, "features.1",
                          ch.ImageSet.from_folder(folder))
    assert [e["image"] for e in out["channels"]["2"]["top"]] == [
        e.name for e in direct.ranked(2, 2)]
    png = tmp_path / "vis.png"
    assert cli.main(["visualize", "--model", "lenet5", "--layer", "c3", "--channel", "4",
                     "--steps", "6", "--out", str(png), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert Image.open(png).size == (32, 32) and len(info["history"]) == 6
    assert {"final", "grey"} <= info.keys()
    with pytest.raises(SystemExit):
        cli.main(["visualize", "--model", "lenet5", "--layer", "nope", "--channel", "0",
                  "--out", str(png)])
