"""The one way to run a shared cached model safely: captures, borrowed copies, device copies, hooks.

A model from ``explorer.ui.models.get_model`` is shared by every browser session (each runs its
script in its own thread). Nothing may change it: no ``.train()``, ``.to()``, ``.half()``, no
hook left behind, no ``.grad`` written. Every capability that needs more than a plain forward
pass goes through this module:

:func:`capture` / :func:`recording`
    Outputs of named layers from one forward pass on the shared model itself. Each hook
    records only calls from the thread that attached it and ignores every other session's
    forward; the early stop (:class:`StopForward`) is raised from that same filtered hook, so
    another session's forward is never cut short. Hooks are removed in ``finally``.
:func:`module_input`
    The input of one module (a block), the forward stopped there; same thread filter.
:func:`borrowed_copy`
    A per-call *module copy* for methods that hook many modules or need a backward pass
    through them (Grad-CAM, guided backprop, block tracing, effective receptive fields): new
    module objects sharing the parameter and buffer tensors (no weight memory, a few ms),
    ``inplace`` switched off and ReLU6 seen as a ReLU (same forward) so Captum's guided methods
    work. Copies are pooled per model; one copy never serves two calls at once.
:func:`private_copy`
    A deep copy with its own parameters, for work that changes weights (model randomisation,
    training from a shared starting point).
:func:`meta_copy`
    A copy on the meta device (shapes without weights), for analysis of a model passed in.
:func:`model_on`
    The shared model on the CPU; elsewhere one cached private copy per (model, device).
:func:`hooks`
    Hooks on a private model (a borrowed, private or meta copy), removed in ``finally``.
"""
from __future__ import annotations

import copy
import itertools
import threading
import weakref
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = [
    "LayerNotFoundError",
    "StopForward",
    "first_tensor",
    "device_of",
    "recording",
    "capture",
    "module_input",
    "hooks",
    "module_copy",
    "borrowed_copy",
    "private_copy",
    "meta_copy",
    "is_clean",
    "model_on",
    "drop_device_copies",
]


