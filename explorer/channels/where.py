"""Where a channel fires in its top images: the activation map over the photo, and the box to crop.

The map is the channel's feature map for that image, upsampled to the input the way Grad-CAM is
drawn (bilinear, ``align_corners=False``) and blended over the network's view of the photo by
the same overlay (``explorer.attribution.overlay``, colours from ``explorer.data.colormaps``),
on a scale shared by the images of one channel (the strongest image's peak is full colour), so
weaker images look weaker.

The crop is the unit's theoretical receptive field (``fields.rf_box``) while that fits in the
image. From EfficientNet-Lite0's features.5 on it does not (339 px and more against 224), and
every crop would be the whole photo; there the crop is the smallest box centred on the unit that
holds ``mass`` of its *effective* field (Luo et al. 2016): ``|∂ unit / ∂ pixel|`` on that very
image, summed over colours. Each :class:`Placed` says which box it is and why.

One batched forward (and, for effective boxes, one backward: the units' sum, whose gradient
with respect to each image of the batch is that image's own unit's, BatchNorm being in eval
mode) per call, on a module copy borrowed from ``explorer.inference.shared``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw

from explorer.inference.shared import borrowed_copy, device_of
from explorer.channels.fields import layer_row, mass_bounds, rf_box, tap

__all__ = ["EFFECTIVE_MASS", "Placed", "place", "upsample", "heat", "fire_overlay",
           "needs_effective", "example_tile"]

EFFECTIVE_MASS = 0.8  # share of the effective field a deep layer's crop holds


@dataclass
class Placed:
    """One top image of a channel: its feature map and the box its crop shows."""

    index: int  # image index in the set
    channel: int
    pos: tuple[int, int]  # the unit (row, column of the feature map)
    value: float  # its activation
    map: np.ndarray  # h×w float32, the channel's feature map on this image
    box: tuple[int, int, int, int]  # (top, left, bottom, right) in input pixels, in the image
    kind: str  # "theoretical" | "effective"
    theoretical: tuple[int, int]  # the unit's receptive field (h, w) from the analysis
    mass: float | None  # effective: the share of the gradient the box holds (≥ EFFECTIVE_MASS)


def needs_effective(row, input_hw: tuple[int, int]) -> bool:
    """The theoretical field is larger than the image on some side: crops would be the photo."""
    return any(row.receptive_field_hw[a] > input_hw[a] for a in range(2))


def place(loaded, layer: str, items: list[tuple[int, torch.Tensor, int, tuple[int, int]]],
          mass: float = EFFECTIVE_MASS, effective: bool | None = None,
          batch: int = 16) -> list[Placed]:
    """Maps and crop boxes for ``items`` = (image index, preprocessed image C×H×W, channel,
    unit position). ``effective`` None: effective boxes exactly when the theoretical field
    exceeds the image."""
    if not items:
        return []
    first = items[0][1]
    input_hw = tuple(first.shape[-2:])
    row = layer_row(loaded.name, layer, (first.shape[0], *input_hw))
    use_effective = needs_effective(row, input_hw) if effective is None else effective
    theoretical = tuple(int(v) for v in row.receptive_field_hw)
    out: list[Placed] = []
    model = loaded.model
    device = device_of(model)
    with borrowed_copy(model) as clone, tap(clone, layer) as run:
        for start in range(0, len(items), batch):
            part = items[start:start + batch]
            chans = torch.tensor([c for _i, _t, c, _p in part])
            ii = torch.tensor([p[0] for _i, _t, _c, p in part])
            jj = torch.tensor([p[1] for _i, _t, _c, p in part])
            if use_effective:  # one input per pair: each needs a gradient of its own
                x = torch.stack([t for _i, t, _c, _p in part]).float().to(device)
                rows = torch.arange(len(part))
                with torch.enable_grad():
                    x.requires_grad_(True)
                    acts = run(x)
                    units = acts[rows, chans, ii, jj]
                    (grad,) = torch.autograd.grad(units.sum(), x)
                grads = grad.abs().sum(1).cpu().numpy().astype(np.float64)  # B × H × W
            else:  # one forward per image, whatever number of its channels are asked for
                first_of: dict[int, int] = {}
                for n, (i, _t, _c, _p) in enumerate(part):
                    first_of.setdefault(i, n)
                x = torch.stack([part[n][1] for n in first_of.values()]).float().to(device)
                slot = {i: k for k, i in enumerate(first_of)}
                rows = torch.tensor([slot[i] for i, _t, _c, _p in part])
                with torch.inference_mode():
                    acts = run(x)
                    units = acts[rows, chans, ii, jj]
            maps = acts.detach()[rows, chans].float().cpu().numpy()
            for b, (index, _t, c, p) in enumerate(part):
                if use_effective:
                    centre = tuple(row.start_hw[a] + p[a] * row.jump_hw[a] for a in range(2))
                    box = mass_bounds(grads[b], centre, mass)
                    total = grads[b].sum()
                    t, l_, bt, r = box
                    share = float(grads[b][t:bt, l_:r].sum() / total) if total > 0 else 0.0
                    out.append(Placed(int(index), int(c), tuple(p), float(units[b].detach()),
                                      maps[b], box, "effective", theoretical, share))
                else:
                    out.append(Placed(int(index), int(c), tuple(p), float(units[b]), maps[b],
                                      rf_box(row, p, input_hw), "theoretical", theoretical, None))
    return out


def upsample(m: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """An h×w feature map at the input's H×W, bilinear with ``align_corners=False`` (as
    Grad-CAM is drawn: each unit's value sits at the centre of the patch it covers)."""
    t = torch.as_tensor(np.asarray(m, dtype=np.float32))[None, None]
    return F.interpolate(t, size=tuple(hw), mode="bilinear", align_corners=False)[0, 0].numpy()


