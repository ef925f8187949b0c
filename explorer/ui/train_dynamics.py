"""The Train page's "Training dynamics" section: a recorded history replayed with an epoch
slider (the committed models' histories in ``assets/history/``, or this session's run as it
trains): a clickable confusion matrix with its digits, the feature space forming, layer
statistics, and two seeds of one recipe compared with linear CKA.

Logic in ``explorer.train.history`` / ``dynamics`` / ``seeds``; the layer views are in
``explorer.ui.train_layers``, the two-seed comparison in ``explorer.ui.train_seeds``. Keys
``dyn_*`` in ``st.session_state``; a run started on the page records into
``state["train_history_dir"]``.
"""
from __future__ import annotations

import base64
import io
import shutil
import tempfile

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from explorer.data.mnist import MnistNotFoundError, load_mnist, mnist_root
from explorer.data.paths import ASSETS
from explorer.i18n import _, ngettext
from explorer.train import dynamics
from explorer.train.dynamics import History
from explorer.ui import train_layers, train_seeds

__all__ = ["SHIPPED", "SESSION", "new_run_dir", "recording_wanted", "section", "shipped_names"]

SHIPPED = ASSETS / "history"
SESSION = "session"  # the history source of a run started in this session
THUMBS = 60  # digits shown per confusion-matrix cell
state = st.session_state


# ------------------------------------------------------------------------- where histories are
def shipped_names() -> list[str]:
    """Models with a committed history (``assets/history/<model>/meta.json``)."""
    from explorer.train import TRAINABLE_MODELS

    return [n for n in TRAINABLE_MODELS if (SHIPPED / n / "meta.json").is_file()]


def recording_wanted() -> bool:
    """The “Record training dynamics” checkbox (on unless the user switched it off)."""
    return bool(state.get("train_dynamics", True))


def new_run_dir() -> str | None:
    """A fresh folder for the history of the run about to start (this session's previous one
    is removed), or None when the user switched recording off. The section switches to it."""
    if not recording_wanted():
        return None
    old = state.get("train_history_dir")
    if old:
        shutil.rmtree(old, ignore_errors=True)
    path = tempfile.mkdtemp(prefix="cnn-explorer-history-")
    state["train_history_dir"] = path
    state["dyn_source"] = SESSION
    state.pop("dyn_cell", None)
    return path


@st.cache_resource(max_entries=8, show_spinner=False)
def _shipped(name: str, stamp: float) -> History:
    return History(SHIPPED / name)


def _history(source: str) -> History | None:
    try:
        if source == SESSION:
            folder = state.get("train_history_dir")
            return History(folder) if folder else None
        return _shipped(source, (SHIPPED / source / "meta.json").stat().st_mtime)
    except (FileNotFoundError, KeyError, ValueError):
        return None


def _test_images() -> np.ndarray | None:
    """The 10,000 MNIST test digits for the thumbnails, or None while MNIST is not here (it
    may be downloaded later, by a training run)."""
    root, download = mnist_root()
    return None if download else _read_test_images(str(root))


@st.cache_resource(max_entries=1, show_spinner=False)
def _read_test_images(root: str) -> np.ndarray | None:
    try:
        return load_mnist(root, train=False)[0].numpy()
    except (MnistNotFoundError, OSError):
        return None


