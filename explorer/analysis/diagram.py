"""Architecture diagrams as Graphviz DOT text, drawn from an :class:`~explorer.analysis.ModelAnalysis`.

Three views of the same network:

- ``"stage"``: the input, one box per stage (the spec's stages, keyed by output stride) and the
  head, each with what it contains, its output shape, parameters and MACs;
- ``"block"``: one box per block (a ResNet basic block, an Inception module, a dense block, an
  inverted residual...) and per layer that sits outside any block;
- ``"layer"``: every leaf module, grouped in boxes by the blocks and containers that hold it,
  with the merges that have no module of their own (a residual ``+``, an Inception or DenseNet
  ``concat``) drawn as small round nodes where the dataflow joins.

Every node says its name, its type and its output shape (channels × height × width, batch
dimension left out). Colours mark the kind of layer: convolution, pooling, normalisation,
activation, linear, merge. Graphs run top to bottom so a deep network scrolls rather than
shrinks. The text is plain DOT; :func:`to_svg` renders it with Graphviz's ``dot`` when that is
installed (the browser draws the DOT itself, so the page needs no binary).
"""
from __future__ import annotations

import shutil
import subprocess
from collections import Counter

from explorer.i18n import N_, _, format_short, join

__all__ = ["LEVELS", "CATEGORIES", "category", "fmt_shape", "stage_title", "stage_name",
           "weighted_depth", "to_dot", "to_svg", "has_dot"]

LEVELS = ("stage", "block", "layer")

# kind of layer -> (fill colour, legend text). Pastels with dark text read in light and dark themes.
CATEGORIES = {
# The legend texts are marked for translation; show them with ``_(CATEGORIES[k][1])``.
    "conv": ("#9ecae1", N_("convolution")),
    "pool": ("#fdd0a2", N_("pooling")),
    "norm": ("#c7e9c0", N_("normalisation")),
    "act": ("#fcbba1", N_("activation")),
    "linear": ("#dadaeb", N_("linear (dense)")),
    "merge": ("#ffe066", N_("merge (add / concat)")),
    "block": ("#e5f5f9", N_("block")),
    "stage": ("#deebf7", N_("stage")),
    "io": ("#ffffff", N_("input")),
    "other": ("#eeeeee", N_("other (dropout, flatten...)")),
}

_ACTIVATIONS = {"ReLU", "ReLU6", "LeakyReLU", "PReLU", "ELU", "SELU", "CELU", "GELU", "SiLU",
                "Mish", "Tanh", "Sigmoid", "Hardtanh", "Hardswish", "Hardsigmoid", "Softmax",
                "LogSoftmax", "Softplus", "Softsign", "Tanhshrink", "Threshold"}


def category(type_name: str) -> str:
    """The colour class of a module type: conv, pool, norm, act, linear or other."""
    t = type_name
    if "Conv" in t:
        return "conv"
    if "Pool" in t:
        return "pool"
    if "Norm" in t:
        return "norm"
    if t in _ACTIVATIONS:
        return "act"
    if t in ("Linear", "LazyLinear", "Bilinear"):
        return "linear"
    return "other"


def fmt_shape(shape) -> str:
    """``(1, 256, 28, 28)`` -> ``"256×28×28"`` (the batch dimension is left out)."""
    if not shape:
        return "?"
    dims = tuple(shape[1:]) if len(shape) > 1 else tuple(shape)
    return "×".join(str(d) for d in dims)


def _q(text: str) -> str:
    """A DOT double-quoted string; ``\\n`` in ``text`` becomes a centred line break."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _pair_text(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (tuple, list)):
        return "×".join(str(x) for x in v) if len(set(v)) > 1 else str(v[0])
    return str(v)


def _op_text(row) -> str:
    """``Conv2d 3×3/2`` and the like: the type plus what a learner reads off a paper's table."""
    text = row.type
    if row.kernel_size is not None:
        k = row.kernel_size
        k = "×".join(str(x) for x in k) if isinstance(k, (tuple, list)) else f"{k}×{k}"
        text += f" {k}"
        if row.stride is not None and max(_as_tuple(row.stride)) > 1:
            text += f"/{_pair_text(row.stride)}"
        if row.dilation is not None and max(_as_tuple(row.dilation)) > 1:
            text += " " + _("dil {rate}").format(rate=_pair_text(row.dilation))
        if row.groups and row.groups > 1:
            in_ch = row.input_shapes[0][1] if row.input_shapes and len(row.input_shapes[0]) > 1 else 0
            text += " " + (_("depthwise") if row.groups == in_ch
                           else _("groups {groups}").format(groups=row.groups))
    return text


