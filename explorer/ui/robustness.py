"""The Robustness page's widgets and views: attacks on the user's image, the smallest ε that
flips it, where the damage grows, corruptions, and the MNIST ε-curves (logic in
``explorer.robust``)."""
from __future__ import annotations

import hashlib

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from explorer import attribution, zoo
from explorer.i18n import N_, _, join
from explorer.robust import attacks, corruptions, damage, evaluate
from explorer.robust import models as robust_models
from explorer.ui import query
from explorer.ui.models import get_model, model_for_page, session_model
from explorer.ui.results import ResultStore

WEIGHTS = {"auto": N_("The explorer's weights (as on the other pages)"),
           "session": N_("Trained in this session on the Train page")}
UNTARGETED = -1
MAP_METHODS = [m for m in attribution.METHODS if m not in attribution.SLOW_METHODS]
COMPARE_MAX = 4


# --------------------------------------------------------------------------------------------
# The model and the image


@st.cache_resource(max_entries=2, show_spinner=False)
def robust_model(name: str):
    """A shipped adversarially trained model, loaded once per process (shared, read-only)."""
    return robust_models.load_robust(name)


def weights_picker(name: str) -> str:
    """"auto", "session" (a model trained on the Train page) or a shipped robust model name."""
    options = ["auto"]
    if session_model(name) is not None:
        options.append("session")
    options += [r for r in robust_models.robust_names() if robust_models.ROBUST_MODELS[r][0] == name]
    if len(options) == 1:
        return "auto"
    return st.selectbox(_("Weights"), options, key=f"robust_weights_{name}",
                        format_func=lambda o: _(WEIGHTS[o]) if o in WEIGHTS
                        else _(robust_models.ROBUST_MODELS[o][1]))


def load(name: str, choice: str):
    """The LoadedModel, or None after an st.error that says what to do."""
    from explorer.weights import WeightsError, source_label

    if choice == "session":
        loaded = session_model(name)
    elif choice in robust_models.ROBUST_MODELS:
        try:
            loaded = robust_model(choice)
        except WeightsError as exc:
            st.error(str(exc))
            return None
    else:
        loaded = model_for_page(name, key="robustness")
    if loaded is not None and not loaded.is_random:
        st.caption(_("**Weights:** {label}").format(label=source_label(loaded)))
    return loaded


def is_digits(name: str) -> bool:
    return zoo.get_spec(name).dataset == "mnist"


def model_key(loaded) -> tuple:
    return (loaded.name, loaded.source, id(loaded.model))


def image_key(image: Image.Image) -> str:
    return f"{image.size}:{hashlib.sha1(image.tobytes()).hexdigest()}"


def check_image(loaded, image: Image.Image) -> bool:
    """False after an st.error when the image does not suit the network (a colour photo for a
    digit network)."""
    problem = evaluate.colour_problem(loaded, image)
    if problem:
        st.error(problem, icon=":material/palette:")
        return False
    return True


def sample_class(loaded, key: str = "robust_image") -> int | None:
    """The true class of a bundled sample chosen in the image picker (the manifest's ImageNet
    class, or the digit), else None."""
    from explorer.data.images import sample_manifest

    if st.session_state.get(f"{key}_mode") != "Sample":
        return None
    label = st.session_state.get(f"{key}_sample")
    for entry in sample_manifest():
        if entry["label"] == label:
            value = entry.get("digit") if loaded.spec.dataset == "mnist" else entry.get(
                "imagenet_class")
            if entry["kind"] == ("digit" if loaded.spec.dataset == "mnist" else "photo"):
                return value
    return None


