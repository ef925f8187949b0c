"""One session cannot change another's numbers (issue 14, point 11): random-weight builds and a
seeded training run give bit-identical results whether they run one after another or at the
same time in threads, with other threads drawing from and re-seeding PyTorch's global generator
meanwhile; and none of them moves the global generator."""
from __future__ import annotations

import threading

import torch
import torch.nn.functional as F

from explorer import data, train, weights, zoo

from explorer.zoo import rng

BUILDS = ("googlenet", "resnet18", "mobilenet_v2")
TRAIN = dict(name="mnist_bn_dropout", epochs=1, subset=700, seed=3)  # 10 batches of 64


def _build(name):
    return weights.load_model(name, "random").model.state_dict()


def _train():
    t = train.Trainer(**TRAIN, data_root=data.data_root("mnist"), device="cpu")
    t.run_epoch()
    return t.model.state_dict(), t.history


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_builds_and_training_in_threads_equal_the_sequential_run():
    before = torch.random.get_rng_state()
    sequential = {name: _build(name) for name in BUILDS}
    seq_state, seq_history = _train()
    # Nothing above drew from, or re-seeded, the process-wide generator.
    assert torch.equal(torch.random.get_rng_state(), before)

    results, errors, stop = {}, [], threading.Event()

    def work(key, fn, *args):
        try:
            results[key] = fn(*args)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def disturb():  # another session: unseeded draws and its own global seeding
        i = 0
        while not stop.is_set():
            torch.manual_seed(i)
            torch.rand(4096)
            F.dropout(torch.ones(256), 0.5, training=True)
            i += 1

    noise = [threading.Thread(target=disturb) for _ in range(2)]
    jobs = [threading.Thread(target=work, args=(n, _build, n)) for n in BUILDS]
    jobs.append(threading.Thread(target=work, args=("train", _train)))
    for t in noise + jobs:
        t.start()
    for t in jobs:
        t.join()
    stop.set()
    for t in noise:
        t.join()
    assert not errors, errors
    for name in BUILDS:
        assert _equal(results[name], sequential[name]), name
    state, history = results["train"]
    assert _equal(state, seq_state)
    def figures(rows):
        return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]

    assert figures(history) == figures(seq_history)


def test_a_seeded_build_is_what_manual_seed_gives():
    """The private generator draws what torch.manual_seed(0) + the global generator drew, so
    'random weights' are the same model as before the change."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        reference = zoo.build("googlenet").state_dict()
    with rng.seeded(0):
        ours = zoo.build("googlenet").state_dict()
    assert _equal(ours, reference)


def test_seeded_dropout_draws_what_dropout_draws():
    x = torch.randn(8, 32, generator=torch.Generator().manual_seed(1))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(5)
        reference = F.dropout(x, 0.3, training=True)
    ours = rng.SeededDropout(0.3, torch.Generator().manual_seed(5)).train()(x)
    assert torch.equal(ours, reference)
    assert rng.SeededDropout(0.3, torch.Generator()).eval()(x) is x
