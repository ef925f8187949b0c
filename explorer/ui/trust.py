"""The Inference page's "Can I trust these maps?" sections: model randomisation, class
sensitivity, deletion and insertion with baselines, and CAMs at every depth.

Each section sits in an expander and computes only when its toggle is on. Results are plain
data kept in one bounded, process-wide store keyed by (model, weights, image, class, method,
...), so a second session asking the same question gets the answer at once. (``st.cache_data``
cannot hold these: a cached function may not update a progress bar drawn outside it, and the
long runs must show progress.)
"""
from __future__ import annotations


import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from explorer import attribution, inference, zoo

from explorer.attribution import trust
from explorer.ui.results import ResultStore
from explorer.i18n import N_, _, join

METRICS = {
    "spearman_abs": N_("Spearman rank correlation (absolute map)"),
    "spearman_signed": N_("Spearman rank correlation (signed map)"),
    "ssim": N_("SSIM of the maps as shown"),
}
MODES = {
    "cascade": N_("Cascading: from the logits down, one more block each step"),
    "independent": N_("Independent: one block at a time, the rest trained"),
}
BASELINE_NAMES = {"random": N_("Random order (baseline)"),
                  "centre": N_("Centre first (baseline)")}
FAIL_AT, DOUBT_AT = 0.5, 0.3  # mean rank correlation over the cascade


# --------------------------------------------------------------------------------------------
# The store


@st.cache_resource
def _store() -> ResultStore:
    return ResultStore(64)


def _method_name(method: str) -> str:
    return _(attribution.METHODS.get(method, method))


def _map_name(name: str) -> str:
    return _(BASELINE_NAMES[name]) if name in BASELINE_NAMES else _method_name(name)


def _bar(text: str):
    bar = st.progress(0.0, text=text)

    def progress(done: int, total: int) -> None:
        bar.progress(min(done / max(total, 1), 1.0), text=text)

    return bar, progress


def _failed(exc: Exception) -> None:
    if isinstance(exc, attribution.AttributionError):
        st.error(str(exc))
    else:
        st.error(_("This check failed on this model ({error}). Try another layer or method.")
                 .format(error=exc))


def _strip(view, maps: list[np.ndarray], captions: list[str], opacity: float,
           width: int = 112) -> None:
    st.image([attribution.overlay(view, m, opacity) for m in maps], caption=captions, width=width)


# --------------------------------------------------------------------------------------------
# The sections


def trust_sections(loaded, x, view, pred, methods, target: int, layer: str | None, results: dict,
                   model_key, image_key: str, opacity: float = 0.5) -> None:
    """Draw the four checks under the attribution maps (``results``: method -> the page's
    AttributionResult for ``target``)."""
    st.subheader(_("Can I trust these maps?"))
    st.caption(_("A saliency map is a claim about the network. These checks test the claim: "
                 "does the map change when the network is destroyed, or when another class is "
                 "explained? Do the pixels it ranks first really carry the prediction?"))
    with st.expander(_("Model randomisation test (Adebayo et al. 2018)"), icon=":material/shuffle:"):
        randomisation_section(loaded, x, view, methods, target, layer, model_key, image_key, opacity)
    with st.expander(_("Class sensitivity: the map for another class"), icon=":material/compare:"):
        class_section(loaded, x, view, pred, methods, target, layer, model_key, image_key, opacity)
    with st.expander(_("Faithfulness: deletion and insertion curves"), icon=":material/show_chart:"):
        faithfulness_section(loaded, x, results, target, model_key, image_key)
    with st.expander(_("Grad-CAM and LayerCAM at every depth"), icon=":material/layers:"):
        depth_section(loaded, x, view, target, model_key, image_key, opacity)


