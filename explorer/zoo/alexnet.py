"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012), torchvision's one-weird-trick variant."""
from torchvision import models

from explorer.zoo.registry import ModelSpec, register
from explorer.i18n import N_

register(ModelSpec(
    name="alexnet",
    family="AlexNet",
    year=2012,
    paper="Krizhevsky, Sutskever & Hinton, ImageNet Classification with Deep Convolutional "
          "Neural Networks, NeurIPS 2012 (torchvision follows arXiv:1404.5997)",
    description=N_("Five convolutions and three dense layers: ReLU, dropout and overlapping max "
                "pooling, trained on two GPUs. The network that started the deep-learning era."),
    builder=models.alexnet,
    input_size=(3, 224, 224),
    min_size=63,
    dataset="imagenet",
    num_classes=1000,
    tv_builder="alexnet",
    tv_weights="AlexNet_Weights.IMAGENET1K_V1",
    published_top1=56.522,
    stages={4: "features.1", 8: "features.2", 16: "features.5", 32: "features.12"},
    gradcam_layer="features.11",
))
