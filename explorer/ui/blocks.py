"""The Blocks page's widgets and views: pick a block, step through it, its activations for an
image, its costs and its source (logic in ``explorer.analysis.blocks``).

The page imports this module before its title, so nothing here imports torch at import time:
``explorer.analysis.blocks`` loads its modules on first use, and the model helpers
(``explorer.ui.models``, ``explorer.weights``, ``explorer.zoo``) are imported inside the
functions that run after ``warmup.wait()``.
"""
from __future__ import annotations

import hashlib

import streamlit as st

from explorer.analysis import blocks
from explorer.data import catalog
from explorer.i18n import N_, _, format_exact, format_int, get_language
from explorer.ui import columns, query
from explorer.ui.widgets import image_input

__all__ = ["FORMS", "KINDS", "STEP", "kind_picker", "form_picker", "real_picker",
           "standalone_trace", "real_trace", "image_activations", "step_controls", "show_step",
           "show_activations", "show_branch_stats", "show_diagram", "show_costs", "show_source",
           "show_all_steps", "count"]

FORMS = ["From a real model", "Standalone"]  # values; shown translated
FORM_LABELS = {FORMS[0]: N_("From a real model"), FORMS[1]: N_("Standalone")}
KINDS = list(catalog.block_kinds())
STEP = "blk_step"


# --- cached work: tracing and capture run once per block (and image); a step move is cheap --

# Traces hold text (step details, branch names): cached per language (``lang``).
@st.cache_data(max_entries=64, show_spinner=False)
def _trace_real(name: str, path: str, lang: str) -> blocks.BlockTrace:
    return blocks.trace_real(name, path)


@st.cache_data(max_entries=128, show_spinner=False)
def _trace_standalone(kind: str, variant: str, h, w, c, settings: tuple,
                      lang: str) -> blocks.BlockTrace:
    return blocks.trace_standalone(kind, variant, h, w, c, **dict(settings))


@st.cache_resource(max_entries=2, show_spinner=False)  # the spinner is said in the UI language
def _external(name: str):
    return blocks.external_model(name)


def _loaded(block: blocks.RealBlock, source: str = "auto"):
    from explorer.ui.models import get_model

    if block.external:
        with st.spinner(_("Building DeepLab v3…")):  # shown only when it takes a while
            return _external(block.model)
    return get_model(block.model, source)


@st.cache_data(max_entries=32, show_spinner=False)
def _capture(name: str, path: str, kind: str, external: bool, source: str, digest: str, lang: str,
             _image):
    block = blocks.RealBlock(name, path, kind, "", external)
    return blocks.capture_image(_loaded(block, source), path, _image, kind=kind)


@st.cache_data(max_entries=16, show_spinner=False)
def _costs(kind: str, lang: str) -> list[blocks.Cost]:
    return blocks.cost_panel(kind)


@st.cache_data(max_entries=64, show_spinner=False)
def _source(cls_name: str, _cls) -> str:
    return blocks.block_source(_cls)


# --- widgets ---------------------------------------------------------------------------------

def kind_picker() -> str:
    if "blk_kind" not in st.session_state:
        st.session_state["blk_kind"] = query.get_choice("kind", KINDS, "inception_v1")
    kind = st.selectbox(_("Block"), KINDS, key="blk_kind",
                        format_func=lambda k: _(catalog.block_kinds()[k]))
    st.query_params["kind"] = kind
    return kind


def form_picker() -> str:
    return st.radio(_("Form"), FORMS, key="blk_form", horizontal=True,
                    format_func=lambda f: _(FORM_LABELS[f]),
                    help=_("From a real model: a block of a zoo network, with your image's "
                           "activations. Standalone: the same class built from your own input "
                           "shape and channel settings."))


def real_picker(kind: str) -> blocks.RealBlock:
    choices = blocks.real_blocks(kind)
    index = st.selectbox(_("Model and block"), range(len(choices)), key=f"blk_real_{kind}",
                         format_func=lambda i: f"{choices[i].model} · {_(choices[i].label)}")
    real = choices[index]
    if real.external:
        st.caption(_("The zoo has no DeepLab: this ASPP comes from torchvision's "
                     "deeplabv3_mobilenet_v3_large with random weights."))
    return real


