"""Where does a network break? Adversarial attacks, corruptions and adversarial training.

- :mod:`.attacks`: FGSM and PGD through Captum's ``captum.robust``, in pixel space [0, 1] with
  the model's normalisation inside the attacked function (ε in pixel units, k/255), untargeted
  or towards a class; the smallest ε that flips a prediction (``MinParamPerturbation``), said
  in words.
- :mod:`.damage`: the relative distance between clean and adversarial activations, stage by
  stage (the zoo's declared stages), for several networks.
- :mod:`.corruptions`: eleven ImageNet-C corruptions at its five severities (Hendrycks &
  Dietterich 2019, the paper's parameters).
- :mod:`.evaluate`: attacks and corruptions over a folder of images or the MNIST test set.
- :mod:`.mnist`: ε-curves on the 10,000 MNIST test digits; the PyTorch FGSM tutorial's curve.
- :mod:`.training`: adversarial training (FGSM, PGD) through ``explorer.train``'s loop.
- :mod:`.models`: the shipped adversarially trained LeNet-5 checkpoints.

Command line (``python -m explorer.robust --help``)::

    python -m explorer.robust attack --model M --images DIR --method fgsm|pgd --eps 4/255
        [--steps 10] [--target CLASS] [--json]
    python -m explorer.robust curve --model M --images DIR|mnist-test --method fgsm|pgd
        --eps 0 0.05 ... [--json]
    python -m explorer.robust corrupt --model M --images DIR --corruption NAME --severity 1..5
        [--json]

The shared model is only read: fresh input tensors, gradients through ``torch.autograd.grad``
(no ``.grad`` written), activations through ``explorer.inference.shared.capture``.
"""
from explorer.robust.attacks import (METHODS, AttackError, AttackResult, MinEpsilon, PixelModel,
                                     attack, describe_epsilon, fgsm, parse_eps, perturb, pgd,
                                     pixel_model, smallest_epsilon, to_network, to_pixels)
from explorer.robust.corruptions import CORRUPTIONS, SEVERITIES, CorruptionError, corrupt
from explorer.robust.damage import DamageCurve, compare_damage, stage_damage

__all__ = [
    "METHODS", "AttackError", "AttackResult", "MinEpsilon", "PixelModel", "attack",
    "describe_epsilon", "fgsm", "parse_eps", "perturb", "pgd", "pixel_model",
    "smallest_epsilon", "to_network", "to_pixels",
    "CORRUPTIONS", "SEVERITIES", "CorruptionError", "corrupt",
    "DamageCurve", "compare_damage", "stage_damage",
]