def _png_uri(digit: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(digit).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


@st.cache_resource(max_entries=2, show_spinner=False)
def _probe_uris(probe: tuple[int, ...]) -> list[str] | None:
    images = _test_images()
    return None if images is None else [_png_uri(images[i]) for i in probe]


def _summary(history: History) -> dict | None:
    """Maps and kNN accuracy per epoch (computed once per new epoch, kept in the folder)."""
    try:
        return dynamics.summarise(history)
    except KeyError:  # a compacted history whose summary is missing: nothing to draw
        return None


# ------------------------------------------------------------------------------------ section
def _source_label(source: str) -> str:
    if source == SESSION:
        return _("this session's run")
    history = _history(source)
    note = (history.meta.get("rerun_of") or {}) if history is not None else {}
    if note.get("same_test_predictions", True):
        return _("{model} (committed checkpoint)").format(model=source)
    return _("{model} (committed recipe, rerun)").format(model=source)


def _provenance(history: History) -> None:
    """Where a committed history comes from, beside the committed checkpoint."""
    note = history.meta.get("rerun_of")
    if not note:
        return
    if note["same_test_predictions"]:
        st.caption(_("Recorded by retraining the committed recipe with `--history`: the run ends "
                     "in the committed checkpoint's predictions on all 10,000 test digits "
                     "({accuracy} %).").format(accuracy=f"{note['rerun_test_accuracy']:.2f}"))
    else:
        st.caption(_("Recorded by retraining the committed recipe (seed {seed}) with `--history` "
                     "and today's training code: this run ends at {rerun} % on the test set. The "
                     "committed checkpoint ({committed} %) was trained with an earlier version of "
                     "the code; the two read {n} of the 10,000 test digits differently.").format(
            seed=history.meta.get("seed", 0), rerun=f"{note['rerun_test_accuracy']:.2f}",
            committed=f"{note['committed_test_accuracy']:.2f}",
            n=f"{note['different_test_predictions']:,}"))


def section() -> None:
    """The whole section: source and epoch, then the four views."""
    st.subheader(_("Training dynamics"))
    st.caption(_("What happens inside while it learns, epoch by epoch: which digits it confuses, "
                 "how the last hidden layer sorts the digits, what each layer's weights, "
                 "gradients and activations do. The committed models' histories are replayed "
                 "here without training; a run you start above fills the same views as it "
                 "trains."))
    sources = shipped_names()
    if state.get("train_history_dir") and _history(SESSION) is not None:
        sources.append(SESSION)
    if not sources:
        st.info(_("No training history here yet: train a model above (with “Record training "
                  "dynamics” on), or regenerate the committed ones with `python -m explorer.train "
                  "... --history assets/history/<model>`."))
        return
    if state.get("dyn_source") not in sources:
        state["dyn_source"] = sources[0]
    c1, c2 = st.columns([1, 2])
    source = c1.selectbox(_("History"), sources, format_func=_source_label, key="dyn_source")
    history = _history(source)
    epochs = history.epochs if history is not None else []
    if not epochs:
        st.info(_("The run has not recorded an epoch yet."))
        return
    with c2:
        epoch = _epoch_slider(source, epochs)
    _provenance(history)
    summary = _summary(history)
    _headline(history, epoch, summary)
    # Keyed containers: the browser tests (and a reader's bookmarks) find each view by its key.
    with st.container(key="dyn_confusion"):
        st.markdown("#### " + _("Confusion matrix"))
        _confusion(history, epoch)
    with st.container(key="dyn_features"):
        st.markdown("#### " + _("Feature space"))
        _feature_space(history, epoch, summary)
    with st.container(key="dyn_layers"):
        st.markdown("#### " + _("Layer statistics"))
        train_layers.layers(history, epoch)
    with st.container(key="dyn_seeds_view"):
        st.markdown("#### " + _("Two seeds, one recipe"))
        train_seeds.two_seeds(history.name)


def _epoch_slider(source: str, epochs: list[int]) -> int:
    """The epoch slider: a newly chosen history opens at its last epoch, and the slider follows
    a live run while it stands on the newest epoch."""
    last_seen = state.get("dyn_last_seen")
    if (state.get("dyn_epoch") not in epochs or last_seen is None or last_seen[0] != source
            or last_seen[1] == state.get("dyn_epoch")):
        state["dyn_epoch"] = epochs[-1]
    state["dyn_last_seen"] = (source, epochs[-1])
    if len(epochs) == 1:
        st.caption(_("Epoch {epoch}: the initial weights, before any training.").format(epoch=epochs[0])
                   if epochs[0] == 0 else _("Epoch {epoch}.").format(epoch=epochs[0]))
        return epochs[0]
    return st.select_slider(_("Epoch"), options=epochs, key="dyn_epoch",
                            help=_("Epoch 0 is the network before training (its random initial "
                                   "weights); epoch n is after n passes over the training images."))


def _headline(history: History, epoch: int, summary: dict | None) -> None:
    row = history.row(epoch)
    knn = _knn_by_epoch(summary)
    prev = max((e for e in history.epochs if e < epoch), default=None)
    cols = st.columns(4)
    acc = row.get("test_accuracy")
    cols[0].metric(_("test accuracy"), f"{acc:.2f} %",
                   None if prev is None else f"{acc - history.row(prev)['test_accuracy']:+.2f}")
    if epoch in knn:
        cols[1].metric(_("kNN accuracy in feature space"), f"{100 * knn[epoch]:.2f} %",
                       None if prev is None or prev not in knn else
                       f"{100 * (knn[epoch] - knn[prev]):+.2f}")
    cols[2].metric(_("test loss"), f"{row.get('test_loss', float('nan')):.4f}")
    if "train_loss" in row:
        cols[3].metric(_("training loss"), f"{row['train_loss']:.4f}")


def _knn_by_epoch(summary: dict | None) -> dict[int, float]:
    if summary is None:
        return {}
    return dict(zip(summary["epochs"].tolist(), summary["knn"].tolist()))


# ---------------------------------------------------------------------------------- confusion
def _confusion(history: History, epoch: int) -> None:
    cm = history.confusion(epoch)
    s = dynamics.confusion_summary(cm)
    rows = [{"true": t, "pred": p, "count": int(cm[t, p]),
             "share": float(cm[t, p] / max(cm[t].sum(), 1))} for t in range(10) for p in range(10)]
    df = pd.DataFrame(rows)
    sel = alt.selection_point(name="cell", fields=["true", "pred"], on="click")
    base = alt.Chart(df).encode(
        x=alt.X("pred:O", title=_("read as"), axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("true:O", title=_("true digit")))
    rect = base.mark_rect(cursor="pointer").encode(
        color=alt.condition(alt.datum.count == 0, alt.value("#ffffff"), alt.Color(
            "count:Q", scale=alt.Scale(type="symlog", scheme="blues"), legend=None)),
        stroke=alt.condition(sel, alt.value("#d62728"), alt.value("#ffffff"), empty=False),
        strokeWidth=alt.condition(sel, alt.value(3), alt.value(0.5), empty=False),
        tooltip=[alt.Tooltip("true:O", title=_("true digit")),
                 alt.Tooltip("pred:O", title=_("read as")),
                 alt.Tooltip("count:Q", title=_("digits")),
                 alt.Tooltip("share:Q", title=_("share of the true digit"), format=".1%")],
    ).add_params(sel)
    text = base.mark_text(fontSize=11).encode(
        text="count:Q",
        color=alt.condition(alt.datum.count > cm.max() / 8, alt.value("white"), alt.value("#333")))
    left, right = st.columns([2, 3])
    with left:
        event = st.altair_chart((rect + text).properties(height=380), on_select="rerun",
                                key="dyn_cm", selection_mode="cell", width="stretch")
        st.caption(_("{share} of the {total} test digits lie on the diagonal (read correctly).")
                   .format(share=f"{s['diagonal_share']:.2%}", total=f"{s['total']:,}")
                   + " " + (_("Most frequent mistake: {true} read as {pred}: {count} times.").format(
                       true=s["worst"][0], pred=s["worst"][1], count=s["worst"][2])
                       if s["worst"] else _("No mistakes.")))
    picked = ((event or {}).get("selection") or {}).get("cell") or []
    if picked:
        state["dyn_cell"] = (int(picked[0]["true"]), int(picked[0]["pred"]))
    cell = state.get("dyn_cell") or (s["worst"][:2] if s["worst"] else (0, 0))
    with right:
        _cell_digits(history, epoch, *cell, clicked="dyn_cell" in state)


def _cell_digits(history: History, epoch: int, true: int, pred: int, clicked: bool) -> None:
    cell = history.cell(epoch, true, pred)
    if true == pred:
        head = ngettext("**{true} read as {pred}**: {count} digit, least confident first.",
                        "**{true} read as {pred}**: {count} digits, least confident first.",
                        len(cell))
    else:
        head = ngettext("**{true} read as {pred}**: {count} digit, most confident mistake first.",
                        "**{true} read as {pred}**: {count} digits, most confident mistakes first.",
                        len(cell))
    st.markdown(head.format(true=true, pred=pred, count=f"{len(cell):,}"))
    if not clicked:
        st.caption(_("Click a cell of the matrix to see its digits; until then, the most frequent "
                     "mistake. The chosen cell stays as you move the epoch slider."))
    if not len(cell):
        st.caption(_("No test digit in this cell at this epoch."))
        return
    images = _test_images()
    if images is None:
        st.info(_("The digits need the MNIST test images, which are not on this machine "
                  "(see the data folder's README); the counts above do not."))
        return
    shown = cell.indices[:THUMBS]
    if len(cell) > THUMBS:
        st.caption(_("The first {shown} of {count}.").format(shown=THUMBS, count=f"{len(cell):,}"))
    with st.container(height=300, border=False):
        st.image([Image.fromarray(images[i]).resize((84, 84), Image.NEAREST) for i in shown],
                 output_format="PNG",
                 caption=[_("#{index}: {p}").format(index=int(i), p=f"{p:.0%}")
                          for i, p in zip(shown, cell.p_pred[:THUMBS])], width=84)
    st.caption(_("Under each digit: its index in the MNIST test set and the probability the "
                 "network gave to “{pred}”.").format(pred=pred))


# ------------------------------------------------------------------------------ feature space
def _feature_space(history: History, epoch: int, summary: dict | None) -> None:
    if summary is None or epoch not in summary["epochs"]:
        st.info(_("The feature map of this epoch is not computed yet."))
        return
    k = int(np.flatnonzero(summary["epochs"] == epoch)[0])
    emb = summary["embedding"][k]
    pred = history.epoch(epoch)["pred"][history.probe]
    labels = history.probe_labels
    df = pd.DataFrame({"x": emb[:, 0], "y": emb[:, 1], "digit": labels.astype(str),
                       "read": pred.astype(str), "index": history.probe,
                       "mistake": np.where(pred == labels, _("read correctly"), _("misread"))})
    tips = [alt.Tooltip("digit:N", title=_("true digit")), alt.Tooltip("read:N", title=_("read as")),
            alt.Tooltip("index:Q", title=_("test index"))]
    uris = _probe_uris(tuple(history.probe.tolist()))
    if uris is not None:
        df["image"] = uris
        tips = [alt.Tooltip("image:N", title="image")] + tips  # vega-tooltip draws "image" fields
    lim = float(np.abs(summary["embedding"]).max()) * 1.02
    scale = alt.Scale(domain=[-lim, lim])
    chart = alt.Chart(df).mark_point(filled=True, size=22, opacity=0.75).encode(
        x=alt.X("x:Q", scale=scale, axis=None), y=alt.Y("y:Q", scale=scale, axis=None),
        color=alt.Color("digit:N", title=_("true digit"), scale=alt.Scale(scheme="category10")),
        shape=alt.Shape("mistake:N", title=None,
                        scale=alt.Scale(domain=[_("read correctly"), _("misread")],
                                        range=["circle", "cross"])),
        tooltip=tips).properties(height=460)
    left, right = st.columns([3, 2])
    left.altair_chart(chart, width="stretch")
    left.caption(_("The penultimate layer's output for {n} fixed test digits (200 of each), "
                   "mapped to 2-D with t-SNE; each epoch's map starts from the previous one and is "
                   "turned onto it, so the points move rather than jump. Hover over a point to "
                   "see its digit; crosses are digits the network misreads at this epoch.")
                 .format(n=f"{len(labels):,}"))
    knn = _knn_by_epoch(summary)
    curve = pd.DataFrame(
        [{"epoch": e, "what": _("kNN in feature space"), "value": 100 * knn[e]} for e in knn]
        + [{"epoch": r["epoch"], "what": _("test accuracy"), "value": r["test_accuracy"]}
           for r in history.rows if r["epoch"] in knn])
    line = alt.Chart(curve).mark_line(point=True).encode(
        x=alt.X("epoch:O", title=_("epoch"), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("value:Q", title=_("accuracy (%)"), scale=alt.Scale(zero=False)),
        color=alt.Color("what:N", title=None, legend=alt.Legend(orient="bottom"),
                        scale=alt.Scale(domain=[_("kNN in feature space"), _("test accuracy")],
                                        range=["#d62728", "#1f77b4"])),
        tooltip=[alt.Tooltip("epoch:O", title=_("epoch")), alt.Tooltip("what:N", title=" "),
                 alt.Tooltip("value:Q", title=_("accuracy (%)"), format=".2f")])
    rule = alt.Chart(pd.DataFrame({"epoch": [epoch]})).mark_rule(color="#999").encode(
        x=alt.X("epoch:O", title=_("epoch")))  # titled too, or the axis shows "epoch" beside it
    right.altair_chart((line + rule).properties(height=300), width="stretch")
    right.caption(_("kNN accuracy: each of the {n} digits is given the majority label of its "
                    "{k} nearest neighbours in the penultimate layer's space (itself left out). "
                    "It says how well that space separates the digits, whatever the last "
                    "layer makes of it.").format(n=f"{len(labels):,}", k=dynamics.KNN_K))
