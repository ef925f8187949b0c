"""Feature visualisation by activation maximisation, the way Olah et al. do it (Distill 2017).

Naive gradient ascent on pixels gives high-frequency noise on most networks (BatchNorm ones,
VGG, ResNet, MobileNet: lucid#61, #78, keras-vis#219). What makes the difference, all from
Lucid/Lucent and the papers behind them, and all here:

1. **Fourier parameterisation.** The image is the inverse real FFT of a learned spectrum whose
   coefficients are scaled by ``1 / frequency^decay``. Adam moves every coefficient by about
   the same step, so this scale *is* the spectrum the ascent can build: ``decay`` 1 (Lucid)
   allows as much power per octave at a 2-pixel period as at a 100-pixel one, which is the
   pixel-scale grain of BatchNorm networks; natural photos fall off faster (the median photo
   of the ImageNet pool has 2 % of its power at periods under 4 px). ``blur`` multiplies in a
   Gaussian roll-off (a camera's optics) so the ascent cannot build that grain at all.
2. **Decorrelated colour.** The three learned channels are mixed by the square root of
   ImageNet's colour correlation matrix (Lucid's ``color_correlation_svd_sqrt``) and squashed by
   a sigmoid into [0, 1]; greyscale networks (MNIST) skip the mixing.
3. **Transformation robustness.** Each step sees the image padded, jittered, scaled and rotated
   at random (Lucent's ``standard_transforms``, stronger in the ImageNet preset), each image of
   a batch with its own draw, so a pattern must work wherever it lands, not only on exact
   pixels. ``hf_penalty`` charges for the share of power at periods under 4 px directly.

The objective is a channel's mean activation (plus ``peak`` × its largest unit, or the mean of
its strongest ``peak_top`` share of units: top images are ranked by the peak, so a picture that
only raises the mean can lose to a photo there), one
unit's activation (default: the centre of the map), or a class logit; ``negative`` asks for
the opposite direction. Several images of one target (``n`` > 1) are pushed apart by Olah et
al.'s diversity term: the cosine similarity of their Gram matrices at the layer. Adam does
the ascent. For an activation-function layer (ReLU, ReLU6, Hardtanh) the ascent uses its
*input* (Lucid's ``_pre_relu`` layers): the same ordering of images, but a gradient also where
the unit is still switched off. Reported values are the layer's own output.

:func:`visualize_many` optimises a batch of targets at once (a layer's grid: one image per
channel), each with its own random generator, so image *b* equals what :func:`visualize` gives
for that target alone.

Nothing is left on the model: the ascent runs on a module copy borrowed from
``explorer.inference.shared`` (weights shared, ``requires_grad`` False), its hook removed in
``finally``, and the final values are read with ``shared.capture``.

Settings per family (:data:`FAMILY_SETTINGS`, :data:`PRESET_OF_FAMILY`), tuned on this
project's networks and measured by ``bench/channels_quality.py`` (spectral share under 4 px
against the pool's photos; peak and mean against the best photo).
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
from explorer.inference import logits_of, model_on, pick_device
from explorer.inference.shared import borrowed_copy, capture
from explorer.channels.fields import tap

__all__ = ["VisSettings", "FAMILY_SETTINGS", "PRESET_OF_FAMILY", "preset_for", "settings_for",
           "VisResult", "visualize", "visualize_many", "target_value", "measure", "OBJECTIVES",
           "LOGITS", "fourier_image", "spectral_share", "step_seconds"]

LOGITS = "logits"  # the "layer" of a class-logit objective
OBJECTIVES = ("channel", "neuron", "class")

# Lucid's colour correlation (square root of ImageNet's RGB covariance, from its SVD).
COLOR_CORRELATION_SVD_SQRT = np.array([[0.26, 0.09, 0.02],
                                       [0.27, 0.00, -0.05],
                                       [0.27, -0.09, 0.03]], dtype=np.float32)
_COLOR = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))
_PRE_ACTIVATION = (nn.ReLU, nn.ReLU6, nn.Hardtanh, nn.LeakyReLU)
FINE_PERIOD = 4.0  # pixels: "grain" is power at shorter periods than this


@dataclass(frozen=True)
class VisSettings:
    steps: int = 256
    size: int | None = None  # None: the network's input size
    lr: float = 0.05
    decay: float = 1.0  # spectrum scale 1 / f^decay
    blur: float = 0.0  # σ in pixels of a Gaussian roll-off multiplied into the spectrum scale
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
    hf_penalty: float = 0.0  # × the share of power at periods under FINE_PERIOD
    peak: float = 0.0  # channel objective: mean + peak × the largest unit (or peak_top's)
    peak_start: float = 0.0  # share of the steps after which the peak joins (texture first)
    peak_top: float = 0.0  # > 0: the "peak" is the mean of this share of the strongest units
    negative: bool = False  # the opposite direction: drive the target down
    n: int = 1  # images per target (diversity)
    diversity: float = 0.0  # weight of the Gram-similarity penalty between the n images
    preset: str = "default"


def _lucent_scales(lo: float, hi: float, n: int) -> tuple[float, ...]:
    return tuple(round(lo + (hi - lo) * i / (n - 1), 4) for i in range(n))


FAMILY_SETTINGS: dict[str, VisSettings] = {
    # Lucid/Lucent's standard recipe, as Olah et al. use it on GoogLeNet.
    "lucid": VisSettings(preset="lucid"),
    # ImageNet networks with BatchNorm and stride-2 3×3 convolutions (EfficientNet, MobileNet,
    # ResNet, DenseNet, Xception): the standard recipe leaves a pixel grain (10–28 % of the
    # power at periods under 4 px on EfficientNet-Lite0, against 2.3 % in the median photo).
    # A steeper spectrum alone does not remove it (decay 1.5: still 6–20 %); a 0.8-pixel
    # optical roll-off does (0.5–3 %), with stronger jitter and scale. The peak in the
    # objective lifts the largest unit above the best photo's (features.1 ch 15: 29.3 with the
    # mean alone, 33.4 in the best photo); as the mean of the strongest 0.5 % of units (half
    # weight) it keeps the texture, where the single largest unit (weight 0.05 to 0.25) drew a
    # few bright spots on black.
    "default": VisSettings(
        steps=256, lr=0.05, decay=1.25, blur=0.8, pad=16, jitter=16,
        scales=_lucent_scales(0.8, 1.2, 17), angles=tuple(range(-12, 13, 2)) + (0,) * 4,
        jitter2=8, peak=0.5, peak_top=0.005, preset="default"),
    # Networks without BatchNorm (AlexNet, VGG, NiN, GoogLeNet as torchvision trains it): the
    # same, a little less blur.
    "plain": VisSettings(
        steps=256, lr=0.05, decay=1.2, blur=0.6, pad=16, jitter=16,
        scales=_lucent_scales(0.85, 1.15, 13), angles=tuple(range(-10, 11, 2)) + (0,) * 4,
        jitter2=8, peak=0.5, peak_top=0.005, preset="plain"),
    # 32×32 colour images (CIFAR-10): transforms scaled to the image as for digits.
    "small": VisSettings(steps=128, lr=0.05, decay=1.0, blur=0.3, pad=2, jitter=2,
                         scales=(0.95, 1.0, 1.05), angles=(-5, 0, 0, 5), jitter2=1, peak=0.5,
                         peak_top=0.005, preset="small"),
    # 28×28 / 32×32 digits: transforms scaled to the image, fewer steps are enough.
    # Strokes on black like MNIST: start dark (offset -3 before the sigmoid), pad with black,
    # and charge a little for ink (l1): LeNet-5's class images are then read as that digit by
    # the other MNIST networks 63 % of the time (19 of 30; grey backgrounds gave 40 %, mostly
    # read as "8").
    "mnist": VisSettings(steps=128, lr=0.05, decay=1.0, pad=2, pad_value=0.0, jitter=2,
                         scales=(0.95, 1.0, 1.05), angles=(-5, 0, 0, 5), jitter2=1,
                         decorrelate=False, offset=-3.0, l1=2.0, preset="mnist"),
}
PRESET_OF_FAMILY = {"AlexNet": "plain", "VGG": "plain", "NiN": "plain"}


def preset_for(name: str) -> str:
    """The name of ``name``'s preset in :data:`FAMILY_SETTINGS`."""
    spec = zoo.get_spec(name)
    if spec.dataset == "mnist":
        return "mnist"
    if spec.input_size[1] <= 64:
        return "small"
    return PRESET_OF_FAMILY.get(spec.family, "default")


