"""Network helpers for downloads: a fast "is the host there?" probe and URL mirrors.

Both the data resolver (:mod:`explorer.data`) and the weight downloads (:mod:`explorer.weights`,
:mod:`explorer.fetch`) ask :func:`probe` first, so an offline machine finds out within a few
seconds instead of waiting for DNS or TCP time-outs.
"""
from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlparse

# How long the probe may take before a host counts as unreachable. DNS lookups cannot be given
# a timeout, so the probe runs in a daemon thread that we stop waiting for.
PROBE_TIMEOUT_S = 3.0

# Base URL that replaces torchvision's download host (https://download.pytorch.org), e.g. a
# classroom server holding copies of the files under the same paths (/models/<file>.pth).
WEIGHTS_URL_ENV = "CNN_EXPLORER_WEIGHTS_URL"


def probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when the host of ``url`` accepts a TCP connection within ``timeout`` s, else why not."""
    parsed = urlparse(url)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    result: dict[str, str | None] = {}

    def attempt():
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["error"] = None
        except OSError as exc:
            result["error"] = f"{type(exc).__name__}: {exc}"

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout)
    if "error" not in result:
        return f"no answer from {host} within {timeout:g} s"
    return result["error"]


def weights_url(url: str) -> str:
    """``url`` with its scheme and host replaced by ``$CNN_EXPLORER_WEIGHTS_URL`` when set."""
    base = os.environ.get(WEIGHTS_URL_ENV, "").strip().rstrip("/")
    if not base:
        return url
    return base + urlparse(url).path
