"""The checkpoint uploader: states the model's checkpoint size and the upload limit first."""
from __future__ import annotations

import streamlit as st

from explorer.i18n import _

CHECKPOINT_TYPES = ["pt", "pth", "bin", "ckpt", "safetensors"]


def checkpoint_uploader(name: str, key: str):
    """An ``st.file_uploader`` for ``name``'s state dict, after a line that says how large that
    is and how much the server accepts (``server.maxUploadSize``)."""
    from explorer.weights.upload_limits import checkpoint_mb  # after the title: it needs torch

    limit = int(st.get_option("server.maxUploadSize"))
    size = checkpoint_mb(name)
    shown = f"{size:,.0f}" if size >= 10 else f"{size:.2g}"
    # As the uploader itself writes it: whole GB above 512 MB.
    limit_text = f"{limit / 1024:.0f} GB" if limit > 512 else f"{limit} MB"
    if size > limit:
        st.warning(_(
            "{model}'s weights take about {size} MB, more than this server's upload limit of "
            "{limit}. Raise server.maxUploadSize in .streamlit/config.toml and restart, or "
            "use the checkpoint from the command line: python -m explorer.predict IMAGE "
            "--model {model} --weights PATH.").format(model=name, size=shown, limit=limit_text))
    else:
        st.caption(_("{model}'s weights take about {size} MB in float32; this server accepts "
                     "checkpoints up to {limit}.").format(model=name, size=shown,
                                                         limit=limit_text))
    return st.file_uploader(_("Checkpoint (a state dict saved with torch.save, or "
                              "safetensors)"), type=CHECKPOINT_TYPES, key=key,
                            max_upload_size=limit)
