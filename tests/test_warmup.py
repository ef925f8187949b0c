"""The server's warm-up loads the default model once, into the cache the pages use."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CODE = r'''
import json, os, sys
os.environ.pop("OMP_WAIT_POLICY", None)
from explorer.ui import warmup
policy = os.environ.get("OMP_WAIT_POLICY")
heavy_before = sorted(m for m in warmup.HEAVY_MODULES if m in sys.modules)
from explorer import weights
loads = []
real = weights.load_model
weights.load_model = lambda *a, **k: loads.append(a) or real(*a, **k)
warmup.start(); warmup.start()  # once per process, however often it is asked
warmup.wait(spinner=False)
imported = warmup.imported()
warmup._thread.join(600)
from explorer.ui.models import get_model
loaded = get_model("efficientnet_lite0")  # what the Inference page asks for first
hooks = sum(len(m._forward_hooks) + len(m._backward_hooks) for m in loaded.model.modules())
grads = sum(p.grad is not None for p in loaded.model.parameters())
print(json.dumps({"policy": policy, "heavy_before": heavy_before, "imported": imported,
                  "done": warmup.done(), "loads": [list(a) for a in loads],
                  "source": loaded.source, "hooks": hooks, "grads": grads,
                  "training": loaded.model.training}))
'''


def test_warmup_loads_the_default_model_once_into_the_pages_cache():
    proc = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["heavy_before"] == []  # importing the module costs nothing
    assert out["policy"] == "PASSIVE"
    assert out["imported"] and out["done"]
    # Loaded by the warm-up thread, then found in the cache by the page: one load in all.
    assert out["loads"] == [["efficientnet_lite0", "package"]]
    assert out["source"] == "package"
    # Its first prediction and maps left the shared model as it was.
    assert out["hooks"] == 0 and out["grads"] == 0 and out["training"] is False
