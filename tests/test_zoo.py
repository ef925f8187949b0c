"""The model zoo against published numbers: every registered model builds, has the right output
shape, parameter count, stage strides and module paths; EfficientNet-Lite0's genuine weights
load strictly and classify the ImageNet sample images."""
from __future__ import annotations

import csv
import dataclasses

import pytest
import torch
from torchvision import models as tv_models

from explorer.data import data_root
from explorer.zoo import (
    BLOCK_KINDS,
    UnknownModelError,
    build,
    class_names,
    get_spec,
    list_models,
    register,
)
from explorer.zoo import efficientnet_lite

ALL = list_models()
IMAGENET_SAMPLES = data_root("imagenet-samples")

# sum(p.numel()) for each model, and where the source is Keras, the Keras total
# (trainable + BatchNorm moving mean and variance). Sources:
#   torchvision rows: shared/REFERENCE.md (= the Weights enum's num_params, also checked below)
#   lenet5, mnist_*: shared/REFERENCE.md (seeds 000/004 and seed 002's Keras summaries)
#   efficientnet_lite0: shared/REFERENCE.md (sum over the package's state dict)
#   xception, mobilenet_v1: keras.applications' model summaries (Xception 22,910,480 total,
#     22,855,952 trainable; MobileNet 1.0-224 4,253,864 total, 4,231,976 trainable)
#   cifar_resnet18: the well-known count of the CIFAR ResNet-18 (e.g. kuangliu/pytorch-cifar)
#   nin: d2l's layer sizes counted by hand, (in·k²·out + out) + 2·(out² + out) per NiN block
_NIN_BLOCKS = ((3, 96, 11), (96, 256, 5), (256, 384, 3), (384, 1000, 3))
EXPECTED_PARAMS: dict[str, tuple[int, int]] = {  # name: (sum(p.numel()), Keras-style total)
    "lenet5": (61_706, 61_706),
    "alexnet": (61_100_840, 61_100_840),
    "nin": (sum(i * k * k * o + o + 2 * (o * o + o) for i, o, k in _NIN_BLOCKS),) * 2,
    "vgg16": (138_357_544, None),
    "vgg16_bn": (138_365_992, None),
    "googlenet": (6_624_904, None),
    "inception_v3": (27_161_264, None),
    "resnet18": (11_689_512, None),
    "resnet34": (21_797_672, None),
    "resnet50": (25_557_032, None),
    "resnext50_32x4d": (25_028_904, None),
    "cifar_resnet18": (11_173_962, None),
    "densenet121": (7_978_856, None),
    "xception": (22_855_952, 22_910_480),
    "mobilenet_v1": (4_231_976, 4_253_864),
    "mobilenet_v2": (3_504_872, None),
    "efficientnet_lite0": (4_652_008, None),
    "mnist_plain": (78_602, 78_602),
    "mnist_bn_dropout": (78_858, 79_114),
    "mnist_nin": (31_658, 31_850),
}

# The shape test runs every model on the meta device; the models written in this project (not
# torchvision's, which torchvision tests) that are small enough also get a real CPU forward pass.
REAL_FORWARD_MAX_PARAMS = 12_000_000


def meta_build(name: str) -> torch.nn.Module:
    with torch.device("meta"):
        return build(name)


def meta_input(name: str, size: int | None = None) -> torch.Tensor:
    c, h, w = get_spec(name).input_size
    return torch.empty(1, c, size or h, size or w, device="meta")


class _Stop(Exception):
    pass


def output_shapes(model: torch.nn.Module, x: torch.Tensor, paths: list[str]) -> dict[str, tuple]:
    """Output shapes of the modules at ``paths`` for input ``x``; the forward pass stops once
    all of them have run, so fixed-size models can be probed at other sizes."""
    modules = dict(model.named_modules())
    shapes: dict[str, tuple] = {}
    wanted = set(paths)

    def hook(path):
        def fn(_module, _inputs, output):
            shapes[path] = tuple(output.shape)
            if wanted <= shapes.keys():
                raise _Stop
        return fn

    handles = [modules[p].register_forward_hook(hook(p)) for p in wanted]
    try:
        model(x)
    except _Stop:
        pass
    finally:
        for h in handles:
            h.remove()
    return shapes


