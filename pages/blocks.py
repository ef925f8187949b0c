"""Blocks: step through Inception, residual, dense, depthwise-separable and the other classic
blocks one operation at a time, with shapes, costs, real activations and the source code."""
import hashlib

import streamlit as st

from explorer import blocks, zoo
from explorer.i18n import _
from explorer.ui import query
from explorer.ui.models import get_model, model_for_page
from explorer.ui.widgets import image_input
from explorer.ui.router import through_router

through_router()

FORMS = ["From a real model", "Standalone"]
KINDS = list(zoo.BLOCK_KINDS)
STEP = "blk_step"


# --- cached work: tracing and capture run once per block (and image); a step move is cheap --

@st.cache_data(max_entries=64, show_spinner="Tracing the block…")
def _trace_real(name: str, path: str) -> blocks.BlockTrace:
    return blocks.trace_real(name, path)


@st.cache_data(max_entries=128, show_spinner="Tracing the block…")
def _trace_standalone(kind: str, variant: str, h, w, c, settings: tuple) -> blocks.BlockTrace:
    return blocks.trace_standalone(kind, variant, h, w, c, **dict(settings))


@st.cache_resource(max_entries=2, show_spinner="Building DeepLab v3…")
def _external(name: str):
    return blocks.external_model(name)


def _loaded(block: blocks.RealBlock, source: str = "auto"):
    return _external(block.model) if block.external else get_model(block.model, source)


@st.cache_data(max_entries=32, show_spinner="Running the model up to the block…")
def _capture(name: str, path: str, kind: str, external: bool, source: str, digest: str, _image):
    block = blocks.RealBlock(name, path, kind, "", external)
    return blocks.capture_image(_loaded(block, source), path, _image, kind=kind)


@st.cache_data(max_entries=16, show_spinner=False)
def _costs(kind: str) -> list[blocks.Cost]:
    return blocks.cost_panel(kind)


@st.cache_data(max_entries=64, show_spinner=False)
def _source(cls_name: str, _cls) -> str:
    return blocks.block_source(_cls)


# --- widgets ---------------------------------------------------------------------------------

def _kind_picker() -> str:
    if "blk_kind" not in st.session_state:
        st.session_state["blk_kind"] = query.get_choice("kind", KINDS, "inception_v1")
    kind = st.selectbox("Block", KINDS, key="blk_kind", format_func=zoo.BLOCK_KINDS.get)
    st.query_params["kind"] = kind
    return kind


def _standalone_settings(kind: str):
    variants = blocks.standalone_forms()[kind]
    names = [v.name for v in variants]
    name = st.selectbox("Variant", names, key=f"blk_variant_{kind}")
    var = variants[names.index(name)]
    h0, w0, c0 = var.hwc
    cols = st.columns(3)
    # No min_value: a user may type a bad number and should read why it cannot work.
    h = cols[0].number_input("H", value=h0, step=1, key=f"blk_h_{kind}_{name}")
    w = cols[1].number_input("W", value=w0, step=1, key=f"blk_w_{kind}_{name}")
    c = cols[2].number_input("C (input channels)", value=c0, step=1, key=f"blk_c_{kind}_{name}")
    settings = []
    if var.fields:
        cols = st.columns(min(3, len(var.fields)))
        for i, f in enumerate(var.fields):
            col = cols[i % len(cols)]
            key = f"blk_{kind}_{name}_{f.name}"
            if f.is_list:
                value = col.text_input(f.label, value=f.default, key=key)
            else:
                value = col.number_input(f.label, value=f.default, step=1, key=key)
            settings.append((f.name, value))
    if var.note:
        st.caption(var.note)
    return name, int(h), int(w), int(c), tuple(settings)


