"""Per-layer analysis against numbers from elsewhere: torchvision's Weights metadata and
shared/REFERENCE.md for totals, Keras's summaries for the seed 002 models, the seeds' hand
arithmetic for MACs and parameters, and receptive fields worked out by hand on small nets."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torchvision

from explorer import zoo
from explorer.analysis import AnalysisError, ModelAnalysis, analyze

ROOT = Path(__file__).resolve().parents[1]

# shared/REFERENCE.md, "torchvision ImageNet models": builder -> (num_params, GMACs `_ops`, crop)
REFERENCE = {
    "alexnet": (61_100_840, 0.714, 224),
    "vgg16": (138_357_544, 15.470, 224),
    "vgg16_bn": (138_365_992, 15.470, 224),
    "googlenet": (6_624_904, 1.498, 224),
    "inception_v3": (27_161_264, 5.713, 299),
    "resnet18": (11_689_512, 1.814, 224),
    "resnet34": (21_797_672, 3.664, 224),
    "resnet50": (25_557_032, 4.089, 224),
    "resnext50_32x4d": (25_028_904, 4.230, 224),
    "densenet121": (7_978_856, 2.834, 224),
    "mobilenet_v2": (3_504_872, 0.301, 224),
}
TV_MODELS = [n for n in REFERENCE if n in zoo.list_models()]

# Keras "Total params / Trainable / Non-trainable": seed 002's summaries (REFERENCE.md),
# LeNet-5 (REFERENCE.md), and keras.applications' Xception and MobileNet 1.0-224 summaries.
KERAS = {
    "mnist_plain": (78_602, 78_602, 0),
    "mnist_bn_dropout": (79_114, 78_858, 256),
    "mnist_nin": (31_850, 31_658, 192),
    "lenet5": (61_706, 61_706, 0),
    "xception": (22_910_480, 22_855_952, 54_528),
    "mobilenet_v1": (4_253_864, 4_231_976, 21_888),
}


def test_reference_models_are_in_the_zoo():
    assert len(TV_MODELS) == len(REFERENCE), set(REFERENCE) - set(TV_MODELS)


@pytest.mark.parametrize("name", TV_MODELS)
def test_totals_match_torchvision_metadata_and_reference(name):
    params, gmacs, crop = REFERENCE[name]
    meta = torchvision.models.get_weight(zoo.get_spec(name).tv_weights).meta
    assert meta["num_params"] == params  # the two sources agree
    assert meta["_ops"] == pytest.approx(gmacs, abs=5e-4)
    a = analyze(name, (3, crop, crop))
    assert a.params_pytorch == meta["num_params"]
    assert a.macs == pytest.approx(meta["_ops"] * 1e9, rel=0.01)
    assert a.flops == 2 * a.macs


def test_inception_v3_aux_head_counts_in_params_but_does_not_run():
    a = analyze("inception_v3")
    assert a.unused_modules == ("AuxLogits",)
    assert not any(r.name.startswith("AuxLogits") for r in a.layers)
    assert a.params_pytorch == REFERENCE["inception_v3"][0]


@pytest.mark.parametrize("name", list(KERAS))
def test_keras_convention_totals(name):
    total, trainable, non_trainable = KERAS[name]
    a = analyze(name)
    assert (a.params_total, a.params_trainable, a.params_non_trainable) == (
        total, trainable, non_trainable)
    # the table's rows add up to the totals (Keras's "Param #" column)
    assert sum(r.params for r in a.rows("layer")) + a.params_unused == total


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_model_counts_like_a_real_build(name):
    a = analyze(name)
    with torch.device("meta"):
        model = zoo.build(name)  # numel works on meta; the analysis never shares this instance
    assert a.params_pytorch == sum(p.numel() for p in model.parameters())
    assert a.buffers == sum(b.numel() for b in model.buffers())
    bn_stats = sum(m.running_mean.numel() * 2 for m in model.modules()
                   if isinstance(m, nn.modules.batchnorm._BatchNorm))
    assert a.params_non_trainable == bn_stats
    leaves = a.rows("layer")
    assert sum(r.params_pytorch for r in leaves) + a.params_unused - bn_stats_unused(a, model) \
        == a.params_pytorch
    assert sum(r.macs for r in leaves) == a.macs == a.layers[0].macs
    assert a.layers[0].output_shape == (1, zoo.get_spec(name).num_classes)
    assert a.layers[0].rf_global
    assert [r.index for r in a.layers] == list(range(len(a.layers)))


def bn_stats_unused(a: ModelAnalysis, model: nn.Module) -> int:
    mods = dict(model.named_modules())
    return sum(m.running_mean.numel() * 2 for u in a.unused_modules
               for m in mods[u].modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))


@pytest.mark.parametrize("name", ["lenet5", "mnist_nin", "cifar_resnet18", "mobilenet_v2"])
def test_small_models_match_a_real_cpu_build(name):
    model = zoo.build(name)
    a = analyze(name)
    assert a.params_pytorch == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        out = model(torch.zeros(1, *zoo.get_spec(name).input_size))
    assert a.layers[0].output_shape == tuple(out.shape)


# ---------------------------------------------------------------- receptive fields, published


def test_alexnet_and_vgg16_receptive_fields():
    assert analyze("alexnet").row("features.12").receptive_field == 195  # last pool
    vgg = analyze("vgg16")
    assert vgg.row("features.30").receptive_field == 212  # last pool
    assert vgg.row("features.28").receptive_field == 196  # conv5_3
    assert vgg.row("features.30").jump == 32


# ---------------------------------------------------------------- hand-checkable small nets


def conv(cin=1, cout=1, k=3, s=1, p=0, d=1, g=1):
    return nn.Conv2d(cin, cout, k, s, p, d, g)


def rf(model, size=(1, 32, 32), name=None):
    a = analyze(model, size)
    return a if name is None else a.row(name)


def test_stacked_3x3_convs_see_5x5_then_7x7():
    a = rf(nn.Sequential(conv(), conv(), conv()))
    assert [a.row(str(i)).receptive_field for i in range(3)] == [3, 5, 7]
    assert [a.row(str(i)).jump for i in range(3)] == [1, 1, 1]
    assert a.row("0").start_hw == (1, 1)  # no padding: first unit centred on pixel 1


def test_dilation_and_stride_products():
    a = rf(nn.Sequential(conv(d=2), conv(d=4)))
    assert a.row("0").receptive_field == 5  # 1 + 2·2
    assert a.row("1").receptive_field == 13  # 5 + 2·4
    b = rf(nn.Sequential(conv(s=2, p=1), conv(s=2, p=1), conv(p=1), nn.MaxPool2d(2)))
    assert [b.row(str(i)).receptive_field for i in range(4)] == [3, 7, 15, 19]
    assert [b.row(str(i)).jump for i in range(4)] == [2, 4, 4, 8]
    assert b.row("3").output_shape == (1, 1, 4, 4)


class Branches(nn.Module):
    """The long branch runs first, so a field accumulated in module order would be wrong."""

    def __init__(self, add=False):
        super().__init__()
        self.long = nn.Sequential(conv(p=1), conv(p=1), conv(p=1))  # 7
        self.short = conv(p=1)  # 3
        self.add = add
        self.mix = conv(1 if add else 2, 1, k=1)

    def forward(self, x):
        a = self.long(x)
        b = self.short(x)
        return self.mix(a + b if self.add else torch.cat([a, b], 1))


@pytest.mark.parametrize("add", [False, True])
def test_branches_take_the_largest_field_over_paths(add):
    a = rf(Branches(add))
    assert a.row("short").receptive_field == 3
    assert a.row("long").receptive_field == 7
    assert a.row("mix").receptive_field == 7
    assert a.row("mix").input_shapes == ((1, 2 if not add else 1, 32, 32),)
    src = {a.layers[i].name for i in a.row("mix").inputs_from}
    assert src == {"long.2", "short"}
    assert a.row("long.0").inputs_from == (-1,)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.relu = conv(p=1), conv(p=1), nn.ReLU()

    def forward(self, x):
        return self.relu(self.c2(self.relu(self.c1(x))) + x)  # relu called twice


def test_residual_and_shared_module_rows():
    a = rf(Residual())
    relus = [r for r in a.layers if r.name == "relu"]
    assert [r.call for r in relus] == [0, 1]
    assert relus[1].receptive_field == 5
    # the add's inputs: c2 and, through the skip connection, the input image (-1)
    assert relus[1].inputs_from == (-1, a.row("c2").index)
    assert a.row("relu").params == 0 and a.row("c1").params == 10


def test_global_pool_covers_the_whole_feature_map():
    a = rf(nn.Sequential(conv(p=1), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2)),
           (1, 8, 8))
    assert a.row("0").rf_global is False
    assert a.row("1").rf_global and a.row("1").receptive_field == 3 + 7  # 8 positions, jump 1
    assert a.row("3").rf_global and a.row("3").receptive_field == 10


def test_macs_follow_the_seeds_arithmetic():
    # seed 000: a 5×5 "same" conv 192 -> 32 on 28×28, and with a 1×1 reduction to 16 first
    plain = analyze(nn.Conv2d(192, 32, 5, padding=2, bias=False), (192, 28, 28))
    assert plain.macs == 120_422_400
    reduced = analyze(nn.Sequential(nn.Conv2d(192, 16, 1), nn.Conv2d(16, 32, 5, padding=2)),
                      (192, 28, 28))
    assert reduced.macs == 12_443_648
    assert reduced.row("0").macs == 2_408_448
    # seed 004: bottleneck 512 -> 128 -> 128 -> 512 vs a plain 3×3, and depthwise separable
    plain3 = analyze(nn.Conv2d(512, 512, 3, padding=1, bias=False), (512, 26, 26))
    assert plain3.params_pytorch == 2_359_296
    bottleneck = analyze(nn.Sequential(nn.Conv2d(512, 128, 1, bias=False),
                                       nn.Conv2d(128, 128, 3, padding=1, bias=False),
                                       nn.Conv2d(128, 512, 1, bias=False)), (512, 26, 26))
    assert bottleneck.params_pytorch == 278_528
    separable = analyze(nn.Sequential(nn.Conv2d(16, 16, 3, padding=1, groups=16, bias=False),
                                      nn.Conv2d(16, 32, 1, bias=False)), (16, 8, 8))
    assert separable.params_pytorch == 656
    assert separable.row("0").groups == 16 and separable.row("0").kernel_size == (3, 3)
    fc = analyze(nn.Linear(10, 5), (1, 1, 10))
    assert fc.macs == 50


def test_googlenet_first_inception_module():
    a = analyze("googlenet")
    r = a.row("inception3a")
    assert r.input_shapes == ((1, 192, 28, 28),) and r.output_shape == (1, 256, 28, 28)
    assert r.level == "block" and r.type == "Inception"
    blocks = [b.name for b in a.rows("block") if b.type == "Inception"]
    assert len(blocks) == 9
    # the four branches end in the concatenation that the next module reads
    srcs = {a.layers[i].name for i in a.row("inception3b").inputs_from}
    assert srcs == {"inception3a.branch1.bn", "inception3a.branch2.1.bn",
                    "inception3a.branch3.1.bn", "inception3a.branch4.1.bn"}


def test_block_view_and_edges_of_resnet50():
    a = analyze("resnet50")
    blocks = [r for r in a.rows("block") if r.level == "block"]
    assert [r.type for r in blocks] == ["Bottleneck"] * 16
    assert all(r.block == r.index for r in blocks)
    edges = {(a.layers[s].name if s >= 0 else "input", a.layers[t].name)
             for s, t in a.edges("block")}
    assert ("input", "conv1") in edges and ("layer1.0", "layer1.1") in edges
    assert ("layer4.2", "avgpool") in edges
    assert [s.stride for s in a.stages] == [2, 4, 8, 16, 32, None]
    assert sum(s.macs for s in a.stages) == a.macs
    assert a.stages[-2].output_shape == (1, 2048, 7, 7)


def test_dense_block_concatenates_all_earlier_layers():
    a = analyze("densenet121")
    r = a.row("features.denseblock1.denselayer3.norm1")
    srcs = {a.layers[i].name for i in r.inputs_from}
    assert srcs == {"features.pool0", "features.denseblock1.denselayer1.conv2",
                    "features.denseblock1.denselayer2.conv2"}


# ---------------------------------------------------------------- errors, purity, caching


@pytest.mark.parametrize("name,size,needle", [
    ("vgg16", (3, 16, 16), "vgg16 needs at least 32×32 input: after 5 downsampling steps 16×16 becomes 0×0"),
    ("vgg16", (1, 224, 224), "3-channel"),
    ("lenet5", (1, 28, 28), "only 1×32×32"),
    ("resnet18", (3, 16, 16), "at least 32×32"),
])
def test_impossible_input_sizes_raise_analysis_error(name, size, needle):
    with pytest.raises(AnalysisError, match=needle) as info:
        analyze(name, size)
    assert "\n" not in str(info.value)


def test_a_module_that_cannot_take_the_input_says_where():
    net = nn.Sequential(conv(1, 2), nn.MaxPool2d(2), conv(2, 2))
    with pytest.raises(AnalysisError, match="after 1 downsampling step 5×5 becomes 0×0 at 2"):
        analyze(net, (1, 5, 5))
    with pytest.raises(AnalysisError, match=r"0 \(Conv2d\) expects 1 input channels, gets 3"):
        analyze(net, (3, 8, 8))
    with pytest.raises(AnalysisError, match="input_size"):
        analyze(net)


def test_unknown_name_raises_the_zoos_error():
    with pytest.raises(zoo.UnknownModelError, match="unknown model 'resnet5'"):
        analyze("resnet5")


def test_passed_module_is_left_untouched():
    model = torchvision.models.resnet18()
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    a = analyze(model, (3, 224, 224))
    assert a.macs == analyze("resnet18").macs
    assert model.training and all(m.training for m in model.modules())
    assert all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) and after[k].device.type == "cpu" for k in before)
    assert all(p.grad is None for p in model.parameters())


def test_results_are_cached_and_frozen():
    a = analyze("alexnet")
    assert analyze("alexnet", (3, 224, 224)) is a
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.layers[1].params = 0
    assert isinstance(a.layers, tuple)
    df = a.to_dataframe()
    assert len(df) == len(a.layers) and {"name", "level", "receptive_field"} <= set(df.columns)
    assert len(a.to_dataframe("stage")) == len(a.stages)
    json.dumps(a.to_dict())


# ---------------------------------------------------------------- command line


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "explorer.analysis", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_cli_json():
    p = run_cli("mnist_bn_dropout", "--json")
    assert p.returncode == 0, p.stderr
    d = json.loads(p.stdout)
    assert (d["params_total"], d["params_trainable"], d["params_non_trainable"]) == (
        79_114, 78_858, 256)
    assert d["macs"] > 0
    layer = d["layers"][1]
    assert {"name", "type", "output_shape", "params", "macs", "receptive_field"} <= set(layer)


def test_cli_table_and_list():  # in-process: each subprocess spends seconds importing torch
    from explorer.analysis.report import format_model_list, format_table  # what the CLI prints

    out = format_table(analyze("vgg16"))
    assert "features.30 (MaxPool2d)" in out and "138,357,544" in out
    assert format_model_list().split()[0] == zoo.list_models()[0]


@pytest.mark.parametrize("args,needle", [
    (("no_such_net",), "unknown model 'no_such_net'"),
    (("vgg16", "--input-size", "3", "8", "8"), "vgg16 needs at least 32×32 input"),
])
def test_cli_errors_are_one_line_with_exit_code_2(args, needle):
    p = run_cli(*args)
    assert p.returncode == 2
    assert needle in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1


def test_a_builder_without_meta_kernels_falls_back_to_one_real_build(monkeypatch):
    """build_meta's fallback: a builder whose init has no meta kernel is built for real once and
    analysed on a meta copy, with the same result as the meta path."""
    from explorer.analysis import layers

    expected = analyze("resnet18")
    real_build = zoo.build
    calls = []

    def build_without_meta(name, **kwargs):
        on_meta = torch.empty(0).device.type == "meta"
        calls.append(on_meta)
        if on_meta:
            raise NotImplementedError("no meta kernel for an op in this builder")
        return real_build(name, **kwargs)

    monkeypatch.setattr(zoo, "build", build_without_meta)
    layers.clear_cache()
    try:
        fallback = analyze("resnet18")
    finally:
        layers.clear_cache()
    assert calls == [True, False]  # the meta try, then one real build
    assert fallback.params_pytorch == expected.params_pytorch == 11_689_512
    assert fallback.macs == expected.macs
    assert [(r.name, r.output_shape, r.receptive_field) for r in fallback.layers] == \
           [(r.name, r.output_shape, r.receptive_field) for r in expected.layers]


def test_inplace_fallback_for_torch_without_tag_inplace_agrees_with_the_tag():
    """PyTorch 2.11 (seen on a GPU machine) has no torch.Tag.inplace; the analysis then tells
    in-place ops by ATen's trailing underscore. On every pointwise ATen op of this PyTorch the
    two answers must agree."""
    from explorer.analysis import meta

    checked = 0
    for name in dir(torch.ops.aten):
        packet = getattr(torch.ops.aten, name, None)
        try:
            overloads = packet.overloads()
        except Exception:
            continue
        for overload in overloads:
            func = getattr(packet, overload)
            if torch.Tag.pointwise not in func.tags:
                continue
            checked += 1
            by_tag = torch.Tag.inplace in func.tags
            saved, meta.INPLACE_TAG = meta.INPLACE_TAG, None
            try:
                assert meta.is_inplace(func, func.tags) == by_tag, func
            finally:
                meta.INPLACE_TAG = saved
    assert checked > 300
