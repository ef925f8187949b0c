"""The Channels page's top images: image sets, the layer's pass over one in the background, and the
panel that shows a channel's top images, each with the channel's map over the photo and the
crop it fires in, with what could mislead (maxima on the border, ties)."""
from __future__ import annotations

import sys
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st
from PIL import Image

from explorer import channels as ch
from explorer.channels import jobs
from explorer.data import images
from explorer.i18n import N_, _, join
from explorer.ui.channels import data_uri, job_error, job_progress, random_note

SETS = {"samples": N_("Bundled samples"), "pool": N_("ImageNet pool (600 photos)"),
        "mnist": N_("MNIST test set"), "uploads": N_("My uploads"),
        "folder": N_("Folder from the command line"), "atlas": N_("The layer grid's images")}
MNIST_SET_SIZE = 2000  # test digits offered as a set: a pass takes seconds on a CPU


# --------------------------------------------------------------------------------------------
# Image sets


def _cli_folder() -> Path | None:
    """``streamlit run app.py -- --images DIR`` offers that folder as an image set."""
    argv = sys.argv[1:]
    if "--images" in argv and argv.index("--images") + 1 < len(argv):
        return Path(argv[argv.index("--images") + 1])
    return None


@st.cache_resource(max_entries=4, show_spinner=False)
def _mnist_set(n: int):
    from explorer import data
    from explorer.data import mnist

    root = data.find("mnist")
    if root is None:
        return None
    x, y = mnist.load_mnist(root, train=False)
    labels = y[:n].tolist()
    return ch.ImageSet.from_arrays(_("MNIST test set"), "mnist-test", np.asarray(x[:n]),
                                   [f"test #{i} ({d})" for i, d in enumerate(labels)])


@st.cache_resource(max_entries=8, show_spinner=False)
def _folder_set(path: str, label: str):
    return ch.ImageSet.from_folder(path, label)


def _pool_folder() -> Path | None:
    from explorer import data

    return data.find("imagenet-pool")


def _fingerprints(options: list[str], digits: bool) -> set[str]:
    """The fingerprints of the sets on offer that need no work to name."""
    out = set()
    for o in options:
        if o == "samples":
            out.add(_samples(digits).fingerprint)
        elif o == "mnist":
            out.add(f"arrays:mnist-test:{MNIST_SET_SIZE}")
        elif o == "pool":
            out.add(_folder_set(str(_pool_folder()), _("ImageNet pool")).fingerprint)
    return out


def _samples(digits: bool) -> ch.ImageSet:
    paths = list(images.sample_images("digit" if digits else "photo").values())
    return ch.ImageSet.from_paths(_("Bundled samples"), paths)


def image_set_picker(loaded, atlas=None, key: str = "channels_set"):
    """The image set to rank, or ``"atlas"`` for the layer grid's own images (offered when a
    grid of this layer was built over a set that is not on offer here, e.g. a teacher's
    folder)."""
    digits = loaded.spec.dataset == "mnist"
    options = ["samples"]
    if digits:
        options.append("mnist")
    elif _pool_folder() is not None:
        options.append("pool")
    if _cli_folder() is not None:
        options.append("folder")
    options.append("uploads")
    if atlas is not None and atlas.manifest["images"]["fingerprint"] not in _fingerprints(
            options, digits):
        options.insert(0, "atlas")
    if st.session_state.get(key) not in options:
        st.session_state[key] = options[0] if options[0] == "atlas" else (
            options[1] if len(options) > 2 else options[0])

    def label(o):
        if o == "atlas":
            return _("{label} (the layer grid's {n} images)").format(
                label=atlas.manifest["images"]["label"], n=atlas.manifest["images"]["count"])
        return _(SETS[o])

    choice = st.radio(_("Image set"), options, key=key, horizontal=True, format_func=label)
    if choice == "atlas":
        return "atlas"
    if choice == "samples":
        return _samples(digits)
    if choice == "mnist":
        got = _mnist_set(MNIST_SET_SIZE)
        if got is None:
            st.warning(_("The MNIST test set is not on this machine; using the bundled digits."))
            return _samples(True)
        return got
    if choice == "pool":
        return _folder_set(str(_pool_folder()), _("ImageNet pool"))
    if choice == "folder":
        try:
            return _folder_set(str(_cli_folder()), str(_cli_folder()))
        except FileNotFoundError as exc:
            st.error(_("The folder given with --images cannot be used: {error}").format(error=exc))
            return None
    files = st.file_uploader(_("Images for the set (many at once)"),
                             type=sorted(s.lstrip(".") for s in images.IMAGE_SUFFIXES),
                             accept_multiple_files=True, key=f"{key}_files")
    if not files:
        st.caption(_("No files yet: drop some images above."))
        return None
    return ch.ImageSet.from_bytes(_("My uploads"), [(f.name, f.getvalue()) for f in files])


