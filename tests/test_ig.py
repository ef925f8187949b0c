"""Integrated Gradients with steps chosen by the convergence delta (explorer.ig), against Captum."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
from captum.attr import IntegratedGradients

from explorer.attribution import ig
from explorer.attribution import explain
from explorer.data.images import load_image
from explorer.inference import logits_of
from explorer.weights import load_model

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def lenet():
    return load_model("lenet5", "trained")


@pytest.fixture(scope="module")
def seven(lenet):
    return lenet.preprocess(load_image((ROOT / "assets" / "samples" / "mnist_7.png").read_bytes()))


def _forward(loaded):
    return lambda t: logits_of(loaded.model(t))


def test_delta_and_maps_match_captum(lenet, seven):
    result = ig.integrated_gradients(_forward(lenet), seven, target=7, batch=5)
    n = result.n_steps
    base = torch.zeros_like(seven)
    captum = IntegratedGradients(_forward(lenet))
    # The convergence delta is Captum's own definition.
    want = float(captum.compute_convergence_delta(result.attributions, base, seven, target=7))
    assert result.delta == pytest.approx(want, abs=1e-4)
    # Captum's trapezoid on the same n + 1 points weighs each 1/(n + 1): ours × n/(n + 1).
    theirs = captum.attribute(seven.clone().requires_grad_(True), baselines=base, target=7,
                              n_steps=n + 1, method="riemann_trapezoid")
    torch.testing.assert_close(theirs, result.attributions * n / (n + 1), rtol=1e-4, atol=1e-6)
    # f(x) − f(b) from the path's ends is the model's own difference.
    with torch.no_grad():
        out = logits_of(lenet.model(torch.cat([seven, base])))[:, 7]
    assert result.gap == pytest.approx(float(out[0] - out[1]), rel=1e-5)


def test_steps_double_until_the_delta_is_small(lenet, seven):
    result = ig.integrated_gradients(_forward(lenet), seven, target=7, rtol=0.01)
    steps = [s for s, _ in result.history]
    assert steps == [ig.START_STEPS * 2 ** i for i in range(len(steps))]
    # Nested grids: n + 1 evaluations in all, whatever the number of levels.
    assert result.evaluations == result.n_steps + 1
    if result.converged:
        assert abs(result.delta) <= 0.01 * abs(result.gap)
        assert all(abs(d) > 0.01 * abs(result.gap) for _, d in result.history[:-1])
    else:
        assert result.n_steps == ig.MAX_STEPS


def test_fixed_steps_and_batching(lenet, seven):
    a = ig.integrated_gradients(_forward(lenet), seven, target=3, n_steps=10, batch=3)
    b = ig.integrated_gradients(_forward(lenet), seven, target=3, n_steps=10, batch=64)
    assert a.n_steps == b.n_steps == 10 and a.evaluations == 11 and len(a.history) == 1
    torch.testing.assert_close(a.attributions, b.attributions, rtol=1e-5, atol=1e-7)


def test_explain_chooses_the_steps_and_reports_progress(lenet, seven):
    calls = []
    result = explain(lenet, seven, "integrated_gradients", target=7,
                     progress=lambda done, total: calls.append((done, total)))
    notes = result.notes
    assert notes["n_steps"] in [ig.START_STEPS * 2 ** i for i in range(6)]
    assert notes["relative_delta"] == pytest.approx(notes["convergence_delta"]
                                                    / abs(ig.integrated_gradients(
                                                        _forward(lenet), seven, 7).gap))
    assert calls and calls[-1][0] == notes["n_steps"] + 1
    assert all(d <= t for d, t in calls)
    assert not any(p.grad is not None for p in lenet.model.parameters())
