"""explorer.weights: every source loads what it says, and every bad checkpoint is refused."""
import io
import json
import pickle
import socket
import time
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image

from explorer.data import data_root
from explorer import weights, zoo
from explorer.weights import WeightsError, available_sources, load_model, sources

TENCH = data_root("imagenet-samples") / "n01440764_tench.JPEG"


def _params_frozen(model):
    return not model.training and all(not p.requires_grad for p in model.parameters())


# --- package (EfficientNet-Lite0's genuine weights) ------------------------------------------

@pytest.fixture(scope="module")
def lite():
    return load_model("efficientnet_lite0")


def test_auto_picks_the_package_for_efficientnet_lite0(lite):
    assert available_sources("efficientnet_lite0")[0] == "package"
    assert available_sources("efficientnet_lite0")[-1] == "random"
    assert lite.source == "package"
    assert _params_frozen(lite.model)
    # REFERENCE.md: 4,652,008 parameters in the package's state dict.
    assert sum(p.numel() for p in lite.model.parameters()) == 4_652_008
    assert lite.categories[0] == "tench" and len(lite.categories) == 1000


def test_package_preprocessing_uses_mean_and_std_half(lite):
    x = lite.preprocess(Image.open(TENCH))
    assert x.shape == (1, 3, 224, 224)
    assert lite.preprocess.mean == (0.5, 0.5, 0.5) and lite.preprocess.std == (0.5, 0.5, 0.5)
    # With mean = std = 0.5 the input range is [-1, 1].
    assert -1.0 <= float(x.min()) < -0.5 and 0.5 < float(x.max()) <= 1.0


# --- torchvision: a real state dict in a temporary TORCH_HOME, no network ----------------------

@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    return tmp_path


def test_torchvision_weights_load_from_the_hub_cache(torch_home):
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    target = torch_home / "hub" / "checkpoints" / Path(url).name
    assert target.name == "resnet18-f37072fd.pth"  # REFERENCE.md's weight file
    assert "torchvision" in available_sources("resnet18")
    assert not weights.torchvision_cached("resnet18")
    torch.manual_seed(1)
    state = torchvision.models.resnet18().state_dict()
    target.parent.mkdir(parents=True)
    torch.save(state, target)

    assert weights.torchvision_cached("resnet18")
    assert weights.torchvision_weight_file("resnet18") == target
    loaded = load_model("resnet18")  # auto: the cached file wins over random
    assert loaded.source == "torchvision"
    assert "ResNet18_Weights.IMAGENET1K_V1" in loaded.label and "69.8" in loaded.label
    got = loaded.model.state_dict()
    assert all(torch.equal(got[k], v) for k, v in state.items())
    assert _params_frozen(loaded.model)
    meta = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.meta
    assert loaded.categories == meta["categories"]
    # The preprocessing is the weights' own transforms(), exactly.
    img = Image.open(TENCH).convert("RGB")
    expected = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.transforms()(img)
    assert torch.equal(loaded.preprocess(img)[0], expected)


def test_offline_download_fails_fast_with_alternatives(torch_home):
    # There is no network here: this is the real download path, not a mock.
    t0 = time.monotonic()
    with pytest.raises(WeightsError) as info:
        load_model("resnet18", "torchvision")
    assert time.monotonic() - t0 < 10
    msg = str(info.value)
    assert "no network" in msg and "random" in msg and "upload" in msg
    assert "resnet18-f37072fd.pth" in msg
    assert not list((torch_home / "hub" / "checkpoints").glob("*")) if (
        torch_home / "hub" / "checkpoints").exists() else True
    # auto does not try to download: it falls back to random offline.
    assert load_model("resnet18").source == "random"


def test_a_hanging_network_still_fails_within_the_probe_timeout(torch_home, monkeypatch):
    def hang(*args, **kwargs):
        time.sleep(30)

    monkeypatch.setattr(socket, "create_connection", hang)
    t0 = time.monotonic()
    with pytest.raises(WeightsError, match="no network"):
        weights.download_torchvision_weights("resnet18", probe_timeout=1.0)
    assert time.monotonic() - t0 < 3


# --- random and trained ---------------------------------------------------------------------

def test_random_is_labelled_as_meaningless_and_repeatable():
    a, b = load_model("mnist_plain", "random"), load_model("mnist_plain", "random")
    assert a.source == "random" and a.is_random and "meaningless" in a.label
    assert all(torch.equal(p, q) for p, q in zip(a.model.state_dict().values(),
                                                  b.model.state_dict().values()))
    assert a.categories == [str(d) for d in range(10)]


def test_trained_checkpoint_and_model_card(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "ASSETS", tmp_path)
    assert "trained" not in available_sources("lenet5")
    torch.manual_seed(2)
    state = zoo.build("lenet5").state_dict()
    torch.save(state, tmp_path / "lenet5.pt")
    (tmp_path / "lenet5.json").write_text(json.dumps({"test_accuracy": 0.9912}))
    assert available_sources("lenet5")[0] == "trained"
    loaded = load_model("lenet5")
    assert loaded.source == "trained" and "99.12 %" in loaded.label
    assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in state.items())
    # LeNet-5 takes 32×32: MNIST's 28×28 padded by 2.
    assert loaded.preprocess(Image.new("RGB", (50, 80), "white")).shape == (1, 1, 32, 32)


# --- uploads --------------------------------------------------------------------------------

