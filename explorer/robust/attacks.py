"""FGSM and PGD in pixel space through Captum's ``captum.robust``, and the smallest ε that flips.

Pixel space, not the normalised tensor
--------------------------------------
An attack budget ε is a promise about *pixels*: no colour value moves by more than ε of the
full range [0, 1] (ε = k/255 is k grey levels of an 8-bit image). The network sees
``(pixels - mean) / std``, so the attacked function here is :class:`PixelModel`: pixels in,
normalisation (and LeNet-5's background padding) inside, logits out. Attacking the normalised
tensor instead (pytorch/tutorials#1032) moves each pixel by ε·std, about a quarter of the
promised budget for ImageNet statistics, and clamps to the wrong range; the tests check that
this module does not do that.

Captum's attacks, set up for classification
-------------------------------------------
``FGSM`` (Goodfellow, Shlens & Szegedy, ICLR 2015) with the per-image cross-entropy as its loss
(its default, ``-log(output)``, expects probabilities) and ``zero_thresh = 0``, so a step is
exactly ``clamp(x + ε·sign(∇x L), 0, 1)`` (Captum leaves values whose gradient is below 1e-6
unchanged by default). ``PGD`` (Madry et al., ICLR 2018) iterates that step with step size α and
projects back into the L∞ ball of radius ε and into [0, 1] after every step; α defaults to
2.5·ε/steps (Madry et al.'s choice, so the walk can reach the ball's edge and move along it).
A random start, when asked for, is drawn from a generator of the call, never from PyTorch's
global one that other sessions' threads share.

The smallest ε that flips a prediction comes from Captum's ``MinParamPerturbation``: a binary
search over whole grey levels k = 1 … ``max_k``.

The shared model is only read: inputs are fresh tensors, parameters have
``requires_grad=False`` (``explorer.weights`` freezes them), gradients come from
``torch.autograd.grad`` (nothing writes ``.grad``), no hook is attached.
"""
from __future__ import annotations

import math
import re
import time
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer.i18n import N_, _, join
from explorer.inference import logits_of, pick_device
from explorer.inference.shared import model_on

# Captum warns whenever its input does not require gradients yet (every PGD step hands it a
# detached tensor); it then sets requires_grad on that fresh tensor itself, which is what we want.
warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients",
                        category=UserWarning)

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

    from explorer.weights import LoadedModel

__all__ = [
    "METHODS",
    "DEFAULT_STEPS",
    "MAX_STEPS",
    "AttackError",
    "PixelModel",
    "pixel_model",
    "input_pad",
    "to_pixels",
    "to_network",
    "parse_eps",
    "check_eps",
    "check_steps",
    "check_target",
    "resolve_class",
    "cross_entropy",
    "fgsm",
    "pgd",
    "perturb",
    "AttackResult",
    "attack",
    "MinEpsilon",
    "smallest_epsilon",
    "default_max_k",
    "describe_epsilon",
]

METHODS = {"fgsm": "FGSM", "pgd": "PGD"}  # names, not translated
METHOD_HELP = {
    "fgsm": N_("FGSM: one step of size ε along the sign of the loss gradient (Goodfellow et al. "
               "2015)."),
    "pgd": N_("PGD: many small signed-gradient steps, each projected back into the ε-box around "
              "the image (Madry et al. 2018); stronger than FGSM, and n times its cost."),
}
DEFAULT_STEPS = 10
MAX_STEPS = 1000


class AttackError(ValueError):
    """A user-readable reason why an attack cannot run (ε out of range, no such class, ...)."""


# --------------------------------------------------------------------------------------------
# The attacked function: pixels in, logits out


def input_pad(loaded: "LoadedModel") -> int:
    """Pixels of background the network's input adds around the image: LeNet-5 reads MNIST's
    28×28 digits padded to 32×32 (LeCun et al.), which is part of the network, not of the
    image an attacker may change."""
    spec = loaded.spec
    if spec.dataset == "mnist" and spec.input_size[1] > 28:
        return (spec.input_size[1] - 28) // 2
    return 0