def to_image(pixels, scale: int = 1) -> Image.Image:
    """1×C×H×W pixels in [0, 1] -> a PIL image (digits enlarged with nearest neighbours)."""
    a = (pixels[0].detach().clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    image = Image.fromarray(a[..., 0] if a.shape[2] == 1 else a)
    if scale > 1:
        image = image.resize((image.width * scale, image.height * scale), Image.NEAREST)
    return image


def _scale(loaded) -> int:
    return 8 if loaded.spec.dataset == "mnist" else 1


def class_name(loaded, index: int) -> str:
    """A class as the UI says it (Chinese with the English name beside it), with its index."""
    return f"{zoo.class_label(loaded.name, index, loaded.categories[index])} (#{index})"


# --------------------------------------------------------------------------------------------
# Attack controls (kept in the URL, so a link opens the same attack)


def attack_controls(loaded) -> dict:
    n = len(loaded.categories)
    max_k = attacks.default_max_k(loaded)
    default_k = 26 if loaded.spec.dataset == "mnist" else 2  # ε ≈ 0.1 for digits
    state = st.session_state
    if "robust_method" not in state:  # the first run of this visit reads the link
        state["robust_method"] = query.get_choice("method", list(attacks.METHODS), "fgsm")
        state["robust_eps"] = query.get_int("eps", default_k, 1, max_k)
        state["robust_steps"] = query.get_int("steps", attacks.DEFAULT_STEPS, 1, 100)
        state["robust_target"] = query.get_int("target", UNTARGETED, UNTARGETED, n - 1)
    if state.get("robust_for") != loaded.name:  # another network: keep what still fits
        if state.get("robust_for") is not None:
            state["robust_eps"] = min(int(state["robust_eps"]), max_k)
            if int(state["robust_target"]) >= n or state.get("robust_dataset") != loaded.spec.dataset:
                state["robust_target"] = UNTARGETED
                state["robust_eps"] = default_k
        state["robust_for"], state["robust_dataset"] = loaded.name, loaded.spec.dataset
    c1, c2, c3, c4 = st.columns([1, 2, 1, 2])
    method = c1.radio(_("Attack"), list(attacks.METHODS), key="robust_method",
                      format_func=lambda m: attacks.METHODS[m],
                      help=_(attacks.METHOD_HELP["fgsm"]) + " " + _(attacks.METHOD_HELP["pgd"]))
    k = c2.slider(_("ε (grey levels of 255)"), 1, max_k, key="robust_eps", format="%d/255",
                  help=_("The attack may move every colour value by at most ε: k/255 is k of "
                         "the 255 steps from black to white."))
    steps = c3.slider(_("PGD steps"), 1, 100, key="robust_steps", disabled=method != "pgd",
                      help=_("Each step costs one forward and one backward pass."))
    target = c4.selectbox(_("Towards class"), [UNTARGETED] + list(range(n)), key="robust_target",
                          format_func=lambda i: _("None: away from the prediction (untargeted)")
                          if i == UNTARGETED else class_name(loaded, i))
    st.query_params.update(method=method, eps=str(k), steps=str(steps), target=str(target))
    return {"method": method, "k": int(k), "steps": int(steps),
            "target": None if target == UNTARGETED else int(target)}


# --------------------------------------------------------------------------------------------
# The attack on the user's image


_attacks = ResultStore(16)  # finished attacks, shared by the sessions of this process


def _attack(loaded, image: Image.Image, params: dict) -> attacks.AttackResult:
    """The attack on this image, from the store or computed now (PGD with a progress bar that
    stops the attack when the page is left)."""
    key = (model_key(loaded), image_key(image), params["method"], params["k"], params["steps"],
           params["target"])
    result = _attacks.get(key)
    if result is None:
        bar = st.progress(0.0, text=_("Attacking… (leave the page to stop)"))

        def progress(done: int, total: int) -> None:
            bar.progress(done / total, text=_("Attack step {done} of {total}… (leave the page "
                                              "to stop)").format(done=done, total=total))

        result = attacks.attack(loaded, attacks.to_pixels(loaded, image), params["method"],
                                params["k"] / 255, params["steps"], params["target"],
                                progress=progress)
        bar.empty()
        _attacks.put(key, result)
    return result


@st.cache_data(max_entries=32, show_spinner=False)
def _saliency(mkey: tuple, ikey: str, which: str, method: str, target: int, _loaded, _pixels):
    x = attacks.to_network(_loaded, _pixels)
    return attribution.explain(_loaded, x, method, target=target).map


def _top_chart(loaded, pairs: list[tuple[int, float]], colour: str) -> alt.Chart:
    df = pd.DataFrame({"class": [class_name(loaded, i) for i, _p in pairs],
                       "probability": [p for _i, p in pairs]})
    bars = alt.Chart(df).mark_bar(color=colour).encode(
        x=alt.X("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"),
                title=_("probability")),
        y=alt.Y("class:N", sort=list(df["class"]), title=None),
        tooltip=[alt.Tooltip("class:N", title=_("class")),
                 alt.Tooltip("probability:Q", format=".2%", title=_("probability"))])
    text = bars.mark_text(align="left", dx=3).encode(text=alt.Text("probability:Q", format=".1%"))
    return (bars + text).properties(height=32 * len(df) + 20)