def _as_tuple(v) -> tuple:
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


def _row_name(row) -> str:
    return (row.name or row.type) + (f"#{row.call}" if row.call else "")


def _node(node_id: str, label: str, kind: str, shape: str = "box", extra: str = "") -> str:
    fill = CATEGORIES[kind][0]
    return (f'{node_id} [label={_q(label)}, shape={shape}, fillcolor="{fill}"'
            f'{", " + extra if extra else ""}];')


def _header(title: str, rankdir: str) -> list[str]:
    return [
        "digraph G {",
        f"  graph [rankdir={rankdir}, label={_q(title)}, labelloc=t, fontname=Helvetica, "
        'fontsize=14, nodesep=0.25, ranksep=0.3, bgcolor="white"];',
        '  node [style="rounded,filled", fontname=Helvetica, fontsize=10, color="#555555", '
        'fontcolor="#111111", margin="0.12,0.04", height=0.3];',
        '  edge [color="#666666", arrowsize=0.6];',
    ]


def _input_node(analysis) -> str:
    c, h, w = analysis.input_size
    return _node("input", _("input") + f"\n{c}×{h}×{w}", "io", extra='style="rounded"')


def to_dot(analysis, level: str = "block", rankdir: str = "TB") -> str:
    """DOT text of ``analysis`` at ``level`` ("stage", "block" or "layer")."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}, not {level!r}")
    if level == "stage" and not analysis.stages:
        level = "block"  # a module analysed without a spec has no stages
    c, h, w = analysis.input_size
    title = {"stage": _("{model} at {shape} — stage view"),
             "block": _("{model} at {shape} — block view"),
             "layer": _("{model} at {shape} — layer view")}[level].format(
        model=analysis.name, shape=f"{c}×{h}×{w}")
    lines = _header(title, rankdir)
    lines.append("  " + _input_node(analysis))
    if level == "stage":
        lines += _stage_body(analysis)
    elif level == "block":
        lines += _block_body(analysis)
    else:
        lines += _layer_body(analysis)
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# stage view


def _contents(analysis, rows: tuple[int, ...]) -> str:
    """``MaxPool2d, 2× BasicBlock`` for the leaves ``rows``: blocks counted by type, loose
    leaves by type, in order of first appearance."""
    layers = analysis.layers
    counts: Counter = Counter()  # insertion-ordered: first appearance
    seen_blocks: set[int] = set()
    for i in rows:
        r = layers[i]
        if r.block >= 0:
            if r.block not in seen_blocks:
                seen_blocks.add(r.block)
                counts[layers[r.block].type] += 1
        else:
            counts[r.type] += 1
    parts = [f"{n}× {t}" if n > 1 else t for t, n in counts.items()]
    if len(join(parts)) <= 48:
        return join(parts)
    comma = join(["", ""])  # ", " or "、": how this language separates the items
    lines, line = [], []
    for part in parts:  # wrap long lists
        if line and len(join(line + [part])) > 48:
            lines.append(join(line) + comma.rstrip())
            line = []
        line.append(part)
    lines.append(join(line))
    return "\n".join(lines)


def stage_title(analysis, stage) -> str:
    """``stem (stride 2)``, ``stage 3 (stride 16)`` or ``head``: stride = how many input pixels
    one step of the stage's output feature map spans."""
    if stage.stride is None:
        return _("head")
    if stage.index == 0 and len(analysis.stages) > 2:
        return _("stem (stride {stride})").format(stride=stage.stride)
    return _("stage {index} (stride {stride})").format(index=stage.index, stride=stage.stride)


