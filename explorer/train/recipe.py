"""What a training run is: the trainable models, seed 002's recipe, and the full recipe's size.

Seed 002 trains three Keras CNN variants with ``Adam()``, ``batch_size=64``, ``epochs=5`` and
``validation_split=0.1``; LeCun et al. (1998) lowered the learning rate in steps and distorted
the training images. :class:`Recipe` holds both (the seed's by default).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from explorer.data.mnist import MNIST_MEAN, MNIST_STD

__all__ = ["TRAINABLE_MODELS", "DEFAULT_DATA", "Recipe", "LECUN_STEPS", "FULL_RECIPE_IMAGES",
           "FULL_RECIPE_EPOCHS", "full_recipe_seconds"]

# The models this package knows how to train (seed 002's variants and LeNet-5).
TRAINABLE_MODELS = ("lenet5", "mnist_plain", "mnist_bn_dropout", "mnist_nin")
DEFAULT_DATA = Path.home() / ".cache" / "cnn-explorer" / "data" / "mnist"  # = explorer.data's cache


@dataclass(frozen=True)
class Recipe:
    """Seed 002's training recipe (Keras defaults where the seed says nothing)."""

    optimizer: str = "Adam"
    lr: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    batch_size: int = 64
    val_fraction: float = 0.1
    loss: str = "cross-entropy"
    normalise_mean: float = MNIST_MEAN
    normalise_std: float = MNIST_STD
    # Optional step schedule: ((first epoch, learning rate), ...). Empty = the seed's constant
    # rate. LeCun et al. lowered the rate over their 20 passes (5e-4, 2e-4, 1e-4, 5e-5, 1e-5);
    # LECUN_STEPS is that schedule scaled to Adam's 1e-3.
    lr_steps: tuple[tuple[int, float], ...] = ()
    # Random planar affine distortions of each training image (translation, scaling,
    # squeezing, horizontal shear), as LeCun et al. used for their 99.2 % (0.95 % error without).
    distort: bool = False

    def lr_at(self, epoch: int) -> float:
        """The learning rate of ``epoch`` (1-based) under the step schedule."""
        lr = self.lr
        for first, value in sorted(self.lr_steps):
            if epoch >= first:
                lr = value
        return lr


LECUN_STEPS = ((3, 4e-4), (6, 2e-4), (9, 1e-4), (13, 2e-5))


FULL_RECIPE_IMAGES, FULL_RECIPE_EPOCHS = 60_000, 5  # the notes' run: every image, 5 epochs


def full_recipe_seconds(seconds: float, batches: int, recipe: Recipe = Recipe()) -> float | None:
    """How long the full recipe (60,000 images, 5 epochs) would take at the speed measured over
    ``batches`` training batches in ``seconds``; None until a few batches have run."""
    if batches < 5 or seconds <= 0:
        return None
    n_train = FULL_RECIPE_IMAGES - max(1, round(FULL_RECIPE_IMAGES * recipe.val_fraction))
    per_epoch = -(-n_train // recipe.batch_size)  # 844 batches of 64
    return seconds / batches * per_epoch * FULL_RECIPE_EPOCHS
