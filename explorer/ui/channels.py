"""The Channels page's shared pieces: model, layer and channel pickers, pictures drawn from the page
itself, progress of background work, and the feature-visualisation panel (logic in
``explorer.channels``). The top images are ``channels_images``, the layer grid
``channels_atlas``, receptive field and filters ``channels_field``."""
from __future__ import annotations

import base64
import io
from collections import OrderedDict

import numpy as np
import streamlit as st
from PIL import Image

from explorer import channels as ch, zoo
from explorer.channels import jobs
from explorer.i18n import N_, _
from explorer.ui import query
from explorer.ui.models import model_for_page

OBJECTIVE_LABELS = {"channel": N_("Channel (mean activation)"),
                    "neuron": N_("One unit (centre of the map)"), "class": N_("Class logit")}
PRESET_LABELS = {"default": N_("ImageNet, BatchNorm networks (stronger transforms, blur)"),
                 "plain": N_("ImageNet, networks without BatchNorm"),
                 "lucid": N_("Lucid's standard recipe"), "mnist": N_("MNIST digits"),
                 "small": N_("Small colour images (CIFAR-10)")}
STAGES = {"images": N_("Running the images through the network"),
          "views": N_("Reading the top images"), "maps": N_("Placing the activation maps"),
          "visualisations": N_("Visualising the channels"), "done": N_("Done")}
RANDOM_NOTE = N_(":material/warning: random weights — this shows the untrained network, not "
                 "learned features")
VIS_KEPT = 8  # visualisations a session keeps in memory (all are also on disk)


# --------------------------------------------------------------------------------------------
# Small helpers


def load(name: str):
    return model_for_page(name, key="channels")


def random_note(loaded) -> None:
    """Said next to every result of a model with random weights."""
    if loaded.is_random:
        st.caption(_(RANDOM_NOTE))