def heat(m: np.ndarray, hw: tuple[int, int], scale: float) -> np.ndarray:
    """The map upsampled to ``hw`` and divided by ``scale`` (the channel's strongest peak among
    the images shown), clipped to [0, 1]: negative activations are not drawn."""
    up = upsample(m, hw)
    return np.clip(up / scale, 0.0, 1.0) if scale > 0 else np.zeros_like(up)


def fire_overlay(view: Image.Image, m: np.ndarray, scale: float, opacity: float = 0.45,
                 cmap: str = "jet") -> tuple[Image.Image, np.ndarray]:
    """The network's view with the channel's map blended over it by the Grad-CAM overlay
    (``explorer.attribution.overlay``: colour where the map is high, the photo where it is
    low); returns (picture, heat)."""
    from explorer.attribution import overlay

    h = heat(m, (view.height, view.width), scale)
    return overlay(view, h, opacity=opacity, cmap=cmap), h


def example_tile(view: Image.Image, placed: Placed, scale: float, side: int = 128,
                 show_map: bool = True) -> Image.Image:
    """One top image as a tile: left the whole view (the map over it when ``show_map``) with
    the crop's box drawn, right the crop enlarged; ``side`` pixels high."""
    left = fire_overlay(view, placed.map, scale)[0] if show_map else view.convert("RGB")
    top, l_, bottom, r = placed.box
    crop = view.convert("RGB").crop((l_, top, r, bottom))
    k = side / max(view.size)
    small = left.resize((max(1, round(view.width * k)), max(1, round(view.height * k))),
                        Image.BILINEAR)
    draw = ImageDraw.Draw(small)
    colour = (255, 255, 255) if placed.kind == "theoretical" else (255, 230, 0)
    draw.rectangle([l_ * k, top * k, r * k - 1, bottom * k - 1], outline=colour, width=2)
    c = side / max(crop.size)
    big = crop.resize((max(1, round(crop.width * c)), max(1, round(crop.height * c))),
                      Image.NEAREST if max(crop.size) < side else Image.BICUBIC)
    tile = Image.new("RGB", (small.width + 4 + side, side), (255, 255, 255))
    tile.paste(small, (0, (side - small.height) // 2))
    tile.paste(big, (small.width + 4 + (side - big.width) // 2, (side - big.height) // 2))
    return tile
