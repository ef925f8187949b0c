"""explorer.analysis.blocks: step tracing, activation capture, cost panel, source, diagram.

Shapes are checked against a real CPU forward pass observed with the test's own hooks, the cost
panel against the seed figures of shared/REFERENCE.md, and the capture for side effects on the
model it borrows.
"""
from __future__ import annotations

import threading
from functools import lru_cache

import pytest
import torch
import torch.nn as nn

from explorer.analysis import blocks as B
from explorer import zoo

STANDALONE = [(kind, v.name) for kind, vs in B.standalone_forms().items() for v in vs]
REAL = [(b.model, b.path, b.kind) for b in B.real_blocks()]


def _leaf_outputs(block: nn.Module, run) -> tuple[list[tuple[str, tuple]], torch.Tensor]:
    """(path, output shape) of every leaf call inside ``block`` during ``run()``, observed
    independently of explorer.blocks, and the block's output."""
    names = {id(m): p for p, m in block.named_modules()}
    seen: list[tuple[str, tuple]] = []
    out: list[torch.Tensor] = []
    handles = [m.register_forward_hook(
        lambda m, i, o: seen.append((names[id(m)], tuple(o.shape[1:]))))
        for m in block.modules() if next(m.children(), None) is None]
    handles.append(block.register_forward_hook(lambda m, i, o: out.append(o)))
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
    return seen, out[0]


def _check_against_forward(trace: B.BlockTrace, block: nn.Module, run) -> None:
    seen, out = _leaf_outputs(block, run)
    traced = [(s.path, s.output_shape) for s in trace.steps if s.kind == "module"]
    assert traced == seen
    assert trace.output_shape == tuple(out.shape[1:])
    assert trace.steps[-1].output_shape == trace.output_shape
    assert sum(s.params for s in trace.steps) == sum(p.numel() for p in block.parameters())
    assert trace.params_total == sum(p.numel() for p in block.parameters())
    # every functional step's output shape is consistent with what consumes it
    for s in trace.steps:
        for k, i in enumerate(s.inputs):
            if i >= 0 and s.kind == "module":
                assert trace.steps[i].output_shape == s.input_shapes[k]


def test_every_block_kind_has_a_standalone_form_and_a_cost_panel():
    forms = B.standalone_forms()
    assert set(forms) == set(zoo.BLOCK_KINDS)
    for kind in zoo.BLOCK_KINDS:
        assert B.cost_panel(kind), kind
        assert B.real_blocks(kind), f"no real model offers a {kind} block"


@pytest.mark.parametrize("kind,variant", STANDALONE)
def test_standalone_steps_match_a_real_forward(kind, variant):
    trace = B.trace_standalone(kind, variant)  # traced on the meta device
    torch.manual_seed(0)
    block, shape = B.build_standalone(kind, variant)  # the same block on the CPU, for real
    x = torch.randn(1, *shape)
    _check_against_forward(trace, block, lambda: block(x))
    assert trace.input_shape == shape
    assert all(s.branch for s in trace.steps)


@lru_cache(maxsize=2)
def _cpu_model(name: str) -> nn.Module:
    """A CPU copy of the model with cheap random weights: built on the meta device, then given
    real storage (skipping the builders' slow initialisation; shapes do not depend on values)."""
    with torch.device("meta"):
        model = B.build_external(name) if name == B.DEEPLAB else zoo.build(name)
    model = model.to_empty(device="cpu").eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05, generator=gen)
        for key, buf in model.named_buffers():
            buf.fill_(1) if key.endswith("running_var") else buf.zero_()
    return model


def _small_size(name: str) -> tuple[int, int, int]:
    if name == B.DEEPLAB:
        return (3, 96, 96)
    spec = zoo.get_spec(name)
    c, h, _ = spec.input_size
    side = h if spec.min_size is None else max(spec.min_size, 64)
    return (c, side, side)


@pytest.mark.parametrize("name,path,kind", REAL)
def test_real_block_steps_match_a_real_forward(name, path, kind):
    size = _small_size(name)  # a small image keeps the CPU forward cheap
    trace = B.trace_real(name, path, size)
    model = _cpu_model(name)
    block = model.get_submodule(path)
    x = torch.randn(1, *size)
    _check_against_forward(trace, block, lambda: model(x))
    assert trace.kind == kind


