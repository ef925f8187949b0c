"""A layer at a glance (OpenAI Microscope's first screen): every channel's visualisation beside its
top images, computed once and kept on disk.

:func:`build_atlas` runs one batched pass over an image set (``top.cached_layer_top``), places
each channel's top k images (``where.place``: activation maps, crop boxes), and visualises the
channels in batches (``featurevis.visualize_many``), writing each channel as soon as its picture
is done, so a partial atlas can already be read. The folder is keyed by (model, weights, layer,
image set, settings) and holds everything the page shows: the layer's top-images result, the
network's view of every image used (JPEG), and per channel its visualisation, top images, maps
and boxes. A teacher builds it once (``python -m explorer.channels atlas``) and the page, which
looks in :func:`atlas_roots`, only reads it, with or without the images.

Layout: ``<root>/<model>/<layer>/<key>/atlas.json``, ``top.npz``, ``views/<index>.jpg``,
``ch/<channel>.npz``.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from explorer.channels import where
from explorer.channels.featurevis import VisResult, VisSettings, settings_for, visualize_many
from explorer.channels.fields import layer_row, rf_box
from explorer.channels.store import save_vis, vis_path
from explorer.channels.top import (ImageSet, LayerTop, cache_dir, layer_top, load_top, lookup,
                                   network_view, remember, save_top, weights_key)

__all__ = ["ATLAS_VERSION", "AtlasSettings", "Atlas", "AtlasChannel", "atlas_root",
           "atlas_roots", "atlas_key", "build_atlas", "find_atlases", "open_atlas", "card",
           "channel_tiles"]

ATLAS_VERSION = 1
Progress = Callable[[float, float, str], None]  # (done, total, stage)


@dataclass(frozen=True)
class AtlasSettings:
    k: int = 8  # top images kept per channel
    mass: float = where.EFFECTIVE_MASS
    seed: int = 0
    vis: VisSettings = field(default_factory=VisSettings)

    def to_dict(self) -> dict:
        return asdict(self)


def atlas_root() -> Path:
    """Where the page builds atlases (and the command line writes them by default)."""
    return cache_dir() / "atlas"


def atlas_roots(extra=()) -> list[Path]:
    """Every folder the page reads atlases from: ``atlas_root()``, the folders in
    ``$CNN_EXPLORER_ATLAS`` (separated by ``os.pathsep``) and ``extra``."""
    roots = [atlas_root()]
    env = os.environ.get("CNN_EXPLORER_ATLAS")
    if env:
        roots += [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    roots += [Path(p).expanduser() for p in extra]
    out = []
    for r in roots:
        if r not in out:
            out.append(r)
    return out


def atlas_key(loaded, layer: str, image_set: ImageSet, settings: AtlasSettings) -> str:
    key = json.dumps([ATLAS_VERSION, loaded.name, weights_key(loaded), layer,
                      image_set.fingerprint, repr(loaded.preprocess), settings.to_dict()],
                     sort_keys=True, default=str)
    return hashlib.sha1(key.encode()).hexdigest()[:16]


def _folder(root: Path, model: str, layer: str, key: str) -> Path:
    return Path(root) / model / layer / key


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)  # atomic: a reader sees the old file or the whole new one


# --------------------------------------------------------------------------------------------
# Reading


@dataclass
class AtlasChannel:
    channel: int
    vis: np.ndarray  # the visualisation (H×W×3 or H×W uint8)
    vis_info: dict  # final mean, peak, grey, settings, seconds…
    placed: list[where.Placed]  # its top images, strongest first
    names: list[str]  # their file names
    vis_images: list[np.ndarray] = field(default_factory=list)


class Atlas:
    """An atlas folder: its manifest (``atlas.json``) and lazy access to the rest."""

    def __init__(self, path: Path, manifest: dict):
        self.path = Path(path)
        self.manifest = manifest

    @property
    def model(self) -> str:
        return self.manifest["model"]

    @property
    def layer(self) -> str:
        return self.manifest["layer"]

    @property
    def channels(self) -> list[int]:
        """The channels written so far, in order."""
        return sorted(self.manifest["done"])

    @property
    def total(self) -> int:
        return int(self.manifest["layer_channels"])

    @property
    def complete(self) -> bool:
        return len(self.manifest["done"]) >= len(self.manifest["wanted"])

    @property
    def stamp(self) -> str:
        """Changes whenever the folder gains channels (for caches of what is drawn from it)."""
        return f"{self.path}:{len(self.manifest['done'])}:{self.manifest.get('updated')}"

    def top(self) -> LayerTop | None:
        return load_top(self.path / "top.npz")

    def view(self, index: int) -> Image.Image:
        return Image.open(self.path / "views" / f"{int(index)}.jpg").convert("RGB")

    def channel(self, c: int) -> AtlasChannel | None:
        try:
            with np.load(self.path / "ch" / f"{int(c)}.npz") as z:
                info = json.loads(str(z["info"]))
                maps = z["maps"].astype(np.float32)
                pictures = list(z["vis"])
        except (OSError, ValueError, KeyError):
            return None
        placed = [where.Placed(e["index"], int(c), tuple(e["pos"]), e["value"], maps[n],
                               tuple(e["box"]), e["kind"], tuple(e["theoretical"]), e["mass"])
                  for n, e in enumerate(info["examples"])]
        return AtlasChannel(int(c), pictures[0], info["vis"], placed,
                            [e["name"] for e in info["examples"]], pictures)

    def scale(self, ch: AtlasChannel) -> float:
        """The overlay scale of a channel: its strongest top image's peak."""
        return max([p.value for p in ch.placed] + [0.0])


