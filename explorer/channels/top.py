"""Top images of a channel (dataset examples): one batched pass over an image set per layer.

For every image the pass keeps, per channel, the largest activation anywhere in the feature map
and where it is, and the largest among the *interior* units (the outermost ring of the map left
out: those units see the zero padding, and their maxima are often about where, not what). N×C
values and positions, never the maps themselves. Ranking the images of a channel by either
gives its top and bottom k; :meth:`LayerTop.border_share` says how often the maximum sits on
the ring against the ring's share of the map, :meth:`LayerTop.ties` when the k shown are a
sample of many equal values (a saturated channel). The crop shown is the part of the image (as
the network saw it, after preprocessing) inside the receptive field of the maximising unit
(:mod:`explorer.channels.where` chooses the theoretical or the effective one).

The pass records the layer's siblings too (the other children of its parent: features.0 …
features.8 for features.3): the forward runs to the deepest of them, about the same work, and
switching layers afterwards is a lookup. Each layer's result for an image set is cached on disk
per (model, weights, layer, image set, preprocessing) as a small ``.npz``. Cache folder:
``$CNN_EXPLORER_CACHE/channels``, else ``~/.cache/cnn-explorer/channels``.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
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
from explorer.inference.shared import capture
from explorer.i18n import _
from explorer.channels.fields import layer_row, rf_box

__all__ = ["ImageSet", "LayerTop", "Example", "Ties", "find_ties", "layer_top", "layers_top",
           "cached_layer_top", "lookup", "remember", "save_top", "load_top", "cache_dir",
           "weights_key", "crop_example", "network_view", "siblings"]

CACHE_VERSION = 2  # 2: interior maxima
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
        paths = images.image_files(folder)
        if not paths:
            raise FileNotFoundError(_("no images ({suffixes}) in {folder}").format(
                suffixes=", ".join(sorted(images.IMAGE_SUFFIXES)), folder=folder))
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
    value: float  # the channel's largest activation in this image (interior units: of those)
    pos: tuple[int, int]  # where (row, column of the feature map)


@dataclass
class Ties:
    """The k shown are a sample: ``count`` images reach ``value`` (within ``tolerance``), and
    only ``shown`` of them fit in the k."""

    count: int
    shown: int
    value: float
    tolerance: float


def find_ties(values: np.ndarray, k: int, least: bool = False, rtol: float = 1e-3) -> Ties | None:
    """Whether the k-th value of ``values`` (largest first, smallest with ``least``) is shared
    with images left out. Values within ``rtol`` × the values' range count as equal (a channel
    saturating at 0.998 gives hundreds of images that differ in the fifth digit)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if len(v) <= k or k < 1:
        return None
    order = np.sort(v) if least else -np.sort(-v)
    cut = order[k - 1]
    tol = rtol * float(order.max() - order.min()) if len(order) > 1 else 0.0
    tied = np.abs(v - cut) <= tol
    count = int(tied.sum())
    shown = int((np.abs(order[:k] - cut) <= tol).sum())
    if count <= shown:
        return None
    return Ties(count, shown, float(cut), tol)


