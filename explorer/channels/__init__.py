"""What one channel responds to: filters, top images, feature visualisation, receptive fields.

Four views of a channel of any zoo network, all plain data in and out (no streamlit):

- :mod:`.filters`: first-layer kernels as an RGB grid (AlexNet's figure 3) beside their
  feature maps; for deeper convolutions, which input channels a kernel draws on.
- :mod:`.top`: the images of a set that activate a channel most and least, cropped to the
  receptive field of the maximising unit; one batched pass per layer, cached on disk.
- :mod:`.featurevis`: activation maximisation (Olah et al. 2017) with a Fourier, colour-
  decorrelated image and random transforms; tuned per family.
- :mod:`.fields`: the theoretical receptive field of a unit (from ``explorer.analysis``) and the
  effective one (Luo et al. 2016), the input gradient of that unit.

Command line::

    python -m explorer.channels top --model M --layer L [--channel C] --images DIR [--k 9]
        [--json]
    python -m explorer.channels visualize --model M --layer L --channel C [--steps N] [--size S]
        --out FILE.png [--json]
    python -m explorer.channels layers --model M

The shared model is never changed: gradients run on per-call module copies, hooks are removed
in ``finally``, no ``.grad`` is written (tests check it).
"""
from explorer.channels.fields import (ChannelLayer, EffectiveField, channel_layers, effective_field, layer_row,
                     rf_picture,
                     rf_box, unit_centre)
from explorer.channels.filters import WeightView, filter_grid, first_conv, kernel_tiles, weight_view
from explorer.channels.top import (Example, ImageSet, LayerTop, cache_dir, cached_layer_top, crop_example,
                  layer_top, network_view)
from explorer.channels.featurevis import (FAMILY_SETTINGS, LOGITS, OBJECTIVES, VisResult, VisSettings,
                        settings_for, target_value, visualize)

__all__ = [
    "ChannelLayer", "EffectiveField", "channel_layers", "effective_field", "layer_row", "rf_box",
    "unit_centre", "rf_picture", "WeightView", "filter_grid", "first_conv", "kernel_tiles",
    "weight_view",
    "Example", "ImageSet", "LayerTop", "cache_dir", "cached_layer_top", "crop_example",
    "layer_top", "network_view", "FAMILY_SETTINGS", "LOGITS", "OBJECTIVES", "VisResult",
    "VisSettings", "settings_for", "target_value", "visualize",
]
