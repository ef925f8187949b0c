"""The cost panel: each block against its naive alternative, computed from real modules.

The comparisons reproduce the seed documents' figures exactly (seed 000's 1×1 reduction before a
5×5 convolution, seed 004's bottleneck, depthwise-separable and factorised convolutions, ...),
and :func:`cost_same_shapes` sets any traced block against one plain convolution with the same
input and output shapes. MACs = multiply-accumulates of conv and linear layers; FLOPs = 2 × MACs.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Sequence

import torch
import torch.nn as nn

from explorer.analysis.blocks.steps import BlockTrace, fmt_shape
from explorer.analysis.blocks.tracing import module_macs, pair
from explorer.i18n import N_, _, format_exact, format_int, format_yi

__all__ = ["MACS_NOTE", "Cost", "cost_inception_reduction", "cost_bottleneck", "cost_depthwise",
           "cost_factorised", "cost_two_3x3", "cost_projection", "cost_aspp", "cost_dense",
           "cost_transition", "cost_same_shapes", "cost_panel"]

MACS_NOTE = N_("MACs = multiply-accumulates of conv and linear layers; FLOPs = 2 × MACs.")


@dataclass
class Cost:
    """One comparison: the naive way and the block's way to the same result, in one unit."""

    title: str
    unit: str  # "{count} multiplications" or "{count} weights", in the UI language
    naive_label: str
    naive: int
    block_label: str
    block: int
    parts: list[int]  # the block's number as a sum of its convolutions
    seed: str = ""  # where the figure comes from
    note: str = ""
    versus: str = ""  # "of the naive cost" unless set (texts are made in the UI language)

    def __post_init__(self):
        self.versus = self.versus or _("of the naive cost")

    @property
    def ratio(self) -> float:
        return self.block / self.naive if self.naive else float("inf")

    def comparison(self) -> str:
        """"3.2× fewer" when the block is cheaper, "3.1× more" when it costs more, never
        "0.3× fewer" (issue 14)."""
        if self.block == self.naive:
            return _("the same")
        if self.block < self.naive:
            return (_("{times}× fewer").format(times=f"{self.naive / self.block:.1f}")
                    if self.block else _("none at all"))
        return (_("{times}× more").format(times=f"{self.block / self.naive:.1f}")
                if self.naive else _("more than none"))

    def text(self) -> str:
        parts = " + ".join(format_int(p) for p in self.parts)
        sum_text = (f"{parts} = {format_int(self.block)}" if len(self.parts) > 1
                    else format_int(self.block))
        return (f"{self.naive_label}: {self.unit.format(count=format_int(self.naive))}; "
                f"{self.block_label}: {self.unit.format(count=sum_text)} "
                f"({self.ratio:.1%} {self.versus})")


def _meta_conv(*args, **kwargs) -> nn.Conv2d:
    with torch.device("meta"):
        return nn.Conv2d(*args, bias=False, **kwargs)


def _weights(*convs: nn.Module) -> list[int]:
    return [sum(p.numel() for p in c.parameters()) for c in convs]


def _macs_chain(convs: Sequence[nn.Conv2d], shape: tuple[int, int, int]) -> list[int]:
    """MACs of each conv when applied one after another to an input of shape (C, H, W)."""
    x = torch.empty((1, *shape), device="meta")
    macs = []
    for c in convs:
        x = c(x)
        macs.append(module_macs(c, x))
    return macs


def _mults() -> str:
    return _("{count} multiplications")


def _weights_unit() -> str:
    return _("{count} weights")


def _seed(n: str) -> str:
    from explorer.i18n.notes import cite

    if "/" in n:  # two notes give the same figure
        a, b = (part.strip() for part in n.split("/"))
        return _("{a} and {b}").format(a=cite(a), b=cite(b))
    return cite(n)