def _save(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def plain_state():
    torch.manual_seed(3)
    return zoo.build("mnist_plain").state_dict()


@pytest.mark.parametrize("wrap", ["bare", "state_dict", "model", "module_prefix", "safetensors"])
def test_uploaded_checkpoints_in_every_usual_shape(plain_state, wrap):
    if wrap == "safetensors":
        from safetensors.torch import save
        data = save({k: v.contiguous() for k, v in plain_state.items()})
    else:
        obj = {"bare": plain_state, "state_dict": {"state_dict": plain_state, "epoch": 5},
               "model": {"model": plain_state, "optimizer": {}},
               "module_prefix": {f"module.{k}": v for k, v in plain_state.items()}}[wrap]
        data = _save(obj)
    loaded = load_model("mnist_plain", "upload", checkpoint=data)
    assert loaded.source == "upload" and _params_frozen(loaded.model)
    assert all(torch.equal(loaded.model.state_dict()[k], v) for k, v in plain_state.items())


def test_checkpoint_for_another_architecture_names_the_keys():
    other = _save(zoo.build("lenet5").state_dict())
    with pytest.raises(WeightsError) as info:
        load_model("mnist_plain", "upload", checkpoint=other)
    msg = str(info.value)
    assert "another architecture" in msg and "Missing keys" in msg and "Unexpected keys" in msg
    some_lenet_key = next(iter(zoo.build("lenet5").state_dict()))
    some_plain_key = next(iter(zoo.build("mnist_plain").state_dict()))
    assert some_lenet_key in msg and some_plain_key in msg


def test_checkpoint_with_wrong_shapes_says_which(plain_state):
    bad = dict(plain_state)
    key = [k for k, v in bad.items() if v.dim() == 2][-1]  # the last linear layer
    bad[key] = torch.zeros(7, bad[key].shape[1])
    with pytest.raises(WeightsError, match="wrong shape") as info:
        load_model("mnist_plain", "upload", checkpoint=_save(bad))
    assert key in str(info.value)


class _Evil:
    """Unpickling this object would create a file: the classic code-execution pickle."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (Path(self.path),))


@pytest.mark.parametrize("writer", ["torch.save", "pickle.dumps"])
def test_a_pickle_that_would_run_code_is_refused(tmp_path, plain_state, writer):
    marker = tmp_path / "pwned"
    payload = {"state_dict": plain_state, "extra": _Evil(marker)}
    data = _save(payload) if writer == "torch.save" else pickle.dumps(payload)
    with pytest.raises(WeightsError, match="Refused") as info:
        load_model("mnist_plain", "upload", checkpoint=data)
    assert "torch.save(model.state_dict()" in str(info.value) and "pathlib" in str(info.value)
    assert not marker.exists()
    # The payload is genuinely malicious: an unsafe load does create the file.
    torch.load(io.BytesIO(data), weights_only=False) if writer == "torch.save" else pickle.loads(data)
    assert marker.exists()


@pytest.mark.parametrize("data, words", [(b"", "empty"), (b"not a checkpoint at all" * 20,
                                                         "is a text file: neither a PyTorch checkpoint")])
def test_garbage_checkpoints_get_a_clear_message(data, words):
    with pytest.raises(WeightsError, match=words):
        load_model("mnist_plain", "upload", checkpoint=data)


def test_unknown_source_is_a_weights_error():
    with pytest.raises(WeightsError, match="Unknown weights source"):
        load_model("mnist_plain", "imagenet21k")


def test_a_session_model_is_wrapped_as_a_frozen_copy():
    torch.manual_seed(4)
    trained = zoo.build("mnist_plain").train()
    loaded = weights.wrap_model("mnist_plain", trained, label="Trained just now, 3 epochs")
    assert loaded.source == "session" and loaded.label == "Trained just now, 3 epochs"
    assert _params_frozen(loaded.model) and loaded.model is not trained
    assert trained.training and all(p.requires_grad for p in trained.parameters())
    with torch.no_grad():
        next(trained.parameters()).add_(1.0)  # training goes on; the wrapped copy stays
    assert not torch.equal(next(trained.parameters()), next(loaded.model.parameters()))


@pytest.fixture
def local_server(tmp_path):
    """A real HTTP server on 127.0.0.1 serving tmp_path/www (no internet needed)."""
    import functools
    import http.server
    import threading

    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _serve(monkeypatch, root, url, payload: bytes, name: str):
    from types import SimpleNamespace

    (root / name).write_bytes(payload)
    monkeypatch.setattr(sources, "tv_weights", lambda spec: SimpleNamespace(url=f"{url}/{name}"))
    monkeypatch.delenv("CNN_EXPLORER_WEIGHTS_URL", raising=False)  # the URL above is local


def test_the_download_lands_in_the_hub_cache_with_progress(torch_home, local_server, monkeypatch):
    import hashlib

    root, url = local_server
    payload = _save(zoo.build("mnist_plain").state_dict())
    name = f"resnet18-{hashlib.sha256(payload).hexdigest()[:8]}.pth"  # torch hub's naming
    _serve(monkeypatch, root, url, payload, name)
    seen = []
    path = weights.download_torchvision_weights("resnet18", progress=lambda d, t: seen.append((d, t)))
    assert path == torch_home / "hub" / "checkpoints" / name
    assert path.read_bytes() == payload
    assert seen and seen[-1] == (len(payload), len(payload))
    assert weights.torchvision_cached("resnet18")


def test_a_corrupt_download_is_refused_and_leaves_nothing(torch_home, local_server, monkeypatch):
    root, url = local_server
    _serve(monkeypatch, root, url, b"not the real weights" * 100, "resnet18-deadbeef.pth")
    with pytest.raises(WeightsError, match="corrupt"):
        weights.download_torchvision_weights("resnet18")
    assert list((torch_home / "hub" / "checkpoints").iterdir()) == []
