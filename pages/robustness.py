"""Robustness: where a network breaks: adversarial examples, corruptions, robust training."""
import streamlit as st

from explorer.i18n import _
from explorer.ui import warmup
from explorer.ui.router import through_router
from explorer.ui.robust_link import handed_over
from explorer.ui.widgets import image_input, model_picker

through_router()

st.title(_("Robustness"))
st.caption(_("Where does it break? A change of a few grey levels, chosen by the gradient, "
             "turns one class into another; a little blur or JPEG costs one network more than "
             "another; training on attacks buys robustness at a price. On your own image, any "
             "network."))

left, right = st.columns([1, 2], gap="large")
with left:
    name = model_picker("robust_model", default="efficientnet_lite0", query_param="model")
    warmup.wait()  # the title and the model picker are drawn: now what needs torch
    from explorer.ui import robustness as ui  # noqa: E402
    from explorer.ui.robustness_mnist import mnist_view  # noqa: E402

    loaded = ui.load(name, ui.weights_picker(name))
    handed = handed_over()  # the image of the Inference page's "Attack this image"
    picked = handed or image_input("robust_image", digits=ui.is_digits(name))

attack_tab, corrupt_tab, mnist_tab = st.tabs(
    [_("Attack"), _("Corruptions"), _("MNIST: ε-curves and robust training")])

usable = loaded is not None and picked is not None
if loaded is None:
    right.info(_("Choose weights that load (see the message on the left)."))
elif picked is None:
    right.info(_("Choose an image on the left: a sample, an upload or the camera."))
else:
    image, image_label = picked
    with right:
        usable = ui.check_image(loaded, image)
        if usable:
            right.image(image, caption=f"{image_label} ({image.width}×{image.height})",
                        width=320)

if usable:
    label = None if handed else ui.sample_class(loaded)  # a bundled sample's true class
    with attack_tab:
        params = ui.attack_controls(loaded)
        ui.attack_view(loaded, image, params)
        st.subheader(_("The smallest ε that flips it"))
        ui.min_eps_view(loaded, image, params)
        st.subheader(_("Where the damage grows"))
        ui.damage_view(loaded, image, params)
    with corrupt_tab:
        ui.corruption_view(loaded, image, label)
else:
    for tab in (attack_tab, corrupt_tab):
        tab.info(_("Attacks and corruptions need a network and an image that suits it (see "
                   "above)."))
with mnist_tab:
    mnist_view()
