"""Large uploads do not pile up in the server's memory (issue 14, point 10): an image is reduced
while it is decoded, each session keeps one decoded image, and nothing process-wide keeps more.
Several headless sessions take turns with 16-megapixel PNGs; the process's resident memory
after the first round stays where it was. (bench/memory.py measures a real server.)"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from streamlit.testing.v1 import AppTest

from explorer.data import images

SIDE = 4000  # 16 MP: 48 MB as RGB at full size, 12 MB once reduced to 2048
SESSIONS, PER_ROUND, ROUNDS = 3, 2, 3


def _script():
    from explorer.ui.widgets import image_input

    picked = image_input("mem", camera=False)
    if picked is not None:
        import streamlit as st

        st.write(f"{picked[0].size[0]}x{picked[0].size[1]}")


def _png(i: int) -> bytes:
    """A different, well-compressing large PNG for every call (like the issue's 140 KB ones)."""
    im = Image.new("RGB", (SIDE, SIDE), (i * 37 % 256, 90, 200))
    ImageDraw.Draw(im).ellipse((500 + i, 500, 3500, 3000 + i), fill=(250, 200, i % 256))
    buf = io.BytesIO()
    im.save(buf, "PNG", optimize=False, compress_level=1)
    return buf.getvalue()


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def test_decode_reduces_and_keeps_exif_orientation():
    im = Image.new("RGB", (5000, 3000), (0, 0, 255))
    im.paste((255, 0, 0), (0, 0, 500, 300))  # red in the stored top-left corner
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    buf = io.BytesIO()
    im.save(buf, "JPEG", exif=exif.tobytes(), quality=90)
    loaded = images.read_image(buf.getvalue())
    assert max(loaded.image.size) == images.MAX_SIDE
    assert loaded.image.size == (round(images.MAX_SIDE * 3000 / 5000), images.MAX_SIDE)
    a = np.asarray(loaded.image)
    assert a[10, -10, 0] > 200 and a[10, -10, 2] < 60  # the red corner is now top-right
    assert a[-10, 10, 2] > 200  # and the bottom-left is blue
    assert any("Reduced from 5,000 × 3,000" in n for n in loaded.notes)
    small = images.read_image(buf.getvalue(), max_side=10_000)  # unreduced: same picture
    assert small.image.size == (3000, 5000)


def test_sessions_uploading_large_pngs_keep_memory_flat():
    apps = [AppTest.from_function(_script, default_timeout=120) for _ in range(SESSIONS)]
    for at in apps:
        at.run()
    counter, after_round = 0, []
    for _ in range(ROUNDS):
        for at in apps:
            for _ in range(PER_ROUND):
                counter += 1
                name = f"big{counter}.png"
                # What the uploader leaves behind: the latest upload, offered as a sample.
                at.session_state["explorer_last_upload"] = (name, _png(counter))
                at.run()  # the sample list now offers it
                at.selectbox(key="mem_sample").set_value("Your upload: " + name).run()
                assert not at.exception, at.exception
                assert at.markdown[-1].value == "2048x2048"
        after_round.append(_rss_mb())
    # Each round decodes SESSIONS × PER_ROUND new 16-MP images (48 MB each at full size): a
    # cache that kept them would add ~290 MB a round.
    assert after_round[-1] - after_round[0] < 120, after_round
