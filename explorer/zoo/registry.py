"""The registry itself: ModelSpec, register, list_models, get_spec, build, block kinds.

Family modules import this module (not the package) to register their models, so the package
``__init__`` can import the families without an import circle.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Callable

import torch.nn as nn

from explorer.i18n import N_  # labels marked here are shown with explorer.i18n._

__all__ = [
    "BLOCK_KINDS",
    "ModelSpec",
    "UnknownModelError",
    "register",
    "list_models",
    "get_spec",
    "build",
    "class_names",
]

# The vocabulary of block kinds that a spec's ``blocks`` may name (the Blocks page reads it).
BLOCK_KINDS = {
    "nin": N_("1×1 convolution / Network-in-Network block"),
    "inception_v1": N_("Inception v1 module (four branches, concatenation)"),
    "inception_v3": N_("Inception v3 factorised module (1×n then n×1)"),
    "basic": N_("Residual basic block (identity or projection shortcut)"),
    "bottleneck": N_("Bottleneck residual block (1×1, 3×3, 1×1)"),
    "dense": N_("Dense block (concatenation growth)"),
    "transition": N_("DenseNet transition layer (1×1 conv + 2×2 average pool)"),
    "depthwise_separable": N_("Depthwise-separable convolution (MobileNet v1)"),
    "xception": N_("Xception separable module with residual"),
    "inverted_residual": N_("Inverted residual with linear bottleneck (MobileNet v2)"),
    "aspp": N_("Atrous spatial pyramid pooling (DeepLab v3)"),
}


_DESCRIPTION_PARTS: list[str] = []  # marked sentences several descriptions share


def DESCRIPTION_PART(text: str) -> str:  # noqa: N802  (reads like N_ at the definition)
    """Register a sentence that descriptions are built from, so :func:`describe` can translate a
    description part by part; returns ``text``."""
    _DESCRIPTION_PARTS.append(text)
    return text


def describe(spec: "ModelSpec") -> str:
    """``spec.description`` in the UI language (whole, or by its registered parts)."""
    from explorer.i18n import _

    def say(text: str) -> str:
        core = text.strip()
        if not core:
            return text
        if _(core) != core:
            return text.replace(core, _(core))
        for part in _DESCRIPTION_PARTS:
            if part in text and part != core:
                before, after = text.split(part, 1)
                return say(before) + _(part) + say(after)
        return text

    return say(spec.description)


class UnknownModelError(KeyError):
    """Raised by :func:`get_spec` for a name that is not in the zoo."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else "unknown model"


@dataclass(frozen=True)
class ModelSpec:
    """Everything the explorer declares about one architecture."""

    name: str
    family: str
    year: int
    paper: str  # "Authors, Title, Venue Year" with a link where there is one
    builder: Callable[..., nn.Module]
    input_size: tuple[int, int, int]  # (C, H, W) the network was designed for
    dataset: str  # "imagenet", "mnist" or "cifar10": names the classes and preprocessing
    num_classes: int
    description: str = ""
    # Smallest H (= W) the network accepts; None when the input size is fixed (Flatten + Linear).
    min_size: int | None = None
    # torchvision builder name and Weights enum member ("ResNet50_Weights.IMAGENET1K_V2").
    tv_builder: str | None = None
    tv_weights: str | None = None
    # Other weight sources that exist for this model: "package" (EfficientNet-Lite0's installed
    # weights) or "trained" (the project's own checkpoint in assets/).
    weight_sources: tuple[str, ...] = ()
    # Published ImageNet top-1 of the pretrained weights, in %, where one exists.
    published_top1: float | None = None
    # Module path (``named_modules()`` key) whose output ends each stage, keyed by output stride.
    stages: dict[int, str] = field(default_factory=dict)
    gradcam_layer: str | None = None
    # (module path, block kind from BLOCK_KINDS, short label) for the blocks worth opening.
    blocks: tuple[tuple[str, str, str], ...] = ()
    # Keyword arguments passed to ``builder`` by :func:`build`.
    build_kwargs: dict = field(default_factory=dict)

    @property
    def resizable(self) -> bool:
        return self.min_size is not None


_REGISTRY: dict[str, ModelSpec] = {}


def register(spec: ModelSpec) -> ModelSpec:
    if spec.name in _REGISTRY:
        raise ValueError(f"model {spec.name!r} is registered twice")
    unknown = [kind for _, kind, _ in spec.blocks if kind not in BLOCK_KINDS]
    if unknown:
        raise ValueError(f"{spec.name}: unknown block kinds {unknown}")
    _REGISTRY[spec.name] = spec
    return spec


def list_models(dataset: str | None = None) -> list[str]:
    """Names of all registered models, optionally only those for one dataset."""
    return [n for n, s in _REGISTRY.items() if dataset is None or s.dataset == dataset]


def get_spec(name: str) -> ModelSpec:
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownModelError(
            f"unknown model {name!r}.{hint} Known models: {', '.join(_REGISTRY)}"
        ) from None


def build(name: str, **kwargs) -> nn.Module:
    """A fresh instance with random weights, in eval mode. ``kwargs`` override the spec's."""
    spec = get_spec(name)
    model = spec.builder(**{**spec.build_kwargs, **kwargs})
    return model.eval()


def class_names(name_or_dataset: str) -> list[str]:
    """Class names for a model name or a dataset name ("imagenet", "mnist", "cifar10")."""
    dataset = _REGISTRY[name_or_dataset].dataset if name_or_dataset in _REGISTRY else name_or_dataset
    if dataset == "imagenet":
        from torchvision.models._meta import _IMAGENET_CATEGORIES

        return list(_IMAGENET_CATEGORIES)
    if dataset == "mnist":
        return [str(d) for d in range(10)]
    if dataset == "cifar10":
        return ["airplane", "automobile", "bird", "cat", "deer",
                "dog", "frog", "horse", "ship", "truck"]
    raise ValueError(f"no class names for dataset {dataset!r}")
