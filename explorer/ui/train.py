"""The Train page's helpers: the reproduction table, the training run and its curves, and
reading a digit drawn or photographed by the user.

The run lives in ``st.session_state`` (keys ``train_*``); a finished run is kept in
``st.session_state["trained_models"][name] = {"state_dict", "card"}``, which
``explorer.ui.models.session_model`` reads for the other pages.
"""
from __future__ import annotations

import time
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
import torch
from PIL import Image

from explorer import train, weights
from explorer.data.mnist import MNIST_MEAN, MNIST_STD, MnistNotFoundError, mnist_root
from explorer.data.paths import ASSETS
from explorer.i18n import N_, _
from explorer.inference import mnist_preprocess, predict
from explorer.ui import columns, train_dynamics
from explorer.ui.models import TRAINED_KEY, get_model
from explorer.ui.widgets import image_input
from explorer.ui import robust_train  # the adversarial-training option

__all__ = ["reproduction_table", "default_run", "history_long", "session_entry", "canvas_to_image",
           "digit_preview", "digit_rows", "progress_text", "model_label", "curves", "reproduction",
           "start", "stop", "start_requested_run", "estimate_caption", "train_step", "last_result",
           "draw_digit", "photo_digit", "digit_models", "digit_table"]

state = st.session_state


# ------------------------------------------------------------------------------ plain data
# explorer.train.SEED_REPORTED names LeNet-5 without marking it for translation: marked here,
# where it is shown (model_label, reproduction_table).
N_("LeNet-5 (LeCun et al. 1998)")


def _recipe(name: str, assets: str | Path) -> str | None:
    """The committed card's recipe in the UI language (explorer.train's own text writes the
    learning rate as "lr 0.001 → …", which no Chinese reader should have to decode)."""
    card = train.load_card(name, assets)
    if not card:
        return None
    recipe = card.get("recipe", {})
    lr = _("learning rate {lr}").format(lr=f"{recipe.get('lr', 1e-3):g}") + "".join(
        " → " + _("{lr} (epoch {epoch})").format(lr=f"{v:g}", epoch=e)
        for e, v in recipe.get("lr_steps") or [])
    return _("Adam, batch {batch}, {lr}{extra}, {epochs} epochs").format(
        batch=recipe.get("batch_size", 64), lr=lr,
        extra=_(", affine distortions") if recipe.get("distort") else "",
        epochs=card.get("epochs_completed"))


def reproduction_table(assets: str | Path = ASSETS) -> dict[str, dict[str, str]]:
    """:func:`explorer.train.reproduction_rows` as display text, one column per model (for a narrow page)."""
    def num(v):
        return "—" if v is None else f"{v:,}"

    def pct(v):
        return "—" if v is None else f"{v:.2f} %"

    out = {}
    for r in train.reproduction_rows(assets):
        diff = r["difference (points)"]
        out[r["model"]] = {
            _("network"): _(r["what"]),
            _("parameters, reported (Keras)"): num(r["reported params (Keras)"]),
            _("parameters, ours (Keras / PyTorch)"):
                f"{num(r['our params (Keras)'])} / {num(r['our params (PyTorch)'])}",
            _("test accuracy, reported"): pct(r["reported test acc. %"]),
            _("test accuracy, ours"): pct(r["our test acc. %"]) + (
                "" if diff is None else _(" ({diff} points)").format(diff=f"{diff:+.2f}")),
            _("our recipe"): _recipe(r["model"], assets) or _("not trained yet"),
            _("reported by"): _(r["reported by"]),
        }
    return out


def default_run(device_type: str) -> tuple[int, int]:
    """(epochs, training images) the Train page starts with: the notes' full recipe on a GPU; on
    a CPU a run that finishes in well under a minute (2 epochs over 3,000 images: 86 batches)."""
    return (train.FULL_RECIPE_EPOCHS, train.FULL_RECIPE_IMAGES) if device_type != "cpu" else (2, 3_000)


def history_long(history: list[dict]) -> list[dict]:
    """History rows in long form for a chart: epoch, metric, split, value (accuracy in %)."""
    out = []
    for row in history:
        for metric in ("accuracy", "loss"):
            for split, key in ((_("training"), f"train_{metric}"),
                               (_("validation"), f"val_{metric}")):
                out.append({"epoch": row["epoch"], "metric": metric, "split": split,
                            "value": row[key]})
    return out


def session_entry(result: "train.TrainResult") -> dict:
    """What the Train page keeps in ``st.session_state["trained_models"][name]``."""
    return {"state_dict": result.state_dict(), "card": dict(result.card)}