def real_trace(real: blocks.RealBlock) -> tuple[blocks.BlockTrace, str]:
    """The real block's trace and its identity (the step goes back to 1 when it changes)."""
    return _trace_real(real.model, real.path, get_language()), f"real:{real.model}:{real.path}"


def _standalone_settings(kind: str):
    variants = blocks.standalone_forms()[kind]
    names = [v.name for v in variants]
    name = st.selectbox(_("Variant"), names, key=f"blk_variant_{kind}", format_func=_)
    var = variants[names.index(name)]
    h0, w0, c0 = var.hwc
    # Bottom-aligned: "C (input channels)" may wrap to two lines and pushed its field down.
    cols = st.columns(3, vertical_alignment="bottom")
    # No min_value: a user may type a bad number and should read why it cannot work.
    h = cols[0].number_input("H", value=h0, step=1, key=f"blk_h_{kind}_{name}")
    w = cols[1].number_input("W", value=w0, step=1, key=f"blk_w_{kind}_{name}")
    c = cols[2].number_input(_("C (input channels)"), value=c0, step=1,
                             key=f"blk_c_{kind}_{name}")
    settings = []
    if var.fields:
        width = min(3, len(var.fields))
        for i, f in enumerate(var.fields):
            if i % width == 0:  # one row of columns per three fields, so each row lines up
                cols = st.columns(width, vertical_alignment="bottom")
            col = cols[i % width]
            key = f"blk_{kind}_{name}_{f.name}"
            if f.is_list:
                value = col.text_input(_(f.label), value=f.default, key=key)
            else:
                value = col.number_input(_(f.label), value=f.default, step=1, key=key)
            settings.append((f.name, value))
    if var.note:
        st.caption(_(var.note))
    return name, int(h), int(w), int(c), tuple(settings)


def standalone_trace(kind: str) -> tuple[blocks.BlockTrace | None, str]:
    """The settings widgets and the standalone block's trace (None after an ``st.error`` for
    settings that cannot make the block), with its identity."""
    try:
        variant, h, w, c, settings = _standalone_settings(kind)
        trace = _trace_standalone(kind, variant, h, w, c, settings, get_language())
        # not the title: a language switch keeps the step
        return trace, f"standalone:{kind}:{variant}:{h}×{w}×{c}:{settings}"
    except blocks.BlockConfigError as exc:
        st.error(_("{error} Change the settings above (defaults always work).").format(
            error=exc))
        return None, f"standalone:{kind}:invalid"


def image_activations(real: blocks.RealBlock, trace: blocks.BlockTrace):
    """The image expander: pick an image, run the model up to and through the block. Returns
    ``(trace, acts, source)``: the trace for the image's shapes, each step's activations (None
    without an image) and the weights they come from ("random", a source, or None)."""
    from explorer import weights, zoo
    from explorer.ui.models import model_for_page

    acts = None
    with st.expander(_("Image: run it through the model up to this block"), expanded=True):
        toggle_col, image_col = st.columns([1, 2])
        run = toggle_col.toggle(_("Show real activations"), value=True, key="blk_run",
                                help=_("Runs the model on the image up to and through the block "
                                       "(not further), once per image and block."))
        with image_col:
            digits = not real.external and zoo.get_spec(real.model).dataset == "mnist"
            picked = image_input("blk_image", digits=digits, camera=False) if run else None
        # The best weights the user can have (may download them, with progress); external
        # blocks (DeepLab) are random by design and say so above.
        model = None if picked is None or real.external else model_for_page(
            real.model, key="blk")
        source = "random" if real.external else (model.source if model else None)
        if picked is not None and source is not None:
            image, label = picked
            digest = hashlib.sha1(image.tobytes() + str(image.size).encode()).hexdigest()
            try:
                with st.spinner(_("Running the model up to the block…")):
                    trace, acts = _capture(real.model, real.path, real.kind, real.external,
                                           source, digest, get_language(), image)
            except Exception as exc:  # weights or model problems reach the user as text
                st.error(_("Could not run {model} on {image}: {error}").format(
                    model=real.model, image=label, error=exc))
            else:
                loaded_block = _loaded(real, source)
                weights_label = (_(loaded_block.label) if real.external
                                 else weights.source_label(loaded_block))
                toggle_col.caption(_("{image} through {model} ({weights}). Input to the block: "
                                     "{shape}.").format(image=label, model=real.model,
                                                        weights=weights_label,
                                                        shape=blocks.fmt_shape(trace.input_shape)))
                if not real.external:
                    toggle_col.markdown(_("[Open the block's channels on the Channels page]"
                                          "(channels?model={model}&layer={layer})").format(
                        model=real.model, layer=real.path))
    return trace, acts, source


