"""Feature visualisation by activation maximisation, the way Olah et al. do it (Distill 2017).

Naive gradient ascent on pixels gives high-frequency noise on most networks (BatchNorm ones,
VGG, ResNet, MobileNet: lucid#61, #78, keras-vis#219). Three things make the difference, all
from Lucid/Lucent and all here:

1. **Fourier parameterisation.** The image is the inverse real FFT of a learned spectrum whose
   coefficients are scaled by ``1 / frequency^decay`` (``decay`` 1): every coefficient gets a
   similar gradient, so low frequencies are not starved and high ones not favoured.
2. **Decorrelated colour.** The three learned channels are mixed by the square root of
   ImageNet's colour correlation matrix (Lucid's ``color_correlation_svd_sqrt``) and squashed by
   a sigmoid into [0, 1]; greyscale networks (MNIST) skip the mixing.
3. **Transformation robustness.** Each step sees the image padded, jittered, scaled and rotated
   at random (Lucent's ``standard_transforms``: pad 12, jitter 8, scale 0.9–1.1, rotate
   ±10°, jitter 4), so a pattern must work wherever it lands, not only on exact pixels.

The objective is a channel's mean activation, one unit's activation (default: the centre of
the map), or a class logit; Adam does the ascent. For an activation-function layer (ReLU,
ReLU6, Hardtanh) the ascent uses its *input* (Lucid's ``_pre_relu`` layers): the same ordering
of images, but a gradient also where the unit is still switched off. Reported values are the
layer's own output.

Nothing is left on the model: the ascent runs on a per-call module copy sharing the weights
(whose ``requires_grad`` is False), the hook lives in ``fields.tap`` and is removed in
``finally``, and the final values are read with ``features.capture``.

No maintained library fitted: Captum 0.9 has no ``optim`` module (it lives only in an
unreleased branch), and torch-lucent leaves hooks on the model and slows down with every call
(lucent#45). This module is about the size of Lucent's core.

Settings per family (:data:`FAMILY_SETTINGS`), tuned on this project's networks: the defaults
work on the ImageNet networks (EfficientNet-Lite0, genuine weights: every channel tested
activates more than every photo of the 600-image pool); the MNIST networks see 28/32-pixel
greyscale digits, where Lucent's transforms (12-pixel pad, 8-pixel jitter) would move the whole
digit, so they use small ones, and a dark start with a small ink penalty (see the table).
"""
from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from explorer import zoo
from explorer.analysis.features import capture
from explorer.inference import logits_of, model_on, pick_device
from explorer.channels.fields import borrowed_copy, tap

__all__ = ["VisSettings", "FAMILY_SETTINGS", "settings_for", "VisResult", "visualize",
           "target_value", "OBJECTIVES", "LOGITS", "fourier_image"]

LOGITS = "logits"  # the "layer" of a class-logit objective
OBJECTIVES = ("channel", "neuron", "class")

# Lucid's colour correlation (square root of ImageNet's RGB covariance, from its SVD).
COLOR_CORRELATION_SVD_SQRT = np.array([[0.26, 0.09, 0.02],
                                       [0.27, 0.00, -0.05],
                                       [0.27, -0.09, 0.03]], dtype=np.float32)
_COLOR = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))
_PRE_ACTIVATION = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU)


@dataclass(frozen=True)
class VisSettings:
    steps: int = 256
    size: int | None = None  # None: the network's input size
    lr: float = 0.05
    decay: float = 1.0  # spectrum scale 1 / f^decay
    init_sd: float = 0.01
    pad: int = 12
    pad_value: float = 0.5
    jitter: int = 8
    scales: tuple[float, ...] = tuple(1 + (i - 5) / 50 for i in range(11))
    angles: tuple[float, ...] = tuple(range(-10, 11)) + (0,) * 5
    jitter2: int = 4
    decorrelate: bool = True
    offset: float = 0.0  # added before the sigmoid: < 0 starts darker than mid grey
    l1: float = 0.0  # penalty on the mean pixel value (ink): keeps a digit's background black


FAMILY_SETTINGS: dict[str, VisSettings] = {
    "default": VisSettings(),
    # 28×28 / 32×32 digits: transforms scaled to the image, fewer steps are enough.
    # Strokes on black like MNIST: start dark (offset -3 before the sigmoid), pad with black,
    # and charge a little for ink (l1): LeNet-5's class images are then read as that digit by
    # the other MNIST networks 63 % of the time (19 of 30; grey backgrounds gave 40 %, mostly
    # read as "8").
    "mnist": VisSettings(steps=128, lr=0.05, decay=1.0, pad=2, pad_value=0.0, jitter=2,
                         scales=(0.95, 1.0, 1.05), angles=(-5, 0, 0, 5), jitter2=1,
                         decorrelate=False, offset=-3.0, l1=2.0),
}