def test_real_blocks_at_full_size_match_the_reference_shapes():
    # REFERENCE.md: GoogLeNet's first Inception module, 28×28×192 -> 28×28×256
    t = B.trace_real("googlenet", "inception3a")
    assert (t.input_shape, t.output_shape) == ((192, 28, 28), (256, 28, 28))
    cat = [s for s in t.steps if s.op == "concat"]
    assert cat[-1].merge_text.startswith("concat: 64+128+32+32 = 256 channels")
    assert t.branches[:4] == ["branch1 (1×1)", "branch2 (1×1 → 3×3)", "branch3 (1×1 → 3×3)",
                              "branch4 (max-pool 3×3 → 1×1)"]
    # seed 000's convolutional block: projection shortcut 64 -> 256 at 56×56
    t = B.trace_real("resnet50", "layer1.0")
    add = [s for s in t.steps if s.op == "add"][0]
    assert add.merge_text == "add: 256×56×56 + 256×56×56 → 256×56×56 (shapes must match)"
    assert {s.branch for s in t.steps if s.path.startswith("downsample")} == {
        "projection shortcut (downsample: 1×1)"}
    t = B.trace_real("resnet18", "layer1.0")
    assert not any("shortcut" in b for b in t.branches)  # identity: no step on the shortcut
    assert [s.inputs for s in t.steps if s.op == "add"][0][1] == -1  # adds the block's input
    t = B.trace_real("inception_v3", "Mixed_7b")
    assert "branch3x3 (1×1 → 1×3 ‖ 3×1)" in t.branches
    t = B.trace_real("densenet121", "features.denseblock1")
    final = t.steps[-1]
    assert final.merge_text.startswith("concat: 64+32+32+32+32+32+32 = 256 channels")
    assert len(final.inputs) == 7 and final.inputs[0] == -1


def test_cost_panel_reproduces_the_seed_figures_exactly():
    c = B.cost_inception_reduction()
    assert (c.naive, c.block, c.parts) == (120_422_400, 12_443_648, [2_408_448, 10_035_200])
    assert "1.2 亿" in c.seed and "0.12 亿" in c.seed
    assert "120,422,400" in c.text() and "2,408,448 + 10,035,200 = 12,443,648" in c.text()
    c = B.cost_bottleneck()
    assert (c.naive, c.block) == (2_359_296, 278_528)
    c = B.cost_depthwise()
    assert (c.naive, c.block, c.parts) == (4_608, 656, [144, 512])
    assert round(B.cost_factorised(7).ratio * 100, 1) == 28.6
    assert round(B.cost_factorised(3).ratio * 100) == 67
    c = B.cost_two_3x3(64)
    assert (c.naive, c.block) == (25 * 64 * 64, 18 * 64 * 64)
    assert "receptive field 5" in c.naive_label and "receptive field 5" in c.block_label


@pytest.mark.parametrize("name,path", [("googlenet", "inception3a"), ("resnet50", "layer1.0"),
                                       ("densenet121", "features.denseblock1"),
                                       ("mobilenet_v2", "features.3")])
def test_block_totals_agree_with_the_per_layer_analysis(name, path):
    """explorer.analysis counts MACs and parameters its own way: the block's steps agree."""
    from explorer.analysis import analyze

    leaves = [layer for layer in analyze(name).layers
              if layer.is_leaf and layer.name.startswith(path + ".")]
    trace = B.trace_real(name, path)
    assert trace.macs_total == sum(layer.macs for layer in leaves)
    assert trace.params_total == sum(layer.params_pytorch for layer in leaves)
    assert [s.output_shape for s in trace.steps if s.kind == "module"] == [
        tuple(layer.output_shape[1:]) for layer in leaves]


