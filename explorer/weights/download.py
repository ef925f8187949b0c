"""Downloading torchvision's weights into torch hub's cache, failing fast when offline.

The file goes where torchvision itself looks (``$TORCH_HOME/hub/checkpoints``), checked against
the hash prefix in its name, so torchvision's own loader finds it afterwards without the
network. ``$CNN_EXPLORER_WEIGHTS_URL`` replaces the download host (a classroom mirror).
"""
from __future__ import annotations

import hashlib
import os
import socket
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

import torch

from explorer import zoo
from explorer.data import net
from explorer.i18n import _, join
from explorer.weights import sources
from explorer.weights.checkpoint import WeightsError

__all__ = ["PROBE_TIMEOUT_S", "READ_TIMEOUT_S", "ProgressFn", "offline_message",
           "download_torchvision_weights"]

# How long the connectivity probe (explorer.data.net.probe) may take before we call the machine
# offline.
PROBE_TIMEOUT_S = net.PROBE_TIMEOUT_S
READ_TIMEOUT_S = 20.0

ProgressFn = Callable[[int, int | None], None]


def offline_message(name: str, url: str, reason: str) -> str:
    """Why torchvision's weights for ``name`` cannot be downloaded, and what else to use."""
    alternatives = [s for s in sources.available_sources(name) if s != "torchvision"]
    alt = {"package": _("the packaged EfficientNet-Lite0 weights"),
           "trained": _("the project's trained checkpoint"),
           "random": _("random initialisation")}
    options = join(alt[s] for s in alternatives)
    path = sources.torchvision_weight_file(name)
    return _("Cannot download the torchvision weights for {model}: no network ({reason}). "
             "Alternatives: choose {options}; upload a checkpoint; or copy {file} (from {url}) "
             "into {folder} on this machine and reload.").format(
        model=name, reason=reason, options=options, file=os.path.basename(path), url=url,
        folder=path.parent)


def download_torchvision_weights(name: str, progress: ProgressFn | None = None,
                                 probe_timeout: float = PROBE_TIMEOUT_S) -> Path:
    """Make sure the torchvision weight file is in torch hub's cache; return its path.

    Downloads to a temporary file in the cache folder, checks the hash prefix in the file
    name (as ``torch.hub.download_url_to_file`` does) and renames it into place. Fails within
    about ``probe_timeout`` seconds when the host cannot be reached.
    """
    spec = zoo.get_spec(name)
    if not spec.tv_weights:
        raise WeightsError(_("{model} has no torchvision pretrained weights; choose another "
                             "source.").format(model=name))
    url = net.weights_url(sources.tv_weights(spec).url)  # $CNN_EXPLORER_WEIGHTS_URL: a mirror's host
    dest = sources.torchvision_weight_file(name)
    if dest.exists():
        return dest
    reason = net.probe(url, probe_timeout)
    if reason:
        raise WeightsError(offline_message(name, url, reason))
    dest.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(dest.name)
    hash_prefix = match.group(1) if match else None
    sha = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".partial", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(
                urllib.request.Request(url, headers={"User-Agent": "cnn-explorer"}),
                timeout=READ_TIMEOUT_S) as response:
            total = response.headers.get("Content-Length")
            total = int(total) if total else None
            done = 0
            while True:
                chunk = response.read(1 << 20)
                if not chunk:
                    break
                out.write(chunk)
                sha.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
        if hash_prefix and not sha.hexdigest().startswith(hash_prefix):
            raise WeightsError(_("The downloaded file for {model} is corrupt (hash mismatch). "
                                 "Try again.").format(model=name))
        os.replace(tmp, dest)
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
        raise WeightsError(offline_message(name, url, f"{type(exc).__name__}: {exc}")) from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest
