"""The course notes the explorer's figures come from, cited by title in the UI instead of the
project's internal names for them ("seed 000" … "seed 004" mean nothing to a learner)."""
from __future__ import annotations

from explorer.i18n import N_, _

__all__ = ["NOTES", "cite"]

# Internal number -> how the UI names the notes (the files are in ../shared/seeds/).
NOTES = {
    "000": N_("the deeplearning.ai course notes (Case Studies)"),
    "001": N_("the TensorFlow 2 notes on Inception and ResNet"),
    "002": N_("the Keras notes “How to build CNN variants”"),
    "003": N_("the d2l-style notes on classic CNNs (AlexNet to ResNet)"),
    "004": N_("the CNN question-and-answer notes"),
}


def cite(number: str) -> str:
    """The notes' title in the UI language, e.g. ``cite("000")``."""
    return _(NOTES[number])
