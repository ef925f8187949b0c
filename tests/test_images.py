"""explorer.images: every image a user might bring, and every bad file, ends well."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from explorer.data import data_root
from explorer.data import images
from explorer.data.images import ImageLoadError, load_image, read_image

IMAGENET = data_root("imagenet-samples")


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def decompression_bomb(side: int = 20_000) -> bytes:
    """A genuine, complete greyscale PNG of side × side zero pixels: ~400 KB that would
    unpack to side² bytes (400 MB for 20,000)."""
    comp = zlib.compressobj(9)
    row = b"\x00" * (side + 1)  # filter byte + pixels
    idat = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", idat)
            + _png_chunk(b"IEND", b""))


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def test_real_jpeg_and_the_greyscale_one():
    img = load_image(IMAGENET / "n01440764_tench.JPEG")
    assert img.mode == "RGB" and min(img.size) > 100
    grey = read_image(IMAGENET / "n03908714_pencil_sharpener.JPEG")
    assert grey.original_mode == "L" and grey.image.mode == "RGB"
    r, g, b = (np.asarray(grey.image)[..., i] for i in range(3))
    assert (r == g).all() and (g == b).all()


@pytest.mark.parametrize("fmt", ["PNG", "WEBP", "BMP", "TIFF", "GIF", "JPEG"])
def test_every_upload_format_decodes(fmt):
    src = load_image(IMAGENET / "n01530575_brambling.JPEG").resize((64, 48))
    out = load_image(_encode(src, fmt))
    assert out.size == (64, 48) and out.mode == "RGB"


def test_exif_orientation_is_honoured():
    src = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    loaded = read_image(_encode(src, "JPEG", exif=exif.tobytes()))
    assert loaded.image.size == (20, 40)
    assert any("EXIF" in n for n in loaded.notes)


def test_rgba_is_composited_on_white_and_palette_kept():
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert np.asarray(load_image(_encode(rgba, "PNG")))[0, 0].tolist() == [255, 255, 255]
    pal = Image.new("RGB", (8, 8), (0, 128, 255)).convert("P", palette=Image.Palette.ADAPTIVE)
    assert np.asarray(load_image(_encode(pal, "PNG")))[0, 0].tolist() == [0, 128, 255]


def test_cmyk_and_16_bit():
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # pure red in CMYK
    r, g, b = np.asarray(load_image(_encode(cmyk, "JPEG", quality=100)))[4, 4]
    assert r > 200 and g < 60 and b < 60
    ramp = (np.arange(256, dtype=np.uint16).reshape(16, 16) * 256)  # 0 … 65280
    img16 = Image.fromarray(ramp)
    assert img16.mode.startswith("I;16")
    out = np.asarray(load_image(_encode(img16, "PNG")))[..., 0]
    assert out.min() == 0 and out.max() == 255  # rescaled, not clipped to white
    assert np.all(np.diff(out.ravel().astype(int)) >= 0)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "lime", "blue")]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    loaded = read_image(buf.getvalue())
    assert np.asarray(loaded.image)[0, 0].tolist() == [255, 0, 0]
    assert any("3 frames" in n for n in loaded.notes)


@pytest.mark.parametrize("data, words", [
    (b"", "empty"),
    (b"this is not an image, just some text\n" * 10, "text file"),
    (bytes(range(256)) * 4, "not an image"),
])
def test_not_images_get_a_clear_message(data, words):
    with pytest.raises(ImageLoadError, match=words):
        load_image(data)


def test_truncated_jpeg_is_refused():
    raw = (IMAGENET / "n01440764_tench.JPEG").read_bytes()
    with pytest.raises(ImageLoadError, match="damaged or truncated"):
        load_image(raw[: len(raw) // 2])


@pytest.mark.parametrize("side, words", [(20_000, "too large to decode safely"),
                                         (7_000, "7,000 × 7,000 pixels")])
def test_decompression_bomb_is_refused_without_decoding(side, words, monkeypatch):
    bomb = decompression_bomb(side)
    assert len(bomb) < 2_000_000
    decoded = []
    monkeypatch.setattr(Image.Image, "load", lambda self: decoded.append(self))
    with pytest.raises(ImageLoadError, match=words):
        load_image(bomb)
    assert decoded == []  # refused from the header: the pixels were never unpacked


def test_samples_exist_with_licences():
    manifest = images.sample_manifest()
    assert {s["kind"] for s in manifest} == {"photo", "digit"}
    for s in manifest:
        assert s["licence"] and s["source"]
        assert load_image(images.SAMPLES / s["file"]).mode == "RGB"
    digits = images.sample_images("digit")
    assert len(digits) == 10
    # The digit samples are the MNIST test images their manifest names, with those labels.
    raw = (data_root("mnist") / "MNIST" / "raw")
    labels = np.frombuffer((raw / "t10k-labels-idx1-ubyte").read_bytes()[8:], np.uint8)
    pixels = np.frombuffer((raw / "t10k-images-idx3-ubyte").read_bytes()[16:], np.uint8)
    for s in manifest:
        if s["kind"] == "digit":
            index = int(s["source"].rsplit(" ", 1)[1])
            assert labels[index] == s["digit"]
            mine = np.asarray(Image.open(images.SAMPLES / s["file"]))
            assert (mine == pixels.reshape(-1, 28, 28)[index]).all()
