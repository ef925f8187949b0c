"""python -m explorer.predict: accuracy on real ImageNet photos, bad files reported per file."""
import io
import json
import pickle
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.data import data_root
from explorer import zoo
from explorer.predict import run

ROOT = Path(__file__).resolve().parents[1]
IMAGENET = data_root("imagenet-samples")
TENCH = IMAGENET / "n01440764_tench.JPEG"


def _run(path, **options):
    """``python -m explorer.predict PATH --flag value ...`` in-process: the flags as keywords."""
    out, err = io.StringIO(), io.StringIO()
    code = run(path, out=out, err=err, **options)
    return code, out.getvalue(), err.getvalue()


def test_efficientnet_lite0_top1_on_the_imagenet_samples():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # faster than 2 contending threads on this shared machine
    try:
        code, out, _ = _run(IMAGENET, model="efficientnet_lite0", as_json=True)
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    summary = json.loads(out)["summary"]
    assert summary["labelled"] == 100 and summary["errors"] == 0
    # data/README.md: 89 % top-1 and 99 % top-5 with mean = std = 0.5.
    assert summary["top1"] >= 0.85
    assert summary["top5"] >= 0.97


def _png_chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _bomb(side=20_000):
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(b"\x00" * (side + 1)) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("images")
    shutil.copy(TENCH, d / "tench.JPEG")
    (d / "notes.jpg").write_text("this is not an image\n" * 10)
    (d / "half.jpg").write_bytes(TENCH.read_bytes()[:20_000])
    (d / "empty.jpg").write_bytes(b"")
    (d / "bomb.png").write_bytes(_bomb())
    frames = [Image.open(TENCH).convert("RGB")] + [Image.new("RGB", (500, 375), "blue")]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:], duration=100)
    (d / "labels.csv").write_text("file,class_index\ntench.JPEG,0\nanim.gif,0\nnotes.jpg,0\n")
    return d


def test_bad_files_are_reported_one_by_one(folder):
    code, out, err = _run(folder, model="efficientnet_lite0", topk=3, as_json=True)
    assert code == 0, err
    doc = json.loads(out)
    errors = {e["file"]: e["error"] for e in doc["errors"]}
    assert set(errors) == {"notes.jpg", "half.jpg", "empty.jpg", "bomb.png"}
    assert "text file" in errors["notes.jpg"] and "truncated" in errors["half.jpg"]
    assert "empty" in errors["empty.jpg"] and "too large" in errors["bomb.png"]
    results = {r["file"]: r for r in doc["results"]}
    assert set(results) == {"tench.JPEG", "anim.gif"}
    assert results["anim.gif"]["top"][0]["name"] == "tench"  # the first frame
    assert len(results["tench.JPEG"]["top"]) == 3
    # Only readable labelled files count: both right.
    assert doc["summary"]["labelled"] == 2 and doc["summary"]["top1"] == 1.0


def test_text_output_and_explain(folder, tmp_path):
    out_dir = tmp_path / "maps"
    code, out, _ = _run(folder / "tench.JPEG", model="efficientnet_lite0",
                        explain="gradcam", out_dir=out_dir)
    assert code == 0
    assert out.splitlines()[1].startswith("tench.JPEG: tench ")
    png, npy = out_dir / "tench_gradcam.png", out_dir / "tench_gradcam.npy"
    assert Image.open(png).size == (224, 224)
    assert np.load(npy).shape == (224, 224)


def test_usage_errors(tmp_path, folder):
    assert _run(folder, model="resnet9000")[0] == 2
    evil = tmp_path / "evil.pt"
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (Path.touch, (marker,))

    evil.write_bytes(pickle.dumps({"x": Evil()}))
    code, _, err = _run(folder, model="mnist_plain", weights=str(evil))
    assert code == 2 and "Refused" in err and not marker.exists()
    code, _, err = _run(folder, model="efficientnet_lite0", explain="lime", out_dir=tmp_path)
    assert code == 2 and "unknown method" in err
    only_bad = tmp_path / "bad"
    only_bad.mkdir()
    (only_bad / "x.jpg").write_bytes(b"")
    assert _run(only_bad, model="efficientnet_lite0")[0] == 1


def test_runs_as_a_module():
    proc = subprocess.run([sys.executable, "-m", "explorer.predict", str(TENCH), "--model",
                           "mnist_plain", "--weights", "random", "--json"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["summary"]["weights"] == "random" and len(doc["results"][0]["top"]) == 5