@dataclass(frozen=True, eq=False)
class PixelModel:
    """``pixels (N×C×H×W in [0, 1]) -> logits``: padding and normalisation inside.

    Not an ``nn.Module`` on purpose: the shared model is only called, never made the child of
    another module (a ``.train()`` on a wrapper would reach it)."""

    model: nn.Module
    mean: torch.Tensor  # 1×C×1×1
    std: torch.Tensor
    pad: int = 0

    def network_input(self, pixels: torch.Tensor) -> torch.Tensor:
        if self.pad:  # background is pixel value 0 (black), as MNIST's padding is
            pixels = F.pad(pixels, (self.pad,) * 4, value=0.0)
        return (pixels - self.mean) / self.std

    def __call__(self, pixels: torch.Tensor) -> torch.Tensor:
        return logits_of(self.model(self.network_input(pixels))).float()


def _device(device) -> torch.device:
    device = pick_device(device)
    return torch.device("cpu") if device.type == "mps" else device  # Captum ops missing on MPS


def pixel_model(loaded: "LoadedModel", device=None) -> PixelModel:
    """The attacked function for ``loaded`` on ``device`` (the shared model itself on the CPU;
    elsewhere its cached per-device copy)."""
    device = _device(device)
    mean = torch.tensor(loaded.preprocess.mean, dtype=torch.float32, device=device)
    std = torch.tensor(loaded.preprocess.std, dtype=torch.float32, device=device)
    return PixelModel(model_on(loaded.model, device), mean.view(1, -1, 1, 1),
                      std.view(1, -1, 1, 1), input_pad(loaded))


def to_pixels(loaded: "LoadedModel", image: "Image.Image | torch.Tensor") -> torch.Tensor:
    """The image as the network sees it, before normalisation: 1×C×H×W in [0, 1] (resized and
    cropped by the model's own preprocessing; LeNet-5's padding taken off again). A tensor is
    taken to be the output of ``loaded.preprocess`` already."""
    x = image if isinstance(image, torch.Tensor) else loaded.preprocess(image)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    mean = torch.tensor(loaded.preprocess.mean, dtype=torch.float32).view(1, -1, 1, 1)
    std = torch.tensor(loaded.preprocess.std, dtype=torch.float32).view(1, -1, 1, 1)
    pixels = (x.detach().float().cpu() * std + mean).clamp(0, 1)
    pad = input_pad(loaded)
    if pad:
        pixels = pixels[..., pad:-pad, pad:-pad]
    return pixels.contiguous()


def to_network(loaded: "LoadedModel", pixels: torch.Tensor) -> torch.Tensor:
    """Pixels -> the normalised (and padded) tensor ``loaded.model`` reads: what
    ``explorer.inference.predict`` and ``explorer.attribution.explain`` take."""
    return pixel_model(loaded, "cpu").network_input(pixels.detach().float().cpu())


# --------------------------------------------------------------------------------------------
# Checking what a user asks for

_FRACTION = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*/\s*([0-9]*\.?[0-9]+)\s*$")


def parse_eps(text: str | float | int) -> float:
    """ε from ``"4/255"``, ``"0.0157"`` or a number; AttackError for anything else or a value
    outside [0, 1] (a value above 1 that would make sense over 255 is suggested as k/255)."""
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        raw = str(text).strip()
        match = _FRACTION.match(raw)
        try:
            if match:
                den = float(match.group(2))
                if den == 0:
                    raise ZeroDivisionError
                value = float(match.group(1)) / den
            else:
                value = float(raw)
        except (ValueError, ZeroDivisionError):
            raise AttackError(_("ε must be a number in pixel units, such as 4/255 or 0.03; "
                                "got {value}.").format(value=repr(raw))) from None
    return check_eps(value)


def check_eps(eps: float) -> float:
    eps = float(eps)
    if not math.isfinite(eps) or eps < 0 or eps > 1:
        hint = ""
        if math.isfinite(eps) and 1 < eps <= 255:
            hint = " " + _("Did you mean {k:g}/255?").format(k=eps)
        raise AttackError(_("ε is in pixel units, between 0 and 1 (1 = the full range from "
                            "black to white; k grey levels of an 8-bit image are k/255); got "
                            "{eps:g}.").format(eps=eps) + hint)
    return eps


def check_target(loaded: "LoadedModel", target: int | None) -> int | None:
    if target is None:
        return None
    n = len(loaded.categories)
    if not 0 <= int(target) < n:
        raise AttackError(_("Class {target} does not exist: {model} knows classes 0–{last}.")
                          .format(target=target, model=loaded.name, last=n - 1))
    return int(target)


