"""Training dynamics: recording a history changes nothing about the run, and what it recorded
agrees with independent computations (scikit-learn's confusion matrix and trustworthiness, the
models' own parameter counts, a plain forward pass); the committed histories in
assets/history/ replay; two seeds of one recipe line up layer by layer (linear CKA).

Runs are small (a few hundred MNIST images, one or two epochs) except the two-seed check, which
uses the page's default short run (2 epochs over 3,000 images) for LeNet-5 and mnist_plain.
"""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.manifold import trustworthiness
from sklearn.metrics import confusion_matrix as sk_confusion

from explorer import train, zoo
from explorer.data import data_root
from explorer.train import dynamics, seeds
from explorer.train.history import GRAD_DIGITS, HistoryRecorder, probe_indices, read_epoch

ROOT = Path(__file__).resolve().parents[1]
DATA = data_root("mnist")
SHIPPED = ROOT / "assets" / "history"


def _cli(*args, timeout=400):
    return subprocess.run([sys.executable, "-m", "explorer.train", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def test_set():
    return train.load_mnist(DATA, train=False)


@pytest.fixture(scope="module")
def cli_run(tmp_path_factory):
    """lenet5, 2 epochs on 300 images, seed 3, through the command line: once with --history,
    once without."""
    out = tmp_path_factory.mktemp("cli")
    args = ["--model", "lenet5", "--epochs", "2", "--subset", "300", "--seed", "3",
            "--data", str(DATA)]
    with_h = _cli(*args, "--out", str(out / "with"), "--history", str(out / "history"))
    without = _cli(*args, "--out", str(out / "without"))
    assert with_h.returncode == 0, with_h.stderr
    assert without.returncode == 0, without.stderr
    return out


# ------------------------------------------------------------------------------ recording
def test_history_does_not_change_the_trained_weights_cli(cli_run):
    a = (cli_run / "with" / "lenet5.pt").read_bytes()
    b = (cli_run / "without" / "lenet5.pt").read_bytes()
    assert hashlib.sha256(a).hexdigest() == hashlib.sha256(b).hexdigest()
    card_a = json.loads((cli_run / "with" / "lenet5.json").read_text())
    card_b = json.loads((cli_run / "without" / "lenet5.json").read_text())
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h]  # noqa: E731
    assert strip(card_a["history"]) == strip(card_b["history"])


def test_history_does_not_change_batchnorm_dropout_or_the_optimiser(tmp_path):
    # mnist_bn_dropout: running statistics, seeded dropout and Adam's moments are all state a
    # careless recorder could touch (a train-mode forward, a draw, a .grad left behind).
    runs = []
    for history in (tmp_path / "h", None):
        t = train.Trainer("mnist_bn_dropout", 1, DATA, subset=200, seed=5, history=history)
        while not t.done:
            t.run_epoch()
        runs.append(t)
    a, b = runs
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)
    oa, ob = a.optimizer.state_dict()["state"], b.optimizer.state_dict()["state"]
    assert all(torch.equal(oa[i][k], ob[i][k]) for i in oa for k in ("exp_avg", "exp_avg_sq"))
    assert a.model.training and b.model.training  # the recorder left the mode as it was
    assert all(p.grad is None or torch.equal(p.grad, q.grad)
               for p, q in zip(a.model.parameters(), b.model.parameters()))
    assert dynamics.History(tmp_path / "h").epochs == [0, 1]


def test_recorded_predictions_are_the_checkpoints_own(cli_run, test_set):
    h = dynamics.History(cli_run / "history")
    assert h.epochs == [0, 1, 2] and h.meta["model"] == "lenet5" and h.meta["seed"] == 3
    model = train.load_checkpoint("lenet5", cli_run / "with" / "lenet5.pt")
    x, y = test_set
    with torch.no_grad():
        prob = model(train.to_input(x, (1, 32, 32))).softmax(1)
    last = h.epoch(2)
    assert np.array_equal(last["pred"], prob.argmax(1).numpy())
    np.testing.assert_allclose(last["p_pred"], prob.max(1).values.numpy(), atol=1e-3)
    card = json.loads((cli_run / "with" / "lenet5.json").read_text())
    assert h.row(2)["test_accuracy"] == pytest.approx(card["test_accuracy"], abs=0.005)


def test_confusion_matrix_equals_sklearn_and_sums_to_the_test_set(cli_run):
    h = dynamics.History(cli_run / "history")
    for e in h.epochs:
        pred = h.epoch(e)["pred"]
        cm = h.confusion(e)
        assert np.array_equal(cm, sk_confusion(h.labels, pred, labels=list(range(10))))
        assert cm.sum() == 10_000 == len(h.labels)
        s = dynamics.confusion_summary(cm)
        off = cm - np.diag(np.diag(cm))
        assert s["worst"][2] == off.max() and cm[s["worst"][0], s["worst"][1]] == off.max()
        assert s["diagonal_share"] == pytest.approx(np.trace(cm) / 10_000)


