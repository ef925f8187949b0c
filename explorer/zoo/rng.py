"""Random draws that never touch PyTorch's process-wide generator, so one session cannot change
another's numbers: seeded model builds and seeded dropout.

Every browser session runs in its own thread of one process, and ``torch.manual_seed`` /
``torch.random.fork_rng`` seed and restore the *one* global generator that all those threads
draw from: a build in one thread and a draw in another interleave, and both change. Here

* :func:`seeded` runs a block of code (a model build: torchvision's builders initialise their
  weights with global-generator calls inside ``__init__``) with every random ATen operation of
  *this thread* redirected to a private ``torch.Generator``. It is a ``TorchDispatchMode``, and
  dispatch modes are thread-local, so other threads are untouched and cannot disturb it. Its
  draws are the ones ``torch.manual_seed(seed)`` would give (same algorithm, same seed), so a
  seeded build is bit-identical to the old ``fork_rng`` + ``manual_seed`` one, alone or not.
* :class:`SeededDropout` is ``nn.Dropout`` drawing its mask from a given generator;
  :func:`seed_dropout` swaps it into a model that is being trained.
"""
from __future__ import annotations

import contextlib
import functools

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

__all__ = ["seeded", "SeededDropout", "seed_dropout"]


@functools.lru_cache(maxsize=None)
def _generator_index(op) -> int | None:
    """Position of the ``generator`` argument in ``op``'s schema (keyword-only in every random
    ATen op), or None when ``op`` draws nothing."""
    for i, arg in enumerate(op._schema.arguments):
        if arg.name == "generator":
            return i
    return None


def _device_of(args, kwargs) -> torch.device:
    for a in list(args) + list(kwargs.values()):
        if isinstance(a, torch.Tensor):
            return a.device
        if isinstance(a, (list, tuple)):
            for b in a:
                if isinstance(b, torch.Tensor):
                    return b.device
    device = kwargs.get("device")
    return torch.device(device) if device is not None else torch.device("cpu")


class _Redirect(TorchDispatchMode):
    """Give every random op without an explicit generator one of ours (one per device type)."""

    def __init__(self, seed: int):
        super().__init__()
        self.seed = seed
        self.generators: dict[str, torch.Generator] = {}

    def generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self.generators:
            self.generators[key] = torch.Generator(device=device).manual_seed(self.seed)
        return self.generators[key]

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if _generator_index(func) is not None and kwargs.get("generator") is None:
            device = _device_of(args, kwargs)
            if device.type != "meta":  # meta tensors draw nothing
                kwargs["generator"] = self.generator(device)
        return func(*args, **kwargs)


@contextlib.contextmanager
def seeded(seed: int = 0):
    """Run the block with this thread's random draws taken from a private generator seeded
    with ``seed`` (yielded: continue drawing from it to extend the same stream)."""
    mode = _Redirect(seed)
    with mode:
        yield mode.generator(torch.device("cpu"))


class SeededDropout(nn.Dropout):
    """``nn.Dropout`` whose mask comes from ``generator`` rather than the global generator. On
    the CPU it draws exactly what ``nn.Dropout`` draws (empty_like → bernoulli_ → div → mul)."""

    def __init__(self, p: float, generator: torch.Generator):
        super().__init__(p)
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p == 1:
            return x * 0
        noise = torch.empty_like(x).bernoulli_(1 - self.p, generator=self.generator)
        return x * noise.div_(1 - self.p)


def seed_dropout(model: nn.Module, generator: torch.Generator) -> nn.Module:
    """Replace every ``nn.Dropout`` in ``model`` (in place) with a :class:`SeededDropout` drawing
    from ``generator``; other dropout kinds would still use the global generator, so they are
    refused. The state dict is unchanged (dropout has no parameters)."""
    for parent in list(model.modules()):
        for child_name, child in parent.named_children():
            if type(child) is nn.Dropout:
                setattr(parent, child_name, SeededDropout(child.p, generator))
            elif isinstance(child, nn.modules.dropout._DropoutNd) \
                    and not isinstance(child, SeededDropout):
                raise TypeError(f"{type(child).__name__} would draw from the global generator")
    return model
