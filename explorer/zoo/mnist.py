"""Seed 002's three Keras MNIST models, translated layer for layer to PyTorch.

Each Keras layer is one module here, in the same order, so the per-layer tables line up with the
seed's ``model.summary()``. Translation notes:

- ``Conv2D(32, (3, 3), padding='same', activation='relu')`` is ``Conv2d(c, 32, 3, padding=1)``
  followed by its own ``ReLU`` module; ``padding='valid'`` 1×1 convolutions need no padding.
- Keras initialises Conv2D and Dense kernels with Glorot-uniform and biases with zeros, not
  PyTorch's defaults; ``keras_sequential`` does the same, so training here starts where the
  seed's did.
- Keras ``BatchNormalization()`` defaults to epsilon 1e-3 and momentum 0.99, which is PyTorch's
  ``BatchNorm2d(eps=1e-3, momentum=0.01)``. Its moving mean and variance are "non-trainable
  params" in Keras and buffers in PyTorch, so Keras's total = sum(p.numel()) + 2 × BN channels.
- The seed's last ``Dense(10, activation='softmax')`` becomes a plain ``Linear`` that returns
  logits: softmax belongs to the loss (``CrossEntropyLoss`` applies log-softmax itself, which
  is more stable) and to the prediction, where the explorer applies it to show probabilities.
- ``Flatten`` reads Keras's channels-last tensor (N, 7, 7, 32) in H, W, C order and PyTorch's
  (N, 32, 7, 7) in C, H, W order: the same 1,568 numbers in another order, so the dense layer's
  parameter count is identical, but Keras weights would need their rows permuted to load here.
"""
from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn

from explorer.zoo.registry import DESCRIPTION_PART, ModelSpec, register
from explorer.i18n import N_

__all__ = ["mnist_plain", "mnist_bn_dropout", "mnist_nin", "keras_sequential"]

_BN_EPS, _BN_MOMENTUM = 1e-3, 0.01  # Keras defaults, in PyTorch's convention


