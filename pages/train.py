"""Train on MNIST: reproduce seed 002's table, watch the curves, then read your own digit."""
import streamlit as st
from PIL import Image

from explorer.i18n import N_, _
from explorer.ui import warmup
from explorer.ui.router import through_router

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
from explorer import inference, train  # noqa: E402
from explorer.ui import train as ui  # noqa: E402
from explorer.ui import train_dynamics  # noqa: E402
from explorer.ui import robust_train  # noqa: E402

# ------------------------------------------------------------------------- reproduction table
st.subheader(_("The source's numbers beside ours"))
ui.reproduction()
st.caption(_("Ours: the committed checkpoints in `assets/`, tested on the 10,000 MNIST test "
             "images (model cards `assets/<model>.json`). Reproduce one with "
             "`python -m explorer.train --model mnist_plain --data ../shared/data/mnist`. "
             "Keras counts BatchNorm's moving mean and variance as (non-trainable) parameters; "
             "PyTorch keeps them as buffers, hence two parameter columns."))

# ------------------------------------------------------------------------------------ training
st.subheader(_("Train one yourself"))
ui.start_requested_run()
job = state.get("train_job")
running = job is not None
c1, c2, c3 = st.columns([2, 1, 1])
c1.selectbox(_("Model"), train.TRAINABLE_MODELS, format_func=ui.model_label, key="train_model",
             disabled=running)
# On a CPU, start with a run that ends in well under a minute; on a GPU, the notes' recipe.
default_epochs, default_images = ui.default_run(inference.pick_device().type)
c2.slider(_("Epochs"), 1, 10, default_epochs, key="train_epochs", disabled=running)
c3.number_input(_("Training images"), min_value=100, max_value=60_000, value=default_images,
                step=1000,
                key="train_subset", disabled=running,
                help=_("Fewer images train faster; 10 % of them are held out for validation."))
robust_train.option(disabled=running)  # clean, FGSM or PGD digits (Robustness page)
b1, b2, b3 = st.columns([1, 1, 4])  # not "_": that is the translation function
b1.button(_("Train"), type="primary", on_click=ui.start, disabled=running, width="stretch")
b2.button(_("Stop"), on_click=ui.stop, disabled=not running, width="stretch")
b3.checkbox(_("Record training dynamics"), value=True, key="train_dynamics", disabled=running,
            help=_("After every epoch, a pass over the 10,000 test digits and a few statistics "
                   "per layer, for the “Training dynamics” views below (a few seconds per epoch "
                   "on a CPU). The trained weights are the same either way."))
st.caption(_("Runs on {device}. The notes' full recipe is 60,000 images × 5 epochs (844 batches "
             "of 64 per epoch): seconds on a GPU, minutes on a CPU, which is why a CPU starts "
             "with a short run; once a run has started, the page estimates the full recipe from "
             "its first batches. Stop at any time: the model trained so far is kept and tested.")
           .format(device=inference.device_info()))
ui.estimate_caption()

run_box = st.container()  # the run's progress and curves, filled after the section below
train_dynamics.section()  # replays a history; a live run's epochs appear before the next starts
with run_box:
    if job is not None:
        ui.train_step(job)  # one epoch per script run, or the end of the run; reruns the page
    else:
        ui.last_result()

# -------------------------------------------------------------------------------- your digit
st.subheader(_("Read your own digit"))
st.caption(_("Preprocessed the way MNIST was made: greyscale, inverted if dark on light, "
             "cropped to the digit, fitted into 20×20 and centred by mass in 28×28."))
mode = st.radio(_("Digit input"), ["Draw", "Photo or sample"], horizontal=True,
                key="train_input_mode", format_func=lambda m: _(DIGIT_INPUTS[m]))
left, right = st.columns([3, 2])
with left:
    digit = ui.draw_digit() if mode == "Draw" else ui.photo_digit()
if digit is None:
    right.caption(_("Draw a digit (0–9) in the box, or choose a photo or sample.")
                  if mode == "Draw" else
                  _("Choose a sample or upload a photo of one handwritten digit."))
else:
    models = ui.digit_models()
    preview = Image.fromarray(ui.digit_preview(digit)).resize((168, 168), Image.NEAREST)
    right.image(preview, caption=_("What the networks see (28×28)"))
    if models:
        ui.digit_table(digit, models)
    else:
        st.warning(_("No trained MNIST model yet: train one above."))