def keras_total(model: torch.nn.Module) -> int:
    """Keras's count: parameters plus BatchNorm moving mean and variance."""
    stats = sum(b.numel() for n, b in model.named_buffers()
                if n.endswith(("running_mean", "running_var")))
    return sum(p.numel() for p in model.parameters()) + stats


# --- registry -----------------------------------------------------------------------------

def test_roster_is_the_issue_2_roster():
    assert set(ALL) == set(EXPECTED_PARAMS)


def test_registry_rejects_duplicates_and_unknown_block_kinds():
    before = list_models()
    with pytest.raises(ValueError, match="lenet5"):
        register(get_spec("lenet5"))
    bogus = dataclasses.replace(get_spec("lenet5"), name="lenet5_bogus",
                                blocks=(("c1", "no_such_kind", "x"),))
    with pytest.raises(ValueError, match="no_such_kind"):
        register(bogus)
    assert list_models() == before


@pytest.mark.parametrize("typo, suggestion", [
    ("lenet", "lenet5"), ("mobilenetv2", "mobilenet_v2"), ("resnet05", "resnet50"),
    ("efficientnet_lite", "efficientnet_lite0"),
])
def test_unknown_name_names_close_matches(typo, suggestion):
    with pytest.raises(UnknownModelError) as info:
        get_spec(typo)
    assert isinstance(info.value, KeyError)
    assert suggestion in str(info.value)
    assert repr(typo) in str(info.value)


def test_list_models_by_dataset():
    assert set(list_models("mnist")) == {"lenet5", "mnist_plain", "mnist_bn_dropout", "mnist_nin"}
    assert list_models("cifar10") == ["cifar_resnet18"]
    assert "efficientnet_lite0" in list_models("imagenet")


# --- every model --------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL)
def test_metadata_is_complete(name):
    spec = get_spec(name)
    assert spec.family and spec.paper and len(spec.description) > 60
    assert 1989 <= spec.year <= 2020
    assert spec.dataset in ("imagenet", "mnist", "cifar10")
    assert len(class_names(name)) == spec.num_classes
    assert spec.stages and spec.gradcam_layer
    assert all(kind in BLOCK_KINDS for _, kind, _ in spec.blocks)
    assert set(spec.weight_sources) <= {"package", "trained"}
    assert spec.min_size is None or spec.min_size <= spec.input_size[1]
    if spec.tv_weights:
        weights = tv_models.get_weight(spec.tv_weights)  # metadata only, nothing downloaded
        assert weights.meta["num_params"] == EXPECTED_PARAMS[name][0]
        assert spec.published_top1 == weights.meta["_metrics"]["ImageNet-1K"]["acc@1"]
        builder = getattr(spec.builder, "func", spec.builder)  # unwrap functools.partial
        assert builder is tv_models.get_model_builder(spec.tv_builder)


@pytest.mark.parametrize("name", ALL)
def test_forward_shape(name):
    spec = get_spec(name)
    model = meta_build(name)
    assert not model.training and not any(m.training for m in model.modules())
    assert model(meta_input(name)).shape == (1, spec.num_classes)
    n_params = sum(p.numel() for p in model.parameters())
    if spec.tv_builder is None and n_params <= REAL_FORWARD_MAX_PARAMS:
        torch.manual_seed(0)
        real = build(name)
        with torch.inference_mode():
            out = real(torch.randn(2, *spec.input_size))
        assert out.shape == (2, spec.num_classes) and torch.isfinite(out).all()
        assert not out[0].equal(out[1])


@pytest.mark.parametrize("name", ALL)
def test_parameter_count(name):
    model = meta_build(name)
    params, keras = EXPECTED_PARAMS[name]
    assert sum(p.numel() for p in model.parameters()) == params
    assert all(p.requires_grad for p in model.parameters())
    if keras is not None:
        assert keras_total(model) == keras