def data_uri(image, fmt: str = "PNG") -> str:
    """An image as a ``data:`` URI: drawn from the page itself, never from a media file the
    server may have dropped by the time the browser asks (the 404s of a missing class image)."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    buf = io.BytesIO()
    image.save(buf, format=fmt, **({"quality": 88} if fmt == "JPEG" else {}))
    mime = "jpeg" if fmt == "JPEG" else "png"
    return f"data:image/{mime};base64," + base64.b64encode(buf.getvalue()).decode()


def picture(where, image, caption: str | None = None, width="content", fmt: str = "PNG"):
    where.image(data_uri(image, fmt), caption=caption, width=width)


def big(image: np.ndarray) -> Image.Image:
    img = Image.fromarray(image)
    return img.resize((img.width * 8, img.height * 8), Image.NEAREST) if img.width < 64 else img


def png(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG")
    return buf.getvalue()


def job_progress(job: jobs.Job, key: str, watch=None) -> None:
    """A progress bar that follows a background job and reruns the page when it is done (or
    when ``watch()``, e.g. the channels written so far, changes)."""
    seen = watch() if watch else None

    @st.fragment(run_every=1.0)
    def poll():
        current = jobs.get(job.key)
        if current is None or not current.running or (watch and watch() != seen):
            st.rerun(scope="app")
        st.progress(current.fraction, text=_("{stage}: {percent:.0%} ({seconds:.0f} s)").format(
            stage=_(STAGES.get(current.stage, current.stage or "images")),
            percent=current.fraction, seconds=current.seconds))
        st.button(_("Stop"), key=f"{key}_stop", on_click=current.cancel)

    poll()


def job_error(job: jobs.Job | None) -> None:
    if job is not None and not job.running and job.error and job.error != "cancelled":
        st.error(_("The computation failed: {error}. Try again, or pick another layer or image "
                   "set.").format(error=job.error))


# --------------------------------------------------------------------------------------------
# Choosing what to look at


@st.cache_data(max_entries=64, show_spinner=False)
def layers(name: str) -> list[ch.ChannelLayer]:
    return ch.channel_layers(name)


def _default_layer(name: str, options: list[str]) -> str:
    stages = zoo.get_spec(name).stages
    for stride in (8, 4, 16, 2):
        if stages.get(stride) in options:
            return stages[stride]
    return options[len(options) // 2]


def layer_picker(name: str, key: str = "channels_layer") -> ch.ChannelLayer:
    infos = {r.path: r for r in layers(name)}
    options = list(infos)
    if st.session_state.get(f"{key}_model") != name:  # a new model: its own default layer
        st.session_state[f"{key}_model"] = name
        first = f"{key}_seen" not in st.session_state
        st.session_state[f"{key}_seen"] = True
        default = _default_layer(name, options)
        st.session_state[key] = (query.get_choice("layer", options, default) if first
                                 else default)

    def label(path):
        r = infos[path]
        return _("{path} · {type} · {shape} · receptive field {rf} px").format(
            path=path, type=r.type, shape=f"{r.channels}×{r.hw[0]}×{r.hw[1]}",
            rf=r.receptive_field)

    path = st.selectbox(_("Layer"), options, key=key, format_func=label,
                        help=_("Every module whose output is a feature map, in the order the "
                               "forward pass runs them (blocks and their layers)."))
    st.query_params["layer"] = path
    return infos[path]


def channel_picker(layer: ch.ChannelLayer, key: str = "channels_channel") -> int:
    top = layer.channels - 1
    if st.session_state.get(f"{key}_layer") != layer.path:
        first = f"{key}_seen" not in st.session_state
        st.session_state[f"{key}_seen"] = True
        st.session_state[f"{key}_layer"] = layer.path
        st.session_state[key] = query.get_int("channel", 0, 0, top) if first else 0
    st.session_state[key] = min(int(st.session_state[key]), top)
    c = st.number_input(_("Channel (0–{top})").format(top=top), 0, top, key=key, step=1)
    st.query_params["channel"] = str(int(c))
    return int(c)


def set_channel(key: str, value: int, view: str | None = None) -> None:
    st.session_state[key] = int(value)
    if view is not None:
        st.session_state["channels_view"] = view


# --------------------------------------------------------------------------------------------
# Feature visualisation


def _vis_defaults(loaded, key: str) -> ch.VisSettings:
    """The model's preset; switching model resets the widgets to its defaults (LeNet-5's 128
    steps, not the 256 left over from EfficientNet)."""
    preset = ch.preset_for(loaded.name)
    s = ch.settings_for(loaded.name)
    if st.session_state.get(f"{key}_for") != loaded.name:
        st.session_state[f"{key}_for"] = loaded.name
        st.session_state[f"{key}_steps"] = s.steps
        st.session_state[f"{key}_size"] = loaded.spec.input_size[1]
        st.session_state[f"{key}_preset"] = preset
        st.session_state[f"{key}_peak"] = s.peak > 0
        st.session_state[f"{key}_negative"] = False
        st.session_state[f"{key}_n"] = 1
    return s


def vis_settings(loaded, key: str) -> tuple[str, int, ch.VisSettings]:
    """The visualisation's widgets: (objective, target, settings)."""
    _vis_defaults(loaded, key)
    spec = loaded.spec
    objective = st.radio(_("Maximise"), list(OBJECTIVE_LABELS), key=f"{key}_objective",
                         format_func=lambda o: _(OBJECTIVE_LABELS[o]), horizontal=True)
    c1, c2 = st.columns(2)
    steps = c1.number_input(_("Steps"), 8, 2048, step=32, key=f"{key}_steps")
    native = spec.input_size[1]
    if spec.min_size is None:
        size = native
        c2.caption(_("Size: {size}×{size} (fixed by the network)").format(size=native))
    else:
        size = c2.number_input(_("Size (pixels)"), max(spec.min_size, 32), 512, step=16,
                               key=f"{key}_size")
    with st.expander(_("More settings")):
        own = ch.preset_for(loaded.name)
        presets = [own] + [p for p in ("lucid",) if p != own] if own in ("mnist", "small") \
            else [p for p in ch.FAMILY_SETTINGS if p not in ("mnist", "small")]
        preset = st.selectbox(_("Recipe"), presets, key=f"{key}_preset",
                              format_func=lambda p: _(PRESET_LABELS[p]),
                              help=_("Transformations and regularisation, tuned per family."))
        peak = st.checkbox(_("Also maximise the channel's peak"), key=f"{key}_peak",
                           disabled=objective != "channel",
                           help=_("Top images are ranked by the peak; the mean alone can lose "
                                  "to a photo there."))
        negative = st.checkbox(_("Negative direction (drive it down)"), key=f"{key}_negative")
        n = st.number_input(_("Images (diversity)"), 1, 4, key=f"{key}_n",
                            help=_("Several images pushed apart from each other (Olah et al.'s "
                                   "diversity term)."))
    target = 0
    if objective == "class":
        names = loaded.categories
        target = st.selectbox(_("Class"), range(len(names)), key=f"{key}_class",
                              format_func=lambda i: f"#{i} {zoo.class_label(loaded.name, i, names[i])}")
    base = ch.FAMILY_SETTINGS[preset]
    s = ch.settings_for(loaded.name, preset=preset, steps=int(steps), size=int(size),
                        negative=bool(negative), n=int(n),
                        peak=(base.peak or 0.5) if peak and objective == "channel" else 0.0,
                        peak_top=base.peak_top if base.peak else 0.005,
                        diversity=0.5 if int(n) > 1 else 0.0)
    return objective, int(target), s


