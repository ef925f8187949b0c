"""The Channels page's layer grid (OpenAI Microscope's first screen): every channel of a layer as
its visualisation beside its top images, read from an atlas on disk (``explorer.channels.atlas``)
or computed in the background with progress."""
from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import replace
from pathlib import Path

import streamlit as st

from explorer import channels as ch
from explorer.channels import atlas as atlases, jobs
from explorer.channels.featurevis import step_seconds
from explorer.i18n import N_, _
from explorer.ui.channels import data_uri, job_error, job_progress, set_channel
from explorer.ui.channels_images import image_set_picker

PER_PAGE = 24
ORDERS = {"index": N_("Channel number"), "strength": N_("Strongest first")}


def _cli_atlas() -> list[Path]:
    """``streamlit run app.py -- --atlas DIR`` adds a folder of atlases."""
    argv = sys.argv[1:]
    if "--atlas" in argv and argv.index("--atlas") + 1 < len(argv):
        return [Path(argv[argv.index("--atlas") + 1])]
    return []


def all_atlases(loaded, layer: ch.ChannelLayer) -> list[ch.Atlas]:
    return ch.find_atlases(loaded.name, layer.path, ch.top.weights_key(loaded),
                           roots=ch.atlas_roots(_cli_atlas()))


def current_atlas(loaded, layer: ch.ChannelLayer, key: str = "channels_grid") -> ch.Atlas | None:
    """The atlas of this layer the user looks at (the most complete one unless another was
    picked in the grid)."""
    found = all_atlases(loaded, layer)
    chosen = st.session_state.get(f"{key}_path")
    for a in found:
        if str(a.path) == chosen:
            return a
    return found[0] if found else None


def _job_prefix(loaded, layer: str) -> str:
    return f"atlas|{loaded.name}|{ch.top.weights_key(loaded)}|{layer}|"


@st.cache_data(max_entries=1024, show_spinner=False)
def _card(stamp: str, channel: int, _atlas) -> tuple[str, float] | None:
    """The card as a data URI, and the channel's strongest top-image peak."""
    picture = atlases.card(_atlas, channel)
    if picture is None:
        return None
    return data_uri(picture, "JPEG"), _atlas.scale(_atlas.channel(channel))


@st.cache_data(max_entries=64, show_spinner=False)
def _step_seconds(name: str, source: str, layer: str, settings: str, _loaded, _settings):
    return step_seconds(_loaded, layer, _settings)


def _describe(a: ch.Atlas) -> str:
    m = a.manifest
    vis = m["settings"]["vis"]
    return _("{label}: {n} images · {done} of {total} channels · {preset}, {steps} steps").format(
        label=m["images"]["label"], n=m["images"]["count"], done=len(m["done"]),
        total=m["layer_channels"], preset=vis["preset"], steps=vis["steps"])