def _step_controls(n: int, identity: str) -> int:
    """Slider and previous/next buttons; back to step 1 when the block changes."""
    if st.session_state.get("blk_identity") != identity or st.session_state.get(STEP, 1) > n:
        st.session_state["blk_identity"] = identity
        st.session_state[STEP] = 1

    def move(delta: int) -> None:
        st.session_state[STEP] = min(n, max(1, st.session_state[STEP] + delta))

    prev, slider, nxt = st.columns([1.3, 8, 1.3], vertical_alignment="bottom")
    prev.button("◀ Prev", on_click=move, args=(-1,), disabled=st.session_state[STEP] <= 1,
                key="blk_prev", width="stretch")
    nxt.button("Next ▶", on_click=move, args=(1,), disabled=st.session_state[STEP] >= n,
               key="blk_next", width="stretch")
    if n > 1:
        slider.slider(f"Step (of {n}, in execution order)", 1, n, key=STEP)
    return st.session_state[STEP] - 1


def _show_step(step: blocks.Step, n: int) -> None:
    st.subheader(f"Step {step.index + 1} of {n}: {step.op}")
    st.markdown(f"**{step.detail}**")
    st.caption(f"{step.name} ({step.type}) · branch: {step.branch}")
    if step.merge_text:
        st.info(step.merge_text)
    inputs = " + ".join(blocks.fmt_shape(s) for s in step.input_shapes) or "—"
    if len(step.input_shapes) > 2:
        inputs = f"{len(step.input_shapes)} tensors (above)"
    st.markdown("| input | output | parameters | MACs |\n|---|---|---:|---:|\n"
                f"| {inputs} | {blocks.fmt_shape(step.output_shape)} | "
                f"{blocks.fmt_int(step.params)} | {blocks.fmt_int(step.macs)} |")


def _show_activations(step: blocks.Step, act: blocks.StepActivation, trace, acts,
                      random_weights: bool = False) -> None:
    if random_weights:  # beside the maps themselves, not only in a caption far above
        st.warning(_("Random weights: these activations show what the untrained architecture "
                     "does to the image, not features it learned."), icon=":material/warning:")
    st.markdown(f"**Activations of step {step.index + 1}** ({blocks.fmt_shape(act.shape)}): "
                "the channel mean, then the most varied channels (viridis, each map scaled to "
                "its own range: dark = low, yellow = high).")
    images = [blocks.colorize(act.mean_map)] + [blocks.colorize(m) for _, m in act.channels]
    captions = ["mean of all channels"] + [f"channel {i}" for i, _ in act.channels]
    st.image(images, caption=captions, width=120)
    s = act.stats
    st.markdown(f"mean **{s['mean']:.3g}** · std **{s['std']:.3g}** · min **{s['min']:.3g}** · "
                f"max **{s['max']:.3g}** · exact zeros **{s['zero']:.1%}**")
    st.markdown("**Per-branch statistics** (each branch's output)")
    rows = [{"branch": r["branch"], "shape": r["shape"],
             **{k: f"{r[k]:.3g}" for k in ("mean", "std", "min", "max")},
             "zeros": f"{r['zero']:.1%}"} for r in blocks.branch_stats(trace, acts)]
    st.dataframe(rows, hide_index=True)


def _show_costs(kind: str, trace: blocks.BlockTrace) -> None:
    st.subheader("What it saves")
    st.caption(blocks.MACS_NOTE)
    st.markdown(f"**This block**: {blocks.fmt_int(trace.params_total)} parameters, "
                f"{blocks.fmt_int(trace.macs_total)} MACs for an input of "
                f"{blocks.fmt_shape(trace.input_shape)} → {blocks.fmt_shape(trace.output_shape)}.")
    same = blocks.cost_same_shapes(trace)
    for cost in ([same] if same else []) + _costs(kind):
        parts = " + ".join(blocks.fmt_int(p) for p in cost.parts)
        total = f"{parts} = **{blocks.fmt_int(cost.block)}**" if len(cost.parts) > 1 else \
            f"**{blocks.fmt_int(cost.block)}**"
        with st.container(border=True):
            st.markdown(f"**{cost.title}**" + (f" · _{cost.seed}_" if cost.seed else ""))
            st.markdown(f"- {cost.naive_label}: **{blocks.fmt_int(cost.naive)}** {cost.unit}\n"
                        f"- {cost.block_label}: {total} {cost.unit}\n"
                        f"- ratio: **{cost.ratio:.1%}** {cost.versus} "
                        f"({cost.naive / cost.block:.1f}× fewer)")
            if cost.note:
                st.caption(cost.note)


