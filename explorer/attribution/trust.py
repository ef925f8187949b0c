"""Can I trust this map? Tests of attribution maps, under one name (``explorer.attribution.trust``).

    r = randomisation_test(loaded, x, ["saliency", "gradcam"])           # cascading (Adebayo)
    r.steps            # "trained", then the block re-initialised at each step, logits first
    r.spearman_abs["gradcam"][0, -1]   # rank correlation with the trained map, full cascade
    f = faithfulness(loaded, x, {"gradcam": cam.map})   # + "random" and "centre" baselines
    f.deletion_auc["gradcam"], f.insertion_auc["random"]
    d = cams_across_depth(loaded, x)    # d.gradcam[i], d.layercam[i] at d.layers[i]

The tests live by concern, each module with its papers and its reasoning:

- :mod:`explorer.attribution.similarity`: Spearman rank correlation and SSIM of two maps;
- :mod:`explorer.attribution.maps`: each method's map in the forms the tests compare, several
  methods from one shared forward and backward pass;
- :mod:`explorer.attribution.sanity`: model randomisation (cascading and independent, Adebayo
  et al. 2018) and class sensitivity;
- :mod:`explorer.attribution.faithfulness`: deletion and insertion curves with a random and a
  centre-first baseline (Petsiuk et al., RISE, 2018);
- :mod:`explorer.attribution.cams`: Grad-CAM and LayerCAM at every depth.

This module only re-exports them, so ``from explorer.attribution import trust; trust.X`` keeps
working. The shared cached model is never changed, hooked or differentiated: randomisation
works on a private copy, hooked passes on a borrowed module copy.
"""
from __future__ import annotations

from explorer.attribution.cams import CamsAcrossDepth, cam_layers, cams_across_depth
from explorer.attribution.faithfulness import (BASELINES, FaithfulnessResult, blur, centre_map,
                                               faithfulness, pixel_order, random_map)
from explorer.attribution.maps import MethodMaps, maps_of, method_maps
from explorer.attribution.methods import Progress
from explorer.attribution.sanity import (CASCADE_METHODS, ClassSensitivity, RandomisationBlock,
                                         RandomisationResult, cascade_blocks, class_sensitivity,
                                         randomisation_test, randomised_models, reinitialise_)
from explorer.attribution.similarity import rankdata, spearman, ssim

__all__ = [
    "CASCADE_METHODS",
    "rankdata",
    "spearman",
    "ssim",
    "MethodMaps",
    "RandomisationBlock",
    "cascade_blocks",
    "reinitialise_",
    "randomised_models",
    "method_maps",
    "RandomisationResult",
    "randomisation_test",
    "class_sensitivity",
    "maps_of",
    "ClassSensitivity",
    "centre_map",
    "random_map",
    "blur",
    "pixel_order",
    "FaithfulnessResult",
    "faithfulness",
    "BASELINES",
    "cam_layers",
    "CamsAcrossDepth",
    "cams_across_depth",
    "Progress",
]
