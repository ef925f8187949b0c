"""Reading images from users safely: every format Pillow knows, any mode, one clear message.

``load_image`` accepts bytes, a path or a file-like object and returns an 8-bit RGB
``PIL.Image`` with EXIF orientation applied. Anything a user can get wrong (an empty file, a text
file named .jpg, a truncated JPEG, a decompression bomb) raises :class:`ImageLoadError` whose
message says what happened and what to do; nothing else escapes.
"""
from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from explorer.i18n import _
from explorer.data.paths import SAMPLES


# 40 megapixels is a 7,300 × 5,500 photo: more than any camera a learner holds, far less than a
# decompression bomb (a 20,000 × 20,000 PNG of a few hundred bytes unpacks to 1.2 GB).
MAX_PIXELS = 40_000_000
MAX_BYTES = 50 * 1024 * 1024
# Nothing after the preview needs more: the networks read at most 520 × 520 (DeepLab), 299 for
# Inception. A larger image is reduced while it is decoded (JPEG: by the decoder itself), so a
# 40-megapixel upload holds 12 MB, not 120 MB, for as long as the session keeps it.
MAX_SIDE = 2048
# The full-size pixels of a large image exist only while it is decoded. Pillow allocates them in
# 16 MB blocks by default, which glibc serves from per-thread heaps that keep the memory after
# the image is freed (each session thread its own: the server grew by the peak of every one).
# Blocks of 64 MB are above glibc's largest mmap threshold, so they go back to the system when
# freed. An image smaller than a block still takes only the bytes it needs.
Image.core.set_block_size(64 * 2**20)


def _trim_heap() -> None:
    """Hand freed heap memory back to the system after a large decode (glibc's malloc_trim;
    a no-op elsewhere): the numpy and Pillow temporaries under 64 MB live in per-thread heaps
    that otherwise keep their peak for the life of the server."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
FORMATS = "JPEG, PNG, WebP, BMP, TIFF or GIF"
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})


def image_files(path: Path) -> list[Path]:
    """``path`` itself when it is a file, else the image files directly in that folder
    (by suffix, any case), sorted by name."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


class ImageLoadError(ValueError):
    """A user-readable reason why an image could not be read."""


@dataclass
class LoadedImage:
    image: Image.Image  # RGB, 8-bit, EXIF-transposed
    notes: list[str] = field(default_factory=list)  # what was converted, for the UI to show
    format: str | None = None
    original_mode: str | None = None
    original_size: tuple[int, int] | None = None