def _amplified(result: attacks.AttackResult, scale: int) -> tuple[Image.Image, float]:
    """The perturbation mapped from [−ε, ε] to [0, 1] (grey = unchanged): amplified 1/(2ε)."""
    factor = 1.0 / (2.0 * result.eps)
    return to_image(0.5 + result.perturbation * factor, scale), factor


def attack_view(loaded, image: Image.Image, params: dict) -> None:
    """Untargeted attacks push away from the clean prediction (the image's true class may be
    unknown, and the question is what it takes to change what the network says)."""
    mkey, ikey = model_key(loaded), image_key(image)
    result = _attack(loaded, image, params)
    scale = _scale(loaded)
    clean_name = class_name(loaded, result.clean_top1)
    adv_name = class_name(loaded, result.adv_top1)
    what = "FGSM" if result.method == "fgsm" else f"PGD-{result.steps}"
    if result.succeeded:
        st.markdown(_("**{attack} at {k}/255 turns {before} ({p_before:.1%}) into {after} "
                      "({p_after:.1%}).**").format(
            attack=what, k=params["k"], before=clean_name, p_before=result.clean_probs.max(),
            after=adv_name, p_after=result.adv_probs.max()))
    else:
        st.markdown(_("**The prediction holds: after {attack} at {k}/255 it is {after} "
                      "({p_after:.1%}).** Try a larger ε or PGD.").format(
            attack=what, k=params["k"], after=adv_name, p_after=result.adv_probs.max()))
    rounded = result.notes.get("rounded_top1")
    if result.succeeded and rounded is not None:
        st.caption(_("Saved as an 8-bit PNG (every value rounded to a whole grey level) it "
                     "still fools the network.") if rounded == result.adv_top1 else
                   _("Saved as an 8-bit PNG (every value rounded to a whole grey level) the "
                     "network reads {name} again: this attack lives between grey levels.")
                   .format(name=class_name(loaded, rounded)))
    amplified, factor = _amplified(result, scale)
    c1, c2, c3 = st.columns(3)
    c1.image(to_image(result.clean, scale), width="stretch",
             caption=_("Clean: {name}, {p:.1%}").format(name=clean_name,
                                                        p=result.clean_probs.max()))
    c2.image(to_image(result.adversarial, scale), width="stretch",
             caption=_("Adversarial: {name}, {p:.1%}").format(name=adv_name,
                                                              p=result.adv_probs.max()))
    c3.image(amplified, width="stretch",
             caption=_("The change, amplified ×{factor} (grey = unchanged)").format(
                 factor=f"{factor:.0f}" if factor >= 10 else f"{factor:.1f}"))
    c1, c2 = st.columns(2)
    c1.markdown(_("**Top-5 before**"))
    c1.altair_chart(_top_chart(loaded, result.top(5), "#3182bd"), width="stretch")
    c2.markdown(_("**Top-5 after**"))
    c2.altair_chart(_top_chart(loaded, result.top(5, adversarial=True), "#e6550d"),
                    width="stretch")
    st.caption(_("{seconds:.1f} s, in pixel space: the normalisation is inside the attacked "
                 "function, and the adversarial image is clamped to valid pixels [0, 1].")
               .format(seconds=result.seconds))
    saliency_view(loaded, result, mkey, ikey, scale)