def step_controls(n: int, identity: str) -> int:
    """Slider and previous/next buttons; back to step 1 when the block changes."""
    if st.session_state.get("blk_identity") != identity or st.session_state.get(STEP, 1) > n:
        st.session_state["blk_identity"] = identity
        st.session_state[STEP] = 1

    def move(delta: int) -> None:
        st.session_state[STEP] = min(n, max(1, st.session_state[STEP] + delta))

    prev, slider, nxt = st.columns([1.3, 8, 1.3], vertical_alignment="bottom")
    prev.button(_("◀ Prev"), on_click=move, args=(-1,), disabled=st.session_state[STEP] <= 1,
                key="blk_prev", width="stretch")
    nxt.button(_("Next ▶"), on_click=move, args=(1,), disabled=st.session_state[STEP] >= n,
               key="blk_next", width="stretch")
    if n > 1:
        slider.slider(_("Step (of {n}, in execution order)").format(n=n), 1, n, key=STEP)
    return st.session_state[STEP] - 1


# --- views -----------------------------------------------------------------------------------

def show_step(step: blocks.Step, n: int) -> None:
    st.subheader(_("Step {i} of {n}: {op}").format(i=step.index + 1, n=n,
                                                   op=blocks.op_label(step.op)))
    st.markdown(f"**{step.detail}**")
    st.caption(_("{name} ({type}) · branch: {branch}").format(name=step.shown_name,
                                                              type=step.type,
                                                              branch=step.branch))
    if step.merge_text:
        st.info(step.merge_text)
    inputs = " + ".join(blocks.fmt_shape(s) for s in step.input_shapes) or "—"
    if len(step.input_shapes) > 2:
        inputs = _("{n} tensors (above)").format(n=len(step.input_shapes))
    st.markdown(_("| input | output | parameters | MACs |") + "\n|---|---|---:|---:|\n"
                f"| {inputs} | {blocks.fmt_shape(step.output_shape)} | "
                f"{format_int(step.params)} | {format_int(step.macs)} |")


def show_activations(step: blocks.Step, act: blocks.StepActivation,
                     random_weights: bool = False) -> None:
    if random_weights:  # beside the maps themselves, not only in a caption far above
        st.warning(_("Random weights: these activations show what the untrained architecture "
                     "does to the image, not features it learned."), icon=":material/warning:")
    st.markdown(_("**Activations of step {i}** ({shape}): the channel mean, then the most "
                  "varied channels (viridis, each map scaled to its own range: dark = low, "
                  "yellow = high).").format(i=step.index + 1, shape=blocks.fmt_shape(act.shape)))
    images = [blocks.colorize(act.mean_map)] + [blocks.colorize(m) for _, m in act.channels]
    captions = [_("mean of all channels")] + [_("channel {i}").format(i=i)
                                              for i, _m in act.channels]
    st.image(images, caption=captions, width=120)
    s = act.stats
    st.markdown(_("mean **{mean}** · std **{std}** · min **{min}** · max **{max}** · exact "
                  "zeros **{zero}**").format(mean=f"{s['mean']:.3g}", std=f"{s['std']:.3g}",
                                              min=f"{s['min']:.3g}", max=f"{s['max']:.3g}",
                                              zero=f"{s['zero']:.1%}"))