def resolve_class(loaded: "LoadedModel", text: str | int) -> int:
    """A class index from an index or a class name (case-insensitive, whole name); AttackError
    naming close names when there is none."""
    if isinstance(text, int) or str(text).strip().lstrip("-").isdigit():
        return check_target(loaded, int(text))
    wanted = str(text).strip().lower()
    names = [c.lower() for c in loaded.categories]
    if wanted in names:
        return names.index(wanted)
    import difflib

    close = difflib.get_close_matches(wanted, names, n=3, cutoff=0.6)
    hint = (" " + _("Did you mean {names}?").format(
        names=join(f"{loaded.categories[names.index(c)]} ({names.index(c)})" for c in close))
        if close else "")
    raise AttackError(_("{model} has no class called {name}.").format(
        model=loaded.name, name=repr(str(text))) + hint)


def check_steps(steps: int) -> int:
    steps = int(steps)
    if not 1 <= steps <= MAX_STEPS:
        raise AttackError(_("PGD needs between 1 and {most} steps; got {steps}.").format(
            most=MAX_STEPS, steps=steps))
    return steps


# --------------------------------------------------------------------------------------------
# The attacks (batched): Captum's FGSM and PGD


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Per-image cross-entropy: Captum differentiates the sum of a per-example loss, so each
    image's gradient is its own (a batch mean would scale it by 1/N)."""
    return F.cross_entropy(logits, labels, reduction="none")


def _labels(labels, n: int, device) -> torch.Tensor:
    t = torch.as_tensor(labels, dtype=torch.long, device=device)
    return t.expand(n).contiguous() if t.dim() == 0 else t


def fgsm(forward: Callable, pixels: torch.Tensor, eps: float, labels,
         targeted: bool = False) -> torch.Tensor:
    """``clamp(x + ε·sign(∇x L(x, y)), 0, 1)`` (targeted: ``x − ε·sign(∇x L(x, t))``)."""
    from captum.robust import FGSM

    attack = FGSM(forward, loss_func=cross_entropy, lower_bound=0.0, upper_bound=1.0)
    attack.zero_thresh = 0.0  # every nonzero gradient moves its value (the textbook formula)
    x = pixels.detach().clone()
    return attack.perturb(x, float(eps), _labels(labels, len(x), x.device),
                          targeted=targeted).detach()


def _seeded_pgd(forward: Callable, generator: torch.Generator | None):
    from captum.robust import PGD

    class SeededPGD(PGD):
        """Captum's PGD with its random start drawn from ``generator`` (the global generator
        is shared by every session's thread)."""

        def _random_point(self, center, radius, norm, mask):
            noise = torch.rand(center.shape, generator=generator, device="cpu").to(center.device)
            return center + (noise * 2 * radius - radius) * mask

    return SeededPGD(forward, loss_func=cross_entropy, lower_bound=0.0, upper_bound=1.0)


def pgd(forward: Callable, pixels: torch.Tensor, eps: float, labels, steps: int = DEFAULT_STEPS,
        step_size: float | None = None, targeted: bool = False, random_start: bool = False,
        generator: torch.Generator | None = None) -> torch.Tensor:
    """``steps`` FGSM steps of size α, each projected into the L∞ ball of radius ε around the
    image and into [0, 1]. α defaults to 2.5·ε/steps (Madry et al. 2018)."""
    steps = check_steps(steps)
    alpha = 2.5 * float(eps) / steps if step_size is None else float(step_size)
    if random_start and generator is None:  # reproducible, and off the global generator
        generator = torch.Generator().manual_seed(0)
    attack = _seeded_pgd(forward, generator)
    attack.fgsm.zero_thresh = 0.0
    x = pixels.detach().clone()
    return attack.perturb(x, float(eps), alpha, steps, _labels(labels, len(x), x.device),
                          targeted=targeted, random_start=random_start).detach()


def perturb(forward: Callable, pixels: torch.Tensor, method: str, eps: float, labels,
            steps: int = DEFAULT_STEPS, targeted: bool = False, **opts) -> torch.Tensor:
    """``fgsm`` or ``pgd`` by name; ε = 0 returns the pixels unchanged."""
    if method not in METHODS:
        raise AttackError(_("Unknown attack {method}; choose fgsm or pgd.").format(
            method=repr(method)))
    if eps == 0:
        return pixels.detach().clone()
    if method == "fgsm":
        return fgsm(forward, pixels, eps, labels, targeted)
    return pgd(forward, pixels, eps, labels, steps, targeted=targeted, **opts)


