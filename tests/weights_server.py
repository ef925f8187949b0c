"""A local stand-in for torchvision's download host, for tests of the real download code.

The machines that run tests have no internet, and torchvision's real files cannot be made here.
So a test writes a state dict of the right architecture itself, names it as torch hub expects
(``<stem>-<first 8 hex digits of its sha256>.pth``), points the weights' URL at that name on
``https://download.pytorch.org`` and sets ``$CNN_EXPLORER_WEIGHTS_URL`` to a local HTTP server
that serves it, so the product's own code (mirror, probe, download, hash check, torch hub cache,
torchvision's loader) runs unchanged. For a Streamlit server in another process the URL change
is made by a ``sitecustomize.py`` that :func:`sitecustomize` writes.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import io
import os
import threading
import time
from pathlib import Path

import torch
import torchvision

from explorer import zoo


def write_weights(name: str, www: Path, scale: float = 1.0) -> tuple[str, dict]:
    """Write a state dict for ``name`` into ``www/models/``; (new URL, state dict).

    ``scale`` multiplies every floating-point tensor, so a test can tell these weights from
    the explorer's seeded random ones.
    """
    spec = zoo.get_spec(name)
    model = torchvision.models.get_model(spec.tv_builder, weights=None)
    state = {k: (v * scale if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    buf = io.BytesIO()
    torch.save(state, buf)
    data = buf.getvalue()
    weights = torchvision.models.get_weight(spec.tv_weights)
    stem = Path(weights.url).name.rsplit("-", 1)[0]
    filename = f"{stem}-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    (www / "models").mkdir(parents=True, exist_ok=True)
    (www / "models" / filename).write_bytes(data)
    return f"https://download.pytorch.org/models/{filename}", state


def patch_url(monkeypatch, name: str, url: str) -> None:
    """Make torchvision's weights for ``name`` live at ``url`` (this process only)."""
    weights = torchvision.models.get_weight(zoo.get_spec(name).tv_weights)
    monkeypatch.setattr(weights.value, "url", url)


def sitecustomize(folder: Path, urls: dict[str, str]) -> Path:
    """A ``sitecustomize.py`` in ``folder`` that sets these weights' URLs in a new process
    (put ``folder`` on its PYTHONPATH)."""
    lines = ["import torchvision"]  # the project is not importable yet at interpreter start
    for name, url in urls.items():
        lines.append(f"torchvision.models.get_weight({zoo.get_spec(name).tv_weights!r})"
                     f".value.url = {url!r}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text("\n".join(lines) + "\n")
    return folder


class _SlowHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files in 1 MiB pieces with a pause between them (a slow network)."""

    delay = 0.0

    def copyfile(self, source, outputfile):
        for chunk in iter(lambda: source.read(1 << 20), b""):
            outputfile.write(chunk)
            time.sleep(self.delay)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(www: Path, delay: float = 0.0):
    """An HTTP server on 127.0.0.1 serving ``www``; yields its base URL."""
    handler = functools.partial(type("Handler", (_SlowHandler,), {"delay": delay}),
                                directory=str(www))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def dead_url() -> str:
    """A loopback URL nothing listens on: connections are refused at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def hub_file(url: str) -> Path:
    return Path(os.environ["TORCH_HOME"]) / "hub" / "checkpoints" / Path(url).name