def canvas_to_image(rgba: np.ndarray | None):
    """A drawing canvas's H×W×4 RGBA array -> RGB PIL image on white, or None when it is blank."""
    if rgba is None:
        return None
    a = np.asarray(rgba, dtype=np.float32)
    if a.ndim != 3 or a.shape[2] < 3:
        return None
    rgb = a[..., :3]
    alpha = a[..., 3:4] / 255.0 if a.shape[2] == 4 else np.ones_like(rgb[..., :1])
    out = rgb * alpha + 255.0 * (1.0 - alpha)  # transparent pixels are paper
    if (out.min(axis=2) > 200).all():  # nothing drawn (or only faint marks)
        return None
    return Image.fromarray(out.clip(0, 255).astype(np.uint8), "RGB")


def digit_preview(image) -> np.ndarray:
    """The 28×28 uint8 digit (white on black) the MNIST models see after preprocessing."""
    x = mnist_preprocess(image, size=28)[0, 0] * MNIST_STD + MNIST_MEAN
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()


def digit_rows(image, models: list) -> list[dict]:
    """Each model's reading of one digit image: top class, its probability, the runner-up.

    ``models`` are ``explorer.weights.LoadedModel`` objects (committed or session-trained);
    each applies its own preprocessing (28×28, or padded to 32×32 for LeNet-5).
    """
    rows = []
    for loaded in models:
        p = predict(loaded, image, topk=2, device="cpu")
        if loaded.source == "trained":  # the committed checkpoint: say how good it is
            acc = (loaded.info.get("card") or {}).get("test_accuracy")
            label = (_("committed ({accuracy} % on test)").format(accuracy=f"{acc:.2f}")
                     if acc is not None else _("committed"))
        else:
            label = loaded.label
        rows.append({
            "model": loaded.name,
            "weights": label,
            "reads": p.names[0],
            "probability": round(p.probabilities[0], 4),
            "runner-up": f"{p.names[1]} ({p.probabilities[1]:.1%})",
        })
    return rows


def progress_text(job: "train.Trainer", p: float, full: float | None) -> str:
    """The progress bar's line during a run: epoch, share done, and the full recipe's time
    at this run's speed once it is known."""
    text = _("Training {model}: epoch {epoch}/{epochs}, {done} of the run").format(
        model=job.name, epoch=len(job.history) + 1, epochs=job.epochs, done=f"{p:.0%}")
    if full is not None:
        text += " · " + _("the full recipe would take about {minutes} min at this "
                          "speed").format(minutes=f"{full / 60:.1f}")
    return text


# --------------------------------------------------------------------------------- widgets
def model_label(name: str) -> str:
    """A trainable model with what the source calls it (the model select box)."""
    return f"{name} — {_(train.SEED_REPORTED[name]['label'])}"


def curves(history: list[dict]) -> None:
    """Accuracy and loss per epoch, training beside validation (in the container keyed
    ``train_curves``: the page's other charts are the training dynamics')."""
    if not history:
        st.caption(_("The curves appear after the first epoch."))
        return
    data = pd.DataFrame(history_long(history))
    cols = st.container(key="train_curves").columns(2)
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


def reproduction() -> None:
    """The source's figures beside ours, then each committed card's notes."""
    st.table(pd.DataFrame(reproduction_table()))
    for name in train.TRAINABLE_MODELS:
        notes = (train.load_card(name) or {}).get("notes")
        if notes:
            st.caption(_("**{name}:** {notes}").format(name=name, notes=_(notes)))  # notes:
            # extracted from assets/*.json


def start() -> None:
    """The Train button: ask the next script run to start a run with the chosen settings."""
    state["train_request"] = {"name": state["train_model"], "epochs": state["train_epochs"],
                              "subset": state["train_subset"], **robust_train.request()}
    state["train_stop"] = False


def stop() -> None:
    """The Stop button: the run ends at the next batch, and what it learnt is kept."""
    state["train_stop"] = True


def start_requested_run() -> None:
    """After a click on Train: load MNIST (downloading it if need be) and set up the run."""
    request = state.pop("train_request", None)
    if request is None:
        return
    root, download = mnist_root()
    subset = request["subset"] if request["subset"] < 60_000 else None
    try:
        with st.spinner(_("Loading MNIST…") if not download else _("Downloading MNIST (11 MB)…")):
            state["train_job"] = train.Trainer(request["name"], request["epochs"], root,
                                               subset=subset, download=download,
                                               history=train_dynamics.new_run_dir(),
                                               perturb=robust_train.perturb_for(request))
    except MnistNotFoundError as exc:
        st.error(f"{exc}")
    except (OSError, RuntimeError) as exc:  # a failed download
        st.error(_("Could not get MNIST ({error}). Connect to the internet, or set "
                   "CNN_EXPLORER_MNIST to a folder that holds MNIST/raw/.").format(error=exc))


