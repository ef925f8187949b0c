"""Compare paints first: every control that needs no model is on the page before torch loads.

The page is run headless in a fresh interpreter with ``warmup.wait`` replaced by a recorder that
notes which heavy modules are loaded and stops the script there: what the tree holds at that
moment is what a user sees on a cold server while PyTorch is still starting (issue 21: the first
visit of Compare took 3.8–4.2 s to its controls).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

CODE = r'''
import json, sys
import streamlit as st
from streamlit.testing.v1 import AppTest
from explorer.ui import warmup

seen = {}
def wait(*args, **kwargs):
    seen["heavy"] = sorted(m for m in warmup.HEAVY_MODULES if m in sys.modules)
    st.stop()
warmup.wait = wait

at = AppTest.from_file(sys.argv[1], default_timeout=60)
at.query_params["data"] = sys.argv[2]
at.run()
kinds = ("radio", "multiselect", "selectbox", "slider", "select_slider", "toggle", "button")
keys = sorted(w.key for kind in kinds for w in at.get(kind) if w.key)
print(json.dumps({"heavy": seen.get("heavy"), "keys": keys,
                  "uploaders": len(at.get("file_uploader")),
                  "exception": [str(e.value) for e in at.exception],
                  "title": [t.value for t in at.title]}))
'''


@pytest.mark.parametrize("dataset, suffix", [("imagenet", ""), ("mnist", "_mnist")])
def test_every_control_but_depth_and_layers_is_drawn_before_torch(dataset, suffix):
    proc = subprocess.run([sys.executable, "-c", CODE, str(ROOT / "pages" / "compare.py"),
                           dataset], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["exception"] == [] and out["title"] == ["Compare networks"]
    assert out["heavy"] == []  # the page got to warmup.wait() without torch
    # Mode, networks, image; channels and colour scale; the whole CKA form and its button.
    light = {"compare_dataset", f"compare_nets{suffix}", f"compare{suffix}_mode",
             f"compare{suffix}_sample", "compare_channels", "compare_scaling",
             f"cka_a{suffix}", f"cka_b{suffix}", "cka_images", "cka_batch", "cka_debiased",
             "cka_run"}
    if dataset == "imagenet":
        light.add("cka_views")  # MNIST mode tops the digits up with real test images instead
    assert light <= set(out["keys"]), light - set(out["keys"])
    # What needs the model registry comes after: the depth control and the layer pickers.
    assert "compare_stride" not in out["keys"]
    assert not any(k.startswith("compare_layer_") for k in out["keys"])
