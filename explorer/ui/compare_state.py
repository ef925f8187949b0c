"""The Compare page's modes, their networks, widget keys and what a link restores.

Light on purpose (no torch, no model code): the page draws its first controls with it before
torch has loaded. Everything after that is in ``explorer.ui.compare``.
"""
from __future__ import annotations

import streamlit as st

from explorer.data import catalog  # catalog, not zoo: the controls draw before torch loads
from explorer.data.mnist import mnist_root
from explorer.i18n import N_
from explorer.ui import query

__all__ = ["DATASETS", "ALL_NETWORKS", "DEFAULT_NETWORKS", "NETS_KEY", "SCALING", "IMAGE_SETS",
           "MNIST_CKA_TOTAL", "key", "init_from_url", "mnist_test_root"]

DATASETS = {"imagenet": N_("ImageNet photos"), "mnist": N_("MNIST digits")}  # shown with _()
SCALING = {"channel": N_("Per channel"), "layer": N_("Per layer (shared)")}
IMAGE_SETS = {"samples": N_("Bundled samples"), "uploads": N_("My uploads"), "both": N_("Both")}
MNIST_CKA_TOTAL = 256  # digits for CKA when real MNIST test images can top the samples up
ALL_NETWORKS = {d: catalog.list_models(d) for d in DATASETS}
DEFAULT_NETWORKS = {"imagenet": ["vgg16", "resnet50", "efficientnet_lite0"],
                    "mnist": ["lenet5", "mnist_plain", "mnist_bn_dropout"]}
# Session-state keys per mode, so that switching keeps each mode's choices (the ImageNet ones
# keep their original names: links and tests use them).
NETS_KEY = {"imagenet": "compare_nets", "mnist": "compare_nets_mnist"}


def key(base: str, dataset: str) -> str:
    """A widget key per mode (the ImageNet mode keeps the original key)."""
    return base if dataset == "imagenet" else f"{base}_{dataset}"


def init_from_url() -> None:
    """Mode, networks and depth come from the URL on the first run, so a link reopens the
    view. A mode's networks are read when that mode is first shown (a link names one mode's)."""
    if "compare_dataset" not in st.session_state:
        st.session_state["compare_dataset"] = query.get_choice("data", DATASETS, "imagenet")
    dataset = st.session_state["compare_dataset"]
    nets_key, networks = NETS_KEY[dataset], ALL_NETWORKS[dataset]
    if nets_key not in st.session_state:
        st.session_state[nets_key] = query.get_list(
            "nets", networks, [n for n in DEFAULT_NETWORKS[dataset] if n in networks], 2, 4)
    if "compare_stride" not in st.session_state and "stride" in st.query_params:
        # Any power of two a link may name; the page moves it to the nearest stride offered.
        st.session_state["compare_stride"] = query.get_int("stride", 8, 1, 1024)


def mnist_test_root() -> str | None:
    """A complete local MNIST copy (``$CNN_EXPLORER_MNIST`` or the test data beside the
    project, ``../shared/data/mnist``), or None: it is not shipped to users, and nothing is
    downloaded here."""
    root, would_download = mnist_root()
    return None if would_download else str(root)
