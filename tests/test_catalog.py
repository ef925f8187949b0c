"""The committed zoo summary (assets/zoo_summary.json) equals a live analysis of the registry, and
reading it imports no torch."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from explorer import analysis, zoo

from explorer.data import catalog
from explorer.ui import charts

ROOT = Path(__file__).resolve().parents[1]
STALE = f"assets/zoo_summary.json is stale: regenerate it with `{catalog.REGENERATE}`"


def zoo_row(spec, a) -> dict:
    """How the Overview built a row from a live analysis before the committed summary."""
    t = charts.totals(a)
    return {
        "model": spec.name,
        "family": spec.family,
        "year": spec.year,
        "dataset": spec.dataset,
        "input": "×".join(str(v) for v in spec.input_size),
        "depth": t["depth"],
        "params": t["params_pytorch"],
        "params (Keras)": t["params"],
        "params (M)": t["params_pytorch"] / 1e6,
        "MACs": t["macs"],
        "GMACs": t["macs"] / 1e9,
        "receptive field": t["receptive_field"],
        "top-1 (%)": spec.published_top1,
    }


@pytest.fixture(scope="module")
def live() -> dict:
    return analysis.summary()


def test_committed_summary_equals_a_live_analysis(live):
    assert catalog.summary() == json.loads(json.dumps(live)), STALE


def test_overview_rows_equal_the_rows_computed_from_the_registry():
    want = [zoo_row(zoo.get_spec(n), analysis.analyze(n)) for n in zoo.list_models()]
    assert catalog.rows() == want, STALE


def test_names_per_dataset_match_the_registry():
    for dataset in (None, "imagenet", "mnist", "cifar10"):
        assert catalog.list_models(dataset) == zoo.list_models(dataset), STALE
    spec = zoo.get_spec("resnet50")
    assert catalog.info("resnet50")["family"] == spec.family == "ResNet"
    assert catalog.info("resnet50")["params"] == 25_557_032  # REFERENCE.md, torchvision


def test_summary_cli_writes_the_same_json(tmp_path, live):
    out = tmp_path / "summary.json"
    p = subprocess.run([sys.executable, "-m", "explorer.analysis", "--summary", str(out)], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    assert json.loads(out.read_text()) == json.loads(json.dumps(live))


def test_reading_the_catalog_imports_no_torch():
    code = ("import sys; from explorer.data import catalog; catalog.rows(); catalog.info('vgg16'); "
            "print(sorted(m for m in ('torch', 'torchvision', 'captum') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"
