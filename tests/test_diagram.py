"""Architecture diagrams: valid DOT for every zoo model at every level, labelled with the right
shapes, with the merges (residual add, Inception/DenseNet concat) where the dataflow joins."""
from __future__ import annotations

import os
import re
import shutil

import graphviz
import pytest

from explorer import zoo

from explorer.analysis import diagram
from explorer.analysis import analyze

NODE = re.compile(r'^\s*(\w+) \[label="((?:[^"\\]|\\.)*)"', re.M)
EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[[^\]]*\])?;", re.M)
HAVE_DOT = shutil.which("dot") is not None


def parse(dot: str) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """Node id -> label lines, and the edges, of the DOT text diagram.to_dot writes."""
    nodes = {n: label.split("\\n") for n, label in NODE.findall(dot)}
    return nodes, EDGE.findall(dot)


def check_structure(dot: str) -> tuple[dict, list]:
    assert dot.startswith("digraph G {") and dot.rstrip().endswith("}")
    assert dot.count("{") == dot.count("}")
    nodes, edges = parse(dot)
    assert "input" in nodes
    for a, b in edges:
        assert a in nodes and b in nodes, f"edge {a} -> {b} names an undeclared node"
    reached = {b for _, b in edges}
    for n in nodes:  # every node but the input has a way in
        assert n == "input" or n in reached, f"{n} {nodes[n]} is disconnected"
    return nodes, edges


@pytest.mark.parametrize("level", diagram.LEVELS)
@pytest.mark.parametrize("name", zoo.list_models())
def test_every_model_every_level_is_valid_dot(name, level):
    dot = diagram.to_dot(analyze(name), level)
    nodes, _ = check_structure(dot)
    assert len(nodes) >= 3
    graphviz.Source(dot)  # the graphviz package accepts it
    if os.environ.get("CI", "").lower() == "true":  # .ci/run installs Graphviz: really render
        assert HAVE_DOT, "CI must install graphviz (apt-get install graphviz)"
    if HAVE_DOT:  # and Graphviz lays it out without complaint
        svg = diagram.to_svg(dot)
        assert svg.lstrip().startswith(b"<?xml") and b"</svg>" in svg


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "densenet121", "mobilenet_v2", "lenet5"])
def test_layer_nodes_carry_each_leafs_name_type_and_shape(name):
    a = analyze(name)
    nodes, _ = check_structure(diagram.to_dot(a, "layer"))
    for row in a.rows("layer"):
        label = nodes[f"n{row.index}"]
        short = row.name.rsplit(".", 1)[-1] + (f"#{row.call}" if row.call else "")
        assert label[0].endswith(short)
        assert label[1].startswith(row.type)
        assert label[2] == "×".join(map(str, row.output_shape[1:]))


def test_shapes_match_the_papers():
    # REFERENCE.md: LeNet-5's C1 6@28×28, S2 6@14×14, C3 16@10×10, C5 120; inception3a 28×28×256.
    nodes, _ = parse(diagram.to_dot(analyze("lenet5"), "layer"))
    shapes = [lab[2] for n, lab in nodes.items() if n.startswith("n")]
    for want in ("6×28×28", "6×14×14", "16×10×10", "16×5×5", "84", "10"):
        assert want in shapes
    nodes, _ = parse(diagram.to_dot(analyze("googlenet"), "block"))
    by_name = {lab[0]: lab for lab in nodes.values()}
    assert by_name["inception3a"][1:] == ["Inception", "256×28×28"]
    assert by_name["inception5b"][2] == "1024×7×7"


def merges(dot: str, symbol: str, edges=None) -> dict[str, list[str]]:
    nodes, edges = parse(dot)
    found = {n: lab for n, lab in nodes.items() if n.startswith("m") and lab[0] == symbol}
    return {n: [a for a, b in edges if b == n] for n in found}


def test_resnet18_residual_adds():
    a = analyze("resnet18")
    dot = diagram.to_dot(a, "layer")
    adds = merges(dot, "+")
    assert len(adds) == 8  # one per basic block, [2, 2, 2, 2]
    nodes, edges = parse(dot)
    for m, ins in adds.items():
        assert len(ins) == 2
        # the two paths have the same shape as the sum, and the sum feeds the block's last ReLU
        shapes = {nodes[i][2] for i in ins}
        assert shapes == {nodes[m][1]}
        (out,) = [b for x, b in edges if x == m]
        assert nodes[out][1] == "ReLU"
    # projection shortcuts: three adds take a downsample branch (stages 2–4)
    projected = [m for m, ins in adds.items() if any("downsample" in nodes[i][0] for i in ins)]
    assert len(projected) == 3


def test_googlenet_inception_concats():
    dot = diagram.to_dot(analyze("googlenet"), "layer")
    concats = merges(dot, "concat")
    assert len(concats) == 9  # nine Inception modules
    assert all(len(ins) == 4 for ins in concats.values())  # four branches each
    nodes, _ = parse(dot)
    assert sorted(nodes[m][1] for m in concats)[:2] == ["1024×7×7", "256×28×28"]
    # the merge sits inside its module's box
    block = dot[dot.index('label="inception3a · Inception"'):]
    block = block[:block.index("subgraph cluster_", 1) if "subgraph cluster_" in block[1:] else None]
    assert '[label="concat\\n256×28×28"' in block