def test_same_shapes_comparison_uses_a_plain_conv_at_the_blocks_shapes():
    trace = B.trace_real("googlenet", "inception3a")
    c = B.cost_same_shapes(trace)
    assert c.naive == 28 * 28 * 256 * 192 * 9  # one 3×3 conv 192 -> 256 at 28×28
    assert c.block == trace.macs_total == sum(s.macs for s in trace.steps)
    assert "442,368" in c.note  # its weights: 192·256·9
    c = B.cost_same_shapes(B.trace_real("resnet18", "layer2.0"))
    assert c.naive == 28 * 28 * 128 * 64 * 9  # 3×3 stride-2 conv 64 -> 128, 56 -> 28


def test_bad_settings_raise_a_readable_error():
    with pytest.raises(B.BlockConfigError, match="C"):
        B.build_standalone("inception_v1", c=-3)
    with pytest.raises(B.BlockConfigError, match="between"):
        B.trace_standalone("transition", out_channels=0)
    with pytest.raises(B.BlockConfigError, match="does not fit"):
        B.trace_standalone("transition", h=1, w=1)
    with pytest.raises(B.BlockConfigError, match="comma"):
        B.trace_standalone("aspp", atrous_rates="twelve")


def _snapshot(model: nn.Module):
    return ({k: v.clone() for k, v in model.state_dict().items()},
            [m.training for m in model.modules()], [p.requires_grad for p in model.parameters()])


def _assert_untouched(model: nn.Module, snap) -> None:
    state, modes, req = snap
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == req
    assert all(p.grad is None for p in model.parameters())
    for m in model.modules():
        assert not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
    assert torch._C._len_torch_function_stack() == 0


@pytest.fixture(scope="module")
def googlenet():
    return _cpu_model("googlenet")


def test_capture_gives_real_activations_and_leaves_the_model_untouched(googlenet):
    model = googlenet
    snap = _snapshot(model)
    x = torch.randn(1, 3, 96, 96)
    acts = B.capture_steps(model, "inception3a", x)
    _assert_untouched(model, snap)
    trace = B.trace_real("googlenet", "inception3a", (3, 96, 96))
    assert [a.shape for a in acts] == [s.output_shape for s in trace.steps]
    # the block's output, computed independently, has the statistics the capture reports
    _, out = _leaf_outputs(model.inception3a, lambda: model(x))
    assert acts[-1].stats["mean"] == pytest.approx(float(out.mean()), rel=1e-5)
    assert acts[-1].stats["max"] == pytest.approx(float(out.max()), rel=1e-5)
    relu = next(a for a, s in zip(acts, trace.steps) if s.op == "ReLU")
    assert relu.stats["min"] >= 0 and relu.stats["zero"] > 0
    a = acts[0]
    assert a.mean_map.shape == a.shape[1:] and len(a.channels) == 4
    assert all(m.shape == a.shape[1:] for _, m in a.channels)
    rows = B.branch_stats(trace, acts)
    assert [r["branch"] for r in rows][:4] == trace.branches[:4]


def _patch_conv(monkeypatch, conv: nn.Conv2d, forward) -> None:
    """Route ``conv``'s forward through ``forward(original, x)``. The capture runs on a borrowed
    copy of the model (new module objects sharing the weights), so the conv is recognised by its
    weight tensor rather than by the module object."""
    original = nn.Conv2d.forward

    def patched(self, x):
        if self.weight is conv.weight:
            return forward(lambda y: original(self, y), x)
        return original(self, x)

    monkeypatch.setattr(nn.Conv2d, "forward", patched)


def test_capture_cleans_up_when_a_step_raises(googlenet, monkeypatch):
    model = googlenet
    snap = _snapshot(model)

    def boom(original, x):
        raise RuntimeError("step failed")

    _patch_conv(monkeypatch, model.inception3a.branch2[1].conv, boom)
    with pytest.raises(RuntimeError, match="step failed"):
        B.capture_steps(model, "inception3a", torch.randn(1, 3, 64, 64))
    monkeypatch.undo()
    _assert_untouched(model, snap)
    assert len(B.capture_steps(model, "inception3a", torch.randn(1, 3, 64, 64))) == 20


