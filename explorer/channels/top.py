"""Top images of a channel (dataset examples): one batched pass over an image set per layer.

For every image the pass keeps, per channel, the largest activation anywhere in the feature map
and where it is (N×C values and positions, never the maps themselves). Ranking the images of a
channel by that value gives its top and bottom k; the crop shown is the part of the image (as
the network saw it, after preprocessing) inside the theoretical receptive field of the
maximising unit (:func:`explorer.channels.fields.rf_box`), clipped to the image.

A layer's result for an image set is cached on disk per (model, weights, layer, image set,
preprocessing) as a small ``.npz``, so switching channels is a lookup. Cache folder:
``$CNN_EXPLORER_CACHE/channels``, else ``~/.cache/cnn-explorer/channels``.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from PIL import Image

from explorer.data import images
from explorer.analysis.features import capture
from explorer.i18n import _
from explorer.channels.fields import layer_row, rf_box

__all__ = ["ImageSet", "LayerTop", "Example", "layer_top", "cached_layer_top", "lookup",
           "cache_dir", "weights_key", "crop_example", "network_view", "IMAGE_SUFFIXES"]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
CACHE_VERSION = 1
Progress = Callable[[int, int], None]


# --------------------------------------------------------------------------------------------
# Image sets


@dataclass
class ImageSet:
    """A named, fingerprinted list of images; ``load(i)`` gives image ``i`` as PIL RGB."""

    label: str
    names: list[str]
    fingerprint: str
    _load: Callable[[int], Image.Image] = field(repr=False, default=None)

    def __len__(self) -> int:
        return len(self.names)

    def load(self, i: int) -> Image.Image:
        return self._load(i)

    @classmethod
    def from_paths(cls, label: str, paths) -> "ImageSet":
        paths = [Path(p) for p in paths]
        h = hashlib.sha1()
        for p in paths:
            st = p.stat()
            h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        return cls(label, [p.name for p in paths], "paths:" + h.hexdigest(),
                   lambda i: images.load_image(paths[i].read_bytes()))

    @classmethod
    def from_folder(cls, folder, label: str | None = None, limit: int | None = None) -> "ImageSet":
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise FileNotFoundError(_("{folder} is not a folder").format(folder=folder))
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not paths:
            raise FileNotFoundError(_("no images ({suffixes}) in {folder}").format(
                suffixes=", ".join(sorted(IMAGE_SUFFIXES)), folder=folder))
        return cls.from_paths(label or folder.name, paths[:limit])

    @classmethod
    def from_bytes(cls, label: str, files: list[tuple[str, bytes]]) -> "ImageSet":
        """Uploaded files: (name, bytes) each; decoded lazily, fingerprinted by content."""
        h = hashlib.sha1()
        for name, data in files:
            h.update(hashlib.sha1(data).digest())
        return cls(label, [n for n, _ in files], "bytes:" + h.hexdigest(),
                   lambda i: images.load_image(files[i][1]))

    @classmethod
    def from_arrays(cls, label: str, key: str, arrays: np.ndarray,
                    names: list[str] | None = None) -> "ImageSet":
        """Greyscale uint8 images N×H×W (the MNIST test set); ``key`` names their origin."""
        names = names or [f"{label} #{i}" for i in range(len(arrays))]
        return cls(label, names, f"arrays:{key}:{len(arrays)}",
                   lambda i: Image.fromarray(np.asarray(arrays[i], np.uint8)).convert("RGB"))


class _Dataset(torch.utils.data.Dataset):
    def __init__(self, image_set: ImageSet, preprocess):
        self.image_set, self.preprocess = image_set, preprocess

    def __len__(self):
        return len(self.image_set)

    def __getitem__(self, i):
        try:
            return self.preprocess(self.image_set.load(i))[0], True
        except (images.ImageLoadError, OSError, ValueError):
            c, h, w = 3, *self.preprocess.size  # replaced by -inf below: never ranked
            return torch.zeros(len(self.preprocess.mean) or c, h, w), False


# --------------------------------------------------------------------------------------------
# The pass


@dataclass
class Example:
    index: int  # image index in the set
    name: str
    value: float  # the channel's largest activation in this image
    pos: tuple[int, int]  # where (row, column of the feature map)


@dataclass
class LayerTop:
    """Per image and channel: the largest activation (``maxes``, N×C) and its flat position in
    the H×W map (``argmax``); unreadable images have ``-inf``."""

    layer: str
    names: list[str]
    maxes: np.ndarray
    argmax: np.ndarray
    hw: tuple[int, int]
    input_hw: tuple[int, int]
    failed: list[str] = field(default_factory=list)

    @property
    def channels(self) -> int:
        return self.maxes.shape[1]

    def ranked(self, channel: int, k: int = 9, least: bool = False) -> list[Example]:
        v = self.maxes[:, channel]
        ok = np.flatnonzero(np.isfinite(v))
        # Ties keep the set's order (stable sort), both ways.
        order = ok[np.argsort(v[ok] if least else -v[ok], kind="stable")][:k]
        w = self.hw[1]
        return [Example(int(i), self.names[i], float(v[i]),
                        (int(self.argmax[i, channel]) // w, int(self.argmax[i, channel]) % w))
                for i in order]

    def distribution(self, channel: int) -> np.ndarray:
        v = self.maxes[:, channel]
        return v[np.isfinite(v)]

    def channel_ranking(self) -> np.ndarray:
        """Channels by their mean over images of the per-image max, strongest first."""
        v = np.where(np.isfinite(self.maxes), self.maxes, np.nan)
        return np.argsort(-np.nan_to_num(np.nanmean(v, axis=0), nan=-np.inf), kind="stable")


def _max_and_where(out: torch.Tensor) -> torch.Tensor:
    flat = out.float().flatten(2)  # N × C × HW
    values, where = flat.max(dim=2)
    return torch.stack([values, where.float()], 0)  # 2 × N × C (positions < 2^24: exact)


def layer_top(model: nn.Module, preprocess, layer: str, image_set: ImageSet,
              batch: int = 32, workers: int = 0, device: torch.device | None = None,
              progress: Progress | None = None) -> LayerTop:
    """One pass over ``image_set`` (batched, through a ``DataLoader``) recording every
    channel's maximum and its position; ``model`` is not changed (``features.capture``)."""
    from explorer.inference import model_on, pick_device

    device = pick_device(device)
    net = model_on(model, device)
    loader = torch.utils.data.DataLoader(_Dataset(image_set, preprocess), batch_size=batch,
                                         num_workers=workers, shuffle=False)
    maxes, where, ok_all = [], [], []
    shapes = []

    def reduce(out: torch.Tensor) -> torch.Tensor:
        shapes.append(tuple(out.shape[2:]))
        return _max_and_where(out)

    done = 0
    for x, ok in loader:
        s = capture(net, layer, x.to(device), reduce=reduce)[layer]
        maxes.append(s[0].cpu().numpy())
        where.append(s[1].cpu().numpy().astype(np.int32))
        ok_all.append(ok.numpy())
        done += x.shape[0]
        if progress:
            progress(done, len(image_set))
    m = np.concatenate(maxes).astype(np.float32)
    ok = np.concatenate(ok_all).astype(bool)
    m[~ok] = -np.inf
    return LayerTop(layer, list(image_set.names), m, np.concatenate(where), shapes[0],
                    tuple(preprocess.size), [n for n, g in zip(image_set.names, ok) if not g])