def randomisation_section(loaded, x, view, methods, target, layer, model_key, image_key,
                          opacity: float = 0.5) -> None:
    st.markdown(_("Re-initialise the network's weights block by block, starting at the logits, "
                  "and recompute each map. A map that explains the network must change as the "
                  "network is destroyed; a map that stays the same shows the image's edges, not "
                  "what the network learned. Runs on a copy: the shared model is not touched."))
    usable = [m for m in methods if m in trust.CASCADE_METHODS]
    if len(usable) < len(methods):
        st.caption(_("Occlusion is left out: it would take minutes for every step."))
    if not usable:
        st.info(_("Choose a method other than Occlusion above."))
        return
    c1, c2 = st.columns([3, 2])
    mode = c1.radio(_("Randomisation"), list(MODES), format_func=lambda m: _(MODES[m]),
                    key="trust_rand_mode")
    slow = [m for m in usable if m in ("integrated_gradients", "smoothgrad")]
    if slow:
        c2.caption(_("{methods} re-run the network many times per map: expect about {seconds:.0f} s.")
                   .format(methods=join(map(_method_name, slow)),
                           seconds=_cascade_estimate(loaded, x, slow, model_key, image_key)))
    if not c2.toggle(_("Run the randomisation test"), key="trust_rand_on"):
        return
    store = _store()
    key = ("rand", model_key, image_key, int(target), layer, mode)
    missing = [m for m in usable if store.get(key + (m,)) is None]
    if missing:
        bar, progress = _bar(_("Re-initialising block by block…"))
        try:
            result = trust.randomisation_test(loaded, x, missing, int(target), mode=mode,
                                              layer=layer, progress=progress)
        except Exception as exc:  # shown, never a traceback
            bar.empty()
            _failed(exc)
            return
        bar.empty()
        for m in missing:  # the strip's maps only, as 8-bit: the store is shared and bounded
            store.put(key + (m,), {"steps": result.steps,
                                   "spearman_abs": result.spearman_abs[m][0],
                                   "spearman_signed": result.spearman_signed[m][0],
                                   "ssim": result.ssim[m][0],
                                   "maps": {i: (result.maps[m][i] * 255).round().astype(np.uint8)
                                            for i in _picks(len(result.steps))}})
    runs = {m: store.get(key + (m,)) for m in usable}
    steps = next(iter(runs.values()))["steps"]
    metric = st.selectbox(_("Similarity to the trained network's map"), list(METRICS),
                          format_func=lambda k: _(METRICS[k]), key="trust_rand_metric")
    labels = [_("trained")] + steps[1:]
    rows = [{"step": i, "block": labels[i], "method": _method_name(m), "value": float(v)}
            for m, run in runs.items() for i, v in enumerate(run[metric])]
    st.altair_chart(_similarity_chart(pd.DataFrame(rows), labels, _("similarity"), mode),
                    width="stretch")
    for m, run in runs.items():
        st.markdown(_verdict(m, run, mode))
    picks = _picks(len(steps))
    for m, run in runs.items():
        st.markdown(f"**{_method_name(m)}**")
        _strip(view, [run["maps"][i] / 255.0 for i in picks],
               [f"{i}: {labels[i]}" for i in picks], opacity)
    st.caption(_("Numbers for a whole folder of images: {command}").format(
        command=f"`python -m explorer.attribution sanity --model {loaded.name} --images DIR`"))


def _picks(n_steps: int) -> list[int]:
    """The steps the strip shows: the trained map, the last, and five between."""
    return sorted(set(np.linspace(0, n_steps - 1, min(7, n_steps)).round().astype(int).tolist()))


def _cascade_estimate(loaded, x, methods, model_key, image_key) -> float:
    store = _store()
    key = ("blocks", model_key)
    blocks = store.get(key)
    if blocks is None:
        blocks = len(trust.cascade_blocks(loaded.model, x))
        store.put(key, blocks)
    return sum(attribution.estimate_seconds(loaded, x, m) for m in methods) * (blocks + 1)


def _similarity_chart(df: pd.DataFrame, labels: list[str], title: str, mode: str) -> alt.Chart:
    x_title = (_("block re-initialised (cumulative, from the logits down)") if mode == "cascade"
               else _("the one block re-initialised"))
    base = alt.Chart(df).encode(
        x=alt.X("block:N", sort=labels, title=x_title, axis=alt.Axis(labelAngle=-45)),
        y=alt.Y("value:Q", title=title, scale=alt.Scale(domain=[-1, 1])),
        color=alt.Color("method:N", title=None, legend=alt.Legend(orient="top")),
        tooltip=["method", "block", alt.Tooltip("value:Q", format=".3f")])
    zero = alt.Chart(pd.DataFrame({"y": [0]})).mark_rule(color="#999999").encode(y="y:Q")
    return (base.mark_line(point=True) + zero).properties(height=360)