def cost_inception_reduction() -> Cost:
    """Seed 000: 5×5 conv 28×28×192 → 32 vs 1×1 reduction to 16 first."""
    naive = _macs_chain([_meta_conv(192, 32, 5, padding=2)], (192, 28, 28))
    parts = _macs_chain([_meta_conv(192, 16, 1), _meta_conv(16, 32, 5, padding=2)], (192, 28, 28))
    return Cost(_("1×1 reduction before a 5×5 convolution (Inception)"), _mults(),
                _("5×5 conv, 28×28×192 → 28×28×32"), sum(naive),
                _("1×1 conv to 16 channels, then 5×5 conv to 32"), sum(parts), parts,
                _("{notes}: {naive} vs {block} (亿 = 10⁸)").format(
                    notes=_seed("000"), naive=format_yi(sum(naive)),
                    block=format_yi(sum(parts))),
                _("(28·28·32)·(5·5·192) vs (28·28·16)·(1·1·192) + (28·28·32)·(5·5·16)"))


def cost_bottleneck() -> Cost:
    """Seed 004: plain 3×3 conv 512 → 512 on 26×26 vs 1×1 → 128, 3×3 → 128, 1×1 → 512."""
    naive = _weights(_meta_conv(512, 512, 3, padding=1))
    parts = _weights(_meta_conv(512, 128, 1), _meta_conv(128, 128, 3, padding=1),
                     _meta_conv(128, 512, 1))
    return Cost(_("Bottleneck: 1×1 reduce, 3×3, 1×1 expand (ResNet-50)"), _weights_unit(),
                _("plain 3×3 conv, 26×26×512 → 512"), sum(naive),
                "1×1 → 128, 3×3 → 128, 1×1 → 512", sum(parts), parts, _seed("004"),
                _("512·3·3·512 vs 512·128 + 128·9·128 + 128·512 (no biases)"))


def cost_depthwise() -> Cost:
    """Seed 004: standard 3×3 conv 16 → 32 vs depthwise 3×3 + pointwise 1×1."""
    naive = _weights(_meta_conv(16, 32, 3, padding=1))
    parts = _weights(_meta_conv(16, 16, 3, padding=1, groups=16), _meta_conv(16, 32, 1))
    return Cost(_("Depthwise-separable convolution (MobileNet)"), _weights_unit(),
                _("standard 3×3 conv, 16 → 32 channels"), sum(naive),
                _("depthwise 3×3 (16 filters) + pointwise 1×1 (16 → 32)"), sum(parts), parts,
                _seed("004"), _("16·32·3·3 vs 16·3·3 + 16·32"))


