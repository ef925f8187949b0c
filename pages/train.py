"""Train on MNIST: reproduce seed 002's table, watch the curves, then read your own digit."""
import altair as alt
import pandas as pd
import streamlit as st
from PIL import Image

from explorer import inference, train, weights
from explorer.ui.models import get_model
from explorer.ui.router import through_router
from explorer.ui.widgets import image_input

through_router()

state = st.session_state
state.setdefault("trained_models", {})  # name -> {"state_dict", "card"}: read by other pages

st.title("Train the small classics on MNIST")
st.caption("Seed 002 trains three Keras CNNs on MNIST (Adam, batch 64, 10 % validation, "
           "5 epochs) and LeCun et al. report LeNet-5's accuracy. Here are their numbers beside "
           "ours; train one yourself, watch the curves, then draw a digit and let the networks "
           "read it.")


def _label(name: str) -> str:
    return f"{name} — {train.SEED_REPORTED[name]['label']}"


def _curves(history: list[dict]) -> None:
    if not history:
        st.caption("The curves appear after the first epoch.")
        return
    data = pd.DataFrame(train.history_long(history))
    cols = st.columns(2)
    for col, metric, title in ((cols[0], "accuracy", "accuracy (%)"), (cols[1], "loss", "loss")):
        chart = (
            alt.Chart(data[data.metric == metric], title=title)
            .mark_line(point=True)
            .encode(
                x=alt.X("epoch:Q", axis=alt.Axis(tickMinStep=1), scale=alt.Scale(zero=False)),
                y=alt.Y("value:Q", title=title, scale=alt.Scale(zero=False)),
                color=alt.Color("split:N", title=None, legend=alt.Legend(orient="bottom")),
                tooltip=["epoch", "split", alt.Tooltip("value:Q", format=".4f")],
            )
            .properties(height=260)
        )
        col.altair_chart(chart, width="stretch")


# ------------------------------------------------------------------------- reproduction table
st.subheader("The source's numbers beside ours")
st.table(pd.DataFrame(train.reproduction_table()))
for name in train.TRAINABLE_MODELS:
    notes = (train.load_card(name) or {}).get("notes")
    if notes:
        st.caption(f"**{name}:** {notes}")
st.caption("Ours: the committed checkpoints in `assets/`, tested on the 10,000 MNIST test images "
           "(model cards `assets/<model>.json`). Reproduce one with "
           "`python -m explorer.train --model mnist_plain --data ../shared/data/mnist`. "
           "Keras counts BatchNorm's moving mean and variance as (non-trainable) parameters; "
           "PyTorch keeps them as buffers, hence two parameter columns.")

# ------------------------------------------------------------------------------------ training
st.subheader("Train one yourself")


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
        with st.spinner("Loading MNIST…" if not download else "Downloading MNIST (11 MB)…"):
            state["train_job"] = train.Trainer(request["name"], request["epochs"], root,
                                               subset=subset, download=download)
    except train.MnistNotFoundError as exc:
        st.error(f"{exc}")
    except (OSError, RuntimeError) as exc:  # a failed download
        st.error(f"Could not get MNIST ({exc}). Connect to the internet, or set "
                 "CNN_EXPLORER_MNIST to a folder that holds MNIST/raw/.")

job = state.get("train_job")
running = job is not None
c1, c2, c3 = st.columns([2, 1, 1])
c1.selectbox("Model", train.TRAINABLE_MODELS, format_func=_label, key="train_model",
             disabled=running)
c2.slider("Epochs", 1, 10, 5, key="train_epochs", disabled=running)
c3.number_input("Training images", min_value=100, max_value=60_000, value=60_000, step=1000,
                key="train_subset", disabled=running,
                help="Fewer images train faster; 10 % of them are held out for validation.")
b1, b2, _ = st.columns([1, 1, 4])
b1.button("Train", type="primary", on_click=_start, disabled=running, width="stretch")
b2.button("Stop", on_click=_stop, disabled=not running, width="stretch")
st.caption(f"Runs on {inference.device_info()}. A full epoch is 844 batches of 64: seconds on "
           "a GPU, minutes on a CPU (the plain CNN costs about 25× LeNet-5's arithmetic), so "
           "start with a few thousand images. Stop at any time: the model trained so far is "
           "kept and tested.")

