"""MNIST tensors as a model's input: normalisation, LeNet-5's padding, LeCun's distortions.

Inputs are MNIST pixels / 255, normalised with mean 0.1307 and std 0.3081 (the training-set
statistics, ``explorer.data.mnist``, the same as the digit preprocessing attached to the
weights). LeNet-5 was designed for 32×32 inputs: the 28×28 digits are padded by 2 pixels of
background, as LeCun did. Reading MNIST itself is ``explorer.data.mnist``'s.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from explorer.data.mnist import MNIST_MEAN, MNIST_STD

__all__ = ["to_input", "distort"]


def to_input(images: torch.Tensor, input_size: tuple[int, int, int] = (1, 28, 28)) -> torch.Tensor:
    """uint8 N×28×28 (or float in [0,1]) -> normalised float N×1×H×W for a model's input size."""
    x = images.float()
    if images.dtype == torch.uint8:
        x = x / 255.0
    if x.dim() == 3:
        x = x.unsqueeze(1)
    x = (x - MNIST_MEAN) / MNIST_STD
    h, w = input_size[1], input_size[2]
    if (h, w) != tuple(x.shape[-2:]):  # LeNet-5: pad 28 -> 32 with background (pixel 0)
        dh, dw = h - x.shape[-2], w - x.shape[-1]
        if dh < 0 or dw < 0:
            raise ValueError(f"cannot fit {tuple(x.shape[-2:])} digits into {input_size}")
        pad = (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2)
        x = F.pad(x, pad, value=-MNIST_MEAN / MNIST_STD)
    return x


def distort(x: torch.Tensor, gen: torch.Generator, shift: float = 2.0, scale: float = 0.1,
            squeeze: float = 0.1, shear: float = 0.15) -> torch.Tensor:
    """LeCun et al.'s training distortions on a normalised N×1×H×W batch, one random planar
    affine map per image: shift up to ``shift`` pixels, scale and squeeze (wider and shorter,
    or the reverse) by up to ``scale``/``squeeze``, horizontal shear up to ``shear``."""
    n, _c, h, w = x.shape
    u = torch.rand(n, 5, generator=gen) * 2 - 1  # uniform in [-1, 1]
    s, q = 1 + scale * u[:, 0], 1 + squeeze * u[:, 1]
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = s * q
    theta[:, 0, 1] = shear * u[:, 2]
    theta[:, 1, 1] = s / q
    theta[:, 0, 2] = u[:, 3] * shift * 2 / w  # affine_grid works in [-1, 1] coordinates
    theta[:, 1, 2] = u[:, 4] * shift * 2 / h
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    background = -MNIST_MEAN / MNIST_STD  # sample zeros around the digit, not normalised zeros
    return F.grid_sample(x - background, grid, align_corners=False) + background