def estimate_caption() -> None:
    """The full recipe's duration at the last run's speed, once a run has measured it."""
    estimate = state.get("train_estimate")
    if estimate:
        st.caption(_("At the speed of the last run, the full recipe (60,000 images × 5 epochs) "
                     "would take about {minutes} minutes on {device}.").format(
            minutes=f"{estimate / 60:.1f}", device=state.get("train_estimate_device", "")))


def train_step(job: "train.Trainer") -> None:
    """One script run of a training run: the progress and curves, then either the end (Stop
    or the last epoch: test, keep the model for the session) or one more epoch; reruns."""
    progress = st.progress(job.progress, text=_("Training {model}: epoch {epoch}/{epochs}").format(
        model=job.name, epoch=min(len(job.history) + 1, job.epochs), epochs=job.epochs))
    curves(job.history)
    if state.get("train_stop") or job.done:
        if not job.done:
            job.stop()
        with st.spinner(_("Testing on the 10,000 MNIST test images…")):
            result = job.finish()
        state[TRAINED_KEY][job.name] = session_entry(result)
        state["train_last"] = result.card
        state["train_job"] = None
        state["train_stop"] = False
        st.rerun()  # redraw with the controls enabled again
    shown = [-1]
    started, first = time.perf_counter(), job.batches_done

    def on_batch(p: float) -> None:
        full = train.full_recipe_seconds(time.perf_counter() - started, job.batches_done - first)
        if full is not None:  # the full recipe's duration, from this run's own speed
            state["train_estimate"] = full
            state["train_estimate_device"] = job.device.type
        # Every call into Streamlit is also where a click on Stop interrupts this run; the
        # next run resumes (or finishes) the same Trainer, so no work is lost.
        if int(p * 200) != shown[0]:
            shown[0] = int(p * 200)
            progress.progress(p, text=progress_text(job, p, full))

    job.run_epoch(on_batch=on_batch, should_stop=lambda: state.get("train_stop", False))
    st.rerun()  # one epoch per script run: the curves redraw, then the next epoch starts


def last_result() -> None:
    """What the last finished run reached, beside the source's figure, and its curves."""
    card = state.get("train_last")
    if card is None:
        return
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
    curves(card["history"])


def draw_digit() -> Image.Image | None:
    """A drawing canvas (or, where the component does not load, the photo input)."""
    try:
        from streamlit_drawable_canvas import st_canvas
    except Exception as exc:  # the component does not load with this Streamlit
        st.info(_("The drawing canvas is unavailable here ({error}); upload a photo of a "
                  "digit instead.").format(error=type(exc).__name__))
        return photo_digit()
    # Room for the canvas's floating toolbar, which sits above the drawing area.
    st.caption(_("Draw one digit, large, with the mouse or a finger. The bin icon clears it."))
    st.container(height=30, border=False)
    result = st_canvas(stroke_width=18, stroke_color="#000000", background_color="#FFFFFF",
                       height=240, width=240, drawing_mode="freedraw", return_image_data=True,
                       key="train_canvas")
    try:
        return canvas_to_image(result.image_data)
    except Exception:  # no drawing returned yet
        return None


def photo_digit() -> Image.Image | None:
    """A sample digit, or a photo of one."""
    got = image_input("train_digit", digits=True, label=_("Digit image"))
    return got[0] if got else None


def digit_models() -> list:
    """The committed checkpoints and this session's trained models, in the models' order."""
    models = []
    for name in train.TRAINABLE_MODELS:
        try:
            models.append(get_model(name, "trained"))
        except weights.WeightsError:
            pass
        entry = state[TRAINED_KEY].get(name)
        if entry is not None:
            acc = entry["card"].get("test_accuracy")
            label = (_("this session ({accuracy} % on test)").format(accuracy=f"{acc:.2f}")
                     if acc is not None else _("this session"))
            models.append(weights.wrap_model(
                name, train.model_from_state_dict(name, entry["state_dict"]), label=label))
    return models


def digit_table(image, models: list) -> None:
    """Each model's reading of ``image`` as a table (in the container keyed ``train_digit``)."""
    rows = pd.DataFrame(digit_rows(image, models))
    st.container(key="train_digit").dataframe(
        rows, hide_index=True, width="stretch",
        column_config=columns.config(rows, {
            "probability": st.column_config.ProgressColumn(
                format="%.2f", min_value=0.0, max_value=1.0)}))
