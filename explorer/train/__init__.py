"""Train the small classics on MNIST: seed 002's recipe, a checkpoint and a model card.

Seed 002 trains three Keras CNN variants with ``Adam()``, ``batch_size=64``, ``epochs=5`` and
``validation_split=0.1`` and reports their test accuracy on the 10,000 MNIST test images;
LeCun et al. (1998) report 99.2 % for LeNet-5. This package reproduces those runs in PyTorch::

    python -m explorer.train --model mnist_plain --data ../shared/data/mnist
    python -m explorer.train --model lenet5 --epochs 10 --data ../shared/data/mnist --out assets

and the Train page drives a :class:`Trainer` epoch by epoch (its progress bar and Stop button).

Rooms, bottom up (a new capability takes the room it belongs to, or a new one beside them):
``recipe`` (what a run is: the trainable models, :class:`Recipe`), ``data`` (MNIST tensors as a
model's input; reading MNIST is ``explorer.data.mnist``'s), ``cards`` (the model card, the
source's figures beside ours), ``loop`` (:class:`Trainer`, :func:`train`, :func:`evaluate`),
``checkpoints`` (:func:`save`, :func:`load_checkpoint` through the weights floor's safe loader),
``history`` (training dynamics); the command line is ``__main__``. The Train page's tables and
widgets live in ``explorer.ui.train``.

Conventions
- Inputs are MNIST pixels / 255, normalised with mean 0.1307 and std 0.3081 (the training-set
  statistics, the same as the digit preprocessing attached to the weights). LeNet-5 was designed
  for 32×32 inputs: the 28×28 digits are padded by 2 pixels of background, as LeCun did.
- The validation split is a seeded random 10 % of the training images (Keras takes the last
  10 %, unshuffled); batches are reshuffled every epoch by a seeded generator.
- Training loss and accuracy per epoch are running means over the epoch's batches in train mode
  (dropout on), as Keras reports them; validation and test figures are computed in eval mode.
- Parameter counts follow both conventions: PyTorch counts ``parameters()`` and keeps
  BatchNorm's running mean and variance as buffers; Keras counts those as non-trainable params.
"""
from __future__ import annotations

from explorer.data.mnist import (MNIST_MEAN, MNIST_STD, RAW_FILES, MnistNotFoundError, load_mnist,
                                 mnist_md5s)
from explorer.train.cards import (SEED_REPORTED, TARGETS, load_card, make_card, param_counts,
                                  reproduction_rows)
from explorer.train.checkpoints import load_checkpoint, model_from_state_dict, save
from explorer.train.data import distort, to_input
from explorer.train.loop import Trainer, TrainResult, evaluate, train
from explorer.train.recipe import (DEFAULT_DATA, FULL_RECIPE_EPOCHS, FULL_RECIPE_IMAGES,
                                   LECUN_STEPS, TRAINABLE_MODELS, Recipe, full_recipe_seconds)

__all__ = [
    "MNIST_MEAN",
    "MNIST_STD",
    "RAW_FILES",
    "TRAINABLE_MODELS",
    "DEFAULT_DATA",
    "Recipe",
    "LECUN_STEPS",
    "TrainResult",
    "MnistNotFoundError",
    "load_mnist",
    "mnist_md5s",
    "to_input",
    "distort",
    "param_counts",
    "make_card",
    "evaluate",
    "Trainer",
    "train",
    "save",
    "load_card",
    "load_checkpoint",
    "model_from_state_dict",
    "SEED_REPORTED",
    "TARGETS",
    "reproduction_rows",
    "FULL_RECIPE_IMAGES",
    "FULL_RECIPE_EPOCHS",
    "full_recipe_seconds",
]
