"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998): the convolutional network as seeds 000 and
004 describe it, with the paper's layer names C1, S2, C3, S4, C5, F6."""
from __future__ import annotations

import torch
import torch.nn as nn

from explorer.zoo.registry import ModelSpec, register
from explorer.i18n import N_

__all__ = ["LeNet5", "lenet5"]


class LeNet5(nn.Module):
    """LeNet-5 on a 32×32 greyscale image (MNIST's 28×28 digits padded by 2).

    Simplified the way textbooks count its 61,706 parameters: C3 connects to all six S2 maps
    (the paper's hand-made sparse table gave 1,516 instead of 2,416 weights), the subsampling
    layers are plain 2×2 averages (the paper's have a trainable coefficient and bias per map),
    and the output is a linear layer instead of Euclidean RBF units. Squashing is tanh.
    """

    def __init__(self, num_classes: int = 10):
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, kernel_size=5)  # N x 6 x 28 x 28
        self.tanh1 = nn.Tanh()
        self.s2 = nn.AvgPool2d(kernel_size=2, stride=2)  # N x 6 x 14 x 14
        self.c3 = nn.Conv2d(6, 16, kernel_size=5)  # N x 16 x 10 x 10
        self.tanh3 = nn.Tanh()
        self.s4 = nn.AvgPool2d(kernel_size=2, stride=2)  # N x 16 x 5 x 5
        # C5 is a convolution in the paper; on a 5×5 input its 5×5 kernel sees everything,
        # so it is the same as a Linear(400, 120), and it keeps the spatial view one layer longer.
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)  # N x 120 x 1 x 1
        self.tanh5 = nn.Tanh()
        self.flatten = nn.Flatten()  # N x 120
        self.f6 = nn.Linear(120, 84)  # N x 84
        self.tanh6 = nn.Tanh()
        self.output = nn.Linear(84, num_classes)  # N x 10 logits (softmax lives in the loss)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.s2(self.tanh1(self.c1(x)))
        x = self.s4(self.tanh3(self.c3(x)))
        x = self.flatten(self.tanh5(self.c5(x)))
        return self.output(self.tanh6(self.f6(x)))


def lenet5(num_classes: int = 10) -> LeNet5:
    return LeNet5(num_classes=num_classes)


register(ModelSpec(
    name="lenet5",
    family="LeNet",
    year=1998,
    paper="LeCun, Bottou, Bengio & Haffner, Gradient-Based Learning Applied to Document "
          "Recognition, Proc. IEEE 86(11), 1998",
    description=N_("The first convolutional network to read digits in production (bank cheques): "
                "two rounds of 5×5 convolution and 2×2 average subsampling turn a 32×32 image "
                "into 16 maps of 5×5, then C5, F6 and the output layer classify them. Weight "
                "sharing and local receptive fields, the ideas every later CNN keeps. "
                "61,706 parameters with full C3 connectivity; LeCun et al. report 99.2 % on MNIST."),
    builder=lenet5,
    input_size=(1, 32, 32),
    min_size=None,  # C5's 5×5 kernel must see exactly 5×5, so F6 gets 120 features
    dataset="mnist",
    num_classes=10,
    weight_sources=("trained",),
    stages={2: "s2", 4: "s4"},
    gradcam_layer="tanh3",
))
