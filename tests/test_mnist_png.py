"""Genuine MNIST digits read from PNG files reach the network unchanged (issue 14, point 1).

All 10,000 MNIST test digits are written as 28×28 PNG files and read back the way an upload or
``python -m explorer.predict`` reads them (``explorer.images.load_image`` → the model's own
preprocessing). Every one of the four digit networks must then score exactly what it scores
on the raw test tensors, computed here independently, and what its model card says."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from explorer import data, inference, predict, train, weights

from explorer.data import images

DIGIT_MODELS = ("lenet5", "mnist_plain", "mnist_bn_dropout", "mnist_nin")
ASSETS = Path(__file__).resolve().parents[1] / "assets"


@pytest.fixture(scope="module")
def test_set():
    x, y = train.load_mnist(data.data_root("mnist"), train=False)
    return x, y


@pytest.fixture(scope="module")
def png_folder(test_set, tmp_path_factory):
    folder = tmp_path_factory.mktemp("mnist_png")
    x, y = test_set
    for i, digit in enumerate(x.numpy()):
        Image.fromarray(digit).save(folder / f"{i:05d}.png")
    return folder


def _raw_tensor(x: torch.Tensor, size: int) -> torch.Tensor:
    """Independent of the app's code: pixels/255, MNIST mean/std, background-pad to ``size``."""
    t = (x.float() / 255.0 - 0.1307) / 0.3081
    pad = (size - 28) // 2
    return torch.nn.functional.pad(t[:, None], (pad,) * 4, value=-0.1307 / 0.3081)


def test_png_digits_score_the_raw_tensor_accuracy(test_set, png_folder):
    """The PNG path's input tensors are bit-identical to the raw test tensors, so the network
    scores the raw-tensor accuracy on them (one forward pass over the 10,000 per network keeps
    the CPU time down), and that accuracy is the model card's."""
    x, y = test_set
    files = sorted(png_folder.glob("*.png"))
    assert len(files) == 10_000
    read = [images.load_image(f) for f in files]  # the upload / predict path: PIL RGB
    for name in DIGIT_MODELS:
        loaded = weights.load_model(name, "trained")
        size = loaded.preprocess.size[0]
        from_png = torch.cat([loaded.preprocess(im) for im in read])
        raw = _raw_tensor(x, size)
        assert torch.equal(from_png, raw), name  # unchanged means unchanged
        with torch.inference_mode():
            pred = torch.cat([inference.logits_of(loaded.model(from_png[i:i + 1000])).argmax(1)
                              for i in range(0, len(from_png), 1000)])
        accuracy = 100.0 * (pred == y).sum().item() / len(y)
        card = json.loads((ASSETS / f"{name}.json").read_text())["test_accuracy"]
        assert round(accuracy, 2) == card, (name, accuracy, card)


def test_predict_cli_on_a_folder_of_mnist_pngs(png_folder, test_set, tmp_path):
    _, y = test_set
    folder = tmp_path / "digits"
    folder.mkdir()
    lines = ["file,class_index"]
    for i in range(200):
        (folder / f"{i:05d}.png").write_bytes((png_folder / f"{i:05d}.png").read_bytes())
        lines.append(f"{i:05d}.png,{int(y[i])}")
    (folder / "labels.csv").write_text("\n".join(lines))
    out = io.StringIO()
    assert predict.run(folder, model="mnist_nin", weights="trained", as_json=True,
                       device="cpu", out=out) == 0
    summary = json.loads(out.getvalue())["summary"]
    loaded = weights.load_model("mnist_nin", "trained")
    x200 = train.to_input(train.load_mnist(data.data_root("mnist"), False)[0][:200])
    with torch.no_grad():
        want = (loaded.model(x200).argmax(1) == y[:200]).float().mean().item()
    assert summary["labelled"] == 200 and round(summary["top1"] * 200) == round(want * 200)


def test_images_that_are_not_mnist_format_still_get_the_full_preprocessing(test_set):
    digit = test_set[0][0].numpy()
    assert inference.mnist_format_digit(Image.fromarray(digit)) is not None
    assert inference.mnist_format_digit(Image.fromarray(np.pad(digit, 2))) is not None  # 32×32
    shifted = np.roll(digit, (5, -4), (0, 1))  # off-centre
    small = np.asarray(Image.fromarray(digit).resize((14, 14)))
    tiny = np.zeros_like(digit)
    tiny[7:21, 7:21] = small  # ink 10 px tall: not size-normalised
    dark_on_light = 255 - digit
    for other in (shifted, tiny, dark_on_light):
        image = Image.fromarray(other)
        assert inference.mnist_format_digit(image) is None
        g = inference.mnist_preprocess(image)[0, 0].numpy() * 0.3081 + 0.1307
        ys, xs = np.nonzero(g > 0.3)
        assert 17 <= max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 <= 21  # fit to 20×20
        cy, cx = (np.array(np.nonzero(g)) * g[np.nonzero(g)]).sum(1) / g.sum()
        assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1  # centred by mass
    colour = np.stack([digit, digit, np.minimum(digit, 200)], -1)  # not grey: a photo
    assert inference.mnist_format_digit(Image.fromarray(colour)) is None