def settings_for(name: str, preset: str | None = None, **overrides) -> VisSettings:
    """The family's preset (or ``preset``), with ``overrides`` that are not None."""
    base = FAMILY_SETTINGS[preset or preset_for(name)]
    return replace(base, **{k: v for k, v in overrides.items() if v is not None})


# --------------------------------------------------------------------------------------------
# The image parameterisation


def _scale(h: int, w: int, decay: float, blur: float = 0.0) -> torch.Tensor:
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    freqs = np.sqrt(fx * fx + fy * fy)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w)) ** decay
    if blur > 0:  # Gaussian optics: amplitude × exp(-2π²σ²f²)
        scale = scale * np.exp(-2 * math.pi ** 2 * blur ** 2 * freqs ** 2)
    return torch.tensor(scale, dtype=torch.float32)[None, None, :, :, None]


def fourier_image(spectrum: torch.Tensor, scale: torch.Tensor, hw: tuple[int, int],
                  decorrelate: bool, offset: float = 0.0) -> torch.Tensor:
    """B×C×H×W images in [0, 1] from spectra B×C×H×(W//2+1)×2."""
    z = torch.view_as_complex((spectrum * scale).contiguous())
    img = torch.fft.irfftn(z, s=hw, norm="ortho", dim=(2, 3)) / 4.0  # Lucid's "magic" 4
    if decorrelate and img.shape[1] == 3:
        img = torch.einsum("nchw,dc->ndhw", img, torch.from_numpy(_COLOR).to(img.device))
    return torch.sigmoid(img + offset)


