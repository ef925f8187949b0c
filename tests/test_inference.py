"""explorer.inference: preprocessing, device choice, prediction, and the OOM fallback."""
from collections import namedtuple

import numpy as np
import pytest
import torch
from PIL import Image

from explorer.data import data_root
from explorer import inference
from explorer.inference import (MNIST_MEAN, MNIST_STD, device_info, logits_of, mnist_preprocess,
                                model_on, pick_device, predict, tensor_to_image)
from explorer.weights import load_model

IMAGENET = data_root("imagenet-samples")
MNIST_TEST = data_root("mnist") / "MNIST" / "raw" / "t10k-images-idx3-ubyte"


@pytest.fixture(scope="module")
def lite():
    return load_model("efficientnet_lite0", "package")


def _mnist_digits(n=20):
    raw = np.fromfile(MNIST_TEST, dtype=np.uint8, offset=16, count=n * 784)
    return raw.reshape(n, 28, 28)


def test_device_choice_on_this_machine():
    # No GPU here: the CPU, and the sidebar line says so.
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert "CPU" in device_info() or "GPU" in device_info()
    assert pick_device("cpu") == torch.device("cpu")


def test_prediction_of_a_real_photo(lite):
    image = Image.open(IMAGENET / "n01440764_tench.JPEG")
    pred = predict(lite, image, topk=5)
    assert pred.indices[0] == 0 and pred.names[0] == "tench"
    assert len(pred.indices) == 5 and pred.device == "cpu"
    assert all(a >= b for a, b in zip(pred.probabilities, pred.probabilities[1:]))
    assert 0.5 < pred.probabilities[0] <= 1 and sum(pred.probabilities) <= 1 + 1e-6
    assert pred.latency_ms > 0 and pred.notice is None
    # A preprocessed tensor gives the same answer as the image.
    again = predict(lite, lite.preprocess(image), topk=3)
    assert again.indices == pred.indices[:3]
    assert np.allclose(again.probabilities, pred.probabilities[:3], atol=1e-6)


def test_the_greyscale_sample_is_converted(lite):
    image = Image.open(IMAGENET / "n03908714_pencil_sharpener.JPEG")
    assert image.mode == "L"
    pred = predict(lite, image)
    assert pred.indices[0] == 710  # labels.csv: n03908714 is class 710


def test_prediction_leaves_the_shared_model_alone(lite):
    before = {k: v.clone() for k, v in lite.model.state_dict().items()}
    predict(lite, torch.zeros(1, 3, 224, 224))
    assert not lite.model.training
    assert all(torch.equal(before[k], v) for k, v in lite.model.state_dict().items())
    assert all(p.grad is None and not p.requires_grad for p in lite.model.parameters())
    assert model_on(lite.model, "cpu") is lite.model  # no copy on the CPU


def test_gpu_out_of_memory_falls_back_to_the_cpu(lite, monkeypatch):
    real = inference._forward

    def oom_on_gpu(model, x, device):
        if device.type != "cpu":
            raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
        return real(model, x, device)

    monkeypatch.setattr(inference, "_forward", oom_on_gpu)
    pred = predict(lite, Image.open(IMAGENET / "n01440764_tench.JPEG"), device="cuda")
    assert pred.device == "cpu" and "out of memory" in pred.notice
    assert pred.names[0] == "tench"


def test_logits_from_every_output_shape():
    t = torch.arange(3.0)[None]
    Out = namedtuple("Out", "logits aux_logits")
    for out in (t, Out(t, None), (t, t * 2)):
        assert torch.equal(logits_of(out), t)


def test_mnist_digits_pass_through_almost_unchanged():
    # A real MNIST digit is already white on black, 20×20, centred by mass: the
    # preprocessing should hand it back nearly as it was.
    for digit in _mnist_digits(10):
        x = mnist_preprocess(Image.fromarray(digit))
        assert x.shape == (1, 1, 28, 28)
        expected = (torch.from_numpy(digit).float() / 255 - MNIST_MEAN) / MNIST_STD
        # Centring by mass rounds to whole pixels, so allow a shift of one pixel.
        best = max(np.corrcoef(np.roll(x[0, 0].numpy(), (dy, dx), (0, 1)).ravel(),
                               expected.numpy().ravel())[0, 1]
                   for dy in (-1, 0, 1) for dx in (-1, 0, 1))
        assert best > 0.95


def test_a_dark_digit_photographed_on_paper_becomes_mnist_like():
    digit = _mnist_digits(1)[0]
    # Dark ink on light grey paper, 4× larger, off-centre, in a big RGB photo.
    paper = np.full((300, 260), 215, dtype=np.uint8)
    ink = 255 - np.asarray(Image.fromarray(digit).resize((112, 112), Image.BILINEAR))
    paper[30:142, 120:232] = np.minimum(paper[30:142, 120:232], ink)
    x = mnist_preprocess(Image.fromarray(paper).convert("RGB"))
    g = x[0, 0].numpy() * MNIST_STD + MNIST_MEAN
    assert g[0].max() < 0.05 and g[:, 0].max() < 0.05  # black background
    assert g.max() > 0.9  # white ink
    ys, xs = np.nonzero(g > 0.3)
    assert ys.max() - ys.min() <= 20 and xs.max() - xs.min() <= 20  # fits 20×20
    cy, cx = (np.array(np.nonzero(g)) * g[np.nonzero(g)]).sum(1) / g.sum()
    assert abs(cy - 13.5) < 1 and abs(cx - 13.5) < 1  # centred by mass
    expected = torch.from_numpy(digit).float().numpy() / 255
    best = max(np.corrcoef(np.roll(g, (dy, dx), (0, 1)).ravel(), expected.ravel())[0, 1]
               for dy in (-1, 0, 1) for dx in (-1, 0, 1))
    assert best > 0.8


def test_lenet_input_is_padded_to_32_and_blank_stays_blank():
    x = mnist_preprocess(Image.new("L", (40, 40), 255), size=32)
    assert x.shape == (1, 1, 32, 32)
    assert torch.allclose(x, torch.full_like(x, -MNIST_MEAN / MNIST_STD))


def test_preview_undoes_the_normalisation(lite):
    image = Image.open(IMAGENET / "n01440764_tench.JPEG").convert("RGB")
    preview = tensor_to_image(lite.preprocess(image), lite.preprocess)
    assert preview.size == (224, 224)
    expected = image.resize((round(image.width * 256 / min(image.size)), 256)
                            if image.height <= image.width else
                            (256, round(image.height * 256 / image.width)), Image.BILINEAR)
    left, top = (expected.width - 224) // 2, (expected.height - 224) // 2
    crop = np.asarray(expected.crop((left, top, left + 224, top + 224)), dtype=float)
    assert np.abs(np.asarray(preview, dtype=float) - crop).mean() < 3
