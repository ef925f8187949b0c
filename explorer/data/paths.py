"""Where the project's own files live: the repository root and assets/ (samples, checkpoints, cards)."""
from __future__ import annotations

from pathlib import Path

__all__ = ["PROJECT", "ASSETS", "SAMPLES"]

PROJECT = Path(__file__).resolve().parents[2]
ASSETS = PROJECT / "assets"
SAMPLES = ASSETS / "samples"
