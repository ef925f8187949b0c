"""How large a model's checkpoint is beside the upload limit, so the page can say so before the
upload (issue 14, point 12): every zoo checkpoint fits server.maxUploadSize."""
from __future__ import annotations

import functools

__all__ = ["checkpoint_mb", "IMAGE_LIMIT_MB"]

IMAGE_LIMIT_MB = 50  # = explorer.images.MAX_BYTES; images need no more (they are reduced anyway)


@functools.lru_cache(maxsize=64)
def checkpoint_mb(name: str) -> float:
    """The size of ``name``'s state dict as torch.save writes it in float32, in MB (2**20
    bytes, as Streamlit counts its upload limit), from a build on the meta device."""
    import torch

    from explorer import zoo

    with torch.device("meta"):
        model = zoo.build(name)
    return sum(t.numel() * t.element_size() for t in model.state_dict().values()) / 2**20
