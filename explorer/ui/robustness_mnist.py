"""The Robustness page's MNIST tab: ε-curves of the four digit networks beside the PyTorch
tutorial's, standard vs adversarially trained LeNet-5 (the price and the catch), recomputed on
demand (logic in ``explorer.robust.mnist`` and ``explorer.robust.training``)."""
from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from explorer.i18n import N_, _
from explorer.robust import attacks
from explorer.robust import models as robust_models
from explorer.ui.models import get_model
from explorer.ui.robustness import robust_model

__all__ = ["mnist_view", "recompute_view"]

# --------------------------------------------------------------------------------------------
# MNIST: ε-curves and robust training (precomputed, recomputable)

MNIST_NETS = ("lenet5", "mnist_plain", "mnist_bn_dropout", "mnist_nin")
TUTORIAL = N_("PyTorch FGSM tutorial's LeNet (a different model)")
ROBUST_PAIR = ("lenet5", "lenet5_adv_pgd", "lenet5_adv_fgsm")


def _curve_rows(data: dict, names, methods) -> list[dict]:
    rows = []
    for name in names:
        entry = data.get("models", {}).get(name)
        for method in methods:
            if entry and method in entry:
                rows += [{"model": name, "attack": attacks.METHODS[method], "eps": e,
                          "accuracy": a} for e, a in zip(data["eps"], entry[method])]
    return rows


def _curve_chart(rows: list[dict], dash: str | None = None) -> alt.Chart:
    encoding = dict(
        x=alt.X("eps:Q", title=_("ε (pixel units; 0.1 ≈ 26/255)")),
        y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0, 100]),
                title=_("accuracy on the 10,000 test digits (%)")),
        color=alt.Color("model:N", title=_("network")),
        tooltip=[alt.Tooltip("model:N", title=_("network")),
                 alt.Tooltip("attack:N", title=_("attack")),
                 alt.Tooltip("eps:Q", title="ε"),
                 alt.Tooltip("accuracy:Q", format=".2f", title=_("accuracy (%)"))])
    if dash:
        encoding["strokeDash"] = alt.StrokeDash(f"{dash}:N", title=_("attack"))
    return alt.Chart(pd.DataFrame(rows)).mark_line(point=True).encode(**encoding).properties(
        height=320)


def mnist_view() -> None:
    from explorer.robust import mnist, training

    data = mnist.shipped_curves()
    if not data.get("models"):
        st.warning(_("The precomputed curves (assets/mnist_robustness.json) are missing; "
                     "recompute one below."))
        data = {"eps": list(mnist.EPSILONS), "models": {}}
    method = st.radio(_("Attack"), list(attacks.METHODS), key="robust_mnist_method",
                      horizontal=True, format_func=lambda m: attacks.METHODS[m])
    rows = _curve_rows(data, MNIST_NETS, [method])
    if method == "fgsm":
        rows += [{"model": _(TUTORIAL), "attack": "FGSM", "eps": e, "accuracy": a}
                 for e, a in zip(mnist.TUTORIAL["eps"], mnist.TUTORIAL["accuracy"])]
    if rows:
        st.altair_chart(_curve_chart(rows), width="stretch")
    steps = data.get("pgd_steps", attacks.DEFAULT_STEPS)
    st.caption(_("The four digit networks with the explorer's trained weights, attacked with "
                 "their true labels in pixel space (normalisation and LeNet-5's padding inside "
                 "the attacked function); PGD takes {steps} steps of 2.5·ε/{steps}. The "
                 "tutorial's line is its printed output for its own LeNet (two convolutions "
                 "of 10 and 20 filters, dropout, inputs not normalised), which attacks only "
                 "the digits it got right: a different model, shown for scale.").format(
        steps=steps))

    st.subheader(_("Standard vs adversarially trained LeNet-5"))
    pair = [n for n in ROBUST_PAIR if n in data.get("models", {})]
    if len(pair) > 1:
        st.altair_chart(_curve_chart(_curve_rows(data, pair, ["fgsm", "pgd"]), dash="attack"),
                        width="stretch")
        standard = data["models"]["lenet5"]
        for name in pair[1:]:
            card = robust_models.card(name)
            figures = {"eps": data["eps"], **data["models"][name]}
            eps = (card.get("adversarial_training") or {}).get("eps", 0.3)
            price = standard["fgsm"][0] - figures["fgsm"][0]
            st.markdown(_("**{name}** (trained on {method} at ε = {eps:g}): **the price**: "
                          "clean accuracy {clean:.2f} % instead of {standard:.2f} % ({price:+.2f} "
                          "points). **The catch**: {verdict}").format(
                name=name, method=attacks.METHODS[(card.get("adversarial_training") or {})
                                                 .get("method", "pgd")], eps=eps,
                clean=figures["fgsm"][0], standard=standard["fgsm"][0], price=-price,
                verdict=training.verdict(figures, eps)[1]))
    else:
        st.info(_("No adversarially trained LeNet-5 is shipped in assets/ on this machine."))
    st.markdown(_("Train one yourself: the [Train page](train) has an option to train on "
                  "adversarial examples (FGSM or PGD)."))
    recompute_view()


def recompute_view() -> None:
    from explorer.robust import mnist

    with st.expander(_("Recompute a curve on this machine")):
        names = list(MNIST_NETS) + robust_models.robust_names()
        c1, c2, c3 = st.columns(3)
        name = c1.selectbox(_("Network"), names, key="robust_re_model")
        method = c2.selectbox(_("Attack"), list(attacks.METHODS), key="robust_re_method",
                              format_func=lambda m: attacks.METHODS[m])
        count = c3.selectbox(_("Test digits"), [1000, 10000], key="robust_re_count",
                             format_func=lambda n: f"{n:,}")
        st.caption(_("FGSM costs one backward pass per digit and ε, PGD {steps}: minutes on a "
                     "CPU for 10,000 digits.").format(steps=attacks.DEFAULT_STEPS))
        store = st.session_state.setdefault("robust_recomputed", {})
        key = (name, method, count)
        if st.button(_("Recompute"), key="robust_re_go"):
            bar = st.progress(0.0, text=_("Attacking… (leave the page to stop)"))
            loaded = robust_model(name) if name in robust_models.ROBUST_MODELS else get_model(name)
            pixels, labels = mnist.test_digits(count)
            points = mnist.eps_curve(loaded, pixels, labels, method, progress=lambda f, t:
                                     bar.progress(min(f, 1.0), text=t))
            bar.empty()
            store[key] = [p.as_dict() for p in points]
        if key in store:
            df = pd.DataFrame(store[key])
            st.dataframe(df, hide_index=True, column_config={
                "eps": st.column_config.NumberColumn("ε"),
                "correct": st.column_config.NumberColumn(_("correct")),
                "total": st.column_config.NumberColumn(_("digits")),
                "accuracy": st.column_config.NumberColumn(_("accuracy (%)"), format="%.2f")})