def test_capture_does_not_disturb_another_threads_forward(googlenet, monkeypatch):
    """While the hooks are attached, a forward pass of the same model in another thread (another
    browser session) runs to the end and is not recorded."""
    model = googlenet
    other: dict = {}

    def spy(original, x):
        if threading.current_thread() is threading.main_thread() and "logits" not in other:
            t = threading.Thread(target=lambda: other.update(
                logits=model(torch.randn(1, 3, 64, 64))))
            t.start()
            t.join()
        return original(x)

    _patch_conv(monkeypatch, model.inception3a.branch1.conv, spy)
    with torch.no_grad():
        acts = B.capture_steps(model, "inception3a", torch.randn(1, 3, 64, 64))
    assert other["logits"].shape == (1, 1000)  # not stopped at the block
    assert len(acts) == 20  # nothing from the other thread was recorded


def test_concurrent_captures_get_their_own_results(googlenet):
    """Two sessions capturing the same shared model at once: each gets what it would get alone,
    and the model is left as it was."""
    model = googlenet
    snap = _snapshot(model)
    xs = [torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(k)) for k in range(4)]
    alone = [B.capture_steps(model, "inception3a", x) for x in xs]
    start = threading.Barrier(len(xs))
    together: dict = {}

    def run(k):
        start.wait()
        together[k] = B.capture_steps(model, "inception3a", xs[k])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, acts in enumerate(alone):
        assert [a.stats for a in together[k]] == [a.stats for a in acts]
        assert all((a.mean_map == b.mean_map).all() for a, b in zip(together[k], acts))
    assert alone[0][-1].stats != alone[1][-1].stats  # different images, different numbers
    _assert_untouched(model, snap)


def test_capture_describes_the_models_own_modules():
    """The capture traces a borrowed copy, whose ReLU6 is a ReLU subclass: the steps still name
    the model's own modules (ReLU6, not ReLU)."""
    model = _cpu_model("mobilenet_v2")
    block = model.get_submodule("features.3")
    trace, acts = B.capture_trace(model, "features.3", torch.randn(1, 3, 64, 64))
    modules = [s for s in trace.steps if s.kind == "module"]
    assert [s.type for s in modules] == [type(block.get_submodule(s.path)).__name__
                                         for s in modules]
    assert "ReLU6" in {s.type for s in modules} and "ReLU6" in {s.op for s in modules}
    assert trace.source_class is type(block)
    meta = B.trace_real("mobilenet_v2", "features.3", (3, 64, 64))
    assert [(s.op, s.type, s.detail, s.branch) for s in trace.steps] == [
        (s.op, s.type, s.detail, s.branch) for s in meta.steps]


def test_block_source_shows_the_class():
    assert "class Inception(" in B.block_source("inception_v1")
    assert "class InceptionC(" in B.block_source(B.trace_standalone("inception_v3").source_class)
    src = B.block_source(B.meta_model("resnet50").get_submodule("layer1.0"))
    assert "class Bottleneck(" in src and "out += identity" in src
    assert "class ASPP(" in B.block_source("aspp")
    assert "plain Sequential" in B.block_source(nn.Sequential(nn.Conv2d(1, 1, 1)))


def test_dot_highlights_the_current_step_and_draws_the_data_flow():
    trace = B.trace_real("googlenet", "inception3a")
    dot = B.block_dot(trace, current=5)
    assert dot.count('fillcolor="#ff9f43"') == 1 and 's5 [label="6. ' in dot
    cat = trace.steps[-1]
    assert sum(f"-> s{cat.index};" in line for line in dot.splitlines()) == 4
    assert dot.count("subgraph cluster_") == 4
    facts = dict(B.step_facts(cat))
    assert facts["Shape arithmetic"].startswith("concat: 64+128+32+32 = 256")


def test_colorize_makes_an_enlarged_rgb_image():
    import numpy as np

    img = B.colorize(np.arange(16, dtype=np.float32).reshape(4, 4), size=160)
    assert img.shape == (160, 160, 3) and img.dtype == np.uint8
    assert tuple(img[0, 0]) == (68, 1, 84) and tuple(img[-1, -1]) == (253, 231, 37)
