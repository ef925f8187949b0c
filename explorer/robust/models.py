"""The adversarially trained checkpoints shipped in ``assets/``, and model names for the CLI.

``lenet5_adv_pgd`` and ``lenet5_adv_fgsm`` are LeNet-5 (the zoo's ``lenet5``) trained on
adversarial digits by :mod:`explorer.robust.training`; each has a model card
``assets/<name>.json`` beside its ``.pt``. They load through ``explorer.weights``' one safe
checkpoint loader (weights only, strict key check) and come back as an ordinary
``LoadedModel`` of ``lenet5``, so every attack, capture and attribution works on them
unchanged.
"""
from __future__ import annotations

import hashlib
import json

from explorer import zoo
from explorer.data.paths import ASSETS
from explorer.i18n import N_, _, join

__all__ = ["ROBUST_MODELS", "ROBUST_SOURCE", "robust_names", "card", "load_robust", "load_any",
           "model_names"]

ROBUST_SOURCE = "adversarial"
ROBUST_MODELS = {  # name -> (zoo architecture, label marked for translation)
    "lenet5_adv_pgd": ("lenet5", N_("LeNet-5, adversarially trained with PGD (Madry et al. 2018)")),
    "lenet5_adv_fgsm": ("lenet5", N_("LeNet-5 trained on FGSM digits alone (the catch: label "
                                     "leaking)")),
}


def robust_names() -> list[str]:
    """The shipped adversarially trained models whose checkpoint is in ``assets/``."""
    return [n for n in ROBUST_MODELS if (ASSETS / f"{n}.pt").is_file()]


def card(name: str) -> dict:
    """The model card ``assets/<name>.json`` (empty when there is none)."""
    try:
        return json.loads((ASSETS / f"{name}.json").read_text())
    except (OSError, ValueError):
        return {}


def load_robust(name: str):
    """``assets/<name>.pt`` through the safe loader, as a frozen ``LoadedModel`` of its
    architecture (``source`` = "adversarial", the card in ``info``). Raises
    ``explorer.weights.WeightsError`` for a damaged file or one whose sha256 is not the card's."""
    from explorer.weights import WeightsError, load_checkpoint_file, wrap_model

    if name not in ROBUST_MODELS:
        raise WeightsError(_("Unknown adversarially trained model {name}; there are: {names}.")
                           .format(name=repr(name), names=join(ROBUST_MODELS)))
    arch, label = ROBUST_MODELS[name]
    path = ASSETS / f"{name}.pt"
    if not path.is_file():
        raise WeightsError(_("The checkpoint {file} is missing: train it with python -m "
                             "explorer.robust train (see its model card).").format(
            file=f"assets/{name}.pt"))
    info = card(name)
    expected = (info.get("checkpoint") or {}).get("sha256")
    if expected and hashlib.sha256(path.read_bytes()).hexdigest() != expected:
        raise WeightsError(_("{file} is not the checkpoint its model card describes (sha256 "
                             "differs): restore it from the repository.").format(
            file=f"assets/{name}.pt"))
    model = load_checkpoint_file(zoo.build(arch), path, arch, what=f"assets/{name}.pt")
    loaded = wrap_model(arch, model, source=ROBUST_SOURCE, label=label)
    loaded.info = {"card": info, "robust_name": name, "file": str(path)}
    return loaded


def load_any(name: str, source: str = "auto"):
    """A zoo model by name (``explorer.weights.load_model``) or a shipped robust one."""
    if name in ROBUST_MODELS:
        return load_robust(name)
    from explorer.weights import load_model

    return load_model(name, source)


def model_names() -> list[str]:
    return zoo.list_models() + robust_names()