def test_densenet_concat_grows_linearly():
    dot = diagram.to_dot(analyze("densenet121"), "layer")
    concats = merges(dot, "concat")
    # one concat before every dense layer but the first of each block, one at each block's end
    assert len(concats) == 6 + 12 + 24 + 16
    assert all(len(ins) == 2 for ins in concats.values())  # previous stack + the new 32 channels
    nodes, _ = parse(dot)
    widths = sorted(int(nodes[m][1].split("×")[0]) for m in concats)
    assert widths[-1] == 1024 and 64 + 6 * 32 in widths  # 256 leave dense block 1


def test_stage_view_follows_the_spec():
    a = analyze("resnet50")
    nodes, edges = parse(diagram.to_dot(a, "stage"))
    stages = [lab for n, lab in nodes.items() if n.startswith("s")]
    assert len(stages) == len(zoo.get_spec("resnet50").stages) + 1  # + head
    assert stages[0][0] == "stem (stride 2)" and stages[-1][0] == "head"
    assert [s[2] for s in stages] == ["64×112×112", "256×56×56", "512×28×28", "1024×14×14",
                                      "2048×7×7", "1000"]
    assert "MaxPool2d, 3× Bottleneck" == stages[1][1]
    assert len(edges) == len(stages)  # a chain from the input


def test_block_view_has_one_node_per_block():
    nodes, _ = parse(diagram.to_dot(analyze("resnet50"), "block"))
    assert sum(lab[1] == "Bottleneck" for lab in nodes.values()) == 3 + 4 + 6 + 3


def test_bad_level():
    with pytest.raises(ValueError, match="level"):
        diagram.to_dot(analyze("lenet5"), "blocks")


def test_to_svg_without_dot(monkeypatch):
    monkeypatch.setattr(diagram.shutil, "which", lambda _: None)
    assert diagram.to_svg("digraph G { a -> b; }") is None
    assert not diagram.has_dot()


def test_to_svg_reports_bad_dot():
    if not HAVE_DOT:
        assert diagram.to_svg("digraph G { a -> ; }") is None
        return
    with pytest.raises(RuntimeError, match="dot failed"):
        diagram.to_svg("digraph G { a -> ; }")


def test_inception_v3_functional_pool_joins_as_concat():
    # Mixed_7a (InceptionD) concatenates two conv branches with F.max_pool2d of its input,
    # a function call with no module: 320 + 192 + 768 = 1280 channels at 8×8, the pooled path
    # drawn dashed from Mixed_6e's concat.
    dot = diagram.to_dot(analyze("inception_v3"), "layer")
    nodes, _ = parse(dot)
    (m,) = [n for n, lab in nodes.items() if lab == ["concat", "1280×8×8"]]
    ins = re.findall(rf"^\s*(\w+) -> {m}( \[style=dashed\])?;", dot, re.M)
    assert len(ins) == 3
    dashed = [n for n, style in ins if style]
    assert len(dashed) == 1 and nodes[dashed[0]] == ["concat", "768×17×17"]
    assert not [lab for lab in nodes.values() if lab[0] == "merge"]  # every join is named


def test_mobilenet_v2_residual_adds():
    # The paper's table (t, c, n, s): n = 1, 2, 3, 4, 3, 3, 1 blocks per stage; every block but
    # the first of a stage has a shortcut: 0 + 1 + 2 + 3 + 2 + 2 + 0 = 10 adds, each of two paths
    # (consecutive adds read add(add(a, b), c), not a three-way join).
    adds = merges(diagram.to_dot(analyze("mobilenet_v2"), "layer"), "+")
    assert len(adds) == 10
    assert all(len(ins) == 2 for ins in adds.values())


@pytest.mark.parametrize("name", ["xception", "mobilenet_v2", "resnet50", "googlenet", "densenet121"])
def test_block_view_of_a_chain_of_blocks_is_a_chain(name):
    # Blocks hide their shortcuts inside; between blocks these networks are a single path. The
    # sum after a residual add still "contains" every earlier block, but only the last one feeds
    # the next block.
    nodes, edges = parse(diagram.to_dot(analyze(name), "block"))
    assert len(edges) == len(nodes) - 1
    assert len({b for _, b in edges}) == len(edges)  # one way into each node


def test_a_module_without_a_spec():
    # Any nn.Module can be drawn: no stages declared, so the stage view falls back to blocks.
    import torch.nn as nn

    net = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(8 * 4 * 4, 10))
    a = analyze(net, (3, 8, 8))
    for level in diagram.LEVELS:
        nodes, edges = check_structure(diagram.to_dot(a, level))
        shapes = [lab[2] for n, lab in nodes.items() if n.startswith("n")]
        assert shapes == ["8×8×8", "8×8×8", "8×4×4", "128", "10"]
    single = analyze(nn.Conv2d(1, 4, 5), (1, 28, 28))
    nodes, _ = check_structure(diagram.to_dot(single, "layer"))
    assert ["Conv2d", "Conv2d 5×5", "4×24×24"] in nodes.values()
