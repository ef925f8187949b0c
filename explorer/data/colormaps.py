"""Colour maps for every picture the explorer draws: matplotlib's tables, looked up once each."""
from __future__ import annotations

import functools

import numpy as np

__all__ = ["lut", "apply", "colorize", "enlarge"]


@functools.lru_cache(maxsize=16)
def lut(name: str = "viridis") -> np.ndarray:
    """256×3 uint8 table of matplotlib's colour map ``name`` ("viridis", "jet", "gray", ...)."""
    import matplotlib  # a dependency of captum; only the colour tables are used

    rgb = matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3]
    table = (rgb * 255).round().astype(np.uint8)
    table.flags.writeable = False  # shared by every caller
    return table


def colorize(values: np.ndarray, lo: float | None = None, hi: float | None = None,
             name: str = "viridis") -> np.ndarray:
    """``values`` (any shape) as RGB uint8, ``lo``..``hi`` (default: their own min..max) spread
    over the table; a constant map is drawn in the table's first colour."""
    values = np.asarray(values, dtype=np.float32)
    lo = float(values.min()) if lo is None else lo
    hi = float(values.max()) if hi is None else hi
    scale = 255.0 / (hi - lo) if hi - lo > 1e-12 else 0.0
    idx = np.clip(np.round((values - lo) * scale), 0, 255).astype(np.uint8)
    return lut(name)[idx]


def apply(heat: np.ndarray, name: str = "jet") -> np.ndarray:
    """A map already in [0, 1] as float RGB in [0, 1] (for blending over a photo), continuous
    (not quantised to 256 levels). "jet" is the classic piecewise-linear definition
    (r, g, b = clip(1.5 - |4h - 3|), clip(1.5 - |4h - 2|), clip(1.5 - |4h - 1|)), which
    Grad-CAM papers draw with; "gray" repeats the map; other names use matplotlib's table."""
    heat = np.asarray(heat, dtype=np.float32)
    if name == "gray":
        return np.repeat(heat[..., None], 3, axis=-1)
    if name == "jet":
        return np.stack([np.clip(1.5 - np.abs(4 * heat - k), 0, 1) for k in (3, 2, 1)], axis=-1)
    return colorize(heat, 0.0, 1.0, name).astype(np.float32) / 255.0


def enlarge(rgb: np.ndarray, size: int = 160) -> np.ndarray:
    """Nearest-neighbour enlargement to about ``size`` pixels, so single units stay visible."""
    rep = max(1, size // max(rgb.shape[:2]))
    return np.repeat(np.repeat(rgb, rep, axis=0), rep, axis=1)