def _fine_mask(h: int, w: int, period: float = FINE_PERIOD) -> torch.Tensor:
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    return (torch.sqrt(fx * fx + fy * fy) > 1.0 / period).float()


def _fine_share(img: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Per image, the share of (mean-removed) power at periods under FINE_PERIOD."""
    x = img - img.mean((2, 3), keepdim=True)
    p = torch.fft.rfft2(x, norm="ortho").abs().pow(2).sum(1)  # B × H × W//2+1
    return (p * mask).sum((1, 2)) / p.sum((1, 2)).clamp_min(1e-12)


def spectral_share(image: np.ndarray, period: float = FINE_PERIOD) -> float:
    """Share of an image's power (mean removed, Hann-windowed, colours summed) at periods
    shorter than ``period`` pixels: the "grain" of a picture. The median photo of the ImageNet
    pool, as the network sees it (224×224), has 2.3 %; its 95th percentile 9.6 %."""
    a = np.asarray(image, dtype=np.float64)
    if a.ndim == 2:
        a = a[..., None]
    a = a - a.mean((0, 1))
    window = np.hanning(a.shape[0])[:, None] * np.hanning(a.shape[1])[None, :]
    p = (np.abs(np.fft.fft2(a * window[..., None], axes=(0, 1))) ** 2).sum(-1)
    fy = np.fft.fftfreq(a.shape[0])[:, None]
    fx = np.fft.fftfreq(a.shape[1])[None, :]
    p[0, 0] = 0.0
    total = p.sum()
    return float(p[np.sqrt(fx * fx + fy * fy) > 1.0 / period].sum() / total) if total > 0 else 0.0


class _Draws:
    """One image's random transforms, from its own generator."""

    def __init__(self, gen: torch.Generator):
        self.gen = gen

    def pick(self, options):
        return options[int(torch.randint(len(options), (1,), generator=self.gen))]

    def offsets(self, d: int) -> tuple[int, int]:
        if d <= 0:
            return 0, 0
        dy, dx = (int(v) for v in torch.randint(d + 1, (2,), generator=self.gen))
        return dy, dx


def _jitter(img: torch.Tensor, d: int, draws: list[_Draws]) -> torch.Tensor:
    if d <= 0:
        return img
    h, w = img.shape[2] - d, img.shape[3] - d
    parts = []
    for b, draw in enumerate(draws):
        dy, dx = draw.offsets(d)
        parts.append(img[b:b + 1, :, dy:dy + h, dx:dx + w])
    return torch.cat(parts)


def _transform(img: torch.Tensor, s: VisSettings, draws: list[_Draws]) -> torch.Tensor:
    if s.pad:
        img = F.pad(img, (s.pad,) * 4, mode="constant", value=s.pad_value)
    img = _jitter(img, s.jitter, draws)
    thetas = []
    for draw in draws:
        scale, angle = float(draw.pick(s.scales)), math.radians(float(draw.pick(s.angles)))
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        thetas.append([[cos, -sin, 0.0], [sin, cos, 0.0]])
    theta = torch.tensor(thetas, dtype=img.dtype, device=img.device)
    if not torch.equal(theta, torch.eye(2, 3, device=img.device).expand_as(theta)):
        grid = F.affine_grid(theta, list(img.shape), align_corners=False)
        img = F.grid_sample(img, grid, mode="bilinear", padding_mode="reflection",
                            align_corners=False)
    return _jitter(img, s.jitter2, draws)


# --------------------------------------------------------------------------------------------
# The ascent


@dataclass
class VisResult:
    image: np.ndarray  # H×W×3 or H×W uint8 (the first of ``images``)
    model: str
    layer: str
    objective: str
    target: int  # channel or class
    pos: tuple[int, int] | None  # the unit of a "neuron" objective
    final: float  # the target's value on the final image (no transforms): the channel's mean
    grey: float  # ... and on a plain grey image of the same size
    history: list[float]
    settings: dict
    seconds: float
    device: str
    notes: list[str] = field(default_factory=list)
    peak: float | None = None  # channel objective: the largest unit on the final image
    grey_peak: float | None = None
    images: list[np.ndarray] = field(default_factory=list)  # all n (diversity)
    finals: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("image", "images")}
        d["size"] = list(self.image.shape[:2])
        return d