def show_branch_stats(trace: blocks.BlockTrace, acts: list[blocks.StepActivation]) -> None:
    """Full width under the diagram and the step: seven columns were cut off in half a page."""
    st.markdown(_("**Per-branch statistics** (each branch's output)"))
    rows = [{"branch": r["branch"], "shape": r["shape"],
             **{k: f"{r[k]:.3g}" for k in ("mean", "std", "min", "max")},
             "zeros": f"{r['zero']:.1%}"} for r in blocks.branch_stats(trace, acts)]
    st.dataframe(rows, hide_index=True, column_config=columns.config(
        ["branch", "shape", "mean", "std", "min", "max", "zeros"]))


def show_diagram(trace: blocks.BlockTrace, current: int) -> None:
    st.markdown(f"**{trace.title}** · {trace.class_name} · "
                f"{blocks.fmt_shape(trace.input_shape)} → {blocks.fmt_shape(trace.output_shape)}")
    st.graphviz_chart(blocks.block_dot(trace, current))
    st.caption(_("Orange: this step. Blue: steps already run. Dashed boxes: branches."))
    for note in trace.notes:
        st.caption(note)


def show_costs(kind: str, trace: blocks.BlockTrace) -> None:
    st.subheader(_("What it saves"))
    st.caption(_(blocks.MACS_NOTE))
    st.markdown(_("**This block**: {params} parameters, {macs} MACs for an input of {shapes}.")
                .format(params=count(trace.params_total), macs=count(trace.macs_total),
                        shapes=f"{blocks.fmt_shape(trace.input_shape)} → "
                               f"{blocks.fmt_shape(trace.output_shape)}"))
    same = blocks.cost_same_shapes(trace)
    for cost in ([same] if same else []) + _costs(kind, get_language()):
        # The unit follows the bold figure after a space in every language ("**1.2亿** 次乘法"):
        # Markdown ends bold text only before a space or punctuation, not before 次.
        total = f"**{count(cost.block)}**"
        if len(cost.parts) > 1:
            total = " + ".join(format_int(p) for p in cost.parts) + " = " + total
        with st.container(border=True):
            # The source in grey, not italics: slanted CJK characters look broken.
            st.markdown(f"**{cost.title}**" + (f" · :gray[{cost.seed}]" if cost.seed else ""))
            st.markdown("- " + _("{label}: {amount}").format(
                            label=cost.naive_label,
                            amount=cost.unit.format(count=f"**{count(cost.naive)}**"))
                        + "\n- " + _("{label}: {amount}").format(
                            label=cost.block_label, amount=cost.unit.format(count=total))
                        + "\n- "
                        + _("ratio: **{ratio}** {versus} ({comparison})").format(
                            ratio=f"{cost.ratio:.1%}", versus=cost.versus,
                            comparison=cost.comparison()))
            if cost.note:
                st.caption(cost.note)


def count(n: int) -> str:
    """An exact count; in Chinese with its 万/亿 reading beside it, as the course notes write
    (``explorer.i18n.format_exact``)."""
    return format_exact(n)


def show_source(trace: blocks.BlockTrace) -> None:
    cls = trace.source_class
    st.subheader(_("Source: {name}").format(name=cls.__name__ if cls else trace.class_name))
    if cls is not None:
        st.caption(f"{cls.__module__}.{cls.__qualname__}")
        st.code(_source(f"{cls.__module__}.{cls.__qualname__}", cls), language="python",
                height=520, wrap_lines=True)


def show_all_steps(trace: blocks.BlockTrace) -> None:
    with st.expander(_("All steps")):
        rows = trace.to_rows()
        st.dataframe(rows, hide_index=True,
                     column_config=columns.config(list(rows[0]) if rows else []))
