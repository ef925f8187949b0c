"""What an analysis returns: one row per module call, stages, totals (plain frozen dataclasses).

MACs = multiply-accumulates of conv and linear layers; FLOPs = 2 × MACs. Parameters follow two
conventions, both kept: PyTorch's ``sum(p.numel())`` and Keras's, where batch norm's running mean
and variance are "non-trainable params" (:data:`STAT_BUFFERS`). ``to_dict`` gives JSON-ready
dicts (what ``python -m explorer.analysis NAME --json`` prints), ``to_dataframe`` pandas frames.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields

__all__ = ["AnalysisError", "LayerInfo", "StageInfo", "ModelAnalysis", "STAT_BUFFERS"]

STAT_BUFFERS = ("running_mean", "running_var")  # Keras's non-trainable BN "params"


class AnalysisError(ValueError):
    """The model cannot be analysed at this input size (message is one line, for users)."""


# --------------------------------------------------------------------------------------------
# Result types


@dataclass(frozen=True)
class LayerInfo:
    """One module call. Shapes include the batch dimension (1). ``params`` counts the module's
    own parameters for a leaf and everything below it for a container, Keras's way (trainable +
    batch-norm statistics), on the module's first call only."""

    index: int  # position in ModelAnalysis.layers (execution order of call start)
    name: str  # named_modules() key; "" for the model itself
    call: int  # 0 for the first call of this module, 1 for the second, ...
    type: str  # class name
    depth: int  # call-stack depth: 0 for the model, 1 for its children, ...
    parent: int  # index of the calling row, -1 for the model
    level: str  # "model", "block", "layer" (leaf) or "group" (any other container)
    block: int  # index of the enclosing block row (itself for a block), -1 if none
    stage: int | None  # output stride of the stage this row belongs to (spec.stages); None: head
    is_leaf: bool  # no module calls inside it
    kernel_size: tuple[int, ...] | None
    stride: tuple[int, ...] | None
    padding: tuple[int, ...] | str | None
    dilation: tuple[int, ...] | None
    groups: int | None
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...] | None  # first tensor output
    output_shapes: tuple[tuple[int, ...], ...]
    params: int  # Keras convention: params_trainable + params_non_trainable
    params_trainable: int
    params_non_trainable: int
    params_pytorch: int  # sum of p.numel() (requires_grad or not)
    macs: int  # inclusive: everything run during this call
    macs_self: int  # run directly by this module (not by modules it calls)
    activations: int  # numel of the output(s)
    receptive_field: int | None  # largest side of the receptive field, input pixels
    receptive_field_hw: tuple[int, int] | None
    jump: float | None  # effective stride (largest axis); int where integral
    jump_hw: tuple[float, float] | None
    start_hw: tuple[float, float] | None  # centre of the first unit's field, input pixels
    rf_global: bool  # output units see the whole input (after global pooling / flatten)
    # Indices of the leaf rows whose outputs reach this call's inputs through functional ops
    # only (torch.cat, +, flatten, ...); -1 is the input image. A merge without a module of its
    # own shows as several sources, and chained ones accumulate: after two identity shortcuts
    # in a row (x + f(x), then + g(...)) the sources are f's and g's last leaves and x's.
    inputs_from: tuple[int, ...]

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class StageInfo:
    """Rows grouped by the spec's stages (``{output stride: module path ending the stage}``)."""

    index: int
    label: str  # "stride 4" or "head"
    stride: int | None
    end: str  # name of the row that ends the stage
    first: int  # first and last leaf row index in the stage
    last: int
    rows: tuple[int, ...]  # leaf row indices
    output_shape: tuple[int, ...] | None
    params: int
    params_trainable: int
    params_non_trainable: int
    macs: int
    activations: int
    receptive_field: int | None
    jump: float | None
    rf_global: bool

    def to_dict(self) -> dict:
        return _jsonable(asdict(self))


@dataclass(frozen=True)
class ModelAnalysis:
    """A network analysed at one input size: its rows in execution order, stages and totals."""

    name: str
    input_size: tuple[int, int, int]  # (C, H, W)
    layers: tuple[LayerInfo, ...]
    stages: tuple[StageInfo, ...]
    params_total: int  # Keras: trainable + non-trainable
    params_trainable: int
    params_non_trainable: int
    params_pytorch: int  # sum(p.numel() for p in model.parameters())
    buffers: int  # sum(b.numel() for b in model.buffers()), num_batches_tracked included
    macs: int
    activations: int  # sum of leaf output numels (a rough measure of activation memory)
    # Modules with parameters that the forward pass never calls (inception_v3's AuxLogits in
    # eval mode): counted in the totals, absent from the rows.
    unused_modules: tuple[str, ...] = ()
    params_unused: int = 0

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def row(self, name: str, call: int = 0) -> LayerInfo:
        for layer in self.layers:
            if layer.name == name and layer.call == call:
                return layer
        raise KeyError(f"{self.name} has no row {name!r} (call {call})")

    def rows(self, level: str = "layer") -> list[LayerInfo]:
        """The rows of one view: ``"layer"`` = leaves; ``"block"`` = outermost blocks plus the
        leaves outside any block; ``"all"`` = every row. (``"stage"``: see :attr:`stages`.)"""
        if level == "layer":
            return [r for r in self.layers if r.is_leaf]
        if level == "block":
            return [r for r in self.layers if r.level == "block" or (r.is_leaf and r.block < 0)]
        if level == "all":
            return list(self.layers)
        raise ValueError(f"level must be 'layer', 'block' or 'all', not {level!r}")

    def representative(self, index: int, level: str) -> int:
        """The row that stands for row ``index`` in a view (its block at block level)."""
        if index < 0 or level == "layer":
            return index
        if level == "block":
            block = self.layers[index].block
            return block if block >= 0 else index
        if level == "stage":
            stage = self.layers[index].stage
            for s in self.stages:
                if s.stride == stage and index in s.rows:
                    return s.index
            return -1
        raise ValueError(f"unknown level {level!r}")

    def edges(self, level: str = "layer") -> list[tuple[int, int]]:
        """DAG edges ``(source, target)`` between the rows of a view (``rows(level)`` indices;
        stage indices at ``"stage"`` level); source -1 is the input image."""
        if level == "stage":
            return [(s.index - 1, s.index) for s in self.stages]
        out: list[tuple[int, int]] = []
        seen = set()
        for row in self.rows(level):
            for src in row.inputs_from:
                edge = (self.representative(src, level), row.index)
                if edge[0] != edge[1] and edge not in seen:
                    seen.add(edge)
                    out.append(edge)
        return out

    def to_dict(self) -> dict:
        d = {f.name: getattr(self, f.name) for f in fields(self)
             if f.name not in ("layers", "stages")}
        d["flops"] = self.flops
        d["layers"] = [r.to_dict() for r in self.layers]
        d["stages"] = [s.to_dict() for s in self.stages]
        return _jsonable(d)

    def to_dataframe(self, level: str = "all"):
        """pandas DataFrame of the rows of a view (``"all"``, ``"block"``, ``"layer"`` or
        ``"stage"``); shapes are tuples."""
        import pandas as pd

        if level == "stage":
            return pd.DataFrame([asdict(s) for s in self.stages])
        rows = [asdict(r) for r in self.rows(level)]
        df = pd.DataFrame(rows, columns=[f.name for f in fields(LayerInfo)])
        return df.set_index("index", drop=False).rename_axis(None)


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, float) and obj.is_integer():
        return int(obj)
    return obj
