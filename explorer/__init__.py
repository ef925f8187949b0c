"""CNN Explorer: the classic convolutional networks, built, measured and explained (see docs/CONTRIBUTING.md for the floors).

Importing the package sets the one process-wide setting every entry point shares: OpenMP
threads that wait passively (:data:`OMP_WAIT_POLICY`). Python runs this file before any module
of the package, so the server (app.py), every command-line tool (``python -m explorer.predict``
and the others) and the tests have it before their first ``import torch``.
"""
import os as _os

__all__ = ["OMP_WAIT_POLICY"]

# OpenMP threads that spin while waiting: on a CPU shared with other work (other sessions, other
# processes), PyTorch's default "active" wait makes every parallel region wait for a thread the OS
# has descheduled. Measured on this project's 2-core machine under load: ResNet-50 saliency 3-14 s
# with spinning threads, about 1 s with passive ones (bench/ui.py, the model switch); `predict` on
# 1,000 MNIST digits beside two busy processes 195 s (bench/cli.py). OpenMP reads it once, when
# torch loads its runtime; a value already in the environment is the user's and is kept.
OMP_WAIT_POLICY = "PASSIVE"
_os.environ.setdefault("OMP_WAIT_POLICY", OMP_WAIT_POLICY)