# --- the page ----------------------------------------------------------------------------------

st.title("Blocks")
st.write("The building blocks of classic CNNs, one operation at a time: why a 1×1 convolution "
         "makes Inception affordable, why a shortcut lets ResNet go deep, why depthwise-"
         "separable convolutions are cheap. Every shape, parameter and MAC below comes from "
         "running the real block.")

top = st.columns([3, 2, 3])
with top[0]:
    kind = _kind_picker()
with top[1]:
    form = st.radio("Form", FORMS, key="blk_form", horizontal=True,
                    help="From a real model: a block of a zoo network, with your image's "
                         "activations. Standalone: the same class built from your own input "
                         "shape and channel settings.")

trace = None
real = None
with top[2]:
    if form == FORMS[0]:
        choices = blocks.real_blocks(kind)
        index = st.selectbox("Model and block", range(len(choices)), key=f"blk_real_{kind}",
                             format_func=lambda i: f"{choices[i].model} · {choices[i].label}")
        real = choices[index]
        if real.external:
            st.caption("The zoo has no DeepLab: this ASPP comes from torchvision's "
                       "deeplabv3_mobilenet_v3_large with random weights.")
        trace = _trace_real(real.model, real.path)
        identity = f"real:{real.model}:{real.path}"
    else:
        try:
            variant, h, w, c, settings = _standalone_settings(kind)
            trace = _trace_standalone(kind, variant, h, w, c, settings)
        except blocks.BlockConfigError as exc:
            st.error(f"{exc} Change the settings above (defaults always work).")
        identity = f"standalone:{kind}:{form}:{trace.title if trace else ''}"

if trace is None:
    st.stop()

acts = None
source = None  # the weights the activations below come from
if real is not None:
    with st.expander("Image: run it through the model up to this block", expanded=True):
        toggle_col, image_col = st.columns([1, 2])
        run = toggle_col.toggle("Show real activations", value=True, key="blk_run",
                                help="Runs the model on the image up to and through the block "
                                     "(not further), once per image and block.")
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
                trace, acts = _capture(real.model, real.path, real.kind, real.external, source,
                                       digest, image)
            except Exception as exc:  # weights or model problems reach the user as text
                st.error(f"Could not run {real.model} on {label}: {exc}")
            else:
                weights_label = _loaded(real, source).label
                toggle_col.caption(f"{label} through {real.model} ({weights_label}). Input "
                                   f"to the block: {blocks.fmt_shape(trace.input_shape)}.")
else:
    st.caption("Standalone blocks have random weights and no image: choose “From a real "
               "model” to see activations.")

n = len(trace.steps)
current = _step_controls(n, identity)
step = trace.steps[current]

left, right = st.columns([1, 1])
with left:
    st.markdown(f"**{trace.title}** · {trace.class_name} · "
                f"{blocks.fmt_shape(trace.input_shape)} → {blocks.fmt_shape(trace.output_shape)}")
    st.graphviz_chart(blocks.block_dot(trace, current))
    st.caption("Orange: this step. Blue: steps already run. Dashed boxes: branches.")
    for note in trace.notes:
        st.caption(note)
with right:
    _show_step(step, n)
    if acts is not None:
        _show_activations(step, acts[current], trace, acts, random_weights=source == "random")

bottom_left, bottom_right = st.columns([5, 6])
with bottom_left:
    _show_costs(kind, trace)
with bottom_right:
    cls = trace.source_class
    st.subheader(f"Source: {cls.__name__ if cls else trace.class_name}")
    if cls is not None:
        st.caption(f"{cls.__module__}.{cls.__qualname__}")
        st.code(_source(f"{cls.__module__}.{cls.__qualname__}", cls), language="python",
                height=520, wrap_lines=True)
with st.expander("All steps"):
    st.dataframe(trace.to_rows(), hide_index=True)
