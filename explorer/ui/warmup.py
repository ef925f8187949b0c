"""Warm-up once per server: PyTorch, Captum and the default models load in a background thread.

Importing torch, torchvision and captum costs seconds, and so does the first forward pass of a
model; none of it is work the user asked for. app.py starts :func:`start` once per server
process after the first page is drawn; a page that needs torch calls :func:`wait` after drawing
its title and controls, which shows a spinner only while the warm-up is still running, then
imports what it needs (already in ``sys.modules`` by then). The default models go into the same
cache the pages use (``explorer.ui.models``), so the first Inference visit finds them loaded.

The thread only imports and loads read-only shared models; it draws nothing and touches no
session's state.
"""
from __future__ import annotations

import logging
import threading

import streamlit as st

from explorer import OMP_WAIT_POLICY  # noqa: F401  (the package sets it: see below)
from explorer.i18n import _

__all__ = ["HEAVY_MODULES", "DEFAULT_MODELS", "FLUSH_DELAY", "start", "wait", "imported", "done"]

HEAVY_MODULES = ("torch", "torchvision", "captum")
# (name, source) loaded into explorer.ui.models' cache: what the pages open with.
DEFAULT_MODELS = (("efficientnet_lite0", "auto"),)

# The server's torch runs with passive OpenMP threads, like every command-line tool: the package
# sets it on import (explorer/__init__.py, the one definition), before anything imports torch.

_log = logging.getLogger(__name__)
_lock = threading.Lock()
_thread: threading.Thread | None = None
_imported = threading.Event()  # torch and the explorer core are importable at no cost
_done = threading.Event()  # ... and the default models are loaded and have run once
_hurry = threading.Event()  # a page is waiting for torch: no more delay
FLUSH_DELAY = 1.0  # s: how long app.py lets the first page's elements go out before importing


def start(delay: float = 0.0) -> None:
    """Start the warm-up thread, once per process (later calls do nothing). With ``delay`` it
    waits that long first, unless a page needs torch (:func:`wait`): importing torch holds the
    GIL for long stretches, which would hold back the first page's elements on their way to the
    browser (Streamlit sends them from another thread of this process)."""
    global _thread
    with _lock:
        if _thread is None:
            # Not a daemon: a process that exits while the thread is inside torch's C++ code
            # aborts ("terminate called without an active exception"); it ends in seconds.
            _thread = threading.Thread(target=_run, args=(delay,), name="explorer-warmup",
                                       daemon=False)
            _thread.start()


def _run(delay: float) -> None:
    if delay > 0:
        _hurry.wait(delay)
    try:
        import torch
        import torchvision  # noqa: F401

        from explorer import analysis, inference, weights, zoo  # noqa: F401

        _imported.set()  # what most pages need; Captum (seconds more) only Inference and Blocks
        import captum.attr  # noqa: F401

        from explorer import attribution  # noqa: F401

        from explorer.analysis import features
        from explorer.ui.models import get_model

        for name, source in DEFAULT_MODELS:
            loaded = get_model(name, source)
            # The first forward and backward passes allocate and pick kernels, and Grad-CAM's
            # first call makes its module copy: pay for them here, not on a click.
            x = torch.zeros(1, *loaded.spec.input_size)
            inference.predict(loaded, x)
            for method in ("saliency", "gradcam"):
                attribution.explain(loaded, x, method, target=0)
    except Exception:  # a page that needs what failed will import it and show the error itself
        _log.exception("warm-up failed")
    finally:
        _imported.set()
        _done.set()


def imported() -> bool:
    """True once torch, torchvision and the explorer core are imported."""
    return _imported.is_set()


def done() -> bool:
    """True once the default models are loaded too."""
    return _done.is_set()


def wait(spinner: bool = True, hurry: bool = True) -> None:
    """Return once the heavy imports are done, starting the warm-up if nobody has; while
    waiting, a spinner says why (``spinner=False``: wait without one). ``hurry=False``: for
    what is drawn after the page (it keeps :data:`FLUSH_DELAY`)."""
    if _imported.is_set():
        return
    if hurry:
        _hurry.set()
    start(0.0 if hurry else FLUSH_DELAY)
    if not spinner:
        _imported.wait()
        return
    with st.spinner(_("Starting PyTorch (once per server, a few seconds)…")):
        _imported.wait()