def cost_factorised(n: int, channels: int = 128) -> Cost:
    """Seed 004: n×n vs 1×n then n×1 (same receptive field), C → C channels."""
    naive = _weights(_meta_conv(channels, channels, n, padding=n // 2))
    parts = _weights(_meta_conv(channels, channels, (1, n), padding=(0, n // 2)),
                     _meta_conv(channels, channels, (n, 1), padding=(n // 2, 0)))
    return Cost(_("Factorised {n}×{n}: 1×{n} then {n}×1 (Inception v3)").format(n=n),
                _weights_unit(),
                _("{n}×{n} conv, {c} → {c}").format(n=n, c=channels), sum(naive),
                _("1×{n} conv then {n}×1 conv").format(n=n), sum(parts), parts, _seed("004"),
                _("({n}+{n})/{nn} = {ratio}; both see {n}×{n} pixels").format(
                    n=n, nn=n * n, ratio=f"{sum(parts) / sum(naive):.1%}"))


def _receptive_field(convs: Sequence[nn.Conv2d]) -> int:
    rf, jump = 1, 1
    for c in convs:
        k, s, d = pair(c.kernel_size)[0], pair(c.stride)[0], pair(c.dilation)[0]
        rf += (d * (k - 1)) * jump
        jump *= s
    return rf


def cost_two_3x3(channels: int = 64) -> Cost:
    """Seed 004 / VGG: one 5×5 vs two stacked 3×3 convs (same receptive field, 25C² vs 18C²)."""
    big = [_meta_conv(channels, channels, 5, padding=2)]
    small = [_meta_conv(channels, channels, 3, padding=1) for _ in range(2)]
    rf_big, rf_small = _receptive_field(big), _receptive_field(small)
    parts = _weights(*small)
    return Cost(_("Two stacked 3×3 convolutions instead of one 5×5 (VGG)"), _weights_unit(),
                _("5×5 conv, {c} → {c} (receptive field {rf})").format(c=channels, rf=rf_big),
                sum(_weights(*big)),
                _("two 3×3 convs (receptive field {rf})").format(rf=rf_small), sum(parts), parts,
                _seed("004"),
                _("25·C² vs 18·C² with C = {c}; same receptive field {rf}×{rf}, and one more "
                  "non-linearity").format(c=channels, rf=rf_small))


def cost_projection(in_ch: int = 64, out_ch: int = 128) -> Cost:
    conv = _meta_conv(in_ch, out_ch, 1, stride=2)
    body = _weights(_meta_conv(in_ch, out_ch, 3, stride=2, padding=1),
                    _meta_conv(out_ch, out_ch, 3, padding=1))
    return Cost(_("What the shortcut costs (ResNet basic block)"), _weights_unit(),
                _("the residual path's two 3×3 convs ({cin} → {cout} → {cout})").format(
                    cin=in_ch, cout=out_ch), sum(body),
                _("projection shortcut, 1×1 stride-2 conv {cin} → {cout} (identity: 0)").format(
                    cin=in_ch, cout=out_ch),
                sum(_weights(conv)), _weights(conv), _seed("000 / 001"),
                _("An identity shortcut is free; a projection is needed only where the shape "
                  "changes."), versus=_("of the residual path"))


def cost_aspp(rate: int = 12, channels: int = 256) -> Cost:
    atrous = _meta_conv(channels, channels, 3, dilation=rate, padding=rate)
    dense = _meta_conv(channels, channels, 2 * rate + 1, padding=rate)
    rf_a, rf_d = _receptive_field([atrous]), _receptive_field([dense])
    return Cost(_("Atrous (dilated) 3×3 at rate {rate} vs a dense kernel of the same reach")
                .format(rate=rate),
                _weights_unit(), _("dense {rf}×{rf} conv, {c} → {c}").format(rf=rf_d, c=channels),
                sum(_weights(dense)), _("3×3 conv with dilation {rate} (field {rf}×{rf})").format(
                    rate=rate, rf=rf_a),
                sum(_weights(atrous)), _weights(atrous), "DeepLab v3",
                _("Dilation spreads 9 taps over the field of view: context without weights."))


def cost_dense(in_ch: int = 992, growth: int = 32, bn_size: int = 4, hw: int = 14) -> Cost:
    """DenseNet-B's 1×1 bottleneck, at the last layer of densenet121's dense block 3 (input
    256 + 23·32 = 992 channels at 14×14), where the concatenated input is widest."""
    direct = [_meta_conv(in_ch, growth, 3, padding=1)]
    bottle = [_meta_conv(in_ch, bn_size * growth, 1), _meta_conv(bn_size * growth, growth, 3,
                                                                  padding=1)]
    naive = _macs_chain(direct, (in_ch, hw, hw))
    parts = _macs_chain(bottle, (in_ch, hw, hw))
    return Cost(_("DenseNet-B: 1×1 to {f}·k = {mid} channels before the 3×3 (input {shape}, "
                  "densenet121's widest dense layer)").format(
                    f=bn_size, mid=bn_size * growth, shape=f"{hw}×{hw}×{in_ch}"),
                _mults(), _("3×3 conv {cin} → {k} directly").format(cin=in_ch, k=growth),
                sum(naive),
                _("1×1 conv {cin} → {mid}, then 3×3 → {k}").format(cin=in_ch, mid=bn_size * growth,
                                                                  k=growth), sum(parts), parts,
                _("DenseNet paper"),
                _("Growth: each layer adds k = {k} channels. The 1×1 bottleneck pays off once the "
                  "concatenated input is wider than about {wide} channels (deeper in the block).")
                .format(k=growth, wide=bn_size * growth * 9 // 8 + 1))


def cost_transition(in_ch: int = 256, out_ch: int = 128, hw: int = 56) -> Cost:
    naive = _macs_chain([_meta_conv(in_ch, out_ch, 3, stride=2, padding=1)], (in_ch, hw, hw))
    parts = _macs_chain([_meta_conv(in_ch, out_ch, 1)], (in_ch, hw, hw))
    return Cost(_("Transition: 1×1 conv + 2×2 average pool vs a strided 3×3 conv"),
                _mults(), _("3×3 stride-2 conv {cin} → {cout}").format(cin=in_ch, cout=out_ch),
                sum(naive),
                _("1×1 conv {cin} → {cout}, then 2×2 average pool (no weights)").format(
                    cin=in_ch, cout=out_ch), sum(parts),
                parts, _("DenseNet paper"),
                _("Both halve the channels and the resolution: {before} → {after}.").format(
                    before=f"{hw}×{hw}×{in_ch}", after=f"{hw // 2}×{hw // 2}×{out_ch}"))


def cost_same_shapes(trace: BlockTrace) -> Cost | None:
    """The block against one plain convolution with the same input and output shapes, with
    the block's largest kernel (and its stride): the naive way to get from one shape to the
    other. MACs are compared; the parameter counts are in the note. A block may cost more than
    the plain convolution (a dense block, an inverted residual's expansion): it buys depth,
    non-linearity or feature reuse, not savings."""
    if len(trace.input_shape) != 3 or len(trace.output_shape) != 3:
        return None
    (c_in, h_in, w_in), (c_out, h_out, _w_out) = trace.input_shape, trace.output_shape
    kernels = [int(s.hyper["kernel"].split("×")[0]) for s in trace.steps
               if s.type == "Conv2d" and "kernel" in s.hyper]
    k = max(kernels, default=1)
    stride = max(1, round(h_in / max(h_out, 1)))
    conv = _meta_conv(c_in, c_out, k, stride=stride, padding=k // 2)
    naive = _macs_chain([conv], (c_in, h_in, w_in))
    params = sum(_weights(conv))
    shapes = f"{fmt_shape(trace.input_shape)} → {fmt_shape(trace.output_shape)}"
    return Cost(_("This block vs one plain {k}×{k} convolution with the same shapes").format(k=k),
                _mults(),
                (_("one {k}×{k} conv, stride {stride}, {shapes}") if stride > 1 else
                 _("one {k}×{k} conv, {shapes}")).format(k=k, stride=stride, shapes=shapes),
                sum(naive),
                _("the block ({n} steps)").format(n=len(trace.steps)), trace.macs_total,
                [trace.macs_total],
                _("computed for the block shown"),
                _("Parameters: plain conv {plain}, block {block}. A block is not always cheaper "
                  "than the plain convolution: what it buys may be depth, non-linearities or "
                  "feature reuse.").format(plain=format_exact(params),
                                           block=format_exact(trace.params_total)))


_COSTS: dict[str, list[Callable[[], Cost]]] = {
    "nin": [cost_inception_reduction],
    "inception_v1": [cost_inception_reduction, cost_two_3x3],
    "inception_v3": [partial(cost_factorised, 7), partial(cost_factorised, 3), cost_two_3x3],
    "basic": [cost_projection, cost_two_3x3],
    "bottleneck": [cost_bottleneck],
    "dense": [cost_dense],
    "transition": [cost_transition],
    "depthwise_separable": [cost_depthwise],
    "xception": [cost_depthwise],
    "inverted_residual": [cost_depthwise],
    "aspp": [cost_aspp, partial(cost_aspp, 36)],
}


def cost_panel(kind: str) -> list[Cost]:
    """The naive-alternative comparisons that explain why the block ``kind`` exists."""
    return [f() for f in _COSTS.get(kind, [])]