# --------------------------------------------------------------------------------------------
# One image, as the page and the CLI show it


@dataclass
class AttackResult:
    clean: torch.Tensor  # 1×C×H×W pixels in [0, 1], on the CPU
    adversarial: torch.Tensor
    method: str
    eps: float
    steps: int | None  # PGD's steps; None for FGSM
    target: int | None  # the class pushed towards (targeted), else None
    label: int  # the class attacked away from (untargeted: the true label, else the clean top-1)
    clean_probs: np.ndarray  # softmax over the classes
    adv_probs: np.ndarray
    seconds: float
    notes: dict = field(default_factory=dict)

    @property
    def clean_top1(self) -> int:
        return int(self.clean_probs.argmax())

    @property
    def adv_top1(self) -> int:
        return int(self.adv_probs.argmax())

    @property
    def succeeded(self) -> bool:
        """Untargeted: the top-1 left the attacked class; targeted: it is the target."""
        if self.target is not None:
            return self.adv_top1 == self.target
        return self.adv_top1 != self.label

    @property
    def perturbation(self) -> torch.Tensor:
        return self.adversarial - self.clean

    def top(self, k: int = 5, adversarial: bool = False) -> list[tuple[int, float]]:
        probs = self.adv_probs if adversarial else self.clean_probs
        order = np.argsort(-probs)[:k]
        return [(int(i), float(probs[i])) for i in order]