if job is not None:
    progress = st.progress(job.progress, text=f"Training {job.name}: epoch "
                                              f"{min(len(job.history) + 1, job.epochs)}/{job.epochs}")
    _curves(job.history)
    if state.get("train_stop") or job.done:
        if not job.done:
            job.stop()
        with st.spinner("Testing on the 10,000 MNIST test images…"):
            result = job.finish()
        state["trained_models"][job.name] = train.session_entry(result)
        state["train_last"] = result.card
        state["train_job"] = None
        state["train_stop"] = False
        st.rerun()  # redraw with the controls enabled again
    else:
        shown = [-1]

        def on_batch(p: float) -> None:
            # Every call into Streamlit is also where a click on Stop interrupts this run; the
            # next run resumes (or finishes) the same Trainer, so no work is lost.
            if int(p * 200) != shown[0]:
                shown[0] = int(p * 200)
                progress.progress(p, text=f"Training {job.name}: epoch {len(job.history) + 1}/"
                                          f"{job.epochs}, {p:.0%} of the run")

        job.run_epoch(on_batch=on_batch, should_stop=lambda: state.get("train_stop", False))
        st.rerun()  # one epoch per script run: the curves redraw, then the next epoch starts

card = state.get("train_last")
if card is not None and job is None:
    ref = train.SEED_REPORTED[card["model"]]
    stopped = " (stopped early)" if card["stopped_early"] else ""
    st.success(f"**{card['model']}**: test accuracy **{card['test_accuracy']:.2f} %** after "
               f"{card['epochs_completed']} of {card['epochs']} epochs{stopped} on "
               f"{card['data']['train_images']:,} training images, {card['train_seconds']:.0f} s "
               f"on {card['device']} (reported: {ref['test_accuracy']:.2f} %). It is now "
               "available as “Trained in this session” on the other pages.")
    _curves(card["history"])

# -------------------------------------------------------------------------------- your digit
st.subheader("Read your own digit")
st.caption("Preprocessed the way MNIST was made: greyscale, inverted if dark on light, cropped "
           "to the digit, fitted into 20×20 and centred by mass in 28×28.")


def _draw() -> Image.Image | None:
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as exc:  # the component does not load with this Streamlit
        st.info(f"The drawing canvas is unavailable here ({type(exc).__name__}); upload a "
                "photo of a digit instead.")
        return _photo()
    # Room for the canvas's floating toolbar, which sits above the drawing area.
    st.caption("Draw one digit, large, with the mouse or a finger. The bin icon clears it.")
    st.container(height=30, border=False)
    result = st_canvas(stroke_width=18, stroke_color="#000000", background_color="#FFFFFF",
                       height=240, width=240, drawing_mode="freedraw", return_image_data=True,
                       key="train_canvas")
    try:
        return train.canvas_to_image(result.image_data)
    except Exception:  # no drawing returned yet
        return None


def _photo() -> Image.Image | None:
    got = image_input("train_digit", digits=True, label="Digit image")
    return got[0] if got else None


mode = st.radio("Digit input", ["Draw", "Photo or sample"], horizontal=True, key="train_input_mode")
left, right = st.columns([3, 2])
with left:
    digit = _draw() if mode == "Draw" else _photo()
if digit is None:
    right.caption("Draw a digit (0–9) in the box, or choose a photo or sample." if mode == "Draw"
                  else "Choose a sample or upload a photo of one handwritten digit.")
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
            label = "this session" + (f" ({acc:.2f} % on test)" if acc is not None else "")
            models.append(weights.wrap_model(
                name, train.model_from_state_dict(name, entry["state_dict"]), label=label))
    preview = Image.fromarray(train.digit_preview(digit)).resize((168, 168), Image.NEAREST)
    right.image(preview, caption="What the networks see (28×28)")
    if models:
        rows = pd.DataFrame(train.digit_rows(digit, models))
        st.dataframe(rows, hide_index=True, width="stretch",
                     column_config={"probability": st.column_config.ProgressColumn(
                         format="%.2f", min_value=0.0, max_value=1.0)})
    else:
        st.warning("No trained MNIST model yet: train one above.")