def open_atlas(path: Path) -> Atlas | None:
    try:
        manifest = json.loads((Path(path) / "atlas.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("version") != ATLAS_VERSION:
        return None
    return Atlas(Path(path), manifest)


def find_atlases(model: str, layer: str, weights: str | None = None,
                 roots=None) -> list[Atlas]:
    """The atlases of ``model``'s ``layer`` (with ``weights``, a ``top.weights_key``) in
    ``roots`` (default :func:`atlas_roots`), the most complete and newest first."""
    found = []
    for root in roots if roots is not None else atlas_roots():
        folder = Path(root) / model / layer
        if not folder.is_dir():
            continue
        for sub in folder.iterdir():
            atlas = open_atlas(sub)
            if atlas is None or (weights is not None and atlas.manifest["weights"] != weights):
                continue
            found.append(atlas)
    found.sort(key=lambda a: (-len(a.manifest["done"]), -a.manifest.get("updated", 0)))
    return found


# --------------------------------------------------------------------------------------------
# Building


def _save_channel(folder: Path, c: int, placed: list[where.Placed], names: list[str],
                  result: VisResult) -> None:
    examples = [{"index": p.index, "name": n, "value": p.value, "pos": list(p.pos),
                 "box": list(p.box), "kind": p.kind, "theoretical": list(p.theoretical),
                 "mass": p.mass} for p, n in zip(placed, names)]
    info = {"examples": examples, "vis": result.to_dict()}
    maps = (np.stack([p.map for p in placed]) if placed else np.zeros((0, 1, 1))).astype(
        np.float16)
    buf = io.BytesIO()
    np.savez(buf, vis=np.stack(result.images or [result.image]), maps=maps,
             info=np.array(json.dumps(info)))
    _write(folder / "ch" / f"{c}.npz", buf.getvalue())


def _save_manifest(folder: Path, manifest: dict) -> None:
    manifest["updated"] = time.time()
    _write(folder / "atlas.json", json.dumps(manifest, indent=1).encode())


def _view_of(folder: Path, image_set: ImageSet, i: int, loaded, need: bool = True):
    """Image ``i`` (when ``need``), its network view written to the atlas once."""
    path = folder / "views" / f"{i}.jpg"
    if path.exists() and not need:
        return None
    image = image_set.load(i)
    if not path.exists():
        buf = io.BytesIO()
        network_view(image, loaded.preprocess).save(buf, format="JPEG", quality=90)
        _write(path, buf.getvalue())
    return image


def _from_pass(top: LayerTop, c: int, examples, row) -> list[where.Placed] | None:
    """A channel's placements from the maps its pass kept, when it kept them all."""
    if top.top_maps is None:
        return None
    kept = {int(i): n for n, i in enumerate(top.top_index[c])}
    if any(e.index not in kept for e in examples):
        return None
    theoretical = tuple(int(v) for v in row.receptive_field_hw)
    return [where.Placed(e.index, c, e.pos, e.value, top.top_maps[c, kept[e.index]],
                         rf_box(row, e.pos, top.input_hw), "theoretical", theoretical, None)
            for e in examples]


def build_atlas(loaded, layer: str, image_set: ImageSet, root: Path | None = None,
                settings: AtlasSettings | None = None, channels: list[int] | None = None,
                progress: Progress | None = None, chunk: int | None = None,
                device=None, batch: int = 16) -> Atlas:
    """Compute (or complete) the atlas of ``layer`` over ``image_set`` in ``root`` (default
    :func:`atlas_root`); ``channels`` None: all of them. Channels already in the folder are
    kept, so an interrupted build resumes where it stopped."""
    import torch

    from explorer.inference import pick_device

    settings = settings or AtlasSettings(vis=settings_for(loaded.name))
    device = pick_device(device)
    # Batches of channels pay on a GPU; on a CPU one at a time was faster (bench/channels.py).
    chunk = chunk or (16 if device.type == "cuda" else 1)
    root = Path(root) if root else atlas_root()
    key = atlas_key(loaded, layer, image_set, settings)
    folder = _folder(root, loaded.name, layer, key)
    report = progress or (lambda done, total, stage: None)
    t0 = time.perf_counter()

    report(0, len(image_set), "images")
    row = layer_row(loaded.name, layer, (len(loaded.preprocess.mean),
                                         *loaded.preprocess.size))
    effective = where.needs_effective(row, tuple(loaded.preprocess.size))
    top = lookup(loaded, layer, image_set)
    if top is None:  # one pass, which also keeps each channel's top maps when they suffice
        top = layer_top(loaded.model, loaded.preprocess, layer, image_set, batch=batch,
                        device=device, progress=lambda d, t: report(d, t, "images"),
                        keep_maps=0 if effective else settings.k)
        remember(loaded, layer, image_set, top)
    wanted = list(range(top.channels)) if channels is None else sorted(set(channels))
    old = open_atlas(folder)
    done = set(old.manifest["done"]) if old else set()
    manifest = {
        "version": ATLAS_VERSION, "model": loaded.name, "weights": weights_key(loaded),
        "source": loaded.source, "random": bool(getattr(loaded, "is_random", False)),
        "layer": layer, "layer_channels": top.channels, "hw": list(top.hw),
        "input_hw": list(top.input_hw), "receptive_field": list(row.receptive_field_hw),
        "images": {"label": image_set.label, "count": len(image_set),
                   "fingerprint": image_set.fingerprint, "failed": top.failed},
        "settings": settings.to_dict(), "wanted": sorted(set(wanted) | done),
        "done": sorted(done), "seconds": old.manifest.get("seconds", 0.0) if old else 0.0,
        "created": old.manifest.get("created") if old else time.time(),
    }
    save_top(top, folder / "top.npz")
    _save_manifest(folder, manifest)
    todo = [c for c in wanted if c not in done]

    # Where each channel fires in its top images: the maps kept by the pass, else one batched
    # forward (+ backward for effective boxes) per group of (image, channel) pairs, sorted by
    # image so that each is read about once.
    examples = {c: top.ranked(c, settings.k) for c in todo}
    placed = {c: _from_pass(top, c, examples[c], row) for c in todo}
    pairs = sorted((e.index, c, e.pos) for c in todo if placed[c] is None for e in examples[c])
    groups: list[list] = []  # effective: `batch` pairs; else pairs of `batch` distinct images
    for pair in pairs:
        if groups:
            group = groups[-1]
            full = (len(group) >= batch if effective
                    else len({i for i, _c, _p in group} | {pair[0]}) > batch)
        if not groups or full:
            groups.append([])
        groups[-1].append(pair)
    for c in todo:
        placed[c] = placed[c] or []
    tensors: dict[int, torch.Tensor] = {}
    done_pairs = 0
    for part in groups:
        for i in {i for i, _c, _p in part} - set(tensors):
            tensors[i] = loaded.preprocess(_view_of(folder, image_set, i, loaded))[0]
        items = [(i, tensors[i], c, pos) for i, c, pos in part]
        for p in where.place(loaded, layer, items, settings.mass, effective=effective,
                             batch=batch if effective else len(items)):
            placed[p.channel].append(p)
        last = part[-1][0]
        tensors = {i: t for i, t in tensors.items() if i == last}  # the next group may reuse it
        done_pairs += len(part)
        report(done_pairs, len(pairs), "maps")
    for c in todo:  # back in each channel's ranking order; every view on disk
        rank = {e.index: n for n, e in enumerate(examples[c])}
        placed[c].sort(key=lambda p: rank[p.index])
        for e in examples[c]:
            _view_of(folder, image_set, e.index, loaded, need=False)

    # The visualisations, a chunk of channels per batch; each channel written when done.
    steps = settings.vis.steps
    for start in range(0, len(todo), chunk):
        part = todo[start:start + chunk]

        def step(k, total, image, start=start):
            report(start * steps + k * len(part), len(todo) * steps, "visualisations")

        results = visualize_many(loaded, layer, part, settings=settings.vis, seed=settings.seed,
                                 device=device, progress=step, preview_every=0)
        for c, result in zip(part, results):
            _save_channel(folder, c, placed[c], [e.name for e in examples[c]], result)
            save_vis(result, vis_path(loaded, layer, c, "channel", settings.vis, settings.seed))
            manifest["done"] = sorted(set(manifest["done"]) | {c})
        _save_manifest(folder, manifest)
    manifest["seconds"] = (old.manifest.get("seconds", 0.0) if old else 0.0) + (
        time.perf_counter() - t0)
    _save_manifest(folder, manifest)
    report(1, 1, "done")
    return Atlas(folder, manifest)


# --------------------------------------------------------------------------------------------
# Drawing from an atlas


def card(atlas: Atlas, c: int, side: int = 112, crops: int = 4) -> Image.Image | None:
    """A channel at a glance: its visualisation beside its first ``crops`` top-image crops
    (2 × 2), ``side`` pixels high; None when the channel is not in the atlas yet."""
    entry = atlas.channel(c)
    if entry is None:
        return None
    vis = Image.fromarray(entry.vis).convert("RGB")
    vis = vis.resize((side, side), Image.NEAREST if vis.width < side else Image.BILINEAR)
    half = (side - 2) // 2
    canvas = Image.new("RGB", (side + 4 + 2 * half + 2, side), (255, 255, 255))
    canvas.paste(vis, (0, 0))
    for n, p in enumerate(entry.placed[:crops]):
        top, left, bottom, right = p.box
        crop = atlas.view(p.index).crop((left, top, right, bottom))
        crop = crop.resize((half, half), Image.NEAREST if crop.width < half else Image.BICUBIC)
        canvas.paste(crop, (side + 4 + (n % 2) * (half + 2), (n // 2) * (half + 2)))
    return canvas


def channel_tiles(atlas: Atlas, c: int, k: int = 9, show_map: bool = True,
                  side: int = 128) -> list[tuple[Image.Image, where.Placed, str]]:
    """The Channel view's top images of ``c`` from the atlas: (tile, placement, file name)."""
    entry = atlas.channel(c)
    if entry is None:
        return []
    scale = atlas.scale(entry)
    return [(where.example_tile(atlas.view(p.index), p, scale, side, show_map), p, name)
            for p, name in list(zip(entry.placed, entry.names))[:k]]