def _probs(forward: PixelModel, pixels: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return forward(pixels).softmax(-1).cpu().numpy()


def attack(loaded: "LoadedModel", pixels: torch.Tensor, method: str = "fgsm",
           eps: float = 4 / 255, steps: int = DEFAULT_STEPS, target: int | None = None,
           label: int | None = None, step_size: float | None = None, device=None,
           progress: Callable[[int, int], None] | None = None) -> AttackResult:
    """Attack one image (1×C×H×W pixels from :func:`to_pixels`).

    Untargeted (``target`` None): away from ``label``, or from the clean top-1 when there is no
    label (a user's photo). Targeted: towards class ``target``. ``progress(step, steps)`` after
    each gradient step (a page's bar; raising from it stops the attack).
    """
    eps = check_eps(eps)
    target = check_target(loaded, target)
    if method == "pgd":
        steps = check_steps(steps)
    forward = pixel_model(loaded, device)
    device = forward.mean.device
    x = pixels.detach().float().to(device)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.shape[0] != 1:
        raise AttackError("attack() takes one image (1×C×H×W pixels); use perturb() for a batch.")
    t0 = time.perf_counter()
    clean_probs = _probs(forward, x)[0]
    if label is None:
        label = int(clean_probs.argmax())
    else:
        label = check_target(loaded, label)
    goal = target if target is not None else label
    opts = {"step_size": step_size} if method == "pgd" else {}
    attacked = forward
    if progress is not None:
        total, done = (steps if method == "pgd" else 1), [0]

        def attacked(p: torch.Tensor) -> torch.Tensor:  # one call per gradient step
            out = forward(p)
            done[0] += 1
            progress(min(done[0], total), total)
            return out

    adv = perturb(attacked, x, method, eps, goal, steps, targeted=target is not None, **opts)
    adv_probs = _probs(forward, adv)[0]
    seconds = time.perf_counter() - t0
    # An 8-bit image (a saved PNG) holds whole grey levels: does the attack survive rounding?
    rounded = torch.round(adv * 255) / 255
    rounded_top1 = int(_probs(forward, rounded)[0].argmax())
    notes = {"rounded_top1": rounded_top1}
    return AttackResult(x.cpu(), adv.cpu(), method, eps, steps if method == "pgd" else None,
                        target, int(label), clean_probs, adv_probs, seconds, notes)


# --------------------------------------------------------------------------------------------
# The smallest ε that flips the prediction: Captum's MinParamPerturbation


@dataclass
class MinEpsilon:
    k: int | None  # whole grey levels: ε = k/255; None when even max_k does not flip it
    max_k: int
    method: str
    steps: int | None
    label: int  # the clean top-1 it flips away from (untargeted) ...
    target: int | None  # ... or the class it flips to (targeted)
    adversarial: torch.Tensor | None  # the adversarial pixels at k
    adv_top1: int | None
    attacks_run: int
    seconds: float

    @property
    def eps(self) -> float | None:
        return None if self.k is None else self.k / 255


def default_max_k(loaded: "LoadedModel") -> int:
    """How far the search goes: 64/255 (a quarter of the range) for photos; 128/255 for MNIST
    digits, where robustness is measured at ε = 0.1–0.3 (26–77 grey levels)."""
    return 128 if loaded.spec.dataset == "mnist" else 64


def smallest_epsilon(loaded: "LoadedModel", pixels: torch.Tensor, method: str = "fgsm",
                     steps: int = DEFAULT_STEPS, target: int | None = None,
                     max_k: int | None = None, device=None,
                     progress: Callable[[int, int], None] | None = None) -> MinEpsilon:
    """The smallest whole number of grey levels k (ε = k/255) at which the attack changes the
    top-1 (untargeted) or makes it ``target``: Captum's ``MinParamPerturbation``, binary search
    over k = 1 … ``max_k`` (assumes a larger ε never undoes a flip, true for almost every
    image). ``progress(done, about)`` after each attack (about log2(max_k) + 1 of them)."""
    from captum.robust import MinParamPerturbation

    target = check_target(loaded, target)
    max_k = int(max_k or default_max_k(loaded))
    if not 1 <= max_k <= 255:
        raise AttackError(_("The search for the smallest ε goes up to 1–255 grey levels; got "
                            "{k}.").format(k=max_k))
    if method == "pgd":
        steps = check_steps(steps)
    forward = pixel_model(loaded, device)
    x = pixels.detach().float().to(forward.mean.device)
    if x.dim() == 3:
        x = x.unsqueeze(0)
    t0 = time.perf_counter()
    label = int(_probs(forward, x)[0].argmax())
    goal = target if target is not None else label
    about = max(1, math.ceil(math.log2(max_k)) + 1)
    runs = [0]

    def attack_k(inputs: torch.Tensor, k: int) -> torch.Tensor:
        adv = perturb(forward, inputs, method, k / 255, goal, steps,
                      targeted=target is not None)
        runs[0] += 1
        if progress is not None:
            progress(min(runs[0], about), about)
        return adv

    def no_grad_forward(inputs: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return forward(inputs)

    def still_correct(out: torch.Tensor) -> bool:
        top1 = int(out.argmax(-1)[0])
        return top1 != goal if target is not None else top1 == goal

    search = MinParamPerturbation(no_grad_forward, attack_k, arg_name="k", arg_min=1,
                                  arg_max=max_k + 1, arg_step=1, mode="binary",
                                  correct_fn=still_correct)
    adv, k = search.evaluate(x)
    adv_top1 = None
    if adv is not None:
        adv = adv.detach().cpu()
        adv_top1 = int(_probs(forward, adv.to(x.device))[0].argmax())
    return MinEpsilon(None if k is None else int(k), max_k, method,
                      steps if method == "pgd" else None, label, target, adv, adv_top1,
                      runs[0], time.perf_counter() - t0)


def describe_epsilon(k: int, clean: torch.Tensor | None = None,
                     adversarial: torch.Tensor | None = None) -> str:
    """ε = k/255 in words: what k grey levels are, and (given the images) how much the
    pixels really moved."""
    eps = k / 255
    if k <= 1:
        verdict = _("the smallest step an 8-bit image can hold: no eye sees it")
    elif k <= 3:
        verdict = _("far below what the eye notices on a screen")
    elif k <= 8:
        verdict = _("invisible unless you compare the two images value by value")
    elif k <= 16:
        verdict = _("faint noise, visible when you look closely")
    elif k <= 40:
        verdict = _("clearly visible noise, but the picture is still obviously the same")
    else:
        verdict = _("heavy noise: a person notices at once")
    text = _("{k}/255 (ε = {eps:.4f}): every colour value may move by at most {k} of 255 grey "
             "levels; {verdict}.").format(k=k, eps=eps, verdict=verdict)
    if clean is not None and adversarial is not None:
        delta = (adversarial - clean).abs().flatten() * 255
        moved = float((delta > 0.5).float().mean())
        mean = float(delta.mean())
        text += " " + _("Here {share:.0%} of the values changed by more than half a grey level, "
                        "by {mean:.1f} grey levels on average.").format(share=moved, mean=mean)
    return text