def stage_name(analysis, stride) -> str:
    """The title of the stage with output stride ``stride`` (``None``: the head)."""
    if stride is not None and stride != stride:  # NaN from a DataFrame
        stride = None
    for s in analysis.stages:
        if s.stride == stride:
            return stage_title(analysis, s)
    return _("head") if stride is None else _("stride {stride}").format(stride=stride)


def weighted_depth(analysis) -> int:
    """The depth a paper quotes: conv and linear layers on the longest path from input to
    output (ResNet-18: 17 convolutions + 1 dense; the 1×1 projection shortcuts are on a shorter
    path; GoogLeNet: 22)."""
    depth: dict[int, int] = {-1: 0}
    for r in analysis.rows("layer"):  # execution order: inputs come first
        weighted = category(r.type) in ("conv", "linear")
        depth[r.index] = max((depth.get(s, 0) for s in r.inputs_from), default=0) + weighted
    return max(depth.values())


def _stage_body(analysis) -> list[str]:
    lines = []
    prev = "input"
    for s in analysis.stages:
        title = stage_title(analysis, s)
        label = (f"{title}\n{_contents(analysis, s.rows)}\n{fmt_shape(s.output_shape)}\n"
                 + _("{params} params · {macs} MACs").format(params=format_short(s.params),
                                                             macs=format_short(s.macs)))
        node_id = f"s{s.index}"
        lines.append("  " + _node(node_id, label, "stage"))
        lines.append(f"  {prev} -> {node_id};")
        prev = node_id
    return lines


# ---------------------------------------------------------------------------------------------
# block view


def _block_body(analysis) -> list[str]:
    """Blocks and the layers outside them; edges contracted from the layer view's graph, so a
    residual chain without a ReLU after its adds (MobileNet-v2, Xception's middle flow) links
    each block to the next only, not to every block whose output the sum still carries."""
    layers = analysis.layers
    lines = []
    for r in analysis.rows("block"):
        if r.level == "block":
            label = f"{_row_name(r)}\n{r.type}\n{fmt_shape(r.output_shape)}"
            kind = "block"
            extra = 'penwidth=1.5'
        else:
            label = f"{_row_name(r)}\n{_op_text(r)}\n{fmt_shape(r.output_shape)}"
            kind = category(r.type)
            extra = ""
        lines.append("  " + _node(f"n{r.index}", label, kind, extra=extra))

    members, edges, merges = _layer_graph(analysis)
    rep: dict[str, str] = {"input": "input"}
    for r in analysis.rows("layer"):
        rep[f"n{r.index}"] = f"n{analysis.representative(r.index, 'block')}"
    kept = {}  # merges that join outside any block stay visible
    for m in merges:
        block = layers[m.cluster].block if m.cluster >= 0 else -1
        rep[m.id] = f"n{block}" if block >= 0 else m.id
        if block < 0:
            kept[m.id] = next(line for line in members[m.cluster] if line.startswith(m.id + " "))
    lines += ["  " + line for line in kept.values()]
    seen = set()
    for a, b, attrs in edges:
        edge = (rep[a], rep[b])
        if edge[0] != edge[1] and edge not in seen:
            seen.add(edge)
            lines.append(f"  {edge[0]} -> {edge[1]}{f' [{attrs}]' if attrs else ''};")
    return lines


# ---------------------------------------------------------------------------------------------
# layer view


class _Merge:
    __slots__ = ("id", "sources", "inputs", "kind", "shape", "cluster")

    def __init__(self, id_, sources, kind, shape):
        self.id, self.sources, self.kind, self.shape = id_, sources, kind, shape
        self.inputs: list[str] = []
        self.cluster = -1