def _verdict(method: str, run: dict, mode: str) -> str:
    values = np.asarray(run["spearman_abs"][1:], dtype=float)
    name = _method_name(method)
    if not np.isfinite(values).any():
        return _("**{method}**: the map became constant, so rank correlation is undefined.").format(
            method=name)
    mean = float(np.nanmean(values))
    if mode == "independent":
        worst = int(np.nanargmin(values))
        return _("**{method}**: mean rank correlation {mean:.2f} over the single-block "
                 "randomisations; the map changes most when {block} is re-initialised "
                 "({value:.2f}).").format(method=name, mean=mean, block=run["steps"][worst + 1],
                                           value=values[worst])
    final = float(values[-1])
    if mean >= FAIL_AT:
        text = _("**{method}: fails.** The map stays similar while the network is destroyed "
                 "(mean rank correlation {mean:.2f} over the cascade, {final:.2f} with every "
                 "block random): it shows the image more than the network.")
    elif mean >= DOUBT_AT:
        text = _("**{method}: doubtful.** The map changes only partly as the network is "
                 "destroyed (mean rank correlation {mean:.2f} over the cascade, {final:.2f} with "
                 "every block random).")
    else:
        text = _("**{method}: passes.** The map changes as the network is destroyed (mean rank "
                 "correlation {mean:.2f} over the cascade, {final:.2f} with every block random).")
    return text.format(method=name, mean=mean, final=final)


def class_section(loaded, x, view, pred, methods, target, layer, model_key, image_key,
                  opacity: float = 0.5) -> None:
    st.markdown(_("The map for the class the network chose beside the map for another class. "
                  "If the two are almost the same, the map explains the image, not the "
                  "decision."))
    usable = [m for m in methods if m in trust.CASCADE_METHODS]
    if not usable:
        st.info(_("Choose a method other than Occlusion above."))
        return
    indices = list(pred.indices)
    if len(indices) < 2:
        indices = inference.predict(loaded, x, topk=2).indices
    second = indices[1] if int(target) == indices[0] else indices[0]
    c1, c2, c3 = st.columns([2, 2, 1])
    method = c1.selectbox(_("Method"), usable, format_func=_method_name, key="trust_class_method")
    options = [-1] + list(range(len(loaded.categories)))
    choice = c2.selectbox(
        _("Other class"), options, key="trust_class_other",
        format_func=lambda i: (_("Runner-up: {name} (#{index})").format(
            name=zoo.class_label(loaded.name, second, loaded.categories[second]), index=second)
            if i == -1 else f"#{i} {zoo.class_label(loaded.name, i, loaded.categories[i])}"))
    other = second if choice == -1 else int(choice)
    if not c3.toggle(_("Compare"), key="trust_class_on"):
        return
    store = _store()
    key = ("class", model_key, image_key, method, layer, int(target), other)
    result = store.get(key)
    if result is None:
        try:
            with st.spinner(_("Computing both maps…")):
                result = trust.class_sensitivity(loaded, x, method, (int(target), other),
                                                 layer=layer if method in ("gradcam", "guided_gradcam") else None)
        except Exception as exc:
            _failed(exc)
            return
        store.put(key, result)
    a, b, c = st.columns([2, 2, 1])
    for col, t, m in ((a, target, result.maps[0]), (b, other, result.maps[1])):
        col.image(attribution.overlay(view, m, opacity), width="stretch",
                  caption=f"#{t} {zoo.class_label(loaded.name, t, loaded.categories[t])}")
    c.metric(_("Rank correlation"), f"{result.spearman_abs:.2f}")
    c.metric("SSIM", f"{result.ssim:.2f}")
    if result.spearman_abs >= 0.8:
        st.warning(_("Almost the same map for both classes: this map says little about why the "
                     "network chose its class."))
    else:
        st.success(_("The map changes with the class: it depends on the decision being "
                     "explained."))