def keras_sequential(layers: list[tuple], in_channels: int = 1, in_size: int = 28,
                     num_classes: int = 10) -> nn.Sequential:
    """Build a ``nn.Sequential`` from a Keras-like layer list (architecture as data):

    ``("conv", filters, kernel)`` Conv2D with ReLU and 'same' padding (a 1×1 is the same either
    way); ``("bn",)``; ``("pool",)`` MaxPool2D(2); ``("flatten",)``; ``("dense", units)`` with
    ReLU; ``("dropout", rate)``; ``("logits",)`` the final Dense(num_classes) without softmax.
    Module names follow Keras's (conv2d, conv2d_1, batch_normalization, ...).
    """
    counts: dict[str, int] = {}
    modules: list[tuple[str, nn.Module]] = []

    def add(kind: str, module: nn.Module) -> None:
        n = counts.get(kind, 0)
        counts[kind] = n + 1
        modules.append((kind if n == 0 else f"{kind}_{n}", module))

    channels, size, features = in_channels, in_size, None
    for kind, *args in layers:
        if kind == "conv":
            filters, kernel = args
            add("conv2d", nn.Conv2d(channels, filters, kernel, padding=kernel // 2))
            add("relu", nn.ReLU())
            channels = filters
        elif kind == "bn":
            add("batch_normalization", nn.BatchNorm2d(channels, _BN_EPS, _BN_MOMENTUM))
        elif kind == "pool":
            add("max_pooling2d", nn.MaxPool2d(2))
            size //= 2
        elif kind == "flatten":
            add("flatten", nn.Flatten())
            features = channels * size * size
        elif kind == "dense":
            add("dense", nn.Linear(features, args[0]))
            add("relu", nn.ReLU())
            features = args[0]
        elif kind == "dropout":
            add("dropout", nn.Dropout(args[0]))
        elif kind == "logits":
            add("dense", nn.Linear(features, num_classes))
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
    model = nn.Sequential(OrderedDict(modules))
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)  # Keras's glorot_uniform
            nn.init.zeros_(m.bias)
    return model


# The three models exactly as seed 002 writes them.
PLAIN = [
    ("conv", 32, 3), ("conv", 32, 3), ("pool",),
    ("conv", 32, 3), ("conv", 32, 3), ("pool",),
    ("flatten",), ("dense", 32), ("logits",),
]
BN_DROPOUT = [
    ("conv", 32, 3), ("bn",), ("conv", 32, 3), ("bn",), ("pool",),
    # Sic: the seed stacks two BatchNormalization layers after the third convolution and none
    # after the fourth. Reproduced as written, so the counts match its summary (79,114).
    ("conv", 32, 3), ("bn",), ("bn",), ("conv", 32, 3), ("pool",),
    ("flatten",), ("dense", 32), ("dropout", 0.2), ("logits",),
]
NIN = [
    ("conv", 32, 3), ("bn",), ("conv", 16, 1), ("bn",), ("pool",),
    ("conv", 32, 3), ("bn",), ("conv", 16, 1), ("bn",), ("pool",),
    ("flatten",), ("dense", 32), ("dropout", 0.2), ("logits",),
]


def mnist_plain(num_classes: int = 10) -> nn.Sequential:
    return keras_sequential(PLAIN, num_classes=num_classes)


def mnist_bn_dropout(num_classes: int = 10) -> nn.Sequential:
    return keras_sequential(BN_DROPOUT, num_classes=num_classes)


def mnist_nin(num_classes: int = 10) -> nn.Sequential:
    return keras_sequential(NIN, num_classes=num_classes)


# Year: the seed's summaries name layers batch_normalization_v2, i.e. TensorFlow 2.0 (2019).
_PAPER = "Course notes “How to build CNN variants” (如何实现CNN变体网络), Keras on MNIST"
_SOFTMAX = " " + DESCRIPTION_PART(N_(
    "The notes' final Dense has a softmax; here it returns logits and the softmax is applied by "
    "the loss and the prediction."))

register(ModelSpec(
    name="mnist_plain",
    family="MNIST (seed 002)",
    year=2019,
    paper=_PAPER,
    description=N_("A small VGG-style network: two pairs of 3×3 'same' convolutions (32 "
                   "filters, ReLU), each pair followed by 2×2 max-pooling, then Dense 32 and "
                   "Dense 10. 78,602 parameters, 64 % of them in the first dense layer. The notes "
                   "report 98.63 % test accuracy after 5 epochs of Adam.") + _SOFTMAX,
    builder=mnist_plain,
    input_size=(1, 28, 28),
    dataset="mnist",
    num_classes=10,
    weight_sources=("trained",),
    stages={2: "max_pooling2d", 4: "max_pooling2d_1"},
    gradcam_layer="relu_3",
))

register(ModelSpec(
    name="mnist_bn_dropout",
    family="MNIST (seed 002)",
    year=2019,
    paper=_PAPER,
    description=N_("The plain network with batch normalisation after the convolutions and "
                   "dropout 0.2 before the output. As in the notes, the third convolution is "
                   "followed by two BatchNorm layers and the fourth by none. Keras counts 79,114 "
                   "parameters, 256 of them the non-trainable moving means and variances "
                   "(buffers in PyTorch). The notes report 99.09 %.") + _SOFTMAX,
    builder=mnist_bn_dropout,
    input_size=(1, 28, 28),
    dataset="mnist",
    num_classes=10,
    weight_sources=("trained",),
    stages={2: "max_pooling2d", 4: "max_pooling2d_1"},
    gradcam_layer="relu_3",
))

register(ModelSpec(
    name="mnist_nin",
    family="MNIST (seed 002)",
    year=2019,
    paper=_PAPER + "; idea from Lin, Chen & Yan, Network In Network, arXiv:1312.4400",
    description=N_("Network-in-Network on MNIST: each 3×3 convolution (32 filters) is followed "
                   "by a 1×1 convolution down to 16 channels, with batch norm after each, so the "
                   "dense layer sees 7×7×16 instead of 7×7×32 values: 31,850 parameters in "
                   "Keras's count (192 of them BN statistics), 40 % of the plain network, at "
                   "98.87 % in the notes.") + _SOFTMAX,
    builder=mnist_nin,
    input_size=(1, 28, 28),
    dataset="mnist",
    num_classes=10,
    weight_sources=("trained",),
    stages={2: "max_pooling2d", 4: "max_pooling2d_1"},
    gradcam_layer="relu_3",
    blocks=(
        ("conv2d_1", "nin", N_("conv2d_1: 1×1 convolution, 32 → 16 channels at every pixel")),
    ),
))
