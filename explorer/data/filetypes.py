"""What a file really holds, from its first bytes, for messages about files that are not what
their name says (a web page saved as .jpg, random bytes named .safetensors)."""
from __future__ import annotations

from explorer.i18n import N_, _

__all__ = ["kind_of", "looks_like_text"]

# (magic prefix, description) checked in order; the descriptions read "This file is {kind}".
_MAGIC = [
    (b"\x89PNG\r\n\x1a\n", N_("a PNG image")),
    (b"\xff\xd8\xff", N_("a JPEG image")),
    (b"GIF8", N_("a GIF image")),
    (b"%PDF", N_("a PDF document")),
    (b"PK\x03\x04", N_("a ZIP archive")),
    (b"\x1f\x8b", N_("a gzip-compressed file")),
    (b"7z\xbc\xaf\x27\x1c", N_("a 7-Zip archive")),
    (b"Rar!", N_("a RAR archive")),
    (b"\x7fELF", N_("a program (ELF executable)")),
    (b"MZ", N_("a Windows program")),
    (b"\x80", N_("a Python pickle")),
    (b"\x93NUMPY", N_("a NumPy array file (.npy)")),
    (b"\x89HDF\r\n\x1a\n", N_("an HDF5 file (e.g. Keras .h5 weights)")),
    (b"ftyp", N_("a video or HEIC photo")),  # at offset 4, checked below
]


def looks_like_text(data: bytes) -> bool:
    """Printable UTF-8 (or ASCII) in its first 512 bytes."""
    head = data[:512]
    if not head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not merely a character cut at the end
            return False
        text = head[:exc.start].decode("utf-8")
    return all(ch.isprintable() or ch in "\t\r\n\f" for ch in text)


def kind_of(data: bytes) -> str:
    """A short phrase for what ``data`` is ("an HTML page", "a ZIP archive", "text", …), in
    the current UI language."""
    if not data:
        return _("an empty file")
    head = data[:64]
    if head[4:8] == b"ftyp":
        return _("a video or HEIC photo")
    for magic, kind in _MAGIC:
        if head.startswith(magic) and magic != b"ftyp":
            return _(kind)
    if looks_like_text(data):
        start = data[:512].decode("utf-8", "ignore").lstrip("\ufeff \t\r\n").lower()
        if start.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in start:
            return _("an HTML page (a web page)")
        if start.startswith("<svg") or (start.startswith("<?xml") and "<svg" in start):
            return _("an SVG drawing (vector graphics, not a pixel image)")
        if start.startswith("<?xml") or start.startswith("<"):
            return _("an XML or HTML text file")
        if start.startswith(("{", "[")):
            return _("a JSON text file")
        return _("a text file")
    return _("binary data in no format the explorer knows")
