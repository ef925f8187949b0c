"""Adversarial training of the MNIST networks through ``explorer.train``'s loop.

Every training batch is replaced by its adversarial version before the weights see it (as
Madry, Makelov, Schmidt, Tsipras & Vladu, ICLR 2018 train: only on adversarial digits), made
with PGD from a random start, or with FGSM (Goodfellow, Shlens & Szegedy, ICLR 2015, who mixed
clean and FGSM digits half and half; on FGSM digits alone at ε = 0.3 a LeNet-5 learns to read
the label from the attack's pattern and loses its clean accuracy: label leaking, Kurakin,
Goodfellow & Bengio, ICLR 2017; the shipped ``lenet5_adv_fgsm`` shows it). :func:`adversarial_batches` builds
the batch-perturbing callable ``(model, x, y) -> x_adv`` that ``explorer.train.Trainer`` takes
as ``perturb``; the attack runs in pixel space with the normalisation and LeNet-5's padding
inside, in eval mode (no dropout mask or BatchNorm statistics drawn from the attack's passes),
the random start from the run's own seeded generator.

The catch (Tramèr et al., ICLR 2018; Wong, Rice & Kolter, ICLR 2020): a network trained on
FGSM alone can learn to mask its gradient so that a single signed step finds nothing, and look
robust to FGSM while PGD, which takes many small steps, still breaks it. So the card of a
trained model measures both, and :func:`verdict` says which it is.

    python -m explorer.robust train --method pgd --eps 0.3 --steps 7 --epochs 10
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import platform
from pathlib import Path
from typing import Callable

import torch
import torch.nn as nn

from explorer import zoo
from explorer.data.mnist import MNIST_MEAN, MNIST_STD
from explorer.data.paths import ASSETS
from explorer.train.recipe import FULL_RECIPE_IMAGES
from explorer.i18n import _
from explorer.robust.attacks import DEFAULT_STEPS, PixelModel, check_eps, perturb
from explorer.robust.mnist import EPSILONS, eps_curve, test_digits

__all__ = ["adversarial_batches", "train_robust", "robustness_figures", "verdict",
           "FGSM_PAPER", "PGD_PAPER"]

FGSM_PAPER = ("Goodfellow, Shlens & Szegedy, Explaining and Harnessing Adversarial Examples, "
              "ICLR 2015")
PGD_PAPER = ("Madry, Makelov, Schmidt, Tsipras & Vladu, Towards Deep Learning Models "
             "Resistant to Adversarial Attacks, ICLR 2018")


def _pad(name: str) -> int:
    size = zoo.get_spec(name).input_size[1]
    return (size - 28) // 2 if size > 28 else 0


def adversarial_batches(name: str, method: str = "pgd", eps: float = 0.3, steps: int = 7,
                        step_size: float | None = None, random_start: bool = True,
                        seed: int = 0, warmup_batches: int = 0,
                        ) -> Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]:
    """``perturb(model, x, y) -> x_adv`` for ``explorer.train``'s loop: ``x`` is the normalised
    batch the loop feeds ``name`` (LeNet-5: padded to 32×32); the result is the same batch
    attacked in pixel space within ``eps`` (PGD: ``steps`` steps of ``step_size``, default
    2.5·ε/steps, from a random start in the ε-box). With ``warmup_batches`` the budget grows
    linearly from 0 to ``eps`` over that many batches (a curriculum, Cai et al. IJCAI 2018: a
    network as small as LeNet-5 trained at ε = 0.3 from its first batch can settle on
    predicting one class)."""
    eps = check_eps(eps)
    pad = _pad(name)
    generator = torch.Generator().manual_seed(seed)
    calls = [0]

    def perturb_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(MNIST_MEAN, device=x.device).view(1, 1, 1, 1)
        std = torch.tensor(MNIST_STD, device=x.device).view(1, 1, 1, 1)
        forward = PixelModel(model, mean, std, pad)
        pixels = (x.detach() * std + mean).clamp(0, 1)
        if pad:
            pixels = pixels[..., pad:-pad, pad:-pad]
        calls[0] += 1
        budget = eps * min(1.0, calls[0] / warmup_batches) if warmup_batches else eps
        alpha = None if step_size is None else step_size * budget / eps
        was_training = model.training
        model.eval()
        try:
            opts = ({"step_size": alpha, "random_start": random_start,
                     "generator": generator} if method == "pgd" else {})
            adv = perturb(forward, pixels, method, budget, y, steps, **opts)
        finally:
            model.train(was_training)
        return forward.network_input(adv).detach()

    perturb_batch.description = {  # for the model card
        "method": method, "eps": eps, "steps": steps if method == "pgd" else 1,
        "step_size": (step_size if step_size is not None else 2.5 * eps / steps)
        if method == "pgd" else eps,
        "random_start": bool(random_start) if method == "pgd" else False,
        "warmup_batches": warmup_batches,
        "paper": PGD_PAPER if method == "pgd" else FGSM_PAPER,
        "trained_on": "adversarial digits only (each batch replaced by its attacked version)",
        "attack_mode": "eval mode, pixel space, normalisation and padding inside",
    }
    return perturb_batch


def robustness_figures(loaded, steps: int = DEFAULT_STEPS, epsilons=EPSILONS,
                       limit: int | None = None, device=None,
                       progress: Callable[[float, str], None] | None = None) -> dict:
    """FGSM and PGD-``steps`` accuracy (%) over ``epsilons`` on the MNIST test digits."""
    pixels, labels = test_digits(limit)
    out = {"eps": list(epsilons), "images": len(labels), "pgd_steps": steps,
           "pgd_step_size": "2.5·ε/steps", "labels": "true labels", "pixel_space": True}
    for method in ("fgsm", "pgd"):
        points = eps_curve(loaded, pixels, labels, method, epsilons, steps, device=device,
                           progress=progress)
        out[method] = [round(p.accuracy, 2) for p in points]
        out[f"{method}_correct"] = [p.correct for p in points]
    return out


def verdict(figures: dict, eps: float) -> tuple[str, str]:
    """(code, sentence) about FGSM vs PGD at ``eps``: "robust" when PGD accuracy is within 10
    points of FGSM's, "masked" when FGSM looks far better than PGD (gradient masking), and
    "fragile" when both are low (< 30 %)."""
    grid = figures["eps"]
    i = min(range(len(grid)), key=lambda j: abs(grid[j] - eps))
    f, p = figures["fgsm"][i], figures["pgd"][i]
    at = grid[i]
    if f < 30 and p < 30:
        return "fragile", _("At ε = {eps:g} it is not robust: {fgsm:.1f} % under FGSM and "
                            "{pgd:.1f} % under PGD.").format(eps=at, fgsm=f, pgd=p)
    if f - p > 10:
        text = _("It only looks robust: at ε = {eps:g} FGSM leaves it {fgsm:.1f} % but PGD "
                 "{pgd:.1f} %. One signed step finds nothing because the gradient points the "
                 "wrong way near each digit (gradient masking), while many small steps still "
                 "break it.").format(eps=at, fgsm=f, pgd=p)
        clean = figures["fgsm"][0]
        if f > clean + 1:
            text += " " + _("It even scores higher under FGSM ({fgsm:.1f} %) than on clean "
                            "digits ({clean:.1f} %): trained only on FGSM digits made with the "
                            "true label, it has learnt to read the label from the attack's own "
                            "pattern (label leaking, Kurakin et al. 2017).").format(
                fgsm=f, clean=clean)
        return "masked", text
    return "robust", _("It is robust to both: at ε = {eps:g} FGSM leaves it {fgsm:.1f} % and "
                       "the stronger PGD {pgd:.1f} %, so the FGSM figure is not a mirage of "
                       "masked gradients.").format(eps=at, fgsm=f, pgd=p)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def train_robust(method: str = "pgd", eps: float = 0.3, steps: int = 7, epochs: int = 10,
                 seed: int = 0, out_dir: str | Path | None = None, name: str = "lenet5",
                 curve_steps: int = DEFAULT_STEPS, warmup_epochs: int = 2, device=None,
                 log: Callable[[str], None] | None = None, subset: int | None = None,
                 test_limit: int | None = None) -> dict:
    """Train ``name`` adversarially with ``explorer.train`` (seed 002's recipe: Adam, batch 64,
    10 % validation; the rate lowered to 2e-4 and 5e-5 for the last epochs), measure the
    curves, and write ``<name>_adv_<method>.pt`` and its model card into ``out_dir`` (default
    ``assets/``). Returns the card. ``subset`` / ``test_limit``: fewer training images / test
    digits for the card's curves (a quick run)."""
    from explorer import train as training_loop
    from explorer.data.mnist import mnist_root

    n_train = FULL_RECIPE_IMAGES - round(FULL_RECIPE_IMAGES * 0.1)
    per_epoch = -(-n_train // 64)
    perturb_batch = adversarial_batches(name, method, eps, steps, seed=seed,
                                        warmup_batches=warmup_epochs * per_epoch)
    recipe = training_loop.Recipe(lr_steps=((epochs - 2, 2e-4), (epochs, 5e-5)))
    on_epoch = None
    if log is not None:
        def on_epoch(row):
            log(f"epoch {row['epoch']}: " + ", ".join(f"{k} {v}" for k, v in row.items()
                                                       if k != "epoch"))
    result = training_loop.train(name, epochs, mnist_root()[0], subset, seed=seed, device=device,
                                 recipe=recipe, on_epoch=on_epoch, perturb=perturb_batch)
    out_dir = Path(out_dir) if out_dir is not None else ASSETS
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"{name}_adv_{method}"
    pt = out_dir / f"{stem}.pt"
    torch.save(result.state_dict(), pt)
    # The figures come from the file as written, loaded the way the app loads it.
    from explorer.weights import load_checkpoint_file, wrap_model

    model = load_checkpoint_file(zoo.build(name), pt, name, what=pt.name)
    loaded = wrap_model(name, model, source="adversarial")
    if log is not None:
        log("measuring FGSM and PGD curves on the 10,000 test digits …")
    figures = robustness_figures(loaded, curve_steps, limit=test_limit, device=device)
    standard = training_loop.load_card(name) or {}
    code, _sentence = verdict(figures, eps)
    card = {
        "model": stem,
        "architecture": name,
        **{k: v for k, v in result.card.items() if k not in ("model",)},
        "adversarial_training": perturb_batch.description,
        "robustness": figures,
        "verdict_at_training_eps": code,
        "standard_model": {"checkpoint": f"{name}.pt",
                           "test_accuracy": standard.get("test_accuracy")},
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "python": platform.python_version(),
        "checkpoint": {"file": pt.name, "bytes": pt.stat().st_size, "sha256": _sha256(pt)},
        "command": (f"python -m explorer.robust train --method {method} --eps {eps:g} "
                    f"--steps {steps} --epochs {epochs} --warmup {warmup_epochs} --seed {seed}"),
        "reproduce": [f"python -m explorer.robust curve --model {stem} --images mnist-test "
                      f"--method {m} --eps {' '.join(f'{e:g}' for e in figures['eps'])}"
                      + (f" --steps {curve_steps}" if m == "pgd" else "") + " --json"
                      for m in ("fgsm", "pgd")],
    }
    (out_dir / f"{stem}.json").write_text(json.dumps(card, indent=2, ensure_ascii=False) + "\n")
    return card
