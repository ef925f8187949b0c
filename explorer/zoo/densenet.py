"""DenseNet (Huang et al., 2017): every layer sees the concatenated outputs of all before it."""
from torchvision import models

from explorer.zoo.registry import ModelSpec, register
from explorer.i18n import N_

register(ModelSpec(
    name="densenet121",
    family="DenseNet",
    year=2016,
    paper="Huang, Liu, van der Maaten & Weinberger, Densely Connected Convolutional Networks, "
          "CVPR 2017 (arXiv:1608.06993)",
    description=N_("Four dense blocks (6, 12, 24, 16 layers, growth rate 32) joined by transition "
                "layers that halve channels and resolution: feature reuse through concatenation."),
    builder=models.densenet121,
    input_size=(3, 224, 224),
    min_size=32,
    dataset="imagenet",
    num_classes=1000,
    tv_builder="densenet121",
    tv_weights="DenseNet121_Weights.IMAGENET1K_V1",
    published_top1=74.434,
    stages={2: "features.relu0", 4: "features.denseblock1", 8: "features.denseblock2",
            16: "features.denseblock3", 32: "features.norm5"},
    gradcam_layer="features.denseblock4",
    blocks=(
        ("features.denseblock1", "dense", N_("Dense block 1 (6 layers, 64 → 256 channels)")),
        ("features.transition1", "transition", N_("Transition 1 (256 → 128 channels, 56 → 28)")),
    ),
))