def saliency_view(loaded, result: attacks.AttackResult, mkey, ikey, scale: int) -> None:
    cols = st.columns(3)
    method = cols[2].selectbox(_("Map"), MAP_METHODS, key="robust_map",
                               format_func=lambda m: _(attribution.METHODS[m]))
    cols[2].caption(_("Each image's map for its own top class: what the network looks at "
                      "before and after the attack. The perturbation is spread over the whole "
                      "image, yet the evidence moves."))
    for col, which, pixels, top in ((cols[0], "clean", result.clean, result.clean_top1),
                                    (cols[1], "adversarial", result.adversarial, result.adv_top1)):
        with col, st.spinner(_("Computing the map…")):
            try:
                heat = _saliency(mkey, ikey + str(hash(pixels.numpy().tobytes())), which,
                                 method, top, loaded, pixels)
            except attribution.AttributionError as exc:
                st.warning(str(exc))
                continue
            view = attribution.overlay(to_image(pixels), heat, 0.5)
            if scale > 1:
                view = view.resize((view.width * scale, view.height * scale), Image.NEAREST)
            col.image(view, width="stretch", caption=(
                _("Before: why {name}") if which == "clean" else _("After: why {name}"))
                .format(name=class_name(loaded, top)))


# --------------------------------------------------------------------------------------------
# The smallest ε that flips it


def min_eps_view(loaded, image: Image.Image, params: dict) -> None:
    key = (model_key(loaded), image_key(image), params["method"], params["steps"],
           params["target"])
    store = st.session_state.setdefault("robust_min_eps", {})
    what = "FGSM" if params["method"] == "fgsm" else "PGD-{steps}".format(
        steps=params["steps"])
    max_k = attacks.default_max_k(loaded)
    if st.button(_("Find the smallest ε that flips the prediction ({attack}, up to {k}/255)")
                 .format(attack=what, k=max_k), key="robust_find_eps"):
        bar = st.progress(0.0, text=_("Binary search over whole grey levels… (leave the page "
                                      "to stop)"))

        def progress(done, total):
            bar.progress(min(done / total, 1.0), text=_("Attack {done} of about {total}…")
                         .format(done=done, total=total))

        store.clear()  # one result per session
        store[key] = attacks.smallest_epsilon(loaded, attacks.to_pixels(loaded, image),
                                              params["method"], params["steps"],
                                              params["target"], progress=progress)
        bar.empty()
    found = store.get(key)
    if found is None:
        return
    if found.k is None:
        st.info(_("Even {k}/255 does not flip it with {attack}: this image sits deep inside "
                  "its class for this network. Try PGD.").format(k=found.max_k, attack=what))
        return
    st.success(_("Smallest ε: {words}").format(
        words=attacks.describe_epsilon(found.k, attacks.to_pixels(loaded, image),
                                       found.adversarial)))
    if found.k == 1:
        how = _("{attack} at 1/255, the smallest step an 8-bit image can hold, already gives "
                "{name}.").format(attack=what, name=class_name(loaded, found.adv_top1))
    else:
        how = _("{attack} at {k}/255 gives {name}; at {below}/255 the prediction held.").format(
            attack=what, k=found.k, below=found.k - 1, name=class_name(loaded, found.adv_top1))
    st.caption(how + " " + _("{runs} attacks, {seconds:.1f} s (Captum's MinParamPerturbation, "
                             "binary search over whole grey levels).").format(
        runs=found.attacks_run, seconds=found.seconds))


