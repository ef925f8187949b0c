"""The data resolver (explorer.data): where real data is found, its checked download, the
message when there is none, and the test suite run from a fresh clone without ../shared."""
from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from explorer import data

from explorer.data import net
from tests.weights_server import dead_url, serve

ROOT = Path(__file__).resolve().parents[1]
KIND_FILES = {"imagenet-samples": "n01440764_tench.JPEG", "imagenet-pool": "labels.csv",
              "cifar10-samples": "test/cat/0000.jpg", "mnist": "MNIST/raw/t10k-labels-idx1-ubyte"}


@pytest.fixture(scope="module")
def real(data_dir):
    """The real data, resolved before any test hides the usual places."""
    return {kind: data_dir(kind) for kind in data.KINDS}


@pytest.fixture
def isolated(real, monkeypatch, tmp_path):
    """No environment variables, no ../shared, an empty cache: only what a test sets up."""
    for var in (data.ENV, data.MNIST_ENV, data.URL_ENV):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(data, "SHARED", tmp_path / "no-shared")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path


def test_the_real_data_is_where_the_resolver_says(data_dir):
    # shared/data/README.md: 100 sample photos + class index, 600 pool photos, 100 CIFAR images,
    # and the t10k labels' md5.
    assert len(list(data_dir("imagenet-samples").glob("*.JPEG"))) == 100
    assert len(list(data_dir("imagenet-pool").glob("*.JPEG"))) == 600
    assert len(list((data_dir("cifar10-samples") / "test").rglob("*.jpg"))) == 100
    labels = data_dir("mnist") / "MNIST" / "raw" / "t10k-labels-idx1-ubyte"
    assert hashlib.md5(labels.read_bytes()).hexdigest() == "27ae3e4e09519cfbb04c329615203637"


def test_order_env_then_shared_then_cache(isolated, monkeypatch, real):
    shared = isolated / "shared" / "data"
    shared.mkdir(parents=True)
    for kind in data.KINDS:
        (shared / kind).symlink_to(real[kind])
    monkeypatch.setattr(data, "SHARED", shared)
    assert data.data_root("cifar10-samples", download=False) == shared / "cifar10-samples"
    # The environment variable wins; its kinds are looked up under it.
    mine = isolated / "mine"
    mine.mkdir()
    (mine / "cifar10-samples").symlink_to(real["cifar10-samples"])
    monkeypatch.setenv(data.ENV, str(mine))
    assert data.data_root("cifar10-samples", download=False) == mine / "cifar10-samples"
    # $CNN_EXPLORER_MNIST (the older, MNIST-only variable) names the folder holding MNIST/raw/.
    monkeypatch.setenv(data.MNIST_ENV, str(real["mnist"]))
    assert data.data_root("mnist", download=False) == real["mnist"]
    from explorer.data.mnist import mnist_root

    assert mnist_root() == (real["mnist"], False)


def test_download_checks_every_file_and_is_safe_to_rerun(isolated, monkeypatch, real):
    # A mirror laid out like raw.githubusercontent.com (<owner>/<repo>/<commit>/<path>), built
    # from the real files with the manifest's source paths.
    mirror = isolated / "mirror"
    src = real["cifar10-samples"]
    entry = data._manifest()["cifar10-samples"]
    for rel, _, _, source in entry["files"]:
        (mirror / source).parent.mkdir(parents=True, exist_ok=True)
        (mirror / source).symlink_to(src / rel)
    target = isolated / "data"
    monkeypatch.setenv(data.ENV, str(target))
    with serve(mirror) as url:
        monkeypatch.setenv(data.URL_ENV, url)
        seen = []
        got = data.data_root("cifar10-samples", progress=seen.append)
        assert got == target / "cifar10-samples"
        assert len(seen) == 100 and seen[0].startswith("cifar10-samples: 1/100")
        for rel in ("labels.csv", "test/cat/0000.jpg", "test/truck/0009.jpg"):
            assert (got / rel).read_bytes() == (src / rel).read_bytes(), rel
        # Re-run with one file damaged: only that one is fetched again, and repaired.
        (got / "test/cat/0000.jpg").write_bytes(b"broken")
        seen.clear()
        assert data.download("cifar10-samples", progress=seen.append) == got  # complete: no-op
        (got / "labels.csv").unlink()
        data.download("cifar10-samples", progress=seen.append)
        assert seen == ["cifar10-samples: 31/100 test/cat/0000.jpg"]
        assert (got / "test/cat/0000.jpg").read_bytes() == (src / "test/cat/0000.jpg").read_bytes()
        # A mirror serving a wrong file: refused by its sha256, nothing half-written left.
        rel, _, _, source = entry["files"][0]
        (mirror / source).unlink()
        (mirror / source).write_bytes(b"not the airplane")
        shutil.rmtree(got)
        with pytest.raises(data.DataNotFound, match="wrong sha256"):
            data.data_root("cifar10-samples")
        assert not list(got.rglob("*.partial")) and not (got / rel).exists()


