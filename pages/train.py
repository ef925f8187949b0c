"""Train on MNIST: reproduce seed 002's table, watch the curves, then read your own digit."""
import time

import altair as alt
import pandas as pd
import streamlit as st
from PIL import Image

from explorer.i18n import N_, _
from explorer.ui import columns, warmup
from explorer.ui.router import through_router
from explorer.ui.widgets import image_input

through_router()

DIGIT_INPUTS = {"Draw": N_("Draw"), "Photo or sample": N_("Photo or sample")}  # shown with _()

state = st.session_state
state.setdefault("trained_models", {})  # name -> {"state_dict", "card"}: read by other pages

st.title(_("Train the small classics on MNIST"))
st.caption(_("The Keras notes “How to build CNN variants” train three CNNs on MNIST (Adam, "
             "batch 64, 10 % validation, 5 epochs) and LeCun et al. report LeNet-5's accuracy. Here are their numbers "
             "beside ours; train one yourself, watch the curves, then draw a digit and let the "
             "networks read it."))
warmup.wait()  # the title is drawn: now what needs torch
from explorer import inference, train, weights  # noqa: E402
from explorer.ui.models import get_model  # noqa: E402


def _label(name: str) -> str:
    return f"{name} — {_(train.SEED_REPORTED[name]['label'])}"


def _curves(history: list[dict]) -> None:
    if not history:
        st.caption(_("The curves appear after the first epoch."))
        return
    data = pd.DataFrame(train.history_long(history))
    cols = st.columns(2)
    for col, metric, title in ((cols[0], "accuracy", _("accuracy (%)")),
                               (cols[1], "loss", _("loss"))):
        chart = (
            alt.Chart(data[data.metric == metric], title=title)
            .mark_line(point=True)
            .encode(
                # Ordinal: whole epochs as labels, and one epoch is a visible point, not a
                # lone dot over an axis labelled "1.000000".
                x=alt.X("epoch:O", axis=alt.Axis(labelAngle=0), title=_("epoch")),
                y=alt.Y("value:Q", title=title, scale=alt.Scale(zero=False)),
                color=alt.Color("split:N", title=None, legend=alt.Legend(orient="bottom")),
                tooltip=["epoch", "split", alt.Tooltip("value:Q", format=".4f")],
            )
            .properties(height=260)
        )
        col.altair_chart(chart, width="stretch")


# ------------------------------------------------------------------------- reproduction table
st.subheader(_("The source's numbers beside ours"))
st.table(pd.DataFrame(train.reproduction_table()))
for name in train.TRAINABLE_MODELS:
    notes = (train.load_card(name) or {}).get("notes")
    if notes:
        st.caption(f"**{name}:** {_(notes)}")  # card notes: extracted from assets/*.json
st.caption(_("Ours: the committed checkpoints in `assets/`, tested on the 10,000 MNIST test "
             "images (model cards `assets/<model>.json`). Reproduce one with "
             "`python -m explorer.train --model mnist_plain --data ../shared/data/mnist`. "
             "Keras counts BatchNorm's moving mean and variance as (non-trainable) parameters; "
             "PyTorch keeps them as buffers, hence two parameter columns."))

# ------------------------------------------------------------------------------------ training
st.subheader(_("Train one yourself"))


def _start() -> None:
    state["train_request"] = {"name": state["train_model"], "epochs": state["train_epochs"],
                              "subset": state["train_subset"]}
    state["train_stop"] = False


def _stop() -> None:
    state["train_stop"] = True


request = state.pop("train_request", None)
if request is not None:
    root, download = train.find_mnist()
    subset = request["subset"] if request["subset"] < 60_000 else None
    try:
        with st.spinner(_("Loading MNIST…") if not download else _("Downloading MNIST (11 MB)…")):
            state["train_job"] = train.Trainer(request["name"], request["epochs"], root,
                                               subset=subset, download=download)
    except train.MnistNotFoundError as exc:
        st.error(f"{exc}")
    except (OSError, RuntimeError) as exc:  # a failed download
        st.error(_("Could not get MNIST ({error}). Connect to the internet, or set "
                   "CNN_EXPLORER_MNIST to a folder that holds MNIST/raw/.").format(error=exc))

job = state.get("train_job")
running = job is not None
c1, c2, c3 = st.columns([2, 1, 1])
c1.selectbox(_("Model"), train.TRAINABLE_MODELS, format_func=_label, key="train_model",
             disabled=running)
# On a CPU, start with a run that ends in well under a minute; on a GPU, the notes' recipe.
default_epochs, default_images = train.default_run(inference.pick_device().type)
c2.slider(_("Epochs"), 1, 10, default_epochs, key="train_epochs", disabled=running)
c3.number_input(_("Training images"), min_value=100, max_value=60_000, value=default_images,
                step=1000,
                key="train_subset", disabled=running,
                help=_("Fewer images train faster; 10 % of them are held out for validation."))
b1, b2, _spacer = st.columns([1, 1, 4])  # not "_": that is the translation function
b1.button(_("Train"), type="primary", on_click=_start, disabled=running, width="stretch")
b2.button(_("Stop"), on_click=_stop, disabled=not running, width="stretch")
st.caption(_("Runs on {device}. The notes' full recipe is 60,000 images × 5 epochs (844 batches "
             "of 64 per epoch): seconds on a GPU, minutes on a CPU, which is why a CPU starts "
             "with a short run; once a run has started, the page estimates the full recipe from "
             "its first batches. Stop at any time: the model trained so far is kept and tested.")
           .format(device=inference.device_info()))
estimate = state.get("train_estimate")
if estimate:
    st.caption(_("At the speed of the last run, the full recipe (60,000 images × 5 epochs) "
                 "would take about {minutes} minutes on {device}.").format(
        minutes=f"{estimate / 60:.1f}", device=state.get("train_estimate_device", "")))