def faithfulness_section(loaded, x, results: dict, target, model_key, image_key) -> None:
    st.markdown(_("**Deletion** removes the pixels a map ranks first (they become the mean "
                  "colour) and watches the class probability fall: lower area under the curve "
                  "(AUC) is better. **Insertion** starts from a blurred image and puts the "
                  "pixels back in the map's order: higher AUC is better. A random order and a "
                  "centre-first order go through the same code as yardsticks. The two scores "
                  "often disagree, which is why both are here."))
    maps = {m: r for m, r in results.items()}
    if not maps:
        st.info(_("Compute at least one map above first."))
        return
    if not st.toggle(_("Compute deletion and insertion curves"), key="trust_faith_on",
                     help=_("About 40 forward passes per map, on progressively changed images.")):
        return
    store = _store()
    key = ("faith", model_key, image_key, int(target))
    names = list(maps) + list(trust.BASELINES)
    missing = [n for n in names if store.get(key + (n, _layer_of(maps.get(n)))) is None]
    if missing:
        bar, progress = _bar(_("Deleting and inserting pixels…"))
        try:
            result = trust.faithfulness(
                loaded, x, {m: trust.maps_of(maps[m]).abs for m in missing if m in maps},
                int(target), baselines=[n for n in missing if n in trust.BASELINES],
                progress=progress)
        except Exception as exc:
            bar.empty()
            _failed(exc)
            return
        bar.empty()
        for n in missing:
            store.put(key + (n, _layer_of(maps.get(n))), {
                "fractions": result.fractions, "deletion": result.deletion[n],
                "insertion": result.insertion[n], "deletion_auc": result.deletion_auc[n],
                "insertion_auc": result.insertion_auc[n]})
    curves = {n: store.get(key + (n, _layer_of(maps.get(n)))) for n in names}
    table = pd.DataFrame([{_("map"): _map_name(n),
                           _("deletion AUC (lower is better)"): c["deletion_auc"],
                           _("insertion AUC (higher is better)"): c["insertion_auc"]}
                          for n, c in curves.items()])
    c1, c2 = st.columns(2)
    for col, kind, title in ((c1, "deletion", _("Deletion: pixels removed")),
                             (c2, "insertion", _("Insertion: pixels put back"))):
        rows = [{"fraction": f, "probability": p, "map": _map_name(n),
                 "kind": _("baseline") if n in trust.BASELINES else _("method")}
                for n, c in curves.items() for f, p in zip(c["fractions"], c[kind])]
        col.markdown(f"**{title}**")
        col.altair_chart(_curve_chart(pd.DataFrame(rows), [_map_name(n) for n in curves]),
                         width="stretch")
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={c: st.column_config.NumberColumn(format="%.3f")
                                for c in table.columns[1:]})
    st.caption(_("Numbers for a whole folder of images: {command}").format(
        command=f"`python -m explorer.attribution faithfulness --model {loaded.name} --images DIR`"))


def _layer_of(result) -> str | None:
    return getattr(result, "layer", None)


_PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2"]


def _curve_chart(df: pd.DataFrame, names: list[str]) -> alt.Chart:
    # Methods in colour, solid; the two baselines grey and dashed.
    n_methods = len(names) - len(trust.BASELINES)
    colours = [_PALETTE[i % len(_PALETTE)] for i in range(n_methods)] + ["#555555", "#aaaaaa"]
    return alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("fraction:Q", title=_("share of pixels"), axis=alt.Axis(format="%")),
        y=alt.Y("probability:Q", title=_("probability of the class")),
        color=alt.Color("map:N", title=None, scale=alt.Scale(domain=names, range=colours),
                        legend=alt.Legend(orient="top", columns=2)),
        strokeDash=alt.StrokeDash("kind:N", title=None, legend=None, scale=alt.Scale(
            domain=[_("method"), _("baseline")], range=[[1, 0], [5, 3]])),
        tooltip=["map", alt.Tooltip("fraction:Q", format=".0%"),
                 alt.Tooltip("probability:Q", format=".3f")],
    ).properties(height=280)


def depth_section(loaded, x, view, target, model_key, image_key, opacity: float = 0.5) -> None:
    st.markdown(_("Grad-CAM weights each channel of a layer by its average gradient, so deep, "
                  "coarse layers work best; LayerCAM (Jiang et al. 2021) weights every position "
                  "by its own positive gradient and stays sharp in shallow layers. Both at the "
                  "end of every stage, from one forward and one backward pass."))
    if not st.toggle(_("Compute CAMs at every depth"), key="trust_depth_on"):
        return
    store = _store()
    key = ("depth", model_key, image_key, int(target))
    result = store.get(key)
    if result is None:
        try:
            with st.spinner(_("One forward and one backward pass…")):
                result = trust.cams_across_depth(loaded, x, int(target))
        except Exception as exc:
            _failed(exc)
            return
        store.put(key, result)
    captions = [f"{layer} · {h}×{w}" for layer, (h, w) in zip(result.layers, result.shapes)]
    st.markdown("**Grad-CAM**")
    _strip(view, result.gradcam, captions, opacity, width=160)
    st.markdown("**LayerCAM**")
    _strip(view, result.layercam, captions, opacity, width=160)