def _grid(loaded, a: ch.Atlas, key: str) -> None:
    m = a.manifest
    channels = a.channels
    c1, c2 = st.columns([2, 3])
    order = c1.radio(_("Order"), list(ORDERS), key=f"{key}_order", horizontal=True,
                     format_func=lambda o: _(ORDERS[o]))
    if order == "strength":
        top = a.top()
        if top is not None:
            rank = {int(c): n for n, c in enumerate(top.channel_ranking())}
            channels = sorted(channels, key=lambda c: rank.get(c, c))
    pages = max(1, -(-len(channels) // PER_PAGE))
    page = 0
    if pages > 1:
        page = c2.selectbox(_("Channels"), range(pages), key=f"{key}_page",
                            format_func=lambda p: _("{first}–{last} of {n}").format(
                                first=p * PER_PAGE + 1,
                                last=min(len(channels), (p + 1) * PER_PAGE), n=len(channels)))
        page = min(int(page), pages - 1)
    shown = channels[page * PER_PAGE:(page + 1) * PER_PAGE]
    cols_per_row = 4
    for start in range(0, len(shown), cols_per_row):
        cols = st.columns(cols_per_row)
        for col, c in zip(cols, shown[start:start + cols_per_row]):
            got = _card(a.stamp, c, a)
            if got is None:
                continue
            with col:
                st.image(got[0], caption=_("#{c} · top peak {peak:.3g}").format(c=c,
                                                                                peak=got[1]))
                st.button(_("Open #{c}").format(c=c), key=f"{key}_open_{c}",
                          on_click=set_channel, args=("channels_channel", c, "channel"))
    seconds = m.get("seconds", 0)
    st.caption(_("Left of each card: the channel's visualisation; right: the parts of its top "
                 "four images it fires in. Built in {minutes:.1f} min over {n} images "
                 "({label}); kept in {path}.").format(minutes=seconds / 60,
                                                       n=m["images"]["count"],
                                                       label=m["images"]["label"], path=a.path))
    if m.get("random"):
        st.caption(_(":material/warning: random weights — this shows the untrained network, not "
                     "learned features"))


def _build_form(loaded, layer: ch.ChannelLayer, key: str, existing: bool) -> None:
    image_set = image_set_picker(loaded, None, key=f"{key}_set")
    if image_set is None or isinstance(image_set, str):
        return
    s = ch.settings_for(loaded.name)
    c1, c2 = st.columns(2)
    count = c1.number_input(_("Channels (the first n)"), 1, layer.channels,
                            min(layer.channels, 48), key=f"{key}_count")
    steps = c2.number_input(_("Steps per visualisation"), 8, 2048, s.steps, step=32,
                            key=f"{key}_steps_{loaded.name}")
    vis = replace(s, steps=int(steps))
    settings = ch.AtlasSettings(vis=vis)
    per_step = _step_seconds(loaded.name, loaded.source, layer.path, repr(vis), loaded, vis)
    estimate = per_step * (int(count) * vis.steps + len(image_set) / 3)
    st.caption(_("One pass over the {n} images, then {count} visualisations of {steps} steps, "
                 "in the background: about {minutes:.0f} min here (one step takes {ms:.0f} ms). "
                 "The page stays usable; the grid fills in as channels are done, and is kept on "
                 "disk for every later visit. A teacher can prepare it once with "
                 "`python -m explorer.channels atlas`.").format(
                     n=len(image_set), count=int(count), steps=vis.steps,
                     minutes=max(1.0, estimate / 60), ms=per_step * 1000))
    digest = hashlib.sha1(json.dumps([image_set.fingerprint, settings.to_dict(), int(count)],
                                     default=str).encode()).hexdigest()[:12]
    job_key = _job_prefix(loaded, layer.path) + digest

    def work(job):
        return ch.build_atlas(loaded, layer.path, image_set, settings=settings,
                              channels=list(range(int(count))),
                              progress=lambda d, t, stage: job.report(d, t, stage)).path

    label = _("Complete or extend the layer grid") if existing else _("Compute the layer grid")
    if st.button(label, key=f"{key}_go", type="primary"):
        jobs.start(job_key, work)
        st.rerun()
    job_error(jobs.get(job_key))


def grid_view(loaded, layer: ch.ChannelLayer, key: str = "channels_grid") -> None:
    found = all_atlases(loaded, layer)
    running = [j for j in jobs.running() if j.key.startswith(_job_prefix(loaded, layer.path))]
    if running:
        st.markdown("**" + _("Computing the layer grid of {layer}").format(layer=layer.path)
                    + "**")
        job_progress(running[0], f"{key}_job", watch=lambda: tuple(
            (str(a.path), len(a.manifest["done"])) for a in all_atlases(loaded, layer)))
    if found:
        paths = [str(a.path) for a in found]
        if st.session_state.get(f"{key}_path") not in paths:
            st.session_state[f"{key}_path"] = paths[0]
        if len(found) > 1:
            by_path = {str(a.path): a for a in found}
            st.selectbox(_("Layer grid"), paths, key=f"{key}_path",
                         format_func=lambda p: _describe(by_path[p]))
        a = next(a for a in found if str(a.path) == st.session_state[f"{key}_path"])
        st.caption(_describe(a))
        _grid(loaded, a, key)
        if not running:
            with st.expander(_("Compute another layer grid or the remaining channels")):
                _build_form(loaded, layer, key, existing=True)
    elif not running:
        st.info(_("No grid of {layer} yet: every channel as its visualisation beside the parts "
                  "of the images it fires in most, computed once and kept.").format(
                      layer=layer.path), icon=":material/grid_view:")
        _build_form(loaded, layer, key, existing=False)