@dataclass
class LayerTop:
    """Per image and channel: the largest activation (``maxes``, N×C) and its flat position in
    the H×W map (``argmax``), the same over the interior units (``inner_maxes``,
    ``inner_argmax``, positions in the full map); unreadable images have ``-inf``."""

    layer: str
    names: list[str]
    maxes: np.ndarray
    argmax: np.ndarray
    hw: tuple[int, int]
    input_hw: tuple[int, int]
    failed: list[str] = field(default_factory=list)
    inner_maxes: np.ndarray | None = None
    inner_argmax: np.ndarray | None = None
    top_maps: np.ndarray | None = None  # C × k × H × W: each channel's top k maps (in memory)
    top_index: np.ndarray | None = None  # C × k: their images

    @property
    def channels(self) -> int:
        return self.maxes.shape[1]

    @property
    def has_interior(self) -> bool:
        return self.inner_maxes is not None and self.hw[0] > 2 and self.hw[1] > 2

    def _values(self, interior: bool) -> tuple[np.ndarray, np.ndarray]:
        if interior:
            if not self.has_interior:
                raise ValueError(f"{self.layer}'s {self.hw[0]}×{self.hw[1]} map has no "
                                 "interior units")
            return self.inner_maxes, self.inner_argmax
        return self.maxes, self.argmax

    def ranked(self, channel: int, k: int = 9, least: bool = False,
               interior: bool = False) -> list[Example]:
        """The k images with the largest (``least``: smallest) peak of ``channel``; with
        ``interior`` the peak over the units off the map's outermost ring."""
        maxes, argmax = self._values(interior)
        v = maxes[:, channel]
        ok = np.flatnonzero(np.isfinite(v))
        # Ties keep the set's order (stable sort), both ways.
        order = ok[np.argsort(v[ok] if least else -v[ok], kind="stable")][:k]
        w = self.hw[1]
        return [Example(int(i), self.names[i], float(v[i]),
                        (int(argmax[i, channel]) // w, int(argmax[i, channel]) % w))
                for i in order]

    def ties(self, channel: int, k: int = 9, least: bool = False,
             interior: bool = False) -> Ties | None:
        return find_ties(self._values(interior)[0][:, channel], k, least)

    def distribution(self, channel: int, interior: bool = False) -> np.ndarray:
        v = self._values(interior)[0][:, channel]
        return v[np.isfinite(v)]

    def on_border(self, channel: int | None = None) -> np.ndarray:
        """N (×C without ``channel``) booleans: the image's maximum is on the outermost ring."""
        where = self.argmax if channel is None else self.argmax[:, channel]
        h, w = self.hw
        i, j = where // w, where % w
        return (i == 0) | (j == 0) | (i == h - 1) | (j == w - 1)

    def border_share(self, channel: int | None = None) -> tuple[float, float]:
        """(share of the images whose maximum sits on the map's outermost ring, the ring's
        share of the map's units: what chance would give). Over every channel without
        ``channel``."""
        v = self.maxes if channel is None else self.maxes[:, channel]
        ok = np.isfinite(v)
        border = self.on_border(channel)
        share = float(border[ok].mean()) if ok.any() else 0.0
        h, w = self.hw
        ring = h * w - max(0, h - 2) * max(0, w - 2)
        return share, ring / (h * w)

    def channel_ranking(self) -> np.ndarray:
        """Channels by their mean over images of the per-image max, strongest first."""
        v = np.where(np.isfinite(self.maxes), self.maxes, np.nan)
        return np.argsort(-np.nan_to_num(np.nanmean(v, axis=0), nan=-np.inf), kind="stable")


def _reduce(out: torch.Tensor) -> torch.Tensor:
    """4 × N × C: max, its flat position, the interior max and its flat position (in the full
    map; -inf and 0 for a map of 2 units or fewer across). Positions < 2^24: exact in float."""
    out = out.float()
    n, c, h, w = out.shape
    values, where = out.flatten(2).max(dim=2)
    if h > 2 and w > 2:
        inner_v, inner_w = out[:, :, 1:-1, 1:-1].flatten(2).max(dim=2)
        inner_w = (inner_w // (w - 2) + 1) * w + inner_w % (w - 2) + 1
    else:
        inner_v = torch.full_like(values, -math.inf)
        inner_w = torch.zeros_like(where)
    return torch.stack([values, where.float(), inner_v, inner_w.float()], 0)


def siblings(name: str, layer: str) -> list[str]:
    """The channel layers with the same parent as ``layer`` (itself included), in order."""
    from explorer.channels.fields import channel_layers

    parent = layer.rpartition(".")[0]
    return [r.path for r in channel_layers(name)
            if r.path.rpartition(".")[0] == parent and r.path.count(".") == layer.count(".")]


class _TopMaps:
    """A running top k per channel, with the maps: merged batch by batch in the order of the
    set, so the winners are :meth:`LayerTop.ranked`'s (largest first, ties by index)."""

    def __init__(self, k: int):
        self.k = k
        self.values = self.index = self.maps = None

    def add(self, out: torch.Tensor, ok: torch.Tensor, first: int) -> None:
        out = out.float()
        n, c = out.shape[:2]
        values = out.flatten(2).amax(2).T  # C × N
        values = torch.where(ok.to(values.device)[None, :], values,
                             torch.tensor(-math.inf, device=values.device))
        index = torch.arange(first, first + n, device=values.device).expand(c, n)
        maps = out.transpose(0, 1)  # C × N × H × W
        if self.values is not None:
            values = torch.cat([self.values, values], 1)
            index = torch.cat([self.index, index], 1)
            maps = torch.cat([self.maps, maps], 1)
        order = torch.sort(-values, dim=1, stable=True).indices[:, :self.k]
        self.values = values.gather(1, order)
        self.index = index.gather(1, order)
        self.maps = maps.gather(1, order[:, :, None, None].expand(-1, -1, *maps.shape[2:]))


def layers_top(model: nn.Module, preprocess, layers: list[str], image_set: ImageSet,
               batch: int = 32, workers: int = 0, device: torch.device | None = None,
               progress: Progress | None = None, keep_maps: int = 0) -> dict[str, LayerTop]:
    """One pass over ``image_set`` (batched, through a ``DataLoader``) recording every
    channel's maximum and its position at each of ``layers``; ``model`` is not changed
    (``shared.capture``). With ``keep_maps`` = k, the first layer's result also holds the
    feature maps of each channel's top k images (``top_maps``, ``top_index``): no second pass
    to draw them."""
    from explorer.inference import model_on, pick_device

    device = pick_device(device)
    net = model_on(model, device)
    loader = torch.utils.data.DataLoader(_Dataset(image_set, preprocess), batch_size=batch,
                                         num_workers=workers, shuffle=False)
    parts: dict[str, list[np.ndarray]] = {layer: [] for layer in layers}
    shapes: dict[str, tuple[int, int]] = {}
    ok_all = []
    kept = _TopMaps(keep_maps) if keep_maps else None

    def reduce(out: torch.Tensor):
        # The maps are cloned: a later in-place op of the network would overwrite them.
        return tuple(out.shape[2:]), _reduce(out), out.clone() if kept is not None else None

    done = 0
    for x, ok in loader:
        got = capture(net, layers, x.to(device), reduce=reduce)
        for layer in layers:
            hw, r, out = got[layer]
            shapes[layer] = hw
            parts[layer].append(r.cpu().numpy())
            if kept is not None and layer == layers[0]:
                kept.add(out, ok, done)
        ok_all.append(ok.numpy())
        done += x.shape[0]
        if progress:
            progress(done, len(image_set))
    ok = np.concatenate(ok_all).astype(bool)
    failed = [n for n, g in zip(image_set.names, ok) if not g]
    results = {}
    for layer in layers:
        r = np.concatenate(parts[layer], axis=1)  # 4 × N × C
        maxes, inner = r[0].astype(np.float32), r[2].astype(np.float32)
        maxes[~ok] = -np.inf
        inner[~ok] = -np.inf
        results[layer] = LayerTop(layer, list(image_set.names), maxes, r[1].astype(np.int32),
                                  shapes[layer], tuple(preprocess.size), list(failed), inner,
                                  r[3].astype(np.int32))
    if kept is not None:
        results[layers[0]].top_maps = kept.maps.cpu().numpy()
        results[layers[0]].top_index = kept.index.cpu().numpy()
    return results


def layer_top(model: nn.Module, preprocess, layer: str, image_set: ImageSet,
              batch: int = 32, workers: int = 0, device: torch.device | None = None,
              progress: Progress | None = None, keep_maps: int = 0) -> LayerTop:
    """:func:`layers_top` for one layer."""
    return layers_top(model, preprocess, [layer], image_set, batch, workers, device,
                      progress, keep_maps)[layer]


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


def save_top(result: LayerTop, path: Path) -> None:
    """Write ``result`` to ``path`` atomically (a reader sees the old file or the whole new one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    meta = json.dumps({"layer": result.layer, "names": result.names, "hw": result.hw,
                       "input_hw": result.input_hw, "failed": result.failed})
    arrays = {"maxes": result.maxes, "argmax": result.argmax}
    if result.inner_maxes is not None:
        arrays.update(inner_maxes=result.inner_maxes, inner_argmax=result.inner_argmax)
    buf = io.BytesIO()
    np.savez(buf, meta=np.array(meta), **arrays)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(buf.getvalue())
    os.replace(tmp, path)


def load_top(path: Path) -> LayerTop | None:
    try:
        with np.load(path) as z:
            meta = json.loads(str(z["meta"]))
            inner = (z["inner_maxes"], z["inner_argmax"]) if "inner_maxes" in z.files else (
                None, None)
            return LayerTop(meta["layer"], meta["names"], z["maxes"], z["argmax"],
                            tuple(meta["hw"]), tuple(meta["input_hw"]), meta["failed"], *inner)
    except (OSError, ValueError, KeyError):
        return None  # missing or damaged: computed again


def lookup(loaded, layer: str, image_set: ImageSet, root: Path | None = None) -> LayerTop | None:
    """The layer's result from the disk cache, or None when it has not been computed yet."""
    path = _cache_file(loaded, layer, image_set, Path(root) if root else cache_dir())
    return load_top(path) if path.exists() else None


def remember(loaded, layer: str, image_set: ImageSet, result: LayerTop,
             root: Path | None = None) -> bool:
    """Put a pass's result in the disk cache; False when the folder cannot be written."""
    try:
        save_top(result, _cache_file(loaded, layer, image_set, Path(root) if root else
                                     cache_dir()))
        return True
    except OSError:
        return False


def cached_layer_top(loaded, layer: str, image_set: ImageSet, root: Path | None = None,
                     progress: Progress | None = None, with_siblings: bool = True,
                     **kwargs) -> tuple[LayerTop, bool]:
    """:func:`layer_top` through the disk cache (its siblings recorded in the same pass);
    returns (result, whether it came from disk)."""
    root = Path(root) if root else cache_dir()
    hit = load_top(_cache_file(loaded, layer, image_set, root))
    if hit is not None:
        return hit, True
    layers = [layer]
    if with_siblings:
        layers += [s for s in siblings(loaded.name, layer) if s != layer
                   and load_top(_cache_file(loaded, s, image_set, root)) is None]
    results = layers_top(loaded.model, loaded.preprocess, layers, image_set, progress=progress,
                         **kwargs)
    for name, result in results.items():
        try:
            save_top(result, _cache_file(loaded, name, image_set, root))
        except OSError:
            pass  # a read-only home: the result is still good, only not remembered
    return results[layer], False


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