def test_a_cell_lists_exactly_its_digits_most_confident_mistake_first(cli_run):
    h = dynamics.History(cli_run / "history")
    e = h.epoch(2)
    worst = dynamics.confusion_summary(h.confusion(2))["worst"]
    for true, pred in [(4, 9), (7, 7), worst[:2]]:
        cell = h.cell(2, int(true), int(pred))
        expected = [i for i in range(10_000) if h.labels[i] == true and e["pred"][i] == pred]
        assert sorted(cell.indices.tolist()) == expected
        p = cell.p_pred.astype(np.float64)
        assert np.all(np.diff(p) <= 0) if true != pred else np.all(np.diff(p) >= 0)


def test_histogram_counts_are_the_layers_parameter_counts(cli_run):
    h = dynamics.History(cli_run / "history")
    model = zoo.build("lenet5")
    modules = dict(model.named_modules())
    params = [sum(p.numel() for p in modules[l["name"]].parameters(recurse=False))
              for l in h.meta["param_layers"]]
    assert params == [156, 2416, 48120, 10164, 850]  # LeNet-5's textbook counts, 61,706 in all
    outputs = {}

    def keep(name):
        def hook(_m, _i, out):
            outputs[name] = out[0].numel()  # one digit's outputs
        return hook

    hooks = [modules[a["name"]].register_forward_hook(keep(a["name"])) for a in h.meta["act_layers"]]
    model(torch.zeros(1, 1, 32, 32))
    for hk in hooks:
        hk.remove()
    for ep in h.epochs:
        e = h.epoch(ep)
        assert e["w_counts"].sum(axis=1).tolist() == params
        assert e["g_counts"].sum(axis=1).tolist() == params
        assert e["a_counts"].sum(axis=1).tolist() == [GRAD_DIGITS * outputs[a["name"]]
                                                      for a in h.meta["act_layers"]]
        assert np.all(np.diff(e["w_edges"], axis=1) > 0)


def test_dead_units_against_an_independent_count(cli_run, test_set):
    # mnist_plain's ReLUs at initialisation: a unit (channel / neuron) is dead when it is zero
    # for every probe digit; counted here with a plain forward pass of our own.
    x, y = test_set
    probe = probe_indices(y.numpy())
    model = zoo.build("mnist_plain").eval()
    path = cli_run / "plain"
    rec = HistoryRecorder(path, x, y, lambda b: train.to_input(b), {"model": "mnist_plain"})
    rec.record(model, 0)
    e = read_epoch(path, 0)
    acts = {}

    def keep(name):
        def hook(_m, _i, out):
            acts[name] = out
        return hook

    hooks = [m.register_forward_hook(keep(n))
             for n, m in model.named_modules() if isinstance(m, torch.nn.ReLU)]
    with torch.no_grad():
        model(train.to_input(x[torch.as_tensor(probe)]))
    for hk in hooks:
        hk.remove()
    names = [a["name"] for a in json.loads((path / "meta.json").read_text())["act_layers"]]
    for i, n in enumerate(names):
        out = acts[n]
        per_unit = out.amax(dim=(0, 2, 3)) if out.dim() == 4 else out.amax(dim=0)
        assert e["dead"][i] == pytest.approx(float((per_unit <= 0).float().mean()))
        assert e["zero"][i] == pytest.approx(float((out == 0).float().mean()), abs=1e-5)


