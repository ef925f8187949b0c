"""VGG (Simonyan & Zisserman, 2014): depth from stacks of 3×3 convolutions."""
from torchvision import models

from explorer.i18n import N_

from explorer.zoo.registry import DESCRIPTION_PART, ModelSpec, register

_PAPER = ("Simonyan & Zisserman, Very Deep Convolutional Networks for Large-Scale Image "
          "Recognition, ICLR 2015 (arXiv:1409.1556)")
_WHY = DESCRIPTION_PART(N_(
    "Only 3×3 convolutions, stacked: two have the receptive field of one 5×5 and three of one "
    "7×7, with fewer weights and more non-linearities. 13 convolutions, 3 dense layers."))

register(ModelSpec(
    name="vgg16",
    family="VGG",
    year=2014,
    paper=_PAPER,
    description=_WHY,
    builder=models.vgg16,
    input_size=(3, 224, 224),
    min_size=32,
    dataset="imagenet",
    num_classes=1000,
    tv_builder="vgg16",
    tv_weights="VGG16_Weights.IMAGENET1K_V1",
    published_top1=71.592,
    # max-pool outputs of the five blocks
    stages={2: "features.4", 4: "features.9", 8: "features.16", 16: "features.23", 32: "features.30"},
    gradcam_layer="features.29",
))

register(ModelSpec(
    name="vgg16_bn",
    family="VGG",
    year=2015,
    paper=_PAPER + "; batch normalisation: Ioffe & Szegedy, ICML 2015",
    description=_WHY + " " + N_("This variant adds batch normalisation after every "
                                "convolution."),
    builder=models.vgg16_bn,
    input_size=(3, 224, 224),
    min_size=32,
    dataset="imagenet",
    num_classes=1000,
    tv_builder="vgg16_bn",
    tv_weights="VGG16_BN_Weights.IMAGENET1K_V1",
    published_top1=73.360,
    stages={2: "features.6", 4: "features.13", 8: "features.23", 16: "features.33", 32: "features.43"},
    gradcam_layer="features.42",
))
