"""MNIST: where the digits are, their files and statistics, and reading them through torchvision.

The one home of what every MNIST user needs (the training loop, the digit preprocessing, the
Compare and Channels pages):

- :func:`mnist_root` says where MNIST is, from the data resolver (``explorer.data``): the
  folder that holds ``MNIST/raw/`` and whether it still has to be downloaded;
- :func:`load_mnist` reads it through ``torchvision.datasets.MNIST`` (imported on first use, so
  this module stays importable without torch), :class:`MnistNotFoundError` when it is not there;
- :func:`mnist_md5s` pins the files in a model card;
- :data:`MNIST_MEAN` and :data:`MNIST_STD` are the training-set statistics every MNIST input is
  normalised with (pixels / 255, then ``(x - mean) / std``).
"""
from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING

from explorer.data import MNIST_RAW, download_target, find

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["MNIST_MEAN", "MNIST_STD", "RAW_FILES", "MnistNotFoundError", "load_mnist",
           "mnist_md5s", "mnist_root"]

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081
# The unpacked IDX files torchvision reads from MNIST/raw/ (the resolver's list: a complete copy).
RAW_FILES = MNIST_RAW


class MnistNotFoundError(FileNotFoundError):
    """The MNIST files are not under the given root (and downloading was not allowed)."""


def mnist_root() -> tuple[Path, bool]:
    """(folder holding ``MNIST/raw/``, whether it still has to be downloaded) without any
    network access, for callers that download through torchvision themselves: from
    ``$CNN_EXPLORER_MNIST``, ``$CNN_EXPLORER_DATA/mnist``, the project's shared copy
    ``../shared/data/mnist``, or the user cache (see ``explorer.data``)."""
    found = find("mnist")
    return (found, False) if found is not None else (download_target("mnist"), True)


def load_mnist(root: str | Path, train: bool, download: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """MNIST through ``torchvision.datasets.MNIST``: (N×28×28 uint8 images, N int64 labels).

    ``root`` is the folder that holds ``MNIST/raw/`` (torchvision's layout).
    """
    from torchvision.datasets import MNIST

    root = Path(root).expanduser()
    try:
        ds = MNIST(str(root), train=train, download=download)
    except RuntimeError as exc:  # torchvision: "Dataset not found. You can use download=True"
        raise MnistNotFoundError(
            f"MNIST not found under {root} (torchvision looks for {root / 'MNIST' / 'raw'}/"
            f"{RAW_FILES[0 if train else 2]}). Point --data at the folder that contains "
            f"MNIST/raw/, or pass --download to fetch it. ({exc})"
        ) from None
    return ds.data.clone(), ds.targets.clone().long()


def mnist_md5s(root: str | Path) -> dict[str, str]:
    """md5 of each unpacked IDX file torchvision reads, to pin the data in the model card."""
    raw = Path(root).expanduser() / "MNIST" / "raw"
    out = {}
    for name in RAW_FILES:
        h = hashlib.md5()
        with open(raw / name, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        out[name] = h.hexdigest()
    return out