def settings_for(name: str, **overrides) -> VisSettings:
    spec = zoo.get_spec(name)
    base = FAMILY_SETTINGS["mnist" if spec.dataset == "mnist" else "default"]
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


# --------------------------------------------------------------------------------------------
# The image parameterisation


def _scale(h: int, w: int, decay: float) -> torch.Tensor:
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w)) ** decay
    return torch.tensor(scale, dtype=torch.float32)[None, None, :, :, None]


def fourier_image(spectrum: torch.Tensor, scale: torch.Tensor, hw: tuple[int, int],
                  decorrelate: bool, offset: float = 0.0) -> torch.Tensor:
    """1×C×H×W image in [0, 1] from a spectrum 1×C×H×(W//2+1)×2."""
    z = torch.view_as_complex((spectrum * scale).contiguous())
    img = torch.fft.irfftn(z, s=hw, norm="ortho", dim=(2, 3)) / 4.0  # Lucid's "magic" 4
    if decorrelate and img.shape[1] == 3:
        img = torch.einsum("nchw,dc->ndhw", img, torch.from_numpy(_COLOR).to(img.device))
    return torch.sigmoid(img + offset)


def _transform(img: torch.Tensor, s: VisSettings, gen: torch.Generator) -> torch.Tensor:
    def pick(options):
        return options[int(torch.randint(len(options), (1,), generator=gen))]

    def jitter(x, d):
        if d <= 0:
            return x
        dy, dx = (int(v) for v in torch.randint(d + 1, (2,), generator=gen))
        return x[:, :, dy:x.shape[2] - d + dy, dx:x.shape[3] - d + dx]

    if s.pad:
        img = F.pad(img, (s.pad,) * 4, mode="constant", value=s.pad_value)
    img = jitter(img, s.jitter)
    scale, angle = float(pick(s.scales)), math.radians(float(pick(s.angles)))
    if scale != 1 or angle != 0:
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        theta = torch.tensor([[[cos, -sin, 0.0], [sin, cos, 0.0]]], device=img.device)
        grid = F.affine_grid(theta, list(img.shape), align_corners=False)
        img = F.grid_sample(img, grid, mode="bilinear", padding_mode="reflection",
                            align_corners=False)
    return jitter(img, s.jitter2)


# --------------------------------------------------------------------------------------------
# The ascent


@dataclass
class VisResult:
    image: np.ndarray  # H×W×3 or H×W uint8
    model: str
    layer: str
    objective: str
    target: int  # channel or class
    pos: tuple[int, int] | None  # the unit of a "neuron" objective
    final: float  # the target's value on the final image (no transforms)
    grey: float  # ... and on a plain grey image of the same size
    history: list[float]
    settings: dict
    seconds: float
    device: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "image"}
        d["size"] = list(self.image.shape[:2])
        return d


