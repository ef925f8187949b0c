"""Blocks: step through Inception, residual, dense, depthwise-separable and the other classic
blocks one operation at a time, with shapes, costs, real activations and the source code."""
import streamlit as st

from explorer.i18n import _
from explorer.ui import blocks as ui  # light: torch is imported after warmup.wait()
from explorer.ui import warmup
from explorer.ui.router import through_router

through_router()

st.title(_("Blocks"))
st.write(_("The building blocks of classic CNNs, one operation at a time: why a 1×1 "
           "convolution makes Inception affordable, why a shortcut lets ResNet go deep, why "
           "depthwise-separable convolutions are cheap. Every shape, parameter and MAC below "
           "comes from running the real block."))

top = st.columns([3, 2, 3])
with top[0]:
    kind = ui.kind_picker()
with top[1]:
    form = ui.form_picker()
warmup.wait()  # the title and the first controls are drawn: now what needs torch

real = None
with top[2]:
    if form == ui.FORMS[0]:
        real = ui.real_picker(kind)
        trace, identity = ui.real_trace(real)
    else:
        trace, identity = ui.standalone_trace(kind)
if trace is None:
    st.stop()

acts = source = None  # the activations for an image, and the weights they come from
if real is not None:
    trace, acts, source = ui.image_activations(real, trace)
else:
    st.caption(_("Standalone blocks have random weights and no image: choose “From a real "
                 "model” to see activations."))

current = ui.step_controls(len(trace.steps), identity)
step = trace.steps[current]

left, right = st.columns([3, 2])  # the diagram gets the room: its labels must stay readable
with left:
    ui.show_diagram(trace, current)
with right:
    ui.show_step(step, len(trace.steps))
    if acts is not None:
        ui.show_activations(step, acts[current], random_weights=source == "random")
if acts is not None:
    ui.show_branch_stats(trace, acts)

bottom_left, bottom_right = st.columns([5, 6])
with bottom_left:
    ui.show_costs(kind, trace)
with bottom_right:
    ui.show_source(trace)
ui.show_all_steps(trace)