# --------------------------------------------------------------------------------------------
# Several networks side by side


def comparable(loaded) -> list[str]:
    """Networks that read the same kind of image: the zoo's, plus the robust LeNet-5s for
    digits."""
    names = zoo.list_models(loaded.spec.dataset)
    if loaded.spec.dataset == "mnist":
        names += robust_models.robust_names()
    return names


def _has_weights(name: str) -> bool:
    from explorer.weights import auto_source

    return name in robust_models.ROBUST_MODELS or auto_source(name) != "random"


def compare_picker(loaded, key: str, label: str) -> list[str]:
    options = comparable(loaded)
    current = loaded.info.get("robust_name", loaded.name) if loaded.info else loaded.name
    if key not in st.session_state or not set(st.session_state[key]) <= set(options):
        others = [n for n in options if n != current and _has_weights(n)]
        if loaded.spec.dataset == "mnist":
            others = sorted(others, key=lambda n: n not in robust_models.ROBUST_MODELS)
        st.session_state[key] = [current] + others[:2]
    return st.multiselect(label, options, key=key, max_selections=COMPARE_MAX,
                          format_func=lambda n: n if _has_weights(n)
                          else _("{name} (random weights)").format(name=n))


def compare_models(names: list[str], current) -> list:
    out = []
    for n in names:
        if current is not None and n == (current.info or {}).get("robust_name", current.name) \
                and current.source != "session":
            out.append(current)
        elif n in robust_models.ROBUST_MODELS:
            out.append(robust_model(n))
        else:
            out.append(get_model(n))
    return out


def weights_note(loaded) -> None:
    """Said when fewer than two comparable networks have trained weights here."""
    with_weights = [n for n in comparable(loaded) if _has_weights(n)]
    if len(with_weights) < 2:
        st.caption(_("Only {names} has trained weights on this machine; the other networks "
                     "would run with random weights (download theirs on the Weights page).")
                   .format(names=join(with_weights)))


def _legend(loaded) -> str:
    name = (loaded.info or {}).get("robust_name", loaded.name)
    return _("{name} (random weights)").format(name=name) if loaded.is_random else name


def damage_view(loaded, image: Image.Image, params: dict) -> None:
    names = compare_picker(loaded, "robust_damage_models", _("Networks (2–4)"))
    what = "FGSM" if params["method"] == "fgsm" else "PGD-{steps}".format(
        steps=params["steps"])
    key = (tuple(names), image_key(image), params["method"], params["k"], params["steps"])
    store = st.session_state.setdefault("robust_damage", {})
    if st.button(_("Measure where the damage grows ({attack} at {k}/255 on each)").format(
            attack=what, k=params["k"]), key="robust_damage_go", disabled=not names):
        bar = st.progress(0.0)
        models = compare_models(names, loaded)

        def progress(done, total, name):
            bar.progress(done / total, text=_("Attacking {name}… (leave the page to stop)")
                         .format(name=name) if name else None)

        store.clear()
        store[key] = [(_legend(m), c) for m, c in zip(models, damage.compare_damage(
            models, image, params["method"], params["k"] / 255, params["steps"],
            progress=progress))]
        bar.empty()
    curves = store.get(key)
    if not curves:
        st.caption(_("Each network is attacked on this image with the same method and ε; the "
                     "chart shows how far its activations move, stage by stage."))
        weights_note(loaded)
        return
    rows = [{**r, "model": legend} for legend, c in curves for r in c.rows()]
    df = pd.DataFrame(rows)
    order = ["input"] + [f"/{s}" for s in sorted({r["stride"] for r in rows
                                                  if r["stage"] not in ("input", "logits")})] \
        + ["logits"]
    chart = alt.Chart(df).mark_line(point=True).encode(
        x=alt.X("stage:N", sort=order, axis=alt.Axis(labelAngle=0),
                title=_("depth: input, stage outputs by stride, logits")),
        y=alt.Y("distance:Q", scale=alt.Scale(type="log"),
                title=_("‖adversarial − clean‖ / ‖clean‖ (log)")),
        color=alt.Color("model:N", title=_("network")),
        tooltip=[alt.Tooltip("model:N", title=_("network")),
                 alt.Tooltip("stage:N", title=_("stage")),
                 alt.Tooltip("layer:N", title=_("layer")),
                 alt.Tooltip("distance:Q", format=".3f", title=_("relative distance"))])
    st.altair_chart(chart.properties(height=320), width="stretch")
    grow = join(_("{name}: ×{factor:.0f}").format(
        name=legend, factor=c.points[-1].distance / max(c.points[0].distance, 1e-12))
        for legend, c in curves)
    st.caption(_("From the pixels to the logits the relative change grows {growth}. Relative "
                 "distance of the activations of the adversarial and the clean image at each "
                 "stage's output (the spec's stages, by output stride).").format(growth=grow))