def _merge_kind(shapes: list[tuple], target: tuple | None) -> tuple[str, tuple | None]:
    """"add" when every path in has the shape that comes out, "concat" when their channels add
    up to it, else "merge". Returns the kind and the merged tensor's shape. ``target`` is the
    consumer's input shape (None when unknown)."""
    if shapes and all(sh == shapes[0] for sh in shapes) and target in (None, shapes[0]):
        return "add", shapes[0]
    if shapes and all(sh and len(sh) >= 2 for sh in shapes):
        total = sum(sh[1] for sh in shapes)
        if target is not None and len(target) >= 2 and target[1] == total:
            return "concat", target
        if target is None and all(tuple(sh[2:]) == tuple(shapes[0][2:]) for sh in shapes):
            return "concat", (shapes[0][0], total, *shapes[0][2:])
    return "merge", target


def _ancestors(analysis, index: int) -> list[int]:
    """Container rows around row ``index``, innermost first (the model row excluded)."""
    out = []
    layers = analysis.layers
    p = layers[index].parent if index >= 0 else -1
    while p >= 0 and layers[p].parent >= 0:
        out.append(p)
        p = layers[p].parent
    return out


def _clustered(analysis, i: int) -> bool:
    """Containers boxed in the layer view: every block, and the plain containers outside blocks
    (ResNet's layer1, VGG's features), the second level of structure a learner looks for.
    Inside a block, no more boxes."""
    r = analysis.layers[i]
    return r.level == "block" or (r.level == "group" and r.block < 0)


def _layer_graph(analysis):
    """Leaf nodes (grouped by box), merge nodes and edges of the layer view:
    ``(members: {box row: [node lines]}, edges: [(from, to, attrs)], merges: [_Merge])``."""
    layers = analysis.layers
    leaves = analysis.rows("layer")
    # Clusters: every block, and the plain containers outside blocks (ResNet's layer1, VGG's
    # features): the second level of structure a learner looks for. Inside a block, no more boxes.
    def clustered(i: int) -> bool:
        return _clustered(analysis, i)

    def home(index: int) -> int:
        """Innermost clustered container of a row, -1 for the top level."""
        for a in _ancestors(analysis, index):
            if clustered(a):
                return a
        return -1

    members: dict[int, list[str]] = {}  # cluster row -> node lines
    node_of: dict[int, str] = {-1: "input"}
    for r in leaves:
        node_of[r.index] = f"n{r.index}"
        label = f"{_short_name(analysis, r, home(r.index))}\n{_op_text(r)}\n{fmt_shape(r.output_shape)}"
        members.setdefault(home(r.index), []).append(_node(f"n{r.index}", label, category(r.type)))

    # merges: one node per distinct set of paths joining, shared by all its consumers
    merges: dict[tuple[int, ...], _Merge] = {}
    edges: list[tuple[str, str, str]] = []  # (from, to, attributes)

    def out_shape(i: int) -> tuple:
        return layers[i].output_shape if i >= 0 else (1, *analysis.input_size)

    for r in leaves:
        src = tuple(sorted(set(r.inputs_from)))
        if len(src) <= 1:
            for s in src:
                edges.append((node_of.get(s, "input"), node_of[r.index], ""))
            continue
        m = merges.get(src)
        if m is None:
            # A join of a superset of an earlier join is drawn as that join plus the new paths:
            # the same tensor, and DenseNet's growing stack costs linearly many edges, not
            # quadratically; a residual chain without ReLU reads add(add(a, b), c).
            base = max((o for o in merges.values()
                        if len(o.sources) >= 2 and set(o.sources) < set(src)),
                       key=lambda o: len(o.sources), default=None)
            rest = src if base is None else tuple(s for s in src if s not in base.sources)
            parts = ([(base.id, base.shape)] if base is not None else []) + [
                (node_of.get(s, "input"), out_shape(s)) for s in rest]
            target = r.input_shapes[0] if r.input_shapes else None
            kind, shape = _merge_kind([sh for _, sh in parts], target)
            m = _Merge(f"m{len(merges)}", src, kind, shape)
            m.cluster = _merge_cluster(analysis, rest, r.index, clustered)
            merges[src] = m
            symbol = {"add": "+", "concat": "concat", "merge": "merge"}[kind]
            members.setdefault(m.cluster, []).append(_node(
                m.id, f"{symbol}\n{fmt_shape(shape)}", "merge", shape="ellipse",
                extra='fontsize=9, margin="0.04,0.02"'))
            for node, sh in parts:
                # a path whose size changes on the way in went through a function call with no
                # module of its own (torchvision's Inception v3 calls F.max_pool2d): dashed
                resized = shape is not None and sh is not None and tuple(sh[2:]) != tuple(shape[2:])
                edges.append((node, m.id, "style=dashed" if resized else ""))
        edges.append((m.id, node_of[r.index], ""))
    return members, edges, list(merges.values())


