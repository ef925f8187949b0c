"""The model zoo: one registry of every architecture the explorer knows.

Each family module (``alexnet``, ``vgg``, ``inception``, ...) declares its models with
:func:`register` at import time. Metadata is declared, not inferred: family, year, paper,
input size, class names, where pretrained weights come from, which module ends each stage
(keyed by output stride), the default Grad-CAM layer and the blocks worth opening.

Public API::

    list_models()            -> list of names, in registry order (roughly historical)
    get_spec(name)           -> ModelSpec (raises UnknownModelError with the valid names)
    build(name, **kwargs)    -> a freshly built nn.Module with random weights (eval mode)
    class_label(name, i)     -> class i as the UI says it ("埃及猫（Egyptian cat）" in Chinese)
"""
from explorer.zoo.registry import (BLOCK_KINDS, DESCRIPTION_PART, ModelSpec, UnknownModelError,
                                   build, class_names, describe, get_spec, list_models, register)
from explorer.zoo.classes import class_label, class_labels

__all__ = [
    "BLOCK_KINDS",
    "DESCRIPTION_PART",
    "ModelSpec",
    "UnknownModelError",
    "register",
    "list_models",
    "get_spec",
    "build",
    "class_names",
    "class_label",
    "class_labels",
    "describe",
]

# Family modules register their models on import, in historical order.
from explorer.zoo import lenet  # noqa: E402,F401  (1998)
from explorer.zoo import alexnet  # noqa: E402,F401  (2012)
from explorer.zoo import nin  # noqa: E402,F401  (2013)
from explorer.zoo import vgg  # noqa: E402,F401  (2014)
from explorer.zoo import inception  # noqa: E402,F401  (2014, 2015)
from explorer.zoo import resnet  # noqa: E402,F401  (2015, 2016)
from explorer.zoo import densenet  # noqa: E402,F401  (2016)
from explorer.zoo import xception  # noqa: E402,F401  (2016)
from explorer.zoo import mobilenet  # noqa: E402,F401  (2017, 2018)
from explorer.zoo import efficientnet_lite  # noqa: E402,F401  (2019)
from explorer.zoo import mnist  # noqa: E402,F401  (seed 002's Keras variants)