@pytest.mark.parametrize("name", ALL)
def test_declared_paths_exist(name):
    spec = get_spec(name)
    modules = dict(meta_build(name).named_modules())
    paths = [*spec.stages.values(), spec.gradcam_layer, *(p for p, _, _ in spec.blocks)]
    assert [p for p in paths if p not in modules] == []


@pytest.mark.parametrize("name", ALL)
def test_stage_strides(name):
    """Each stage's effective stride, measured: growing the input by 64 pixels (a multiple of
    every stride) grows a stride-s output by exactly 64 / s. Fixed-size models are probed the
    same way, the forward pass stopping once the stages have run."""
    spec = get_spec(name)
    model = meta_build(name)
    paths = list(spec.stages.values())
    _, h, _ = spec.input_size
    base = output_shapes(model, meta_input(name), paths)
    grown = output_shapes(model, meta_input(name, h + 64), paths)
    sizes = []
    for stride, path in spec.stages.items():
        assert grown[path][-2] - base[path][-2] == 64 // stride, (stride, path)
        assert grown[path][-1] - base[path][-1] == 64 // stride, (stride, path)
        # ceil(h / s) with "same" padding, smaller where valid convolutions trim the border
        assert base[path][-2] <= -(-h // stride), (stride, path)
        sizes.append(base[path][-2])
    assert sorted(spec.stages) == list(spec.stages)
    assert sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("name", [n for n in ALL if get_spec(n).min_size])
def test_runs_at_min_size(name):
    spec = get_spec(name)
    model = meta_build(name)
    assert model(meta_input(name, spec.min_size)).shape == (1, spec.num_classes)


@pytest.mark.parametrize("name", [n for n in ALL if get_spec(n).min_size is None])
def test_fixed_size_models_reject_other_sizes(name):
    with pytest.raises(RuntimeError):
        meta_build(name)(meta_input(name, get_spec(name).input_size[1] + 4))


# --- architectures against the source material ----------------------------------------------

def test_lenet5_layer_shapes_seed_000():
    shapes = output_shapes(meta_build("lenet5"), meta_input("lenet5"),
                           ["c1", "s2", "c3", "s4", "c5", "f6", "output"])
    assert shapes == {"c1": (1, 6, 28, 28), "s2": (1, 6, 14, 14), "c3": (1, 16, 10, 10),
                      "s4": (1, 16, 5, 5), "c5": (1, 120, 1, 1), "f6": (1, 84),
                      "output": (1, 10)}
    model = meta_build("lenet5")
    assert sum(isinstance(m, torch.nn.Tanh) for m in model.modules()) == 4
    assert sum(isinstance(m, torch.nn.AvgPool2d) for m in model.modules()) == 2


# Seed 002's model.summary() "Param #" column, layer by layer (Keras counts BN as 4 × channels).
SEED_002_SUMMARIES = {
    "mnist_plain": [320, 9248, 9248, 9248, 50208, 330],
    "mnist_bn_dropout": [320, 128, 9248, 128, 9248, 128, 128, 9248, 50208, 330],
    "mnist_nin": [320, 128, 528, 64, 4640, 128, 528, 64, 25120, 330],
}


@pytest.mark.parametrize("name", list(SEED_002_SUMMARIES))
def test_mnist_variants_match_seed_002_layer_by_layer(name):
    model = meta_build(name)
    counts = [sum(t.numel() for n, t in m.state_dict().items() if "num_batches" not in n)
              for m in model.children()]
    assert [c for c in counts if c] == SEED_002_SUMMARIES[name]
    shapes = output_shapes(model, meta_input(name), ["max_pooling2d_1", "flatten"])
    assert shapes["max_pooling2d_1"][-2:] == (7, 7)
    assert shapes["flatten"] == (1, 784 if name == "mnist_nin" else 1568)


def test_xception_flows_match_keras():
    shapes = output_shapes(meta_build("xception"), meta_input("xception"),
                           ["stem", "entry_flow", "middle_flow", "exit_flow"])
    assert shapes == {"stem": (1, 64, 147, 147), "entry_flow": (1, 728, 19, 19),
                      "middle_flow": (1, 728, 19, 19), "exit_flow": (1, 2048, 10, 10)}


def test_mobilenet_v1_mult_adds_match_the_paper():
    """Howard et al., Table 8: 1.0 MobileNet-224 has 569 million mult-adds, 4.2 million params."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        meta_build("mobilenet_v1")(meta_input("mobilenet_v1"))
    assert counter.get_total_flops() / 2 == pytest.approx(569e6, rel=0.01)


def test_depthwise_separable_weights_seed_004():
    """Seed 004: 3×3, 16 → 32 channels costs 16·3·3 + 16·32 = 656 weights, not 4,608."""
    from explorer.zoo.mobilenet import DepthwiseSeparableConv
    from explorer.zoo.xception import SeparableConv2d

    sep = SeparableConv2d(16, 32)
    assert sum(p.numel() for p in sep.parameters()) == 656
    dws = DepthwiseSeparableConv(16, 32)
    assert dws.depthwise.weight.numel() + dws.pointwise.weight.numel() == 656


# --- EfficientNet-Lite0's genuine weights ---------------------------------------------------

@pytest.mark.parametrize("size, kernel, stride, pads", [
    (224, 3, 2, (0, 1)), (225, 3, 2, (1, 1)), (56, 5, 2, (1, 2)), (28, 5, 2, (1, 2)),
])
def test_tf_same_padding(size, kernel, stride, pads):
    """TF: out = ceil(in / s), pad = max((out - 1)·s + k - in, 0), the odd pixel at the end."""
    pad = efficientnet_lite.SamePad2d(kernel, stride)
    x = torch.zeros(1, 1, size, size)
    assert pad._pad(size) == pads
    y = torch.nn.functional.conv2d(pad(x), torch.zeros(1, 1, kernel, kernel), stride=stride)
    assert y.shape[-1] == -(-size // stride)


def test_efficientnet_package_weights_load_strictly():
    path = efficientnet_lite.package_weights_path()
    assert path.name == "efficientnet-lite0-57934424.pth" and path.is_file()
    state = efficientnet_lite.package_state_dict()
    assert len(state) == 296
    assert sum(v.numel() for k, v in state.items()
               if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))) \
        == 4_652_008
    mapped = {efficientnet_lite.map_package_key(k) for k in state}
    model = build("efficientnet_lite0")
    assert mapped == set(model.state_dict())  # one-to-one: all 296 tensors used, none missing
    with pytest.raises(KeyError, match="_bogus"):
        efficientnet_lite.map_package_key("_bogus.weight")

    loaded = efficientnet_lite.load_package_weights(model)
    assert loaded is model
    sd = model.state_dict()
    for key, tensor in state.items():
        assert sd[efficientnet_lite.map_package_key(key)].equal(tensor), key


@pytest.fixture(scope="module")
def imagenet_samples() -> tuple[torch.Tensor, torch.Tensor]:
    from PIL import Image
    from torchvision import transforms as T

    # The package's preprocessing: resize 256, centre crop 224, mean 0.5 and std 0.5.
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize([0.5] * 3, [0.5] * 3)])
    with open(IMAGENET_SAMPLES / "labels.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    images = torch.stack([tf(Image.open(IMAGENET_SAMPLES / r["file"]).convert("RGB"))
                          for r in rows])
    labels = torch.tensor([int(r["class_index"]) for r in rows])
    return images, labels


def test_efficientnet_lite0_classifies_imagenet_samples(imagenet_samples):
    """shared/data/README.md: 89 % top-1 and 99 % top-5 on the 100 sample images."""
    images, labels = imagenet_samples
    assert len(labels) == 100
    model = efficientnet_lite.load_package_weights(build("efficientnet_lite0"))
    with torch.inference_mode():
        logits = torch.cat([model(batch) for batch in images.split(25)])
    top1 = (logits.argmax(1) == labels).float().mean().item()
    top5 = (logits.topk(5).indices == labels[:, None]).any(1).float().mean().item()
    assert top1 >= 0.85, top1
    assert top5 >= 0.95, top5
