"""Moved to ``explorer.analysis.features``; this name stays so ``explorer.features.linear_cka`` keeps working."""
from explorer.analysis.features import capture, cka_matrix, linear_cka, recording

__all__ = ["capture", "cka_matrix", "linear_cka", "recording"]
