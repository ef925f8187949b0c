"""The zoo's weights on this machine (explorer.weights.overview) and the teacher's command line,
`python -m explorer.weights list [--json]` / `fetch [--all | NAME ...]`, against a local server."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchvision

from explorer import weights, zoo

from explorer.weights import overview as wo
from tests.weights_server import dead_url, hub_file, patch_url, serve, write_weights

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    return tmp_path / "torch"


def test_list_json_in_a_subprocess_respects_torch_home(torch_home, tmp_path):
    env = dict(os.environ, TORCH_HOME=str(torch_home))
    out = subprocess.run([sys.executable, "-m", "explorer.weights", "list", "--json"], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = {r["name"]: r for r in json.loads(out.stdout)}
    assert list(rows) == zoo.list_models()
    # Sizes are torchvision's own metadata; files go to $TORCH_HOME/hub/checkpoints.
    r50 = rows["resnet50"]
    meta = torchvision.models.ResNet50_Weights.IMAGENET1K_V2.meta
    assert r50["size_mb"] == pytest.approx(meta["_file_size"])
    assert r50["file"] == str(torch_home / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth")
    assert (r50["origin"], r50["real_here"], r50["source_now"]) == ("torchvision", False, "random")
    assert (rows["lenet5"]["origin"], rows["lenet5"]["real_here"]) == ("trained", True)
    assert rows["efficientnet_lite0"]["origin"] == "package"
    assert (rows["nin"]["origin"], rows["nin"]["state"]) == ("none", "random only")


def test_list_table_names_every_model(torch_home, capsys):
    assert wo.print_list() == 0
    out = capsys.readouterr().out
    for name in zoo.list_models():
        assert f"\n{name} " in out
    assert "ResNet50_Weights.IMAGENET1K_V2" in out and "97.8 MB" in out


def test_fetch_downloads_checks_and_is_safe_to_rerun(torch_home, tmp_path, monkeypatch, capsys):
    www = tmp_path / "www"
    url, state = write_weights("resnet18", www)
    patch_url(monkeypatch, "resnet18", url)
    with serve(www) as base:
        monkeypatch.setenv("CNN_EXPLORER_WEIGHTS_URL", base)
        assert wo.fetch_models(["resnet18", "lenet5"]) == 0
        out, err = capsys.readouterr()
        assert f"resnet18: downloaded" in out and "lenet5: nothing to download" in out
        assert "%" in err  # torch.hub's progress bar for the file
        got = torch.load(hub_file(url), weights_only=True)
        assert torch.equal(got["fc.weight"], state["fc.weight"])
        # What the app then loads is exactly that file, through torchvision's own loader.
        assert wo.model_weights("resnet18").real_here
        loaded = weights.load_model("resnet18")
        assert loaded.source == "torchvision"
        assert torch.equal(loaded.model.state_dict()["fc.weight"], state["fc.weight"])
        # Re-running is a no-op.
        assert wo.fetch_models(["resnet18"]) == 0
        assert "resnet18: already cached" in capsys.readouterr().out


def test_a_corrupt_file_is_refused_by_its_hash(torch_home, tmp_path, monkeypatch, capsys):
    www = tmp_path / "www"
    url, _ = write_weights("resnet18", www)
    (www / "models" / Path(url).name).write_bytes(b"not these weights" * 1000)
    patch_url(monkeypatch, "resnet18", url)
    with serve(www) as base:
        monkeypatch.setenv("CNN_EXPLORER_WEIGHTS_URL", base)
        assert wo.fetch_models(["resnet18"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("resnet18: download of ") and "hash" in err[-1]
    assert not list(hub_file(url).parent.iterdir())  # nothing half-written left


def test_offline_fetch_fails_with_one_line_per_file(torch_home, monkeypatch, capsys):
    monkeypatch.setenv("CNN_EXPLORER_WEIGHTS_URL", dead_url())
    assert wo.fetch_models(["resnet18", "googlenet", "nosuchnet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3
    assert err[0].startswith("resnet18: cannot download ") and "no network" in err[0]
    assert err[1].startswith("googlenet: cannot download ") and "no network" in err[1]
    assert err[2].startswith("nosuchnet: unknown model")
    # --all covers every torchvision model, one line each.
    assert wo.fetch_models(None) == 1
    err = capsys.readouterr().err.strip().splitlines()
    expected = [n for n in zoo.list_models() if zoo.get_spec(n).tv_weights]
    assert [line.split(":")[0] for line in err] == expected


def test_fetch_needs_names_or_all():
    out = subprocess.run([sys.executable, "-m", "explorer.weights", "fetch"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 2
