"""Feature maps and layer similarity under their old name: ``explorer.features.linear_cka`` and
the rest keep working.

The code lives in ``explorer.analysis.features`` (stages, channel pictures, statistics) and
``explorer.analysis.cka`` (linear CKA); ``capture``/``recording`` in
``explorer.inference.shared``.
"""
from explorer.analysis.cka import (CKAAccumulator, ImageViews, cka_accumulate, cka_matrix,
                                   linear_cka, spatial_pool)
from explorer.analysis.features import (LayerActivation, LayerNotFoundError, LayerStats,
                                        capture, channel_energy, channel_grid,
                                        channel_mean_overlay, common_strides, feature_layers,
                                        layer_activation, layer_stats, matched_layers,
                                        nearest_stride, next_stride, recording, sign_note,
                                        stage_layers, stride_options, to_png, top_channels)

__all__ = [
    # explorer.analysis.features
    "LayerNotFoundError", "recording", "capture", "feature_layers", "stage_layers",
    "common_strides", "stride_options", "nearest_stride", "matched_layers", "next_stride",
    "channel_energy", "top_channels", "channel_grid", "channel_mean_overlay", "LayerStats",
    "layer_stats", "sign_note", "LayerActivation", "layer_activation", "to_png",
    # explorer.analysis.cka
    "linear_cka", "spatial_pool", "CKAAccumulator", "ImageViews", "cka_accumulate", "cka_matrix",
]