def _session_results(key: str) -> OrderedDict:
    return st.session_state.setdefault(f"{key}_results", OrderedDict())


def vis_panel(loaded, layer: ch.ChannelLayer, channel: int, key: str = "channels_vis",
              atlas=None) -> None:
    objective, target, s = vis_settings(loaded, key)
    target = channel if objective != "class" else target
    vis_layer = layer.path if objective != "class" else ch.LOGITS
    what = (loaded.name, loaded.source, vis_layer, objective, target, repr(s))
    results = _session_results(key)
    result = results.get(what) or ch.lookup_vis(loaded, vis_layer, target, objective, s)
    if result is None and atlas is not None and objective == "channel":
        result = atlas.channel(channel)  # the layer grid's, whatever its settings
    go = st.button(_("Visualise"), key=f"{key}_go", type="primary")
    if go:
        bar = st.progress(0.0, text=_("Optimising…"))
        live = st.empty()

        def progress(step, total, image):
            bar.progress(step / total, text=_("Step {step} of {total}").format(
                step=step, total=total))
            if image is not None:
                live.image(data_uri(big(image)), caption=_("step {step}").format(step=step),
                           width=256)

        result, _cached = ch.cached_visualize(loaded, vis_layer, target, objective, s,
                                              progress=progress)
        bar.empty()
        live.empty()
    if result is not None and not isinstance(result, ch.VisResult):  # from the layer grid
        info = result.vis_info
        st.image([data_uri(big(p)) for p in result.vis_images],
                 width=300 if len(result.vis_images) == 1 else 150)
        st.caption(_("From the layer grid ({steps} steps): mean {final:.3g} (grey image: "
                     "{grey:.3g}), peak {peak:.3g}. Visualise to make one with the settings "
                     "above.").format(steps=info["settings"]["steps"], final=info["final"],
                                      grey=info["grey"], peak=info.get("peak") or float("nan")))
        return
    if result is None:
        st.caption(_("About {steps} forward and backward passes: seconds for shallow layers, "
                     "longer for deep ones. The image forms as you watch; it is then kept on "
                     "disk for every visit.").format(steps=s.steps))
        return
    results[what] = result
    results.move_to_end(what)
    while len(results) > VIS_KEPT:
        results.popitem(last=False)
    pictures = result.images or [result.image]
    st.image([data_uri(big(p)) for p in pictures], width=300 if len(pictures) == 1 else 150)
    label = _(OBJECTIVE_LABELS[objective])
    text = _("{objective} {target}: {final:.3g} on this image, {grey:.3g} on a plain grey image "
             "({seconds:.1f} s on {device})").format(objective=label, target=target,
                                                    final=result.final, grey=result.grey,
                                                    seconds=result.seconds, device=result.device)
    if result.peak is not None:
        text += " · " + _("peak {peak:.3g}").format(peak=result.peak)
    st.caption(text)
    random_note(loaded)
    st.download_button(_("Download PNG"), png(pictures[0]), file_name=(
        f"{loaded.name}_{layer.path if objective != 'class' else 'class'}_{target}.png"),
        key=f"{key}_png")
