"""The Channels core: top images (all units, interior units, border share) against a brute-force
pass, ties on a constructed case and on LeNet-5's saturating S4, receptive-field crops against
hand arithmetic, the activation-map overlay against an independent upsampling of a hooked
activation, effective-field crops against an independently computed gradient, the effective
field inside the theoretical one, feature visualisation against the 600-photo pool and the
other MNIST networks, batched visualisations equal to single ones, the disk store, the atlas,
and no side effects on the shared model."""
from __future__ import annotations

import copy
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
from dataclasses import replace
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
    # Interior units only: the same maps with the outermost ring masked out.
    masked = maps.copy()
    masked[:, :, [0, -1], :] = -np.inf
    masked[:, :, :, [0, -1]] = -np.inf
    inner = masked.reshape(10, 24, -1)
    np.testing.assert_allclose(result.inner_maxes, inner.max(2), rtol=1e-5, atol=1e-5)
    for c in range(24):
        order = sorted(range(10), key=lambda i: -inner[i, c].max())
        top = result.ranked(c, k=4, interior=True)
        assert [e.index for e in top] == order[:4]
        for e in top:
            assert 0 < e.pos[0] < 55 and 0 < e.pos[1] < 55
            assert masked[e.index, c, e.pos[0], e.pos[1]] == pytest.approx(e.value, abs=1e-5)
        # Share of images whose maximum sits on the ring, against the ring's share of the map.
        where = flat[:, c].argmax(1)
        ring = (where // 56 == 0) | (where // 56 == 55) | (where % 56 == 0) | (where % 56 == 55)
        assert result.border_share(c) == pytest.approx((ring.mean(), (56 * 4 - 4) / 56 ** 2))
    again, cached = ch.cached_layer_top(lite, "features.2", images)
    assert cached and np.array_equal(again.maxes, result.maxes)
    assert np.array_equal(again.argmax, result.argmax) and again.names == result.names
    assert list((tmp_path / "cache" / "channels").glob("efficientnet_lite0-*.npz"))
    # The pass recorded the layers beside features.2 as well: they are now lookups.
    sibling = ch.top.lookup(lite, "features.3", images)
    assert sibling is not None and sibling.hw == (28, 28)
    np.testing.assert_allclose(sibling.maxes, np.stack(
        [capture(lite.model, "features.3", lite.preprocess(images.load(i)))["features.3"][0]
         .amax((1, 2)).numpy() for i in range(10)]), rtol=1e-5, atol=1e-5)


def test_ties_are_found_on_a_constructed_case():
    values = np.array([5.0, 4.0, 3.0] + [0.998 + 1e-7 * i for i in range(12)] + [0.5, 0.1, 0.0])
    ties = ch.find_ties(values, 9)
    assert ties == ch.Ties(count=12, shown=6, value=pytest.approx(0.998, abs=1e-5),
                           tolerance=pytest.approx(5e-3))
    assert ch.find_ties(values, 3) is None  # 5, 4, 3: the cut is clear
    assert ch.find_ties(values, 2, least=True) is None
    assert ch.find_ties(np.arange(20.0), 9) is None
    assert ch.find_ties(np.array([1.0, 1.0, 1.0]), 2) == ch.Ties(3, 2, 1.0, 0.0)
    # Through a LayerTop: channel 0 has them, channel 1 not; unreadable images never count.
    maxes = np.stack([values, np.linspace(1, 0, len(values))], 1).astype(np.float32)
    maxes[-1] = -np.inf
    top = ch.LayerTop("x", [f"{i}" for i in range(len(values))], maxes,
                      np.zeros_like(maxes, np.int32), (4, 4), (8, 8))
    assert top.ties(0, 9).count == 12 and top.ties(1, 9) is None


def test_lenet5_s4_saturates_and_its_top_nine_are_a_sample(one_thread):
    """LeNet-5's S4 averages tanh units near 1: over MNIST's test digits hundreds of images
    reach the same value to four digits."""
    from explorer.data.mnist import load_mnist

    lenet = load_model("lenet5", "trained")
    x, _labels = load_mnist(data_root("mnist"), train=False)
    digits = ch.ImageSet.from_arrays("mnist", "mnist-test", np.asarray(x[:2000]))
    result = ch.layer_top(lenet.model, lenet.preprocess, "s4", digits, batch=500)
    ties = [result.ties(c, 9) for c in range(16)]
    big = [t for t in ties if t is not None and t.count > 100]
    assert big and all(t.shown == 9 and t.value > 0.99 for t in big)
    for c, t in enumerate(ties):
        if t is not None:  # every tied image really is within the tolerance of the cut
            v = result.maxes[:, c]
            assert np.sum(np.abs(v - t.value) <= t.tolerance) == t.count


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
# Where a channel fires


def _bilinear(m: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """Bilinear upsampling written out (half-pixel centres, as align_corners=False)."""
    h, w = m.shape

    def axis(n_out, n_in):
        src = np.maximum((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo

    y0, y1, wy = axis(out_h, h)
    x0, x1, wx = axis(out_w, w)
    top = m[y0][:, x0] * (1 - wx) + m[y0][:, x1] * wx
    bottom = m[y1][:, x0] * (1 - wx) + m[y1][:, x1] * wx
    return top * (1 - wy[:, None]) + bottom * wy[:, None]


def _hooked(model, layer, x):
    """The layer's output from a forward hook on a deep copy: no explorer code involved."""
    clone = copy.deepcopy(model)
    store = []
    handle = dict(clone.named_modules())[layer].register_forward_hook(
        lambda module, args, out: store.append(out))
    try:
        with torch.enable_grad():
            clone(x)
    finally:
        handle.remove()
    return store[0]


def test_activation_map_overlay_is_the_hooked_activation_upsampled(lite):
    from explorer.attribution import overlay

    images = _photos(6)
    snap = _snapshot(lite.model)
    result = ch.layer_top(lite.model, lite.preprocess, "features.3", images)
    examples = result.ranked(20, 3)
    items = [(e.index, lite.preprocess(images.load(e.index))[0], 20, e.pos) for e in examples]
    placed = ch.place(lite, "features.3", items)
    scale = max(p.value for p in placed)
    for (index, x, c, pos), p in zip(items, placed):
        with torch.no_grad():
            m = _hooked(lite.model, "features.3", x[None])[0, c].numpy()
        np.testing.assert_allclose(p.map, m, rtol=1e-5, atol=1e-5)
        assert p.value == pytest.approx(m[pos], abs=1e-5) and p.kind == "theoretical"
        view = ch.network_view(images.load(index), lite.preprocess)
        picture, heat = ch.fire_overlay(view, p.map, scale)
        want = np.clip(_bilinear(m, 224, 224) / scale, 0, 1)
        np.testing.assert_allclose(heat, want, atol=1e-5)
        assert np.array_equal(np.asarray(picture), np.asarray(overlay(view, want, 0.45)))
    assert placed[0].map.max() == pytest.approx(scale, abs=1e-5)
    _assert_untouched(lite.model, snap)


def test_deep_crops_hold_the_share_of_an_independently_computed_gradient(lite):
    images = _photos(4)
    snap = _snapshot(lite.model)
    result = ch.layer_top(lite.model, lite.preprocess, "features.5", images)
    examples = result.ranked(3, 4)
    items = [(e.index, lite.preprocess(images.load(e.index))[0], 3, e.pos) for e in examples]
    for mass in (0.5, 0.8):
        placed = ch.place(lite, "features.5", items, mass=mass)
        for (index, x, c, pos), p in zip(items, placed):
            assert p.kind == "effective" and p.theoretical == (339, 339)
            xg = x[None].clone().requires_grad_(True)
            out = _hooked(lite.model, "features.5", xg)
            (grad,) = torch.autograd.grad(out[0, c, pos[0], pos[1]], xg)
            g = grad[0].abs().sum(0).numpy().astype(np.float64)
            top, left, bottom, right = p.box
            held = g[top:bottom, left:right].sum() / g.sum()
            assert held >= mass - 1e-6 and held == pytest.approx(p.mass, abs=1e-4)
            assert (bottom - top) * (right - left) < 224 * 224 * 0.5  # not the whole photo
            # The smallest such square: one pixel less on every side that can shrink holds less.
            centre = ch.unit_centre(ch.layer_row(lite.name, "features.5"), pos)
            cy, cx = round(centre[0]), round(centre[1])
            smaller = g[top + (top < cy):bottom - (bottom - 1 > cy),
                        left + (left < cx):right - (right - 1 > cx)].sum() / g.sum()
            assert smaller < mass
    _assert_untouched(lite.model, snap)


def test_example_tile_draws_the_crop_beside_the_photo(lite):
    image = load_image(next(iter(sample_images("photo").values())).read_bytes())
    view = ch.network_view(image, lite.preprocess)
    p = ch.Placed(0, 0, (3, 3), 1.0, np.ones((28, 28), np.float32), (10, 20, 77, 87),
                  "theoretical", (67, 67), None)
    tile = ch.example_tile(view, p, 1.0, side=128, show_map=False)
    assert tile.size == (128 + 4 + 128, 128)
    crop = np.asarray(tile)[:, 132:]  # 67 px enlarged to 128, pixels kept sharp
    assert np.array_equal(crop, np.asarray(view.crop((20, 10, 87, 77)).resize((128, 128),
                                                                               Image.NEAREST)))


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


def test_a_batch_of_channels_gives_each_the_image_it_gets_alone(one_thread):
    lenet = load_model("lenet5", "trained")
    s = ch.settings_for("lenet5", steps=12)
    batch = ch.visualize_many(lenet, "c3", [2, 9, 4], settings=s, seed=3)
    for c, r in zip([2, 9, 4], batch):
        alone = ch.visualize(lenet, "c3", c, settings=s, seed=3)
        assert r.target == c and np.abs(r.image.astype(int) - alone.image.astype(int)).max() <= 2
        assert r.final == pytest.approx(alone.final, rel=1e-3, abs=1e-4)


def test_peak_negative_and_diversity_options(lite, one_thread):
    s = ch.settings_for(lite.name, steps=24, size=64)
    down = ch.visualize(lite, "features.2", 5, settings=replace(s, negative=True, peak=0.0))
    up = ch.visualize(lite, "features.2", 5, settings=replace(s, peak=0.0))
    assert down.final < down.grey < up.grey + 1e-6 and up.final > up.grey
    assert up.peak > up.final  # the largest unit above the mean
    two = ch.visualize(lite, "features.2", 5, settings=replace(s, n=2, diversity=1.0))
    assert len(two.images) == 2 and len(two.finals) == 2
    assert not np.array_equal(two.images[0], two.images[1])


def test_visualisations_are_kept_on_disk_per_channel(tmp_path, one_thread):
    lenet = load_model("lenet5", "trained")
    s = ch.settings_for("lenet5", steps=6)
    first, cached = ch.cached_visualize(lenet, "c3", 4, "channel", s)
    assert not cached
    again, cached = ch.cached_visualize(lenet, "c3", 4, "channel", s)
    assert cached and np.array_equal(again.image, first.image)
    assert again.final == first.final and again.settings["steps"] == 6
    assert ch.lookup_vis(lenet, "c3", 5, "channel", s) is None  # another channel
    assert ch.lookup_vis(lenet, "c3", 4, "channel", replace(s, steps=7)) is None
    cls, _ = ch.cached_visualize(lenet, ch.LOGITS, 3, "class", s)
    assert np.array_equal(ch.lookup_vis(lenet, ch.LOGITS, 3, "class", s).image, cls.image)


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
    assert out["border_share"] == pytest.approx(direct.border_share()[0], abs=1e-4)
    assert cli.main(["top", "--model", "efficientnet_lite0", "--layer", "features.1",
                     "--channel", "2", "--images", str(folder), "--k", "2", "--workers", "0",
                     "--interior", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["interior"] and out["cached"]
    assert [e["image"] for e in out["channels"]["2"]["top"]] == [
        e.name for e in direct.ranked(2, 2, interior=True)]
    png = tmp_path / "vis.png"
    assert cli.main(["visualize", "--model", "lenet5", "--layer", "c3", "--channel", "4",
                     "--steps", "6", "--out", str(png), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert Image.open(png).size == (32, 32) and len(info["history"]) == 6
    assert {"final", "grey"} <= info.keys()
    with pytest.raises(SystemExit):
        cli.main(["visualize", "--model", "lenet5", "--layer", "nope", "--channel", "0",
                  "--out", str(png)])


# --------------------------------------------------------------------------------------------
# Receptive-field picture


def test_a_box_larger_than_the_image_is_drawn_on_the_padding_margin(lite):
    black = Image.new("RGB", (224, 224), (0, 0, 0))
    x = lite.preprocess(Image.new("RGB", (224, 224), (128, 128, 128)))
    field = ch.effective_field(lite.model, lite.name, x, "features.5", 0, (7, 7))
    top, left, bottom, right = field.box_unclipped
    assert top < 0 and left < 0 and bottom > 224 and right > 224  # 339 px around the centre
    pic = np.asarray(ch.rf_picture(black, field, side=448)).astype(int)
    # The photo (black, coloured where the field is strong) sits inside a grey margin.
    dark = pic.max(-1) < 40
    rows, cols = np.flatnonzero(dark.any(1)), np.flatnonzero(dark.any(0))
    r0, r1, c0, c1 = rows[0], rows[-1], cols[0], cols[-1]
    assert 0 < r0 and r1 < pic.shape[0] - 1 and 0 < c0 and c1 < pic.shape[1] - 1
    assert (r1 - r0) / pic.shape[0] == pytest.approx(224 / (339 + 2 * 7), abs=0.04)
    white = (pic == 255).all(-1)
    width = c1 - c0
    # All four sides of the box are drawn, in the margin, none on the photo's own edge.
    assert max(white[:r0, c0:c1].sum(1)) > 0.95 * width  # above the photo
    assert max(white[r1 + 1:, c0:c1].sum(1)) > 0.95 * width  # below
    assert max(white[r0:r1, :c0].sum(0)) > 0.95 * width and max(white[r0:r1, c1 + 1:].sum(0)) \
        > 0.95 * width
    for edge in (white[r0, c0:c1], white[r1, c0:c1], white[r0:r1, c0], white[r0:r1, c1]):
        assert edge.sum() < 10
    # Both contours are drawn on the photo: 50 % (white) and 95 % (near black).
    photo = pic[r0 + 2:r1 - 1, c0 + 2:c1 - 1]
    assert (photo == 255).all(-1).sum() > 50
    assert (np.abs(photo - 20).max(-1) <= 2).sum() > 50
    levels = ch.mass_levels(field.grad)
    g = field.grad.astype(np.float64)
    region = levels < 0.5  # the smallest set of pixels holding half the gradient
    assert g[region].sum() >= 0.5 * g.sum() > g[region].sum() - g[region].min()


# --------------------------------------------------------------------------------------------
# The layer's atlas


def test_atlas_holds_each_channel_s_top_images_and_visualisation(tmp_path, one_thread):
    lenet = load_model("lenet5", "trained")
    digits = ch.ImageSet.from_paths("digits", list(sample_images("digit").values()))
    settings = ch.AtlasSettings(k=3, vis=ch.settings_for("lenet5", steps=6))
    seen = []
    atlas = ch.build_atlas(lenet, "c3", digits, root=tmp_path / "atlas", settings=settings,
                           channels=[0, 5], progress=lambda d, t, stage: seen.append(stage))
    assert atlas.channels == [0, 5] and atlas.complete
    assert {"images", "visualisations", "done"} <= set(seen)
    assert "maps" not in seen  # one pass: the maps of the top images were kept on the way
    top = ch.layer_top(lenet.model, lenet.preprocess, "c3", digits)
    for c in (0, 5):
        entry = atlas.channel(c)
        want = top.ranked(c, 3)
        assert [p.index for p in entry.placed] == [e.index for e in want]
        assert [p.pos for p in entry.placed] == [e.pos for e in want]
        assert entry.names == [e.name for e in want]
        # The maps the pass kept are the channel's maps on those images.
        items = [(p.index, lenet.preprocess(digits.load(p.index))[0], c, p.pos)
                 for p in entry.placed]
        for kept, again in zip(entry.placed, ch.place(lenet, "c3", items)):
            np.testing.assert_allclose(kept.map, again.map, rtol=1e-3, atol=1e-3)  # float16
            assert kept.box == again.box and kept.kind == again.kind == "theoretical"
        stored = ch.lookup_vis(lenet, "c3", c, "channel", settings.vis)
        assert np.array_equal(entry.vis, stored.image) and entry.vis.shape == (32, 32)
        view = np.asarray(ch.network_view(digits.load(entry.placed[0].index),
                                          lenet.preprocess))
        assert np.abs(np.asarray(atlas.view(entry.placed[0].index)).astype(int)
                      - view.astype(int)).mean() < 3  # a JPEG of the network's view
    assert atlas.channel(1) is None
    # Asking for more channels keeps what is there and adds the rest.
    more = ch.build_atlas(lenet, "c3", digits, root=tmp_path / "atlas", settings=settings,
                          channels=[1])
    assert more.path == atlas.path and more.channels == [0, 1, 5]
    found = ch.find_atlases("lenet5", "c3", roots=[tmp_path / "atlas"])
    assert [a.path for a in found] == [atlas.path]
    assert ch.atlas.card(found[0], 5).size == (112 + 4 + 2 * 55 + 2, 112)
