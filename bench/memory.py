"""Server memory over many large uploads from several browser sessions (issue 14, point 10).

    .venv/bin/python bench/memory.py [--sessions 2] [--uploads 6] [--side 6300]

Starts ``streamlit run app.py`` on a free port, opens ``--sessions`` Chromium sessions on the
Inference page, and has each upload ``--uploads`` different ``--side``² PNGs (40 MP at 6300: the
issue's 140 KB files) in turn, reading the server's resident memory (VmRSS) after every round.
Prints the memory after the first round (models loaded, one image per session) and after the
last, and their ratio: flat means about 1.0× (the issue measured 2.2 → 4.2 GB before the fix).
The server picks its device as explorer.inference.pick_device does; it is printed.
"""
from __future__ import annotations

import argparse
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from PIL import Image, ImageDraw  # noqa: E402

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _png(path: Path, side: int, i: int) -> None:
    im = Image.new("RGB", (side, side), (i * 53 % 256, 120, 60))
    ImageDraw.Draw(im).ellipse((side // 8 + i, side // 8, side * 7 // 8, side * 3 // 4 + i),
                               fill=(240, 220, (i * 29) % 256))
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=9)
    path.write_bytes(buf.getvalue())


def _server():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tempfile.gettempdir() + "/bench-memory-server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port",
         str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
         "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                return proc, url
        except OSError:
            time.sleep(0.5)
    proc.kill()
    sys.exit(f"the server did not start; see {log.name}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=2)
    p.add_argument("--uploads", type=int, default=6, help="uploads per session")
    p.add_argument("--side", type=int, default=6300)
    args = p.parse_args()

    from playwright.sync_api import sync_playwright

    from explorer.inference import pick_device
    from tests.e2e.helpers import wait_idle

    print(f"device: {pick_device()}  sessions: {args.sessions}  uploads each: {args.uploads}  "
          f"images: {args.side}×{args.side} PNG")
    tmp = Path(tempfile.mkdtemp(prefix="bench-memory-"))
    files = []
    for i in range(args.sessions * args.uploads):
        files.append(tmp / f"large_{i:02d}.png")
        _png(files[-1], args.side, i)
    print(f"PNG size: {files[0].stat().st_size / 1024:.0f} KB each")

    proc, url = _server()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=["--no-sandbox", "--disable-gpu"])
            pages = []
            for _ in range(args.sessions):
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                page.goto(f"{url}/inference")
                wait_idle(page, timeout=300_000)
                page.get_by_test_id("stRadio").get_by_text("Upload", exact=True).click()
                wait_idle(page, timeout=300_000)
                pages.append(page)
            print(f"server RSS with {args.sessions} sessions open: {_rss_mb(proc.pid):,.0f} MB")
            rounds = []
            for r in range(args.uploads):
                for s, page in enumerate(pages):
                    page.locator("[data-testid='stFileUploaderDropzoneInput']").first \
                        .set_input_files(str(files[r * args.sessions + s]))
                    wait_idle(page, timeout=300_000)
                rounds.append(_rss_mb(proc.pid))
                print(f"round {r + 1}: server RSS {rounds[-1]:,.0f} MB")
            browser.close()
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    print(f"after the first round {rounds[0]:,.0f} MB, after the last {rounds[-1]:,.0f} MB: "
          f"{rounds[-1] / rounds[0]:.2f}× ({rounds[-1] - rounds[0]:+,.0f} MB over "
          f"{(args.uploads - 1) * args.sessions} more uploads)")


if __name__ == "__main__":
    main()