def test_knn_accuracy_matches_a_brute_force_vote():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(c * 3, 1.0, (40, 5)) for c in range(3)])
    y = np.repeat(np.arange(3), 40)
    d = ((x[:, None] - x[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    votes = [np.bincount(y[np.argsort(row, kind="stable")[:10]], minlength=3).argmax() for row in d]
    assert dynamics.knn_accuracy(x, y, k=10) == pytest.approx(np.mean(np.array(votes) == y))


def test_dynamics_cli_prints_epochs_confusion_knn_and_dead_units(cli_run):
    r = _cli("dynamics", "--history", str(cli_run / "history"), "--json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    h = dynamics.History(cli_run / "history")
    assert [e["epoch"] for e in rep["epochs"]] == [0, 1, 2]
    for e in rep["epochs"]:
        cm = np.array(e["confusion"])
        assert cm.sum() == 10_000 and np.array_equal(cm, h.confusion(e["epoch"]))
        assert e["test_accuracy"] == pytest.approx(np.trace(cm) / 100)
        assert 0 <= e["knn_accuracy"] <= 100
        assert set(e["dead"]) == {"tanh1", "tanh3", "tanh5", "tanh6"}
    missing = _cli("dynamics", "--history", str(cli_run / "nowhere"))
    assert missing.returncode == 2 and "no training history" in missing.stderr


# ------------------------------------------------------------------------ the committed ones
def test_every_trainable_model_ships_a_small_history():
    total = sum(p.stat().st_size for p in SHIPPED.rglob("*") if p.is_file())
    assert total < 4_000_000, f"{total:,} B in assets/history"
    for name in train.TRAINABLE_MODELS:
        h = dynamics.History(SHIPPED / name)
        card = train.load_card(name)
        assert h.meta["model"] == name and h.meta["subset"] is None
        assert h.epochs == list(range(card["epochs"] + 1))
        assert h.meta["recipe"]["lr_steps"] == card["recipe"].get("lr_steps", [])
        assert h.meta["recipe"]["distort"] == card["recipe"].get("distort", False)


@pytest.mark.parametrize("name", train.TRAINABLE_MODELS)
def test_shipped_history_replays(name):
    h = dynamics.History(SHIPPED / name)
    summary = dynamics.summarise(h, save=False)
    assert summary["epochs"].tolist() == h.epochs
    # The last epoch's map keeps neighbourhoods (features kept for exactly this check).
    last = h.epoch(h.epochs[-1])
    assert trustworthiness(last["features"].astype(np.float32),
                           summary["embedding"][-1].astype(np.float32), n_neighbors=10) >= 0.9
    knn = summary["knn"]
    assert knn[-1] - knn[0] >= 0.05 and np.corrcoef(h.epochs, knn)[0, 1] > 0.5, knn
    moves = [np.sqrt(((summary["embedding"][k + 1].astype(np.float32)
                       - summary["embedding"][k].astype(np.float32)) ** 2).sum(1)).mean()
             for k in range(1, len(h.epochs) - 1)]
    assert max(moves) < 1.0, moves  # aligned maps: points move less than the map's RMS radius
    for ep in h.epochs:
        e = h.epoch(ep)
        assert h.confusion(ep).sum() == 10_000
        assert e["w_counts"].sum(axis=1).tolist() == [l["params"] for l in h.meta["param_layers"]]


@pytest.mark.parametrize("name", train.TRAINABLE_MODELS)
def test_shipped_history_says_how_it_ends_beside_the_committed_checkpoint(name, test_set):
    h = dynamics.History(SHIPPED / name)
    note, card = h.meta["rerun_of"], train.load_card(name)
    assert note["committed_sha256"] == card["checkpoint"]["sha256"]
    assert note["committed_test_accuracy"] == card["test_accuracy"]
    assert note["rerun_test_accuracy"] == pytest.approx(h.row(h.epochs[-1])["test_accuracy"], abs=0.005)
    model = train.load_checkpoint(name)
    with torch.no_grad():
        pred = torch.cat([model(train.to_input(test_set[0][i:i + 1000], zoo.get_spec(name).input_size))
                          .argmax(1) for i in range(0, 10_000, 1000)]).numpy()
    differ = int((h.epoch(h.epochs[-1])["pred"] != pred).sum())
    assert differ == note["different_test_predictions"]
    assert note["same_test_predictions"] == (differ == 0)
    if name == "lenet5":  # retrained with --history: the committed checkpoint's own predictions
        assert differ == 0


# -------------------------------------------------------------------------------- two seeds
@pytest.mark.parametrize("name", ["lenet5", "mnist_plain"])
def test_two_seeds_find_the_corresponding_layers(name):
    epochs, images = seeds.default_pair_run("cpu")
    models = seeds.train_pair(name, epochs, DATA, subset=images)
    r = seeds.compare_pair(name, models, DATA)
    assert r.layers == [n for n, m in models[0].named_modules()
                        if isinstance(m, (torch.nn.ReLU, torch.nn.Tanh))] + [r.layers[-1]]
    assert r.matrix.shape == (len(r.layers),) * 2 and np.all(r.matrix <= 1 + 1e-9)
    assert r.same >= len(r.layers) - 1, r.to_dict()
    # CKA of a network with itself is 1 on the diagonal (the Compare page's code).
    _layers, self_m = dynamics.cka_between(models[0], models[0], train.to_input(
        train.load_mnist(DATA, train=False)[0][:200], zoo.get_spec(name).input_size))
    np.testing.assert_allclose(np.diag(self_m), 1.0, atol=1e-9)