def image_source(loaded, layer: ch.ChannelLayer, atlas=None):
    """The image set picker, then (the layer's result, where its top images come from), or
    (None, None) while there is none yet."""
    image_set = image_set_picker(loaded, atlas)
    if isinstance(image_set, str):  # "atlas"
        result = atlas.top()
        if result is None:
            st.error(_("The layer grid in {path} is damaged: build it again.").format(
                path=atlas.path))
            return None, None
        return result, AtlasImages(atlas)
    if image_set is None:
        return None, None
    matched = atlas if atlas is not None and \
        atlas.manifest["images"]["fingerprint"] == image_set.fingerprint else None
    result = matched.top() if matched is not None else None
    if result is None:
        result = layer_result(loaded, layer, image_set)
    if result is None:
        return None, None
    return result, SetImages(loaded, layer.path, image_set, matched)


# --------------------------------------------------------------------------------------------
# The layer's pass over the set, in the background


def top_job_key(loaded, layer: str, image_set: ch.ImageSet) -> str:
    return f"top|{loaded.name}|{ch.top.weights_key(loaded)}|{layer}|{image_set.fingerprint}"


def layer_result(loaded, layer: ch.ChannelLayer, image_set: ch.ImageSet,
                 key: str = "channels_top") -> ch.LayerTop | None:
    """The layer's result from the disk cache or a finished job; else the button that starts
    the pass in the background, or its progress while it runs."""
    cached = ch.top.lookup(loaded, layer.path, image_set)
    if cached is not None:
        return cached
    job_key = top_job_key(loaded, layer.path, image_set)
    job = jobs.get(job_key)
    if job is not None and not job.running and job.error is None and job.result is not None:
        return job.result  # a cache folder that cannot be written
    if job is not None and job.running:
        job_progress(job, key)
        return None
    job_error(job)
    st.caption(_("One pass over the {n} images computes every channel of {layer} (and of the "
                 "layers beside it) at once, in the background; the result is kept on disk, "
                 "so other channels and those layers are then instant.").format(
                     n=len(image_set), layer=layer.path))
    batch = 16 if loaded.spec.dataset != "mnist" else 256

    def work(job):
        return ch.cached_layer_top(loaded, layer.path, image_set, batch=batch,
                                   progress=lambda d, t: job.report(d, t, "images"))[0]

    if st.button(_("Find the top images"), key=f"{key}_go", type="primary"):
        jobs.start(job_key, work)
        st.rerun()
    return None


# --------------------------------------------------------------------------------------------
# Top images with their maps


@st.cache_data(max_entries=1024, show_spinner=False)
def _view(fingerprint: str, index: int, preprocess_key: str, _image_set, _preprocess):
    return ch.network_view(_image_set.load(index), _preprocess)


@st.cache_data(max_entries=128, show_spinner=False)
def _placed(name: str, source: str, layer: str, fingerprint: str, channel: int,
            examples: tuple, _loaded, _image_set) -> list[ch.Placed]:
    items = [(i, _loaded.preprocess(_image_set.load(i))[0], channel, pos) for i, pos in examples]
    return ch.place(_loaded, layer, items)


class SetImages:
    """Top images drawn from an image set: maps and boxes computed here (cached)."""

    def __init__(self, loaded, layer: str, image_set: ch.ImageSet, atlas=None):
        self.loaded, self.layer, self.image_set, self.atlas = loaded, layer, image_set, atlas
        self.free = True  # any ranking can be drawn

    def view(self, index: int) -> Image.Image:
        return _view(self.image_set.fingerprint, index, repr(self.loaded.preprocess),
                     self.image_set, self.loaded.preprocess)

    def placed(self, channel: int, examples: list[ch.Example]) -> list[ch.Placed] | None:
        if self.atlas is not None:  # the layer grid has them already
            got = AtlasImages(self.atlas).placed(channel, examples)
            if got is not None:
                return got
        with st.spinner(_("Placing the maps…")):
            return _placed(self.loaded.name, self.loaded.source, self.layer,
                           self.image_set.fingerprint, channel,
                           tuple((e.index, e.pos) for e in examples), self.loaded,
                           self.image_set)


class AtlasImages:
    """Top images from a layer grid on disk: its k per channel, whatever the images' folder."""

    def __init__(self, atlas):
        self.atlas = atlas
        self.free = False

    def view(self, index: int) -> Image.Image | None:
        try:
            return self.atlas.view(index)
        except OSError:
            return None

    def placed(self, channel: int, examples: list[ch.Example]) -> list[ch.Placed] | None:
        entry = self.atlas.channel(channel)
        if entry is None:
            return None
        by_index = {p.index: p for p in entry.placed}
        got = [by_index.get(e.index) for e in examples]
        if any(p is None or p.pos != e.pos for p, e in zip(got, examples)):
            return None
        return got


def _tile(view: Image.Image, placed: ch.Placed, scale: float, show_map: bool) -> str:
    return data_uri(ch.example_tile(view, placed, scale, side=128, show_map=show_map), "JPEG")