class LayerNotFoundError(KeyError):
    """A layer path that is not in the model, or a layer that did not run in its forward."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "layer not found"


class StopForward(Exception):
    """Raised from a hook once what was asked for has been seen: the rest of the network is not
    needed. ``value`` carries what the hook saw (a module's input, for :func:`module_input`)."""

    def __init__(self, value=None):
        super().__init__()
        self.value = value


def first_tensor(output) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    raise TypeError(f"the layer returned a {type(output).__name__}, not a tensor")


def device_of(model: nn.Module) -> torch.device:
    for tensor in model.parameters():
        return tensor.device
    for tensor in model.buffers():
        return tensor.device
    return torch.device("cpu")


def _check_paths(model: nn.Module, paths: list[str]) -> dict[str, nn.Module]:
    modules = dict(model.named_modules())
    missing = [p for p in paths if p not in modules]
    if missing:
        close = ", ".join(list(modules)[1:6])
        raise LayerNotFoundError(f"no layer named {', '.join(map(repr, missing))} in "
                                 f"{type(model).__name__} (layer names look like {close}, …)")
    return modules


@contextmanager
def hooks() -> Iterator[Callable]:
    """``with hooks() as keep: keep(module.register_forward_hook(fn))``: every handle kept is
    removed in ``finally``, also when the forward raises. For private models only (a borrowed,
    private or meta copy): on a shared model, use :func:`recording`, which filters by thread."""
    handles: list = []
    try:
        yield handles.append
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def recording(model: nn.Module, layer_paths: Iterable[str],
              reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
              stop_early: bool = True):
    """Attach forward hooks on ``layer_paths`` for the length of a ``with`` block.

    Yields a dict that fills with ``{path: output}`` during forward passes run by *this*
    thread. A module called more than once (a ReLU shared inside a residual block) is recorded
    at its first call. ``reduce`` is applied to the output inside the hook (for CKA: spatial
    pooling, so the full map is never kept); without it the output is cloned, because a later
    in-place op (``ReLU(inplace=True)``) would otherwise overwrite it. With ``stop_early`` the
    forward is cut short by :class:`StopForward`, which :func:`capture` catches.
    """
    paths = list(dict.fromkeys(layer_paths))
    modules = _check_paths(model, paths)
    owner = threading.get_ident()
    store: dict[str, torch.Tensor] = {}

    def make_hook(path: str):
        def hook(module, inputs, output):
            if threading.get_ident() != owner or path in store:
                return
            out = first_tensor(output).detach()
            store[path] = reduce(out) if reduce is not None else out.clone()
            if stop_early and len(store) == len(paths):
                raise StopForward

        return hook

    with hooks() as keep:
        for path in paths:
            keep(modules[path].register_forward_hook(make_hook(path)))
        yield store


def _require_eval(model: nn.Module) -> None:
    if any(m.training for m in model.modules()):
        raise ValueError("capture needs a model in eval mode: a forward in training mode would "
                         "change its BatchNorm statistics (call .eval() on your own copy)")


def capture(model: nn.Module, layer_paths: str | Iterable[str], x: torch.Tensor, *,
            reduce: Callable[[torch.Tensor], torch.Tensor] | None = None,
            stop_early: bool = True) -> dict[str, torch.Tensor]:
    """Outputs of ``layer_paths`` for the batch ``x`` (N×C×H×W), from one forward pass.

    Only the named layers are kept; the forward stops after the last of them has run. The
    model is left as it was: no hooks, same mode, same state dict, no ``.grad`` (the pass runs
    under ``torch.inference_mode``). ``x`` is moved to the model's device, never the model.
    The model must be in eval mode: a training-mode forward would update BatchNorm statistics.
    """
    paths = [layer_paths] if isinstance(layer_paths, str) else list(dict.fromkeys(layer_paths))
    if not paths:
        return {}
    _require_eval(model)
    x = x.to(device_of(model))
    with torch.inference_mode(), recording(model, paths, reduce, stop_early) as store:
        try:
            model(x)
        except StopForward:
            pass
    missing = [p for p in paths if p not in store]
    if missing:
        raise LayerNotFoundError(f"layer {', '.join(map(repr, missing))} did not run in the "
                                 "forward pass (an auxiliary head only used in training?)")
    return {p: store[p] for p in paths}


def module_input(model: nn.Module, path: str, x: torch.Tensor) -> torch.Tensor:
    """The first input of module ``path`` when ``model`` runs on ``x``; the forward stops there.
    Works on the shared model (the stopping pre-hook acts only in this thread) and on meta
    copies. Raises :class:`LayerNotFoundError` for an unknown path or one the forward never
    reaches."""
    block = _check_paths(model, [path])[path]
    me = threading.get_ident()

    def stop(module, args):
        if threading.get_ident() == me:
            raise StopForward(args[0])

    with hooks() as keep:
        keep(block.register_forward_pre_hook(stop))
        try:
            with torch.inference_mode():
                model(x)
        except StopForward as s:
            return s.value
    raise LayerNotFoundError(f"the forward pass never reached {path!r}")


# --------------------------------------------------------------------------------------------
# Copies


class _GuidedReLU6(nn.ReLU):
    """ReLU6 in disguise: Captum's guided methods override gradients only at ``nn.ReLU``
    modules, and EfficientNet-Lite / MobileNet-v2 use ReLU6. Same forward, so the copy's
    predictions do not change; its backward is then clamped like a ReLU's."""

    def forward(self, x):
        return F.relu6(x)


def module_copy(model: nn.Module) -> nn.Module:
    """New module objects sharing the parameter and buffer tensors of ``model``; ``inplace``
    off and ReLU6 as a ReLU subclass (same forward), so hooks and guided methods work on it."""
    memo = {id(t): t for t in itertools.chain(model.parameters(), model.buffers())}
    clone = copy.deepcopy(model, memo)
    for module in clone.modules():
        if hasattr(module, "inplace"):
            module.inplace = False
        for child_name, child in module.named_children():
            if isinstance(child, nn.ReLU6):
                setattr(module, child_name, _GuidedReLU6())
    return clone


def is_clean(model: nn.Module) -> bool:
    """No forward or backward hook anywhere in ``model``."""
    return all(not (m._forward_hooks or m._forward_pre_hooks or m._backward_hooks
                    or m._backward_pre_hooks) for m in model.modules())


_pools: "weakref.WeakKeyDictionary[nn.Module, list[nn.Module]]" = weakref.WeakKeyDictionary()
_pools_lock = threading.Lock()
_POOL_SIZE = 4


@contextmanager
def borrowed_copy(model: nn.Module) -> Iterator[nn.Module]:
    """A module copy of ``model`` for this call alone (see :func:`module_copy`). Copies are
    pooled (a deepcopy of EfficientNet's ~250 modules costs tens of ms, as much as a forward
    pass): a copy goes back to the pool only when every hook has been removed from it."""
    with _pools_lock:
        pool = _pools.setdefault(model, [])
        clone = pool.pop() if pool else None
    if clone is None:
        clone = module_copy(model)
    try:
        yield clone
    finally:
        if is_clean(clone):
            with _pools_lock:
                pool = _pools.setdefault(model, [])
                if len(pool) < _POOL_SIZE:
                    pool.append(clone)


def private_copy(model: nn.Module) -> nn.Module:
    """A deep copy with parameters of its own, for work that changes weights (randomisation,
    training). Costs the model's weight memory; never pooled."""
    return copy.deepcopy(model)


def meta_copy(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose parameters and buffers are meta tensors: the original is only
    read, and no weight memory is copied. Hooks are not carried over."""
    memo: dict[int, object] = {}
    for p in module.parameters():
        memo[id(p)] = nn.Parameter(torch.empty_like(p, device="meta"),
                                   requires_grad=p.requires_grad)
    for b in module.buffers():
        memo[id(b)] = torch.empty_like(b, device="meta")
    clone = copy.deepcopy(module, memo)
    for m in clone.modules():
        for table in (m._forward_hooks, m._forward_pre_hooks, m._backward_hooks,
                      getattr(m, "_backward_pre_hooks", {}), m._forward_hooks_with_kwargs,
                      m._forward_pre_hooks_with_kwargs, m._forward_hooks_always_called):
            table.clear()
    return clone


_copies: "weakref.WeakKeyDictionary[nn.Module, dict[str, nn.Module]]" = weakref.WeakKeyDictionary()
_copies_lock = threading.Lock()


def model_on(model: nn.Module, device: torch.device | str) -> nn.Module:
    """``model`` itself on the CPU; elsewhere a cached private copy on ``device`` (made once,
    channels-last on CUDA, dropped together with the shared model when the cache evicts it)."""
    device = torch.device(device)
    if device.type == "cpu":
        return model
    key = str(device)
    with _copies_lock:
        per_model = _copies.setdefault(model, {})
        if key not in per_model:
            clone = copy.deepcopy(model).to(device)
            if device.type == "cuda":
                clone = clone.to(memory_format=torch.channels_last)
            per_model[key] = clone.eval()
        return per_model[key]


def drop_device_copies(model: nn.Module | None = None) -> None:
    with _copies_lock:
        if model is None:
            _copies.clear()
        else:
            _copies.pop(model, None)