# --------------------------------------------------------------------------------------------
# Corruptions


@st.cache_data(max_entries=64, show_spinner=False)
def _severity_curve(mkey: tuple, ikey: str, corruption: str, label, _loaded, _image):
    return evaluate.severity_curve(_loaded, attacks.to_pixels(_loaded, _image), corruption,
                                   label)


def corruption_view(loaded, image: Image.Image, label: int | None) -> None:
    options = corruptions.available(len(loaded.preprocess.mean))
    c1, c2 = st.columns([2, 1])
    name = c1.selectbox(_("Corruption"), options, key="robust_corruption",
                        format_func=lambda n: _(corruptions.CORRUPTIONS[n]))
    severity = c2.slider(_("Severity"), 1, 5, 3, key="robust_severity",
                         help=_("ImageNet-C's five levels, with the paper's parameters."))
    pixels = attacks.to_pixels(loaded, image)
    bad = corruptions.corrupt(pixels, name, severity, seed=0)
    scale = _scale(loaded)
    curve = _severity_curve(model_key(loaded), image_key(image), name, label, loaded, image)
    clean, hit = curve[0], curve[severity]
    a, b, c = st.columns(3)
    a.image(to_image(pixels, scale), width="stretch", caption=_("Clean: {name}, {p:.1%}").format(
        name=class_name(loaded, clean["top1"]), p=clean["top1_probability"]))
    b.image(to_image(bad, scale), width="stretch",
            caption=_("{corruption}, severity {severity}: {name}, {p:.1%}").format(
                corruption=_(corruptions.CORRUPTIONS[name]), severity=severity,
                name=class_name(loaded, hit["top1"]), p=hit["top1_probability"]))
    c.markdown(_("**Severity {severity}:** {what}.").format(
        severity=severity, what=corruptions.describe(name, severity)))
    names = compare_picker(loaded, "robust_corrupt_models", _("Networks (2–4)"))
    weights_note(loaded)
    rows = []
    for m in compare_models(names, loaded):
        for point in _severity_curve(model_key(m), image_key(image), name, label, m, image):
            rows.append({"model": _legend(m), **point})
    if not rows:
        return
    what = (_("probability of the true class, {name}").format(name=class_name(loaded, label))
            if label is not None else _("probability of each network's clean top-1"))
    chart = alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(
        x=alt.X("severity:O", axis=alt.Axis(labelAngle=0), title=_("severity (0 = clean)")),
        y=alt.Y("probability:Q", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%"),
                title=what),
        color=alt.Color("model:N", title=_("network")),
        tooltip=[alt.Tooltip("model:N", title=_("network")),
                 alt.Tooltip("severity:O", title=_("severity")),
                 alt.Tooltip("probability:Q", format=".1%", title=_("probability"))])
    st.altair_chart(chart.properties(height=300), width="stretch")
    st.caption(_("{source}. Noise is drawn with a fixed seed, so every network sees the same "
                 "corrupted pixels (each at its own input size).").format(
        source=corruptions.SOURCE))