def _normaliser(preprocess, device):
    mean = torch.tensor(preprocess.mean, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(preprocess.std, dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return lambda img: (img - mean) / std


def measure(model: nn.Module, preprocess, layer: str, objective: str, targets, img01,
            pos=None) -> tuple[np.ndarray, np.ndarray | None]:
    """Per image of ``img01`` (B×C×H×W in [0, 1]), its target's value (the channel's mean, the
    unit, or the logit) and, for a channel, its largest unit; read without hooks left behind."""
    x = _normaliser(preprocess, img01.device)(img01)
    idx = torch.as_tensor(list(targets), dtype=torch.long)
    rows = torch.arange(len(idx))
    with torch.inference_mode():
        if objective == "class":
            return logits_of(model(x))[rows, idx].float().cpu().numpy(), None
        out = capture(model, layer, x)[layer].float().cpu()
    if objective == "neuron":
        if pos is None:
            pos = (out.shape[2] // 2, out.shape[3] // 2)
        return out[rows, idx, pos[0], pos[1]].numpy(), None
    maps = out[rows, idx]  # B × H × W
    return maps.mean((1, 2)).numpy(), maps.flatten(1).amax(1).numpy()


def target_value(model: nn.Module, preprocess, layer: str, objective: str, target: int,
                 img01: torch.Tensor, pos=None) -> float:
    """The target's value for one image in [0, 1] (1×C×H×W)."""
    return float(measure(model, preprocess, layer, objective, [target], img01, pos)[0][0])


def _values(out: torch.Tensor, objective: str, targets: torch.Tensor, pos, peak: float,
            sign: float, peak_top: float = 0.0) -> torch.Tensor:
    """Per image, what the ascent maximises (before the penalties)."""
    rows = torch.arange(out.shape[0], device=out.device)
    if objective == "class":
        return sign * logits_of(out)[rows, targets]
    if objective == "neuron":
        return sign * out[rows, targets, pos[0], pos[1]]
    maps = sign * out[rows, targets]  # B × H × W
    value = maps.mean((1, 2))
    if peak:
        flat = maps.flatten(1)
        if peak_top > 0:
            k = max(1, int(round(peak_top * flat.shape[1])))
            value = value + peak * flat.topk(k, dim=1).values.mean(1)
        else:
            value = value + peak * flat.amax(1)
    return value


def _gram_similarity(acts: torch.Tensor, groups: list[int]) -> torch.Tensor:
    """Mean cosine similarity of the Gram matrices of images in the same group (Olah et al.'s
    diversity term), over all pairs; 0 without pairs."""
    flat = acts.flatten(2)  # B × C × HW
    gram = torch.bmm(flat, flat.transpose(1, 2)).flatten(1)
    gram = F.normalize(gram, dim=1)
    sim = gram @ gram.T
    g = torch.tensor(groups, device=acts.device)
    same = (g[:, None] == g[None, :]) & ~torch.eye(len(groups), dtype=torch.bool,
                                                   device=acts.device)
    return sim[same].mean() if same.any() else sim.new_zeros(())


def _check(loaded, layer: str, objective: str):
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {', '.join(OBJECTIVES)}, not {objective!r}")
    if objective != "class" and layer not in dict(loaded.model.named_modules()):
        raise KeyError(f"no layer named {layer!r} in {loaded.name}")


def visualize(loaded, layer: str, target: int, objective: str = "channel",
              pos: tuple[int, int] | None = None, settings: VisSettings | None = None,
              seed: int = 0, device: str | torch.device | None = None,
              progress: Callable[[int, int, np.ndarray | None], None] | None = None,
              preview_every: int = 16) -> VisResult:
    """Maximise ``target`` (a channel of ``layer``, one of its units, or a class logit with
    ``objective="class"``) over images of ``settings.size``; ``settings.n`` images with
    diversity. ``progress(step, steps, image)`` is called every step, with the current image
    every ``preview_every`` steps (else None). Random numbers come from private generators
    seeded with ``seed``."""
    s = settings or settings_for(loaded.name)
    return visualize_many(loaded, layer, [target], objective, pos, s, seed, device, progress,
                          preview_every)[0]


def visualize_many(loaded, layer: str, targets: list[int], objective: str = "channel",
                   pos: tuple[int, int] | None = None, settings: VisSettings | None = None,
                   seed: int = 0, device: str | torch.device | None = None,
                   progress: Callable[[int, int, np.ndarray | None], None] | None = None,
                   preview_every: int = 16) -> list[VisResult]:
    """:func:`visualize` for several targets of one layer in one batch (``settings.n`` images
    each); image *j* of every target has the generator ``seed + j``, as when run alone."""
    _check(loaded, layer, objective)
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
    pre = objective != "class" and isinstance(modules[layer], _PRE_ACTIVATION)
    map_hw = None
    if objective == "neuron":
        from explorer.channels.fields import layer_row

        map_hw = layer_row(loaded.name, layer, (channels, *hw)).output_shape[2:]
        pos = tuple(pos) if pos is not None else (map_hw[0] // 2, map_hw[1] // 2)
        if not all(0 <= pos[a] < map_hw[a] for a in range(2)):
            raise ValueError(f"unit {pos} is outside {layer}'s {map_hw[0]}×{map_hw[1]} map")
    n = max(1, int(s.n))
    flat_targets = [int(t) for t in targets for _ in range(n)]
    groups = [k for k, _t in enumerate(targets) for _ in range(n)]
    gens = [torch.Generator().manual_seed(int(seed) + j) for _t in targets for j in range(n)]
    spectrum = torch.cat([torch.randn((1, channels, hw[0], hw[1] // 2 + 1, 2), generator=g)
                          for g in gens]) * s.init_sd
    spectrum = spectrum.to(device).requires_grad_(True)
    draws = [_Draws(g) for g in gens]
    scale = _scale(*hw, s.decay, s.blur).to(device)
    mask = _fine_mask(*hw).to(device) if s.hf_penalty else None
    normalise = _normaliser(loaded.preprocess, device)
    target_idx = torch.tensor(flat_targets, device=device)
    sign = -1.0 if s.negative else 1.0
    opt = torch.optim.Adam([spectrum], lr=s.lr)
    history: list[list[float]] = []
    t0 = time.perf_counter()
    with borrowed_copy(shared) as clone, torch.enable_grad():
        run_layer = layer if objective != "class" else None
        with (tap(clone, run_layer, pre=pre) if run_layer else _whole(clone)) as run:
            for step in range(s.steps):
                opt.zero_grad(set_to_none=True)
                img = fourier_image(spectrum, scale, hw, s.decorrelate, s.offset)
                seen = _transform(img, s, draws)
                if fixed and seen.shape[-2:] != hw:  # dense layers need the designed size
                    seen = F.interpolate(seen, size=hw, mode="bilinear", align_corners=False)
                out = run(normalise(seen))
                p = pos
                if objective == "neuron":
                    # The padded, jittered image gives a larger map: aim at the unit over the
                    # same part of the picture (the map grows about equally on both sides).
                    p = tuple(min(max(0, pos[a] + (out.shape[2 + a] - map_hw[a]) // 2),
                                  out.shape[2 + a] - 1) for a in range(2))
                peak = s.peak if step >= s.peak_start * s.steps else 0.0
                values = _values(out, objective, target_idx, p, peak, sign, s.peak_top)
                loss = -values.sum()
                if s.l1:
                    loss = loss + s.l1 * img.mean((1, 2, 3)).sum()
                if s.hf_penalty:
                    scale_of = values.detach().abs().mean().clamp_min(1e-3)
                    loss = loss + s.hf_penalty * scale_of * _fine_share(img, mask).sum()
                if n > 1 and s.diversity and objective != "class":
                    scale_of = values.detach().abs().mean().clamp_min(1e-3)
                    loss = loss + s.diversity * scale_of * len(flat_targets) * \
                        _gram_similarity(out, groups)
                loss.backward()
                opt.step()
                history.append((sign * values.detach()).tolist())
                if progress:
                    preview = None
                    if preview_every and ((step + 1) % preview_every == 0 or step + 1 == s.steps):
                        preview = _to_uint8(img.detach()[:1])
                    progress(step + 1, s.steps, preview)
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        final_img = fourier_image(spectrum.detach(), scale, hw, s.decorrelate, s.offset)
    eval_layer = layer if objective != "class" else LOGITS
    finals, peaks = measure(shared, loaded.preprocess, eval_layer, objective, flat_targets,
                            final_img, pos)
    greys, grey_peaks = measure(shared, loaded.preprocess, eval_layer, objective, targets,
                                torch.full_like(final_img[:len(targets)], 0.5), pos)
    notes = ["random weights"] if getattr(loaded, "is_random", False) else []
    info = {**asdict(s), "size": size, "seed": seed, "pre_activation": pre}
    results = []
    for k, t in enumerate(targets):
        sl = slice(k * n, (k + 1) * n)
        pictures = [_to_uint8(final_img[i:i + 1]) for i in range(sl.start, sl.stop)]
        results.append(VisResult(
            pictures[0], loaded.name, eval_layer, objective, int(t),
            tuple(pos) if pos is not None else None, float(finals[sl.start]), float(greys[k]),
            [h[sl.start] for h in history], info, seconds / len(targets), str(device),
            list(notes), None if peaks is None else float(peaks[sl.start]),
            None if grey_peaks is None else float(grey_peaks[k]), pictures,
            [float(v) for v in finals[sl]]))
    return results


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


def step_seconds(loaded, layer: str, settings: VisSettings | None = None,
                 device: str | torch.device | None = None, steps: int = 3) -> float:
    """Seconds one ascent step takes for one image, measured on a few steps: for an estimate
    before a long run (a layer's grid)."""
    s = replace(settings or settings_for(loaded.name), steps=steps, n=1)
    result = visualize_many(loaded, layer, [0], settings=s, device=device, preview_every=0)[0]
    return result.seconds / steps
