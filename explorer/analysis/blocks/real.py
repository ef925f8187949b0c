"""Blocks of real models: where they are, their steps at the model's input size, and the
activations of each step for an image, captured without touching the shared cached model.

:func:`real_blocks` lists the blocks the zoo specs declare, plus DeepLab v3's ASPP, which the
zoo does not have (:func:`external_model` builds it from torchvision with random weights).
:func:`trace_real` traces a block on a meta-device copy of its model (no weights, no memory).

Sharing the cached model (STYLE.md). :func:`capture_trace` never hooks the model it is given:
it borrows a module copy that shares its weights (``explorer.inference.shared.borrowed_copy``),
runs the copy up to the block (``shared.module_input``) and traces the copy's block, whose hooks
are removed in ``finally``. Two sessions capturing at once work on two copies; another session's
forward pass on the shared model is neither recorded nor stopped. Nothing else is touched: no
mode change, no gradient (``torch.inference_mode``), no parameter or buffer write.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Callable

import numpy as np
import torch
import torch.nn as nn

from explorer import zoo
from explorer.analysis.blocks.steps import (BlockConfigError, BlockTrace, StepActivation,
                                            fmt_shape)
from explorer.analysis.blocks.tracing import trace_block
from explorer.i18n import N_, get_language
from explorer.inference import shared
from explorer.zoo import rng

__all__ = ["RealBlock", "DEEPLAB", "real_blocks", "build_external", "meta_model",
           "real_block_module", "trace_real", "capture_trace", "capture_steps", "capture_image",
           "ExternalModel", "external_model", "branch_stats"]


@dataclass(frozen=True)
class RealBlock:
    model: str
    path: str
    kind: str
    label: str
    external: bool = False  # not in the zoo (DeepLab v3's ASPP from torchvision)


DEEPLAB = "deeplabv3_mobilenet_v3_large"
_DEEPLAB_BLOCK = RealBlock(DEEPLAB, "classifier.0", "aspp",
                           "classifier.0: ASPP of torchvision's deeplabv3_mobilenet_v3_large "
                           "(960 → 256, rates 12, 24, 36; random weights, not in the zoo)", True)


def real_blocks(kind: str | None = None) -> list[RealBlock]:
    """The blocks the zoo specs declare (and DeepLab's ASPP), optionally of one kind."""
    found = [RealBlock(name, path, k, label)
             for name in zoo.list_models() for path, k, label in zoo.get_spec(name).blocks]
    found.append(_DEEPLAB_BLOCK)
    return [b for b in found if kind is None or b.kind == kind]


def build_external(name: str) -> nn.Module:
    """A model outside the zoo, built (random weights) on the current default device."""
    if name != DEEPLAB:
        raise BlockConfigError(f"unknown model {name!r}")
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large

    return deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, aux_loss=False)


def _input_size(name: str) -> tuple[int, int, int]:
    return (3, 520, 520) if name == DEEPLAB else zoo.get_spec(name).input_size


@lru_cache(maxsize=4)
def meta_model(name: str) -> nn.Module:
    """Model ``name`` on the meta device (shapes only), built once; traced through copies."""
    with torch.device("meta"):
        model = build_external(name) if name == DEEPLAB else zoo.build(name)
    return model.eval()


def real_block_module(model: nn.Module, path: str) -> nn.Module:
    """The submodule ``path`` of ``model``; :class:`BlockConfigError` when there is none."""
    try:
        return model.get_submodule(path)
    except AttributeError:
        raise BlockConfigError(f"the model has no module {path!r}") from None


def _block_input(model: nn.Module, path: str, x: torch.Tensor) -> torch.Tensor:
    """Run ``model`` (a copy of ours) on ``x`` up to the block ``path`` and return the block's
    input; the forward pass stops there."""
    try:
        return shared.module_input(model, path, x)
    except shared.LayerNotFoundError as exc:
        raise BlockConfigError(str(exc)) from None