def _layer_body(analysis) -> list[str]:
    layers = analysis.layers
    members, edges, _merges = _layer_graph(analysis)

    def clustered(i: int) -> bool:
        return _clustered(analysis, i)

    # nest the clusters: children of each clustered container
    children: dict[int, list[int]] = {}
    cluster_rows = sorted({c for c in members if c >= 0}
                          | {a for c in members if c >= 0 for a in _ancestors(analysis, c)
                             if clustered(a)})
    for c in cluster_rows:
        parent = next((a for a in _ancestors(analysis, c) if clustered(a)), -1)
        children.setdefault(parent, []).append(c)

    lines: list[str] = []

    def emit(cluster: int, indent: str) -> None:
        for line in members.get(cluster, []):
            lines.append(indent + line)
        for c in children.get(cluster, []):
            r = layers[c]
            boxed = r.level == "block"
            title = f"{_row_name(r)} · {r.type}" if boxed else _row_name(r)
            lines.append(f"{indent}subgraph cluster_{c} {{")
            lines.append(f"{indent}  label={_q(title)}; labeljust=l; fontsize=11; "
                         f'style="rounded{",filled" if boxed else ",dashed"}"; '
                         f'color="{"#6baed6" if boxed else "#999999"}"; '
                         f'fillcolor="{CATEGORIES["block"][0]}";')
            emit(c, indent + "  ")
            lines.append(f"{indent}}}")

    emit(-1, "  ")
    for a, b, attrs in edges:
        lines.append(f"  {a} -> {b}{f' [{attrs}]' if attrs else ''};")
    return lines


def _short_name(analysis, row, cluster: int) -> str:
    """The row's name relative to its box (``branch2.0.conv`` inside ``inception3a``)."""
    name = _row_name(row)
    if cluster >= 0:
        prefix = analysis.layers[cluster].name + "."
        # a bare index ("0" inside AlexNet's features) says nothing: keep the full path then
        if name.startswith(prefix) and not name[len(prefix):].split("#")[0].isdigit():
            return name[len(prefix):]
    return name


def _merge_cluster(analysis, sources, consumer: int, clustered) -> int:
    """Where a merge node is drawn: the block holding most of the paths it joins (the latest of
    them on a tie: a residual's add sits in the block that computes the residual), else the
    innermost box that holds every path and the consumer."""
    layers = analysis.layers
    candidates: set[int] = set()
    for i in (*sources, consumer):
        candidates.update(a for a in _ancestors(analysis, i) if layers[a].level == "block")
    best, best_key = None, None
    for c in candidates:
        inside = [s for s in sources if c in _ancestors(analysis, s)]
        key = (len(inside), max(inside, default=-1), c in _ancestors(analysis, consumer),
               layers[c].depth)
        if inside and (best_key is None or key > best_key):
            best, best_key = c, key
    if best is not None:
        return best
    common = None
    for i in (*sources, consumer):
        anc = [a for a in _ancestors(analysis, i) if clustered(a)]
        common = anc if common is None else [a for a in common if a in anc]
    return common[0] if common else -1


# ---------------------------------------------------------------------------------------------
# rendering


def has_dot() -> bool:
    """Whether Graphviz's ``dot`` program is installed."""
    return shutil.which("dot") is not None


def to_svg(dot: str, timeout: float = 60) -> bytes | None:
    """SVG bytes of ``dot`` rendered by Graphviz's ``dot``; ``None`` when ``dot`` is missing.
    Raises ``RuntimeError`` with dot's message when the text does not render."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    proc = subprocess.run([exe, "-Tsvg"], input=dot.encode("utf-8"), capture_output=True,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"dot failed: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return proc.stdout