def _normaliser(preprocess, device):
    mean = torch.tensor(preprocess.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(preprocess.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return lambda img: (img - mean) / std


def _value(out: torch.Tensor, objective: str, target: int, pos) -> torch.Tensor:
    if objective == "class":
        return logits_of(out)[0, target]
    if objective == "neuron":
        return out[0, target, pos[0], pos[1]]
    return out[0, target].mean()


def target_value(model: nn.Module, preprocess, layer: str, objective: str, target: int,
                 img01: torch.Tensor, pos=None) -> float:
    """The target's value for an image in [0, 1] (1×C×H×W), read without hooks left behind."""
    x = _normaliser(preprocess, img01.device)(img01)
    with torch.inference_mode():
        if objective == "class":
            return float(logits_of(model(x))[0, target])
        out = capture(model, layer, x)[layer]
        if pos is None and objective == "neuron":
            pos = (out.shape[2] // 2, out.shape[3] // 2)
        return float(_value(out, objective, target, pos))


def visualize(loaded, layer: str, target: int, objective: str = "channel",
              pos: tuple[int, int] | None = None, settings: VisSettings | None = None,
              seed: int = 0, device: str | torch.device | None = None,
              progress: Callable[[int, int, np.ndarray | None], None] | None = None,
              preview_every: int = 16) -> VisResult:
    """Maximise ``target`` (a channel of ``layer``, one of its units, or a class logit with
    ``objective="class"``) over images of ``settings.size``. ``progress(step, steps, image)``
    is called every step, with the current image every ``preview_every`` steps (else None).
    Random numbers come from a private generator seeded with ``seed``."""
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    s = settings or settings_for(loaded.name)
    device = pick_device(device)
    if device.type == "mps":
        device = torch.device("cpu")  # FFT gradients are incomplete on MPS
    shared = model_on(loaded.model, device)
    spec = loaded.spec
    channels = spec.input_size[0]
    size = int(s.size or spec.input_size[1])
    if spec.min_size is None and size != spec.input_size[1]:
        size = spec.input_size[1]  # dense layers fix the input size
    hw = (size, size)
    fixed = spec.min_size is None
    modules = dict(shared.named_modules())
    if objective != "class" and layer not in modules:
        raise KeyError(f"no layer named {layer!r} in {loaded.name}")
    pre = objective != "class" and isinstance(modules[layer], _PRE_ACTIVATION)
    if objective == "neuron":
        from explorer.channels.fields import layer_row

        map_hw = layer_row(loaded.name, layer, (channels, *hw)).output_shape[2:]
        pos = tuple(pos) if pos is not None else (map_hw[0] // 2, map_hw[1] // 2)
        if not all(0 <= pos[a] < map_hw[a] for a in range(2)):
            raise ValueError(f"unit {pos} is outside {layer}'s {map_hw[0]}×{map_hw[1]} map")
    gen = torch.Generator().manual_seed(int(seed))
    spectrum = (torch.randn((1, channels, hw[0], hw[1] // 2 + 1, 2), generator=gen)
                * s.init_sd).to(device).requires_grad_(True)
    scale = _scale(*hw, s.decay).to(device)
    normalise = _normaliser(loaded.preprocess, device)
    opt = torch.optim.Adam([spectrum], lr=s.lr)
    history: list[float] = []
    t0 = time.perf_counter()
    with borrowed_copy(shared) as clone, torch.enable_grad():
        run_layer = layer if objective != "class" else None
        with (tap(clone, run_layer, pre=pre) if run_layer else _whole(clone)) as run:
            for step in range(s.steps):
                opt.zero_grad(set_to_none=True)
                img = fourier_image(spectrum, scale, hw, s.decorrelate, s.offset)
                seen = _transform(img, s, gen)
                if fixed and seen.shape[-2:] != hw:  # dense layers need the designed size
                    seen = F.interpolate(seen, size=hw, mode="bilinear", align_corners=False)
                out = run(normalise(seen))
                if objective == "neuron":
                    # The padded, jittered image gives a larger map: aim at the unit over the
                    # same part of the picture (the map grows about equally on both sides).
                    p = tuple(min(max(0, pos[a] + (out.shape[2 + a] - map_hw[a]) // 2),
                                  out.shape[2 + a] - 1) for a in range(2))
                    value = _value(out, objective, target, p)
                else:
                    value = _value(out, objective, target, pos)
                loss = -value + s.l1 * img.mean() if s.l1 else -value
                loss.backward()
                opt.step()
                history.append(float(value.detach()))
                if progress:
                    preview = None
                    if preview_every and ((step + 1) % preview_every == 0 or step + 1 == s.steps):
                        preview = _to_uint8(img.detach())
                    progress(step + 1, s.steps, preview)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        final_img = fourier_image(spectrum.detach(), scale, hw, s.decorrelate, s.offset)
    eval_layer = layer if objective != "class" else LOGITS
    final = target_value(shared, loaded.preprocess, eval_layer, objective, target, final_img, pos)
    grey = target_value(shared, loaded.preprocess, eval_layer, objective, target,
                        torch.full_like(final_img, 0.5), pos)
    notes = []
    if getattr(loaded, "is_random", False):
        notes.append("random weights")
    return VisResult(_to_uint8(final_img), loaded.name, eval_layer, objective, int(target),
                     tuple(pos) if pos is not None else None, final, grey, history,
                     {**asdict(s), "size": size, "seed": seed, "pre_activation": pre},
                     seconds, str(device), notes)


class _whole:
    """The whole network as a "tap" (class logits)."""

    def __init__(self, model):
        self.model = model

    def __enter__(self):
        return lambda x: self.model(x)

    def __exit__(self, *exc):
        return False


def _to_uint8(img: torch.Tensor) -> np.ndarray:
    a = (img[0].clamp(0, 1).permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
    return a[..., 0] if a.shape[2] == 1 else a
