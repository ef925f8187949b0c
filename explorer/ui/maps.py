"""Attribution maps that fill in one by one: every method's column is drawn at once with what
it will cost, then each is computed in turn with its own progress (Inference page).

A method expected to take more than :data:`SAY_SECONDS` says so before it runs; one expected to
take more than :data:`ASK_SECONDS` (Occlusion on a CPU) waits for a click. Estimates come from
the prediction's forward time (``attribution.estimate_from_forward``): no extra pass.

Results are kept in a small process-wide LRU keyed by (model key, image key, method, target,
layer), shared by sessions like ``st.cache_data`` but filled with a progress callback (which a
cached function cannot take). Results are plain numpy data and never mutated.
"""
from __future__ import annotations

import io

import numpy as np
import streamlit as st

from explorer import attribution
from explorer.i18n import _
from explorer.ui.results import ResultStore

__all__ = ["SAY_SECONDS", "ASK_SECONDS", "draw_maps", "cached_result"]

SAY_SECONDS = 2.0
ASK_SECONDS = 10.0
_MAX_RESULTS = 64

_results = ResultStore(_MAX_RESULTS)  # maps by (model, source, image, method, target, layer)


def cached_result(key: tuple):
    return _results.get(key)


def _store(key: tuple, result) -> None:
    _results.put(key, result)


def _png(image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def _npy(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def _about(seconds: float) -> str:
    return (_("about {seconds:.0f} s").format(seconds=seconds) if seconds >= 2
            else _("about {seconds:.1f} s").format(seconds=seconds))


def _caption(result) -> str:
    parts = [f"{result.seconds:.2f} s"]
    if result.layer:
        parts.append(_("layer {layer}").format(layer=result.layer))
    notes = result.notes
    if "relative_delta" in notes:
        parts.append(_("{steps} steps, convergence delta {delta:.3g} ({share:.1%} of f(x) − "
                       "f(baseline))").format(steps=notes["n_steps"],
                                              delta=notes["convergence_delta"],
                                              share=notes["relative_delta"]))
        if not notes.get("converged", True):
            parts.append(_("the step budget ran out before the delta was small"))
    elif "convergence_delta" in notes:
        parts.append(_("{steps} steps, convergence delta {delta:.3g}").format(
            steps=notes["n_steps"], delta=notes["convergence_delta"]))
    return " · ".join(parts)


def _compute(loaded, x, method, target, layer, slot, estimate, device_name):
    """Run one method inside ``slot`` with its own progress; None when waiting for a click."""
    name = _(attribution.METHODS[method])
    if method == "occlusion":  # always on request: it is the slow one even on a GPU
        with slot.container():
            st.info(_("Occlusion slides a grey patch over the image and re-runs the network for "
                      "each position: about {seconds:.0f} s on {device}.").format(
                seconds=estimate, device=device_name))
            if not st.button(_("Run occlusion"), key="inference_run_occlusion"):
                return None
    elif estimate > ASK_SECONDS:
        with slot.container():
            st.info(_("{method} takes {about} on {device}: it re-runs the network many "
                      "times.").format(method=name, about=_about(estimate), device=device_name))
            if not st.button(_("Run {method}").format(method=name), key=f"maps_run_{method}"):
                return None
    text = (_("Computing {method} ({about} on {device})…").format(
        method=name, about=_about(estimate), device=device_name) if estimate > SAY_SECONDS
        else _("Computing {method}…").format(method=name))
    bar = slot.progress(0.0, text=text)

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=text)

    return attribution.explain(loaded, x, method, target=target, layer=layer, progress=progress)


def draw_maps(loaded, x, view, methods, target, layer, opacity, model_key, image_key,
              forward_seconds: float, device_name: str) -> dict:
    """One column per method: header and estimate first, then each map as it is computed.
    Returns {method: AttributionResult} for the methods that have a result."""
    columns = st.columns(len(methods))
    pending = []
    for method, col in zip(methods, columns):
        with col:
            st.markdown(f"**{_(attribution.METHODS[method])}**")
            m_layer = layer if method in ("gradcam", "guided_gradcam") else None
            key = (model_key, image_key, method, target, m_layer)
            estimate = attribution.estimate_from_forward(method, forward_seconds, x)
            slot = st.empty()
            if cached_result(key) is None:
                slot.caption(_("Waiting: {about}").format(about=_about(estimate))
                             if estimate > SAY_SECONDS else _("Waiting…"))
            pending.append((method, slot, key, m_layer, estimate))

    results = {}
    for method, slot, key, m_layer, estimate in pending:
        name = _(attribution.METHODS[method])
        result = cached_result(key)
        if result is None:
            try:
                result = _compute(loaded, x, method, target, m_layer, slot, estimate, device_name)
            except attribution.AttributionError as exc:
                slot.error(f"{exc}")
                continue
            except Exception as exc:  # any layer/method combination: say so, keep the page
                slot.error(_("{method} failed on this model ({error}). Try another layer or "
                             "method.").format(method=name, error=exc))
                continue
            if result is None:  # waiting for its button
                continue
            _store(key, result)
        results[method] = result
        picture = attribution.overlay(view, result.map, opacity)
        with slot.container():
            st.image(picture, width="stretch")
            st.caption(_caption(result))
            d1, d2 = st.columns(2)
            stem = f"{loaded.name}_{method}_class{target}"
            d1.download_button(_("Overlay PNG"), _png(picture), file_name=f"{stem}.png",
                               mime="image/png", key=f"inference_png_{method}",
                               icon=":material/download:")
            d2.download_button(_("Raw .npy"), _npy(result.raw), file_name=f"{stem}.npy",
                               mime="application/octet-stream", key=f"inference_npy_{method}",
                               icon=":material/download:")
    return results