# --------------------------------------------------------------------------------------------
# Disk cache


def cache_dir() -> Path:
    root = os.environ.get("CNN_EXPLORER_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "cnn-explorer"
    return base / "channels"


_param_hashes: "weakref.WeakKeyDictionary[nn.Module, str]" = weakref.WeakKeyDictionary()
_hash_lock = threading.Lock()


def weights_key(loaded) -> str:
    """Names the weights: the source for files that do not change under us; a hash of the
    tensors for uploads and models trained in this session."""
    if loaded.source in ("package", "torchvision", "random"):
        return loaded.source
    with _hash_lock:
        key = _param_hashes.get(loaded.model)
        if key is None:
            h = hashlib.sha1()
            for name, t in loaded.model.state_dict().items():
                h.update(name.encode())
                h.update(t.detach().cpu().contiguous().numpy().tobytes())
            key = _param_hashes[loaded.model] = h.hexdigest()[:16]
    return f"{loaded.source}:{key}"


def _cache_file(loaded, layer: str, image_set: ImageSet, root: Path) -> Path:
    key = json.dumps([CACHE_VERSION, loaded.name, weights_key(loaded), layer,
                      image_set.fingerprint, repr(loaded.preprocess)])
    return root / f"{loaded.name}-{hashlib.sha1(key.encode()).hexdigest()[:20]}.npz"


def _save(result: LayerTop, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"layer": result.layer, "names": result.names, "hw": result.hw,
                       "input_hw": result.input_hw, "failed": result.failed})
    buf = io.BytesIO()
    np.savez(buf, maxes=result.maxes, argmax=result.argmax, meta=np.array(meta))
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(buf.getvalue())
    os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one


def _load(path: Path) -> LayerTop | None:
    try:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            return LayerTop(meta["layer"], meta["names"], z["maxes"], z["argmax"],
                            tuple(meta["hw"]), tuple(meta["input_hw"]), meta["failed"])
    except (OSError, ValueError, KeyError):
        return None  # missing or damaged: computed again


def lookup(loaded, layer: str, image_set: ImageSet, root: Path | None = None) -> LayerTop | None:
    """The layer's result from the disk cache, or None when it has not been computed yet."""
    path = _cache_file(loaded, layer, image_set, Path(root) if root else cache_dir())
    return _load(path) if path.exists() else None


def cached_layer_top(loaded, layer: str, image_set: ImageSet, root: Path | None = None,
                     progress: Progress | None = None, **kwargs) -> tuple[LayerTop, bool]:
    """:func:`layer_top` through the disk cache; returns (result, whether it came from disk)."""
    path = _cache_file(loaded, layer, image_set, Path(root) if root else cache_dir())
    hit = _load(path)
    if hit is not None:
        return hit, True
    result = layer_top(loaded.model, loaded.preprocess, layer, image_set, progress=progress,
                       **kwargs)
    try:
        _save(result, path)
    except OSError:
        pass  # a read-only home: the result is still good, only not remembered
    return result, False


# --------------------------------------------------------------------------------------------
# Crops


def network_view(image: Image.Image, preprocess) -> Image.Image:
    """The image as the network sees it: preprocessed (resized, cropped), normalisation undone."""
    from explorer.inference import tensor_to_image

    return tensor_to_image(preprocess(image), preprocess).convert("RGB")


def crop_example(name: str, layer: str, image: Image.Image, preprocess,
                 pos: tuple[int, int]) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The part of ``image`` (network view) inside the receptive field of unit ``pos`` of
    ``layer``, and that box (top, left, bottom, right), clipped to the image."""
    view = network_view(image, preprocess)
    w, h = view.size
    row = layer_row(name, layer, (len(preprocess.mean), h, w))
    box = rf_box(row, pos, (h, w))
    top, left, bottom, right = box
    return view.crop((left, top, right, bottom)), box
