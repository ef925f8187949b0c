"""Integrated Gradients with its number of steps chosen by the convergence delta, batched.

Integrated Gradients (Sundararajan et al. 2017) averages the gradient along the straight path
from a baseline b to the input x. Its attributions should add up to f(x) − f(b)
(completeness); what they miss is Captum's *convergence delta*,
``sum(attributions) − (f(x) − f(b))``. Too few steps and the delta is large, too many and the map
is slow, and the right number differs per model and image.

So the path integral is taken with the trapezoid rule on nested grids: α = k/8 first, then the
midpoints k/16 are added, then k/32, ... Each doubling reuses every gradient computed so far, so
stopping at n steps costs n + 1 gradient evaluations, exactly one run at n steps, and the delta
at each level is free: f(b) and f(x) are the path's two ends, α = 0 and α = 1, already in the
grid. It stops at the first level whose |delta| is within ``rtol`` of |f(x) − f(b)|.
``tests/test_ig.py`` checks the delta against Captum's own ``compute_convergence_delta`` and the
attributions against Captum's ``IntegratedGradients(method="riemann_trapezoid", n_steps=n + 1)``,
which evaluates the same n + 1 points but weighs them 1/(n + 1) instead of 1/n (its weights sum
to n/(n + 1), not 1), so its maps are ours times n/(n + 1).

Gradients come from ``torch.autograd.grad`` on a fresh batch of scaled inputs (no hooks, no
``.grad`` written), in chunks of ``batch`` images; on CUDA the chunks are channels-last. No
autocast: these gradients are the result, and half precision would change them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

__all__ = ["RTOL", "START_STEPS", "MAX_STEPS", "IGResult", "integrated_gradients"]

RTOL = 0.05  # |delta| ≤ 5 % of |f(x) − f(b)|
START_STEPS = 8
MAX_STEPS = 128


@dataclass
class IGResult:
    attributions: torch.Tensor  # 1×C×H×W, (x − b) × the path-averaged gradient
    n_steps: int  # intervals of the final grid (n + 1 points)
    delta: float  # sum(attributions) − (f(x) − f(b)), Captum's convergence delta
    gap: float  # f(x) − f(b)
    converged: bool  # |delta| ≤ rtol × |gap| (else the step budget ran out)
    evaluations: int  # scaled images run forward and backward (n + 1)
    history: list[tuple[int, float]] = field(default_factory=list)  # (steps, delta) per level

    @property
    def relative_delta(self) -> float:
        return abs(self.delta) / max(abs(self.gap), 1e-12)


def integrated_gradients(forward: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor,
                         target: int, baseline: torch.Tensor | None = None,
                         n_steps: int | None = None, rtol: float = RTOL,
                         start: int = START_STEPS, max_steps: int = MAX_STEPS, batch: int = 8,
                         progress: Callable[[int, int], None] | None = None) -> IGResult:
    """IG of ``forward(x)[:, target]`` for one input ``x`` (1×C×H×W).

    ``n_steps``: a fixed number of steps (no search). Otherwise start at ``start`` steps and
    double until the delta is within ``rtol`` or ``max_steps`` is reached. ``progress(done,
    total)`` is called after every chunk, ``total`` being the evaluations if the search went on
    to ``max_steps`` (it stops earlier when it converges).
    """
    x = x.detach()
    b = torch.zeros_like(x) if baseline is None else baseline.detach().to(x)
    diff = x - b
    channels_last = x.device.type == "cuda" and x.dim() == 4
    n = int(n_steps) if n_steps else max(1, int(start))
    last = n if n_steps else max(n, int(max_steps))
    budget = last + 1 if n_steps else _points_up_to(n, last)
    done = 0
    ends = torch.zeros_like(x[0], dtype=torch.float32)  # gradient at α = 0 plus at α = 1
    inner = torch.zeros_like(x[0], dtype=torch.float32)  # sum strictly inside the path
    values: dict[float, float] = {}

    def run(alphas: list[float]) -> None:
        """Add the gradients at ``alphas`` to the sums, in chunks of ``batch`` images."""
        nonlocal done
        for i in range(0, len(alphas), batch):
            chunk = alphas[i:i + batch]
            a = torch.tensor(chunk, dtype=x.dtype, device=x.device).view(-1, *[1] * (x.dim() - 1))
            xs = b + a * diff  # len(chunk) × C × H × W: a fresh leaf per chunk
            if channels_last:
                xs = xs.contiguous(memory_format=torch.channels_last)
            xs.requires_grad_(True)
            scores = forward(xs)[:, target]
            (grads,) = torch.autograd.grad(scores.sum(), xs)
            grads = grads.detach().float()
            at_end = [j for j, alpha in enumerate(chunk) if alpha in (0.0, 1.0)]
            if at_end:
                for j in at_end:
                    values[chunk[j]] = float(scores[j].detach())
                ends.add_(grads[at_end].sum(0))
                inner.add_(grads.sum(0) - grads[at_end].sum(0))
            else:
                inner.add_(grads.sum(0))
            done += len(chunk)
            if progress is not None:
                progress(done, budget)

    def result(steps: int) -> tuple[torch.Tensor, float]:
        mean_grad = (ends / 2 + inner) / steps  # the trapezoid rule on [0, 1]
        attributions = (diff[0].float() * mean_grad).unsqueeze(0).to(x.dtype)
        return attributions, float(attributions.sum()) - (values[1.0] - values[0.0])

    run([0.0, 1.0] + [k / n for k in range(1, n)])  # the first grid, its two ends first
    attributions, delta = result(n)
    gap = values[1.0] - values[0.0]
    history = [(n, delta)]
    while not n_steps and abs(delta) > rtol * abs(gap) and n < last:
        run([(2 * k + 1) / (2 * n) for k in range(n)])  # the midpoints: n more images
        n *= 2
        attributions, delta = result(n)
        history.append((n, delta))
    converged = abs(delta) <= rtol * abs(gap)
    return IGResult(attributions, n, delta, gap, converged, done, history)


def _points_up_to(n: int, last: int) -> int:
    """Evaluations of the nested grids n, 2n, 4n, ... up to ``last`` steps."""
    points = n + 1
    while n < last:
        points += n
        n *= 2
    return points
