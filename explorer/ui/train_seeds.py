"""The Train page's "Two seeds, one recipe": train the chosen model from seeds 0 and 1 (a short
run on a CPU) and show the linear-CKA matrix between their layers with each layer's best match
(``explorer.train.seeds``). Results stay in ``st.session_state["dyn_seeds"]``."""
from __future__ import annotations

import time

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from explorer.data.mnist import MnistNotFoundError, mnist_root
from explorer.i18n import _
from explorer.train import seeds

__all__ = ["two_seeds"]

state = st.session_state


def two_seeds(name: str) -> None:
    from explorer import inference

    epochs, images = seeds.default_pair_run(inference.pick_device().type)
    st.caption(_("Does the same recipe learn the same thing twice? {model} is trained from seeds "
                 "0 and 1 ({epochs} epochs on {images} images: the page's default run), then "
                 "every layer of run A is compared with every layer of run B by linear CKA on "
                 "500 probe digits (Kornblith et al. 2019; feature maps pooled to 7×7). If the "
                 "runs learn alike, each layer's best match is its own counterpart.")
               .format(model=name, epochs=epochs, images=f"{images:,}"))
    done = state.setdefault("dyn_seeds", {})
    key = f"{name}:{epochs}:{images}"
    if st.button(_("Train two seeds and compare"), key="dyn_seeds_go"):
        result = _run_seeds(name, epochs, images)
        if result is not None:
            done[key] = result
    if key in done:
        _seed_result(done[key])


def _run_seeds(name: str, epochs: int, images: int) -> dict | None:
    root, download = mnist_root()
    bar = st.progress(0.0, text=_("Training {model} from two seeds…").format(model=name))
    started = time.perf_counter()
    try:
        models = seeds.train_pair(name, epochs, root, subset=images if images < 60_000 else None,
                                  download=download,
                                  on_batch=lambda p: bar.progress(min(p, 1.0), text=_(
                                      "Training {model} from two seeds… {done}").format(
                                      model=name, done=f"{p:.0%}")))
        bar.progress(1.0, text=_("Comparing the layers…"))
        result = seeds.compare_pair(name, models, root, download=download)
    except MnistNotFoundError as exc:
        bar.empty()
        st.error(str(exc))
        return None
    except (OSError, RuntimeError) as exc:
        bar.empty()
        st.error(_("Could not get MNIST ({error}). Connect to the internet, or set "
                   "CNN_EXPLORER_MNIST to a folder that holds MNIST/raw/.").format(error=exc))
        return None
    bar.empty()
    out = result.to_dict()
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def _seed_result(r: dict) -> None:
    layers = r["layers"]
    m = np.asarray(r["matrix"])
    df = pd.DataFrame([{"a": a, "b": b, "cka": float(m[i, j])}
                       for i, a in enumerate(layers) for j, b in enumerate(layers)])
    enc = dict(x=alt.X("b:N", sort=layers, title=_("run B (seed {seed})").format(seed=r["seeds"][1]),
                       axis=alt.Axis(labelAngle=-30)),
               y=alt.Y("a:N", sort=layers, title=_("run A (seed {seed})").format(seed=r["seeds"][0])))
    heat = alt.Chart(df).mark_rect().encode(
        **enc, color=alt.Color("cka:Q", title="CKA", scale=alt.Scale(domain=[0, 1], scheme="viridis")),
        tooltip=[alt.Tooltip("a:N", title=_("run A")), alt.Tooltip("b:N", title=_("run B")),
                 alt.Tooltip("cka:Q", title="CKA", format=".3f")])
    text = alt.Chart(df).mark_text(fontSize=11).encode(
        **enc, text=alt.Text("cka:Q", format=".2f"),
        color=alt.condition(alt.datum.cka > 0.6, alt.value("black"), alt.value("white")))
    left, right = st.columns([1, 1])
    left.altair_chart((heat + text).properties(height=300), width="stretch")
    table = pd.DataFrame(r["matches"])
    right.dataframe(table[["layer", "best", "cka", "same_layer_cka"]], hide_index=True,
                    width="stretch", column_config={
                        "layer": st.column_config.TextColumn(_("layer of run A"), width="small"),
                        "best": st.column_config.TextColumn(_("best match in run B"),
                                                            width="small"),
                        "cka": st.column_config.NumberColumn("CKA", format="%.3f", width="small"),
                        "same_layer_cka": st.column_config.NumberColumn(
                            _("CKA with the same layer"), format="%.3f")})
    same, total = int(r["same"]), len(layers)
    (right.success if same >= total - 1 else right.warning)(
        _("{same} of {total} layers of run A find their own counterpart in run B as the most "
          "similar layer. Accuracy on the 2,000 probe digits: {a} % and {b} % ({seconds} s).")
        .format(same=same, total=total, a=f"{r['test_accuracy'][0]:.2f}",
                b=f"{r['test_accuracy'][1]:.2f}", seconds=r.get("seconds", "?")))
