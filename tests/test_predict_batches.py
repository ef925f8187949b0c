"""python -m explorer.predict on a folder: decoded in a DataLoader, classified in batches, with
the same per-file results, errors and order as one image per forward pass (issue 21).

The reference is the page's own one-image path (``explorer.inference.predict`` on each file's
preprocessed tensor), computed here. The command-line run is a real ``python -m`` process whose
environment lacks ``OMP_WAIT_POLICY``; a ``sitecustomize`` notes the policy at the moment torch is
imported, and its stderr must be empty (no "NumPy array is not writable" warning).
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import data, inference, predict, weights
from explorer.data import images
from explorer.data.mnist import load_mnist
from explorer.predict.batches import classify_files, loader_workers

ROOT = Path(__file__).resolve().parents[1]
N = 24  # MNIST test digits: several batches of 5, with bad files between them

SITECUSTOMIZE = r'''
import os, sys

class _AtTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and not os.path.exists(os.environ["POLICY_AT_TORCH"]):
            with open(os.environ["POLICY_AT_TORCH"], "w") as f:
                f.write(os.environ.get("OMP_WAIT_POLICY", "<unset>"))
        return None

sys.meta_path.insert(0, _AtTorch())
'''


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """MNIST test digits 0…N-1 as grey PNGs (as MNIST has them), one of them saved in RGB,
    a text file and an empty file among them."""
    d = tmp_path_factory.mktemp("digits")
    x, y = load_mnist(data.data_root("mnist"), train=False)
    for i, digit in enumerate(x[:N].numpy()):
        image = Image.fromarray(digit)
        (image.convert("RGB") if i == 3 else image).save(d / f"{i:03d}.png")
    (d / "007b.png").write_text("not a picture\n" * 5)
    (d / "015b.png").write_bytes(b"")
    (d / "labels.csv").write_text("file,class_index\n"
                                  + "".join(f"{i:03d}.png,{int(y[i])}\n" for i in range(N)))
    return d


def _one_by_one(folder: Path, model: str) -> dict[str, list[int] | str]:
    """Each file's top-5 class indices, one image per forward pass, or its error."""
    loaded = weights.load_model(model)
    out = {}
    for f in images.image_files(folder):
        try:
            x = loaded.preprocess(images.load_image(f))
        except images.ImageLoadError as exc:
            out[f.name] = str(exc)
            continue
        out[f.name] = inference.predict(loaded, x, topk=5, device="cpu").indices
    return out


@pytest.mark.parametrize("workers", [0, 1])
def test_batches_keep_each_file_its_result_and_its_place(folder, workers):
    loaded = weights.load_model("lenet5")
    files = images.image_files(folder)
    got = list(classify_files(loaded, files, topk=5, device="cpu", batch_size=5,
                              workers=workers))
    assert [c.file for c in got] == files  # file order, errors in their places
    want = _one_by_one(folder, "lenet5")
    for c in got:
        if c.error is not None:
            assert want[c.file.name] == c.error
            continue
        assert c.prediction.indices == want[c.file.name], c.file.name
        assert c.x.shape == (1, 1, 32, 32)  # what --explain is given: one image
        # Each probability as the one-image pass gives it (float sums in another order).
        single = inference.predict(loaded, c.x, topk=5, device="cpu")
        np.testing.assert_allclose(c.prediction.probabilities, single.probabilities,
                                   rtol=1e-4, atol=1e-6)
    assert sum(c.error is not None for c in got) == 2


def test_workers_only_where_there_is_more_than_one_batch():
    assert loader_workers(64, batch_size=64) == 0
    assert loader_workers(1000, batch_size=64) == min(2, len(os.sched_getaffinity(0)) - 1)


def test_one_forward_thread_per_idle_core(monkeypatch):
    import explorer.predict.batches as batches

    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(batches, "_busy", lambda: float(cores))  # every core taken
    assert batches.idle_cores() == 0 and batches.forward_threads() == 1
    monkeypatch.setattr(batches, "_busy", lambda: 0.0)  # a quiet machine: torch's own number
    assert batches.forward_threads() == min(torch.get_num_threads(), cores)
    # The CLI sets it for its run and gives the caller's setting back.
    before = torch.get_num_threads()
    monkeypatch.setattr(batches, "_busy", lambda: float(cores))
    seen = []
    monkeypatch.setattr(predict, "_run", lambda *a: seen.append(torch.get_num_threads()) or 0)
    assert predict.run(Path("."), model="lenet5") == 0
    assert seen == [1] and torch.get_num_threads() == before


def test_cli_batches_have_the_one_image_results_no_warning_and_passive_threads(folder, tmp_path):
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    marker = tmp_path / "policy"
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(PYTHONPATH=str(tmp_path), POLICY_AT_TORCH=str(marker))
    proc = subprocess.run(
        [sys.executable, "-m", "explorer.predict", str(folder), "--model", "lenet5", "--json",
         "--batch-size", "5", "--workers", "1", "--device", "cpu"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stderr == ""  # no warning of any kind on the terminal
    assert marker.read_text() == "PASSIVE"  # set before torch was imported
    doc = json.loads(proc.stdout)
    want = _one_by_one(folder, "lenet5")
    assert [e["file"] for e in doc["errors"]] == ["007b.png", "015b.png"]
    assert {e["file"]: e["error"] for e in doc["errors"]} == {
        k: v for k, v in want.items() if isinstance(v, str)}
    assert [r["file"] for r in doc["results"]] == [f"{i:03d}.png" for i in range(N)]
    assert {r["file"]: [t["index"] for t in r["top"]] for r in doc["results"]} == {
        k: v for k, v in want.items() if not isinstance(v, str)}
    labels = predict.read_labels(folder)
    right = sum(want[f][0] == c for f, c in labels.items())
    assert doc["summary"] == {"model": "lenet5", "weights": "trained", "label": doc["summary"]["label"],
                              "images": N, "errors": 2, "labelled": N, "top1": right / N,
                              "top5": sum(c in want[f] for f, c in labels.items()) / N}


def test_text_output_reports_bad_files_in_their_place(folder):
    out = io.StringIO()
    assert predict.run(folder, model="lenet5", batch_size=5, workers=0, device="cpu",
                       out=out) == 0
    lines = out.getvalue().splitlines()
    names = [line.split(":")[0] for line in lines[1:-1]]
    assert names == [f.name for f in images.image_files(folder)]
    assert lines[9].startswith("007b.png: ERROR ") and "text file" in lines[9]
    assert lines[-1].startswith(f"# {N} images classified, 2 unreadable")


def test_a_grey_mnist_digit_is_preprocessed_without_a_warning():
    """np.asarray of a PIL image is read-only; torch warns (once per process) when a tensor is
    made from one. A fresh process, warnings as errors: the MNIST-format path must copy."""
    code = ("from PIL import Image\n"
            "from explorer.data import images\n"
            "from explorer.weights import preprocess\n"
            "image = Image.open(images.sample_images('digit')['MNIST digit 7'])\n"
            "assert image.mode == 'L' and preprocess.mnist_format_digit(image) is not None\n"
            "print(preprocess.mnist_preprocess(image, 32).shape)\n")
    proc = subprocess.run([sys.executable, "-W", "error", "-c", code], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "torch.Size([1, 1, 32, 32])" and proc.stderr == ""
