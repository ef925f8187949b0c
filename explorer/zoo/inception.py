"""GoogLeNet / Inception v1 (Szegedy et al., 2014) and Inception v3 (Szegedy et al., 2015)."""
from functools import partial

from torchvision import models

from explorer.zoo.registry import ModelSpec, register
from explorer.i18n import N_

register(ModelSpec(
    name="googlenet",
    family="Inception",
    year=2014,
    paper="Szegedy et al., Going Deeper with Convolutions, CVPR 2015 (arXiv:1409.4842)",
    description=N_("Nine Inception modules: 1×1, 3×3 and 5×5 branches side by side, with 1×1 "
                "convolutions that shrink channels first so the wide module stays affordable. "
                "torchvision's version uses 3×3 where the paper has 5×5, and batch norm."),
    # Without the auxiliary classifiers, as torchvision's num_params counts it.
    builder=partial(models.googlenet, aux_logits=False, init_weights=False),
    input_size=(3, 224, 224),
    min_size=32,
    dataset="imagenet",
    num_classes=1000,
    tv_builder="googlenet",
    tv_weights="GoogLeNet_Weights.IMAGENET1K_V1",
    published_top1=69.778,
    stages={2: "conv1", 4: "maxpool1", 8: "inception3b", 16: "inception4e", 32: "inception5b"},
    gradcam_layer="inception5b",
    blocks=(
        ("inception3a", "inception_v1", N_("inception3a: 28×28×192 → 28×28×256")),
        ("inception4a", "inception_v1", N_("inception4a: 14×14×480 → 14×14×512")),
    ),
))

register(ModelSpec(
    name="inception_v3",
    family="Inception",
    year=2015,
    paper="Szegedy, Vanhoucke, Ioffe, Shlens & Wojna, Rethinking the Inception Architecture "
          "for Computer Vision, CVPR 2016 (arXiv:1512.00567)",
    description=N_("Factorised convolutions (a 7×7 becomes 1×7 then 7×1), grid reduction by "
                "parallel stride-2 branches, batch norm and label smoothing, at 299×299."),
    # With the auxiliary classifier, as torchvision's num_params counts it.
    builder=partial(models.inception_v3, aux_logits=True, init_weights=False),
    input_size=(3, 299, 299),
    min_size=75,
    dataset="imagenet",
    num_classes=1000,
    tv_builder="inception_v3",
    tv_weights="Inception_V3_Weights.IMAGENET1K_V1",
    published_top1=77.294,
    stages={2: "Conv2d_2b_3x3", 4: "Conv2d_4a_3x3", 8: "Mixed_5d", 16: "Mixed_6e", 32: "Mixed_7c"},
    gradcam_layer="Mixed_7c",
    blocks=(
        ("Mixed_6b", "inception_v3", N_("Mixed_6b: 1×7 then 7×1 factorisation, 17×17×768")),
        ("Mixed_7b", "inception_v3", N_("Mixed_7b: 1×3 and 3×1 in parallel, 8×8×2048")),
    ),
))