def _read_bytes(data) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        if len(data) > MAX_BYTES:
            raise ImageLoadError(_("The file is larger than {mb} MB: please use a smaller "
                                   "image.").format(mb=MAX_BYTES // 2**20))
        return bytes(data)
    if isinstance(data, (str, Path)):
        path = Path(data)
        if not path.is_file():
            raise ImageLoadError(_("No file at {path}.").format(path=path))
        if path.stat().st_size > MAX_BYTES:
            raise ImageLoadError(_("{name} is larger than {mb} MB: please use a smaller "
                                   "image.").format(name=path.name, mb=MAX_BYTES // 2**20))
        return path.read_bytes()
    if hasattr(data, "read"):
        if hasattr(data, "seek"):
            data.seek(0)
        raw = data.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ImageLoadError(_("The file is larger than {mb} MB: please use a smaller "
                                   "image.").format(mb=MAX_BYTES // 2**20))
        return raw
    raise ImageLoadError(_("Cannot read an image from a {type}.").format(
        type=type(data).__name__))


def _to_rgb(img: Image.Image, notes: list[str]) -> Image.Image:
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit or float greyscale: scale the real range to 0..255 (a plain convert("L")
        # clips everything above 255 to white).
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(arr)), float(np.nanmax(arr))
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        arr = np.clip((arr - lo) * scale, 0, 255).astype(np.uint8)
        notes.append(_("{mode} image ({lo}…{hi}) rescaled to 8 bits.").format(
            mode=mode, lo=f"{lo:g}", hi=f"{hi:g}"))
        return Image.fromarray(arr, "L").convert("RGB")
    if mode == "P":
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        if rgba.getextrema()[3][0] < 255:
            notes.append(_("Transparent areas were filled with white."))
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "CMYK":
        notes.append(_("CMYK image converted to RGB."))
    elif mode in ("L", "1"):
        notes.append(_("Greyscale image: its grey level is copied to the three colour "
                       "channels."))
    return img.convert("RGB")


def _reduce(img: Image.Image, max_side: int) -> Image.Image:
    """``img`` with its longer side at most ``max_side`` (box-filter halvings, then Lanczos)."""
    factor = max(img.size) // max_side
    if factor >= 2 and img.mode in ("RGB", "L", "RGBA", "LA", "I", "F", "CMYK"):
        img = img.reduce(factor)  # cheap and exact area averaging, no full-size copy
    if max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side), Image.LANCZOS)
    return img


def read_image(data, max_pixels: int = MAX_PIXELS, max_side: int = MAX_SIDE) -> LoadedImage:
    """Decode ``data`` into RGB with notes on what was converted (see :func:`load_image`).
    An image larger than ``max_side`` on its longer side comes back reduced to it."""
    raw = _read_bytes(data)
    if not raw:
        raise ImageLoadError(_("The file is empty (0 bytes). Choose an image file."))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(raw))
            width, height = img.size
            if width * height > max_pixels:
                raise ImageLoadError(_(
                    "The image is {width} × {height} pixels ({megapixels} megapixels), more "
                    "than the {limit} megapixels the explorer accepts. Resize it and upload it "
                    "again.").format(width=f"{width:,}", height=f"{height:,}",
                                     megapixels=f"{width * height / 1e6:,.0f}",
                                     limit=f"{max_pixels / 1e6:,.0f}"))
            notes: list[str] = []
            n_frames = getattr(img, "n_frames", 1)
            if n_frames > 1:
                img.seek(0)
                notes.append(_("Animated or multi-page {format} with {frames} frames: the "
                               "first frame is used.").format(format=img.format,
                                                              frames=n_frames))
            fmt, mode = img.format, img.mode
            if max(width, height) > max_side and fmt == "JPEG":
                img.draft("RGB" if mode == "CMYK" else mode, (max_side, max_side))  # decode at 1/2…1/8
            img.load()  # truncated files raise here (Pillow's LOAD_TRUNCATED_IMAGES is off)
            exif = img.getexif()  # read before reducing: reduce() drops the EXIF orientation
            if max(img.size) > max_side:
                if img.mode in ("P", "1", "I;16", "I;16B", "I;16L"):
                    img = _to_rgb(img, notes)  # modes reduce() cannot average
                img = _reduce(img, max_side)
                img.info["exif"] = exif.tobytes()
                img.getexif().update(exif)
            transposed = ImageOps.exif_transpose(img)
            if transposed is not img and transposed.size != img.size:
                notes.append(_("Rotated upright as its EXIF orientation says."))
            img = _to_rgb(transposed, notes)
            if img.size != (width, height) and max(width, height) > max_side:
                _trim_heap()
                notes.append(_("Reduced from {width} × {height} to {w} × {h} pixels: the networks "
                               "read at most 520 × 520.").format(
                    width=f"{width:,}", height=f"{height:,}", w=f"{img.width:,}",
                    h=f"{img.height:,}"))
    except ImageLoadError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(_(
            "The image is too large to decode safely (it looks like a decompression bomb). "
            "Resize it and upload it again.")) from None
    except UnidentifiedImageError:
        from explorer.data.filetypes import kind_of

        raise ImageLoadError(_(
            "It is {kind}, not an image the explorer can read, whatever its name says. Upload "
            "the picture itself as a {formats} file (on a web page: right-click the picture, "
            "then Save image as).").format(kind=kind_of(raw), formats=FORMATS)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(_(
            "The image is damaged or truncated and cannot be decoded ({error}). Try another "
            "file or save it again from an image editor.").format(error=exc)) from None
    return LoadedImage(image=img, notes=notes, format=fmt, original_mode=mode,
                       original_size=(width, height))


def load_image(data, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """An 8-bit RGB image from bytes, a path or a file-like object.

    EXIF orientation is honoured; greyscale, palette, RGBA (over white), CMYK and 16-bit images
    are converted; animated GIFs and multi-page TIFFs give their first frame. Raises
    :class:`ImageLoadError` with a user-readable message for anything that is not a readable
    image or is larger than ``max_pixels``.
    """
    return read_image(data, max_pixels).image


def sample_manifest() -> list[dict]:
    """The bundled samples with their source and licence (assets/samples/manifest.json)."""
    return json.loads((SAMPLES / "manifest.json").read_text(encoding="utf-8"))


def sample_images(kind: str | None = None) -> dict[str, Path]:
    """Bundled sample images by label; ``kind`` is "photo" or "digit" to pick one sort."""
    return {s["label"]: SAMPLES / s["file"] for s in sample_manifest()
            if kind is None or s["kind"] == kind}