def box_caption(kind: str, rf: tuple[int, int], input_hw, mass: float) -> str:
    if kind == "effective":
        return _("The theoretical receptive field of these units ({rf}×{rf} pixels) is larger "
                 "than the {size}×{size} image, so its crop would be the whole photo. Each crop "
                 "is instead the smallest square around the unit that holds {mass:.0%} of its "
                 "*effective* field (the unit's gradient with respect to the pixels of that "
                 "photo): the yellow box.").format(rf=rf[0], size=input_hw[0], mass=mass)
    return _("Each crop is the theoretical receptive field ({rf}×{rf} pixels) of the unit where "
             "the channel peaks (white box), clipped at the image border.").format(rf=rf[0])


def draw_tiles(tiles: list[tuple[str, str]], per_row: int = 3) -> None:
    for start in range(0, len(tiles), per_row):
        cols = st.columns(per_row)
        for col, (uri, caption) in zip(cols, tiles[start:start + per_row]):
            col.image(uri, caption=caption)


def notes(result: ch.LayerTop, channel: int, k: int, interior: bool) -> None:
    """What could mislead: maxima on the border, ties among the k shown."""
    share, chance = result.border_share(channel)
    text = _("{share:.0%} of the images have channel {c}'s maximum on the map's outermost ring, "
             "whose units see the zero padding; the ring is {chance:.0%} of the map.").format(
                 share=share, c=channel, chance=chance)
    if share > 1.5 * chance and share >= 0.1 and not interior:
        st.warning(text + " " + _("Some top images may be chosen for where, not what: try "
                                  "ranking by interior units."), icon=":material/border_outer:")
    else:
        st.caption(text)
    ties = result.ties(channel, k, interior=interior)
    if ties is not None:
        st.info(_("{count} images reach {value:.4g}: these {shown} are a sample (the channel "
                  "saturates, so their order among themselves means nothing).").format(
                      count=ties.count, value=ties.value, shown=ties.shown),
                icon=":material/drag_handle:")


def top_panel(loaded, channel: int, result: ch.LayerTop, source,
              key: str = "channels_top") -> None:
    c1, c2, c3 = st.columns([2, 2, 2])
    k = c1.slider(_("How many"), 3, 12, 6, key=f"{key}_k")
    show_map = c2.toggle(_("Activation map"), True, key=f"{key}_map",
                         help=_("The channel's feature map over each photo, upsampled as "
                                "Grad-CAM is drawn; full colour is the strongest peak shown."))
    can_interior = result.has_interior and source.free
    interior = c3.toggle(_("Interior units only"), False, key=f"{key}_interior",
                         disabled=not can_interior,
                         help=_("Rank by the largest unit off the map's outermost ring.") + (
                             "" if source.free else " " + _(
                                 "It needs the images themselves: pick one of the other image "
                                 "sets.")))
    interior = interior and can_interior
    if result.failed:
        st.warning(_("Skipped {n} file(s) that could not be read: {names}").format(
            n=len(result.failed), names=join(result.failed[:5])))
    notes(result, channel, k, interior)
    examples = result.ranked(channel, k, interior=interior)
    placed = source.placed(channel, examples)
    if placed is None:  # a layer grid without the images: it keeps its own top k
        entry = source.atlas.channel(channel)
        if entry is None:
            st.info(_("The layer grid has not reached channel {c} yet.").format(c=channel))
            return
        placed = entry.placed[:k]
        examples = [e for e in result.ranked(channel, len(placed))]
    views = [source.view(p.index) for p in placed]
    scale = max([p.value for p in placed] + [0.0])
    st.markdown("**" + _("Top {k}: the images that activate channel {c} most").format(
        k=len(placed), c=channel) + "**")
    draw_tiles([(_tile(v, p, scale, show_map), f"{p.value:.3g} · {e.name}")
                for v, p, e in zip(views, placed, examples) if v is not None])
    if placed:
        p = placed[0]
        st.caption(box_caption(p.kind, p.theoretical, result.input_hw, ch.EFFECTIVE_MASS) + " " +
                   _("Left of each: the channel's map over the photo as the network sees it."))
    random_note(loaded)
    with st.expander(_("Bottom {k} and the distribution").format(k=k)):
        if source.free:
            least = result.ranked(channel, k, least=True, interior=interior)
            cols = st.columns(min(len(least), 6) or 1)
            for n, e in enumerate(least):
                view = source.view(e.index)
                cols[n % len(cols)].image(data_uri(view.resize((96, 96)), "JPEG"),
                                          caption=f"{e.value:.3g} · {e.name}")
        values = result.distribution(channel, interior)
        df = pd.DataFrame({"peak": values})
        st.altair_chart(alt.Chart(df).mark_bar().encode(
            x=alt.X("peak:Q", bin=alt.Bin(maxbins=40), title=_("channel's peak activation")),
            y=alt.Y("count():Q", title=_("images"))).properties(
                height=160, title=_("Distribution over the {n} images").format(n=len(values))),
            width="stretch")
