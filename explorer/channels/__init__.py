"""What one channel responds to: filters, top images and where they fire, feature visualisation,
receptive fields, and a whole layer at a glance.

Views of a channel of any zoo network, all plain data in and out (no streamlit):

- :mod:`.filters`: first-layer kernels as an RGB grid (AlexNet's figure 3) beside their
  feature maps; for deeper convolutions, which input channels a kernel draws on.
- :mod:`.top`: the images of a set that activate a channel most and least (by all units or by
  interior ones), how often the maximum sits on the map's border, ties; one batched pass per
  layer and its siblings, cached on disk.
- :mod:`.where`: where a channel fires in its top images (its map over the photo) and the crop
  (the theoretical receptive field, or the box holding most of the effective one when the
  theoretical field is larger than the image).
- :mod:`.featurevis`: activation maximisation (Olah et al. 2017) with a Fourier, colour-
  decorrelated image, random transforms and presets per family; several targets in one batch.
- :mod:`.store`: visualisations kept on disk per channel and settings.
- :mod:`.atlas`: a layer's grid (OpenAI Microscope's first screen) built once, read by the page.
- :mod:`.jobs`: long work in a background thread with progress.
- :mod:`.fields`: the theoretical receptive field of a unit (from ``explorer.analysis``) and the
  effective one (Luo et al. 2016), the input gradient of that unit.

Command line::

    python -m explorer.channels top --model M --layer L [--channel C] --images DIR [--k 9]
        [--interior] [--json]
    python -m explorer.channels visualize --model M --layer L --channel C [--steps N] [--size S]
        [--peak W] [--negative] [--n N] --out FILE.png [--json]
    python -m explorer.channels atlas --model M --layer L --images DIR [--out DIR]
        [--channels 0-39] [--json]
    python -m explorer.channels layers --model M

The shared model is never changed: gradients run on module copies borrowed from
``explorer.inference.shared``, hooks are removed in ``finally``, no ``.grad`` is written (tests
check it).
"""
from explorer.channels.fields import (ChannelLayer, EffectiveField, channel_layers, effective_field,
                                      layer_row, mass_bounds, mass_box, mass_levels, rf_box,
                                      rf_picture, unit_centre)
from explorer.channels.filters import WeightView, filter_grid, first_conv, kernel_tiles, weight_view
from explorer.channels.top import (Example, ImageSet, LayerTop, Ties, cache_dir, cached_layer_top,
                                   crop_example, find_ties, layer_top, layers_top, network_view)
from explorer.channels.featurevis import (FAMILY_SETTINGS, LOGITS, OBJECTIVES, VisResult, VisSettings,
                                          preset_for, settings_for, spectral_share, target_value,
                                          visualize, visualize_many)
from explorer.channels.where import EFFECTIVE_MASS, Placed, example_tile, fire_overlay, place
from explorer.channels.store import cached_visualize, lookup_vis
from explorer.channels.atlas import (Atlas, AtlasSettings, atlas_roots, build_atlas, find_atlases,
                                     open_atlas)

__all__ = [
    "ChannelLayer", "EffectiveField", "channel_layers", "effective_field", "layer_row", "rf_box",
    "unit_centre", "rf_picture", "mass_box", "mass_bounds", "mass_levels", "WeightView",
    "filter_grid", "first_conv", "kernel_tiles", "weight_view",
    "Example", "ImageSet", "LayerTop", "Ties", "cache_dir", "cached_layer_top", "crop_example",
    "find_ties", "layer_top", "layers_top", "network_view",
    "FAMILY_SETTINGS", "LOGITS", "OBJECTIVES", "VisResult", "VisSettings", "preset_for",
    "settings_for", "spectral_share", "target_value", "visualize", "visualize_many",
    "EFFECTIVE_MASS", "Placed", "example_tile", "fire_overlay", "place",
    "cached_visualize", "lookup_vis",
    "Atlas", "AtlasSettings", "atlas_roots", "build_atlas", "find_atlases", "open_atlas",
]
