"""The Train page's adversarial-training option: train on FGSM or PGD digits instead of the
clean ones (logic in ``explorer.robust.training``; the run is ``explorer.train``'s loop)."""
from __future__ import annotations

import streamlit as st

from explorer.i18n import N_, _

__all__ = ["EXAMPLES", "PGD_TRAIN_STEPS", "option", "request", "perturb_for"]

EXAMPLES = {"clean": N_("Clean digits (the notes' recipe)"),
            "fgsm": N_("FGSM adversarial digits (Goodfellow et al. 2015)"),
            "pgd": N_("PGD adversarial digits (Madry et al. 2018)")}
PGD_TRAIN_STEPS = 7
_KIND, _EPS = "train_adversarial", "train_adv_eps"


def option(disabled: bool = False) -> None:
    """The widgets: which examples to train on and, for adversarial ones, ε."""
    c1, c2 = st.columns([2, 2])
    kind = c1.selectbox(_("Train on"), list(EXAMPLES), key=_KIND, disabled=disabled,
                        format_func=lambda k: _(EXAMPLES[k]),
                        help=_("Adversarial training replaces every batch by its attacked "
                               "version before the weights see it. It costs about twice a "
                               "clean run (FGSM) or {steps} times more (PGD-{steps})."
                               ).format(steps=PGD_TRAIN_STEPS + 1))
    c2.slider(_("Training ε (pixel units)"), 0.05, 0.4, 0.3, 0.05, key=_EPS,
              disabled=disabled or kind == "clean",
              help=_("The budget of the attacks it trains on; ε grows from 0 over the first "
                     "half of the run (a curriculum). Then attack it on the Robustness page: "
                     "choose “Trained in this session” there."))


def request() -> dict:
    """What the Train button asks for, beside the model, epochs and images."""
    state = st.session_state
    return {"adversarial": state.get(_KIND, "clean"), "adv_eps": float(state.get(_EPS, 0.3))}


def perturb_for(req: dict):
    """The batch-perturbing callable for ``explorer.train.Trainer``, or None for clean digits."""
    kind = req.get("adversarial", "clean")
    if kind == "clean":
        return None
    from explorer.robust.training import adversarial_batches

    subset = req.get("subset") or 60_000
    per_epoch = -(-(subset - round(subset * 0.1)) // 64)
    return adversarial_batches(req["name"], kind, req["adv_eps"], PGD_TRAIN_STEPS,
                               warmup_batches=max(1, per_epoch * req["epochs"] // 2))

