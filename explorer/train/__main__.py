"""Command line: python -m explorer.train --model M --epochs N --data DIR [--out DIR] ...

Trains one of the small classics on MNIST and writes ``<model>.pt`` and ``<model>.json`` (the
model card) into ``--out`` (default ``assets/``).
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


def main(argv: list[str] | None = None) -> int:
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
                       device=args.device, download=download, progress=True, recipe=recipe)
    except MnistNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    pt, card = save(result, args.out)
    print(f"{args.model}: test accuracy {result.test_accuracy:.2f} % "
          f"({result.card['test_correct']}/{result.card['data']['test_images']}), "
          f"{result.card['train_seconds']:.0f} s training; wrote {pt} ({pt.stat().st_size:,} B) and {card}")
    return 0


sys.exit(main())