def _trace_in_copy(model: nn.Module, path: str, x: torch.Tensor, kind: str, title: str,
                   summarise: bool = False) -> tuple[BlockTrace, list]:
    """Trace the block ``path`` of a borrowed copy of ``model`` for the model input ``x``."""
    original = real_block_module(model, path)
    with shared.borrowed_copy(model) as copy:
        x_in = _block_input(copy, path, x)
        return trace_block(real_block_module(copy, path), x_in, kind, title, summarise,
                           original=original)


def trace_real(name: str, path: str, input_size: tuple[int, int, int] | None = None
               ) -> BlockTrace:
    """Steps of the block ``path`` of model ``name`` at the model's input size (or
    ``input_size``), traced on a meta-device copy (the cached model is not used)."""
    size = tuple(input_size or _input_size(name))
    return _real_cached(name, path, size, get_language())


@lru_cache(maxsize=64)
def _real_cached(name: str, path: str, size: tuple[int, ...], lang: str) -> BlockTrace:
    """The trace holds text (details, branch names): one per language, as for standalone."""
    kind = next((b.kind for b in real_blocks() if b.model == name and b.path == path), "")
    trace, _acts = _trace_in_copy(meta_model(name), path, torch.zeros((1, *size), device="meta"),
                                  kind, f"{name}.{path}")
    return trace


def capture_trace(model: nn.Module, block_path: str, x: torch.Tensor, channels: int = 4,
                  kind: str = "", title: str = "") -> tuple[BlockTrace, list[StepActivation]]:
    """:func:`capture_steps`, also returning the block's trace for this input (the shapes of
    the image actually used)."""
    trace, acts = _trace_in_copy(model, block_path, x.detach(), kind, title or block_path,
                                 summarise=True)
    result = []
    for step, (chans, mean_map, stats) in zip(trace.steps, acts):
        result.append(StepActivation(step.index, step.name, step.branch, step.output_shape,
                                     chans[:channels], mean_map, stats))
    return trace, result


def capture_steps(model: nn.Module, block_path: str, x: torch.Tensor, channels: int = 4
                  ) -> list[StepActivation]:
    """Run ``model`` on ``x`` up to and through the block ``block_path`` (and no further) and
    return each step's activations: the ``channels`` most varied channels, the channel-mean map
    and statistics. The model is used read-only: the hooks sit on a borrowed copy sharing its
    weights, only inside this call (removed in ``finally``, even when a step raises); no mode
    change, no gradients."""
    return capture_trace(model, block_path, x, channels)[1]


def capture_image(loaded: Any, block_path: str, image, kind: str = ""
                  ) -> tuple[BlockTrace, list[StepActivation]]:
    """:func:`capture_trace` for a PIL image and anything with ``.model`` and ``.preprocess``
    (a ``LoadedModel``, or :func:`external_model`'s result)."""
    x = loaded.preprocess(image)
    return capture_trace(loaded.model, block_path, x, kind=kind,
                         title=f"{getattr(loaded, 'name', '')}.{block_path}")


@dataclass
class ExternalModel:
    name: str
    model: nn.Module
    preprocess: Callable
    label: str


def external_model(name: str = DEEPLAB) -> ExternalModel:
    """A model outside the zoo (DeepLab v3 for its ASPP), with random weights: no weights for it
    ship with the explorer. Eval mode, parameters frozen."""
    with rng.seeded(0):  # the same weights every time, without touching the global generator
        model = build_external(name).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(3, 1, 1)

    def preprocess(image) -> torch.Tensor:
        img = image.convert("RGB").resize((520, 520))
        t = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return ((t - mean) / std)[None]

    return ExternalModel(name, model, preprocess,
                         N_("torchvision deeplabv3_mobilenet_v3_large, random weights (not in "
                            "the zoo; activations show the data flow, not learned features)"))


def branch_stats(trace: BlockTrace, acts: list[StepActivation]) -> list[dict[str, Any]]:
    """Statistics of each branch's output (its last step) and of the block's output."""
    rows = []
    by_index = {a.index: a for a in acts}
    for label in trace.branches:
        members = [s for s in trace.steps if s.branch == label]
        if not members:
            continue
        last = members[-1]
        a = by_index.get(last.index)
        if a is None:
            continue
        rows.append({"branch": label, "output of step": f"{last.index + 1}. {last.name}",
                     "shape": fmt_shape(a.shape), **a.stats})
    return rows