def test_mnist_downloads_through_torchvision_with_its_md5_check(isolated, monkeypatch, real):
    # A mirror serving the four .gz files under /mnist/, as torchvision's mirrors do.
    mirror = isolated / "mirror" / "mnist"
    mirror.mkdir(parents=True)
    for gz in (real["mnist"] / "MNIST" / "raw").glob("*.gz"):
        (mirror / gz.name).symlink_to(gz)
    monkeypatch.setenv(data.ENV, str(isolated / "data"))
    with serve(mirror.parent) as url:
        monkeypatch.setenv(data.URL_ENV, url)
        got = data.data_root("mnist")
    assert got == isolated / "data" / "mnist"
    for name in data.MNIST_RAW:  # unpacked by torchvision, byte for byte the shared copy
        assert (got / "MNIST" / "raw" / name).read_bytes() == \
            (real["mnist"] / "MNIST" / "raw" / name).read_bytes(), name
    # A file that fails torchvision's md5 check is refused.
    with serve(mirror.parent) as url:
        monkeypatch.setenv(data.URL_ENV, url)
        (mirror / "t10k-labels-idx1-ubyte.gz").unlink()
        (mirror / "t10k-labels-idx1-ubyte.gz").write_bytes(b"corrupt")
        monkeypatch.setenv(data.ENV, str(isolated / "again"))
        with pytest.raises(data.DataNotFound, match="torchvision could not download MNIST"):
            data.data_root("mnist")


def test_no_data_source_says_what_is_missing_and_what_to_set(isolated, monkeypatch):
    monkeypatch.setenv(data.URL_ENV, dead_url())
    with pytest.raises(data.DataNotFound) as info:
        data.data_root("imagenet-samples")
    msg = str(info.value)
    assert "No copy of the imagenet-samples data was found" in msg
    assert str(isolated / "no-shared" / "imagenet-samples") in msg  # where it looked
    assert "cannot be reached" in msg and data.ENV in msg
    assert "python -m explorer.data fetch imagenet-samples" in msg
    with pytest.raises(data.DataNotFound, match="downloading was not allowed"):
        data.data_root("mnist", download=False)


def test_an_unanswering_host_is_given_up_on_not_waited_for(monkeypatch):
    # A black-holed network: connecting never returns. The probe must answer anyway (without
    # its own timeout this test would hang until pytest's).
    release = threading.Event()

    def hang(*args, **kwargs):
        release.wait()
        raise OSError("released")

    monkeypatch.setattr(socket, "create_connection", hang)
    try:
        reason = net.probe("https://example.invalid/x", timeout=0.2)
    finally:
        release.set()
    assert reason == "no answer from example.invalid within 0.2 s"


def _clone(tmp_path: Path) -> Path:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(ROOT), str(clone)], check=True)
    assert not (clone.parent / "shared").exists()
    return clone


def _pytest_in(clone: Path, env_extra: dict, cache: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in (data.ENV, data.MNIST_ENV, data.URL_ENV, "PYTHONPATH")}
    env.update(env_extra, XDG_CACHE_HOME=str(cache), PYTHONPATH=str(clone),
               CNN_EXPLORER_DATA_URL=dead_url())
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_images.py",
         "-o", "addopts="],
        cwd=clone, env=env, capture_output=True, text=True, timeout=300)


def test_a_fresh_clone_runs_its_data_tests_through_the_environment_variable(tmp_path, data_dir):
    clone = _clone(tmp_path)
    copy = tmp_path / "data"
    copy.mkdir()
    for kind in ("imagenet-samples", "mnist"):
        (copy / kind).symlink_to(data_dir(kind))
    run = _pytest_in(clone, {data.ENV: str(copy)}, tmp_path / "cache")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert " passed" in run.stdout and "error" not in run.stdout.lower()
    # And without any data source, the same module stops with the resolver's message.
    run = _pytest_in(clone, {}, tmp_path / "cache")
    assert run.returncode != 0
    assert "No copy of the imagenet-samples data was found" in run.stdout
    assert str(tmp_path / "shared" / "data" / "imagenet-samples") in run.stdout
    assert data.ENV in run.stdout
