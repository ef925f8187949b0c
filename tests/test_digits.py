"""Digit photos: real MNIST test digits rendered the way a user photographs or draws them (dark
ink on light paper, scaled up, off-centre) must still be read correctly by the trained models
after the inference engineer's ``mnist_preprocess``, on the page's path and through
``python -m explorer.predict``."""
from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.data import data_root
from explorer import inference, train, weights
from explorer.ui import train as ui_train

ROOT = Path(__file__).resolve().parents[1]
DATA = data_root("mnist")
N = 200


def render(digit: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """A 28×28 MNIST digit (white on black) as a photo-like RGB image: dark ink on light,
    slightly grey paper, 2.5–5× larger, anywhere on a 220×160 sheet."""
    side = int(rng.integers(70, 141))
    ink = Image.fromarray(digit).resize((side, side), Image.BICUBIC)
    paper, dark = int(rng.integers(215, 256)), int(rng.integers(0, 60))
    a = np.asarray(ink, dtype=np.float32) / 255.0
    patch = (paper - a * (paper - dark)).clip(0, 255).astype(np.uint8)
    sheet = Image.new("L", (220, 160), paper)
    sheet.paste(Image.fromarray(patch), (int(rng.integers(0, 220 - side + 1)),
                                         int(rng.integers(0, 160 - side + 1))))
    return sheet.convert("RGB")


@pytest.fixture(scope="module")
def photos():
    x, y = train.load_mnist(DATA, train=False)
    rng = np.random.default_rng(0)
    pick = rng.choice(len(x), N, replace=False)
    return [render(x[i].numpy(), rng) for i in pick], y[pick].tolist(), x[pick]


def _accuracy(loaded, images, labels) -> float:
    hits = sum(inference.predict(loaded, im, topk=1, device="cpu").indices[0] == t
               for im, t in zip(images, labels))
    return hits / len(labels)


@pytest.mark.parametrize("name", ["mnist_plain", "lenet5"])
def test_photographed_digits_are_read_correctly(name, photos):
    images, labels, raw = photos
    loaded = weights.load_model(name, "trained")  # assets/<name>.pt through the app's loader
    assert loaded.source == "trained"
    # The same 200 digits as MNIST stores them: the checkpoint itself is fine.
    with torch.no_grad():
        x = train.to_input(raw, loaded.spec.input_size)
        direct = (loaded.model(x).argmax(1) == torch.tensor(labels)).float().mean().item()
    assert direct >= 0.97
    # Dark on light, scaled and shifted: the preprocessing must undo all of it.
    assert _accuracy(loaded, images, labels) >= 0.95


def test_without_the_mnist_preprocessing_the_photos_are_not_read(photos):
    # The control that shows the test above can fail: squash the sheet to 28×28 as it is.
    images, labels, _ = photos
    loaded = weights.load_model("mnist_plain", "trained")

    def naive(image):
        g = np.asarray(image.convert("L").resize((28, 28), Image.BILINEAR), dtype=np.float32)
        return train.to_input(torch.from_numpy(g / 255.0)[None])

    with torch.no_grad():
        logits = loaded.model(torch.cat([naive(im) for im in images]))
    assert (logits.argmax(1) == torch.tensor(labels)).float().mean().item() < 0.5


def _box_side(img: np.ndarray) -> int:
    ys, xs = np.nonzero(img > 0.25 * img.max())
    return max(ys.max() - ys.min(), xs.max() - xs.min()) + 1


def test_preprocessed_photo_looks_like_the_mnist_digit(photos):
    images, _, raw = photos
    # MNIST fitted each digit into 20×20 and centred it by mass in 28×28: the preview of the
    # photo must land where the original is, at the original's size, with the same shape.
    ys, xs = np.mgrid[:28, :28]
    corr = []
    for image, digit in zip(images[:40], raw[:40]):
        seen = ui_train.digit_preview(image).astype(np.float32)
        orig = digit.numpy().astype(np.float32)
        for grid in (ys, xs):
            assert abs((seen * grid).sum() / seen.sum() - (orig * grid).sum() / orig.sum()) < 1.5
        assert abs(_box_side(seen) - _box_side(orig)) <= 2
        corr.append(np.corrcoef(seen.ravel(), orig.ravel())[0, 1])
    # Strokes a pixel wide decorrelate with a one-pixel shift, so judge the set, not each one.
    assert np.mean(corr) > 0.65, np.round(corr, 2)


def test_predict_cli_reads_a_folder_of_digit_photos(tmp_path, photos):
    images, labels, _ = photos
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["file", "class_index"])
        for i, (image, label) in enumerate(zip(images[:40], labels[:40])):
            image.save(tmp_path / f"digit_{i:03d}.png")
            w.writerow([f"digit_{i:03d}.png", label])
    proc = subprocess.run(
        [sys.executable, "-m", "explorer.predict", str(tmp_path), "--model", "mnist_plain",
         "--weights", "trained", "--device", "cpu", "--topk", "3"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "Trained by this project" in lines[0]
    assert sum("✓" in line for line in lines) >= 38  # 95 % of 40
    assert "on 40 labelled images" in lines[-1]
