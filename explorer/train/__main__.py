"""Command line: python -m explorer.train --model M --epochs N --data DIR [--out DIR] ...

Trains one of the small classics on MNIST and writes ``<model>.pt`` and ``<model>.json`` (the
model card) into ``--out`` (default ``assets/``); ``--history DIR`` also records the per-epoch
history (explorer.train.history) into DIR.

    python -m explorer.train dynamics --history DIR [--json]

replays a recorded history: per epoch the test accuracy, the confusion matrix, the kNN accuracy
in feature space and the dead-unit shares (explorer.train.dynamics).

    python -m explorer.train seeds --model M [--epochs N --subset K --data DIR] [--json]

trains M from seeds 0 and 1 with one recipe and prints the linear-CKA matrix between their
layers with each layer's best match (explorer.train.seeds).
"""
from __future__ import annotations

import argparse
import sys

import torch

import explorer.train as train_pkg
from explorer.data.mnist import MnistNotFoundError
from explorer.data.paths import ASSETS
from explorer.train.checkpoints import save
from explorer.train.loop import train
from explorer.train.recipe import DEFAULT_DATA, LECUN_STEPS, TRAINABLE_MODELS, Recipe


def dynamics_main(argv: list[str]) -> int:
    from explorer.train import dynamics

    p = argparse.ArgumentParser(prog="python -m explorer.train dynamics",
                                description="Replay a recorded training history.")
    p.add_argument("--history", required=True, help="a folder written by --history")
    p.add_argument("--json", action="store_true", help="print the whole report as JSON")
    p.add_argument("--compact", action="store_true",
                   help="keep the maps and kNN accuracies, drop the features of all epochs "
                        "but the last (for shipping a history)")
    p.add_argument("--note-committed", action="store_true",
                   help="compare the last epoch with the committed checkpoint assets/<model>.pt "
                        "on every test digit and note the result in meta.json")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (0 = torch's default)")
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    try:
        if args.note_committed:
            print(f"beside the committed checkpoint: {dynamics.note_committed(args.history)}",
                  file=sys.stderr)
        if args.compact:
            saved = dynamics.compact(args.history)
            print(f"compacted {args.history}: {saved:,} B saved", file=sys.stderr)
        rep = dynamics.report(args.history)
    except FileNotFoundError as exc:
        print(f"error: no training history in {args.history} ({exc})", file=sys.stderr)
        return 2
    if args.json:
        print(dynamics.compact_json(rep))
        return 0
    print(f"{rep['model']} (seed {rep['seed']}), {rep['test_images']:,} test digits, "
          f"kNN (k={rep['knn_k']}) on {rep['probe_digits']:,} probe digits")
    for e in rep["epochs"]:
        worst = e["worst"]
        words = "no mistakes" if worst is None else \
            f"{worst['true']} read as {worst['pred']}: {worst['count']} times"
        dead = ", ".join(f"{k} {v:.0%}" for k, v in e["dead"].items() if v > 0) or "none"
        print(f"epoch {e['epoch']:>2}: test {e['test_accuracy']:6.2f} %, kNN "
              f"{e['knn_accuracy']:6.2f} %, worst {words}; dead units: {dead}")
    return 0


def seeds_main(argv: list[str]) -> int:
    from explorer.data.mnist import mnist_root
    from explorer.train import seeds

    p = argparse.ArgumentParser(prog="python -m explorer.train seeds",
                                description="Train one recipe from two seeds; compare layers (CKA).")
    p.add_argument("--model", required=True, choices=TRAINABLE_MODELS)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--subset", type=int, default=3000, help="training images (0 = all 60,000)")
    p.add_argument("--data", default=None, help="folder holding MNIST/raw/ (default: the resolver's)")
    p.add_argument("--seeds", default="0,1", help="two seeds, e.g. 0,1")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (0 = torch's default)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    root, download = (args.data, False) if args.data else mnist_root()
    pair = tuple(int(s) for s in args.seeds.split(","))
    try:
        models = seeds.train_pair(args.model, args.epochs, root, subset=args.subset or None,
                                  seeds=pair, download=download)
        result = seeds.compare_pair(args.model, models, root, seeds=pair, download=download)
    except MnistNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        from explorer.train.dynamics import compact_json

        print(compact_json(result.to_dict()))
        return 0
    width = max(len(n) for n in result.layers)
    print(f"{args.model}: seeds {pair[0]} (rows) and {pair[1]} (columns), {args.epochs} epochs "
          f"on {args.subset or 60_000:,} images; accuracy on the probe digits "
          f"{result.accuracies[0]:.2f} % / {result.accuracies[1]:.2f} %; linear CKA on "
          f"{result.digits} probe digits")
    print(" " * width + "  " + " ".join(f"{n[:7]:>7}" for n in result.layers))
    for name, row, match in zip(result.layers, result.matrix, result.matches):
        print(f"{name:>{width}}  " + " ".join(f"{v:7.3f}" for v in row)
              + f"   best: {match['best']}" + ("" if match["same"] else "  (not the same layer)"))
    print(f"{result.same} of {len(result.layers)} layers find their own counterpart")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dynamics"]:
        return dynamics_main(argv[1:])
    if argv[:1] == ["seeds"]:
        return seeds_main(argv[1:])
    p = argparse.ArgumentParser(prog="python -m explorer.train",
                                description=train_pkg.__doc__.split("\n")[0])
    p.add_argument("--model", required=True, choices=TRAINABLE_MODELS)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--data", default=None,
                   help="folder holding MNIST/raw/ (e.g. ../shared/data/mnist); read offline. "
                        f"Default: {DEFAULT_DATA}, downloaded when missing")
    p.add_argument("--download", action="store_true", help="download MNIST into --data if missing")
    p.add_argument("--subset", type=int, default=None, help="train on this many images only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lecun-schedule", action="store_true",
                   help="lower the learning rate in steps as LeCun et al. did (epochs 3, 6, 9, 13: "
                        "4e-4, 2e-4, 1e-4, 2e-5) instead of the seed's constant 1e-3")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available)")
    p.add_argument("--lr-steps", default=None, metavar="EPOCH:LR,...",
                   help="a step schedule of your own, e.g. 3:4e-4,5:2e-4,7:1e-4,9:2e-5")
    p.add_argument("--distort", action="store_true",
                   help="random affine distortions of the training images, as LeCun et al. used")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads (default 1: be kind to a shared machine; 0 = torch's default)")
    p.add_argument("--out", default=str(ASSETS), help="where to write <model>.pt and <model>.json")
    p.add_argument("--history", default=None, metavar="DIR",
                   help="also record the per-epoch history (predictions, features, layer "
                        "statistics) into DIR; replay it with `python -m explorer.train "
                        "dynamics --history DIR`. The trained weights are the same without it.")
    args = p.parse_args(argv)

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    download = args.download or args.data is None
    try:
        steps = LECUN_STEPS if args.lecun_schedule else ()
        if args.lr_steps:
            steps = tuple((int(e), float(v)) for e, v in
                          (item.split(":") for item in args.lr_steps.split(",")))
        recipe = Recipe(lr_steps=steps, distort=args.distort)
        result = train(args.model, args.epochs, args.data, subset=args.subset, seed=args.seed,
                       device=args.device, download=download, progress=True, recipe=recipe,
                       history=args.history)
    except MnistNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pt, card = save(result, args.out)
    print(f"{args.model}: test accuracy {result.test_accuracy:.2f} % "
          f"({result.card['test_correct']}/{result.card['data']['test_images']}), "
          f"{result.card['train_seconds']:.0f} s training; wrote {pt} ({pt.stat().st_size:,} B) and {card}"
          + (f"; history in {args.history}" if args.history else ""))
    return 0


sys.exit(main())
