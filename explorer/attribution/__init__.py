"""Why did the network say that, and can I trust the answer? Attribution maps and their tests.

    from explorer import attribution
    result = attribution.explain(loaded, x, "gradcam")   # x: 1×C×H×W from loaded.preprocess
    result.map      # H×W float32 in [0, 1], ready to overlay
    result.raw      # the method's own numbers (C×H×W for pixel methods, H×W for Grad-CAM)

    from explorer.attribution import trust                # the map tests, under one name
    trust.randomisation_test(loaded, x, ["saliency", "gradcam"])

The rooms:

- :mod:`~explorer.attribution.methods`: Captum's methods behind :func:`explain`, run-time
  estimates, Grad-CAM layers, :func:`overlay`;
- :mod:`~explorer.attribution.ig`: Integrated Gradients with its steps chosen by the
  convergence delta;
- :mod:`~explorer.attribution.trust`: the map tests, re-exported from
  :mod:`~explorer.attribution.similarity`, :mod:`~explorer.attribution.maps`,
  :mod:`~explorer.attribution.sanity`, :mod:`~explorer.attribution.faithfulness` and
  :mod:`~explorer.attribution.cams`;
- :mod:`~explorer.attribution.report`: the folder reports behind
  ``python -m explorer.attribution sanity|faithfulness`` (``__main__.py`` parses the flags).

This module only re-exports: every module of the package imports its siblings by their own
path, never through here.
"""
from explorer.attribution.faithfulness import DeletionCurve, deletion_curve
from explorer.attribution.methods import (METHODS, SLOW_METHODS, AttributionError,
                                          AttributionResult, conv_layers, estimate_from_forward,
                                          estimate_seconds, explain, gradcam_layers, overlay)

__all__ = [
    "METHODS",
    "SLOW_METHODS",
    "AttributionError",
    "AttributionResult",
    "DeletionCurve",
    "explain",
    "estimate_seconds",
    "estimate_from_forward",
    "conv_layers",
    "gradcam_layers",
    "deletion_curve",
    "overlay",
]