if job is not None:
    progress = st.progress(job.progress, text=_("Training {model}: epoch {epoch}/{epochs}").format(
        model=job.name, epoch=min(len(job.history) + 1, job.epochs), epochs=job.epochs))
    _curves(job.history)
    if state.get("train_stop") or job.done:
        if not job.done:
            job.stop()
        with st.spinner(_("Testing on the 10,000 MNIST test images…")):
            result = job.finish()
        state["trained_models"][job.name] = train.session_entry(result)
        state["train_last"] = result.card
        state["train_job"] = None
        state["train_stop"] = False
        st.rerun()  # redraw with the controls enabled again
    else:
        shown = [-1]
        started, first = time.perf_counter(), job.batches_done

        def on_batch(p: float) -> None:
            full = train.full_recipe_seconds(time.perf_counter() - started,
                                             job.batches_done - first)
            if full is not None:  # the full recipe's duration, from this run's own speed
                state["train_estimate"] = full
                state["train_estimate_device"] = job.device.type
            # Every call into Streamlit is also where a click on Stop interrupts this run; the
            # next run resumes (or finishes) the same Trainer, so no work is lost.
            if int(p * 200) != shown[0]:
                shown[0] = int(p * 200)
                text = _("Training {model}: epoch {epoch}/{epochs}, {done} of the run").format(
                    model=job.name, epoch=len(job.history) + 1, epochs=job.epochs,
                    done=f"{p:.0%}")
                if full is not None:
                    text += " · " + _("the full recipe would take about {minutes} min at this "
                                      "speed").format(minutes=f"{full / 60:.1f}")
                progress.progress(p, text=text)

        job.run_epoch(on_batch=on_batch, should_stop=lambda: state.get("train_stop", False))
        st.rerun()  # one epoch per script run: the curves redraw, then the next epoch starts

card = state.get("train_last")
if card is not None and job is None:
    ref = train.SEED_REPORTED[card["model"]]
    st.success((_("**{model}**: test accuracy **{accuracy} %** after {done} of {epochs} epochs "
                  "(stopped early) on {images} training images, {seconds} s on {device} "
                  "(reported: {reported} %). It is now available as “Trained in this session” "
                  "on the other pages.") if card["stopped_early"] else
                _("**{model}**: test accuracy **{accuracy} %** after {done} of {epochs} epochs "
                  "on {images} training images, {seconds} s on {device} (reported: {reported} "
                  "%). It is now available as “Trained in this session” on the other pages."))
               .format(model=card["model"], accuracy=f"{card['test_accuracy']:.2f}",
                       done=card["epochs_completed"], epochs=card["epochs"],
                       images=f"{card['data']['train_images']:,}",
                       seconds=f"{card['train_seconds']:.0f}", device=card["device"],
                       reported=f"{ref['test_accuracy']:.2f}"))
    _curves(card["history"])

# -------------------------------------------------------------------------------- your digit
st.subheader(_("Read your own digit"))
st.caption(_("Preprocessed the way MNIST was made: greyscale, inverted if dark on light, "
             "cropped to the digit, fitted into 20×20 and centred by mass in 28×28."))


def _draw() -> Image.Image | None:
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as exc:  # the component does not load with this Streamlit
        st.info(_("The drawing canvas is unavailable here ({error}); upload a photo of a "
                  "digit instead.").format(error=type(exc).__name__))
        return _photo()
    # Room for the canvas's floating toolbar, which sits above the drawing area.
    st.caption(_("Draw one digit, large, with the mouse or a finger. The bin icon clears it."))
    st.container(height=30, border=False)
    result = st_canvas(stroke_width=18, stroke_color="#000000", background_color="#FFFFFF",
                       height=240, width=240, drawing_mode="freedraw", return_image_data=True,
                       key="train_canvas")
    try:
        return train.canvas_to_image(result.image_data)
    except Exception:  # no drawing returned yet
        return None


def _photo() -> Image.Image | None:
    got = image_input("train_digit", digits=True, label=_("Digit image"))
    return got[0] if got else None


mode = st.radio(_("Digit input"), ["Draw", "Photo or sample"], horizontal=True,
                key="train_input_mode", format_func=lambda m: _(DIGIT_INPUTS[m]))
left, right = st.columns([3, 2])
with left:
    digit = _draw() if mode == "Draw" else _photo()
if digit is None:
    right.caption(_("Draw a digit (0–9) in the box, or choose a photo or sample.")
                  if mode == "Draw" else
                  _("Choose a sample or upload a photo of one handwritten digit."))
else:
    models = []
    for name in train.TRAINABLE_MODELS:
        try:
            models.append(get_model(name, "trained"))
        except weights.WeightsError:
            pass
        entry = state["trained_models"].get(name)
        if entry is not None:
            acc = entry["card"].get("test_accuracy")
            label = (_("this session ({accuracy} % on test)").format(accuracy=f"{acc:.2f}")
                     if acc is not None else _("this session"))
            models.append(weights.wrap_model(
                name, train.model_from_state_dict(name, entry["state_dict"]), label=label))
    preview = Image.fromarray(train.digit_preview(digit)).resize((168, 168), Image.NEAREST)
    right.image(preview, caption=_("What the networks see (28×28)"))
    if models:
        rows = pd.DataFrame(train.digit_rows(digit, models))
        st.dataframe(rows, hide_index=True, width="stretch",
                     column_config=columns.config(rows, {
                         "probability": st.column_config.ProgressColumn(
                             format="%.2f", min_value=0.0, max_value=1.0)}))
    else:
        st.warning(_("No trained MNIST model yet: train one above."))
