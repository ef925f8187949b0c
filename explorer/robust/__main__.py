"""Command line of the Robustness page's core (``explorer.robust.commands`` does the work).

    python -m explorer.robust attack --model M --images DIR --method fgsm|pgd --eps 4/255
                                     [--steps 10] [--target CLASS] [--json]
    python -m explorer.robust curve --model M --images DIR --method fgsm|pgd
                                    --eps 0 0.05 0.1 ... [--steps 10] [--json]
    python -m explorer.robust corrupt --model M --images DIR --corruption NAME
                                      --severity 1..5 [--json]
    python -m explorer.robust train --method fgsm|pgd --eps 0.3 [--steps 7] [--epochs 10]
"""
from __future__ import annotations

import argparse
import sys

from explorer.robust import commands
from explorer.robust.corruptions import CORRUPTIONS

IMAGES_HELP = ("a folder of images (labels.csv with columns file and class_index gives the true "
               "classes, as python -m explorer.predict reads them; without it each image is "
               "attacked away from its clean top-1), one image file, or mnist-test: the 10,000 "
               "MNIST test digits with their labels (digit networks only)")
MODEL_HELP = ("a zoo model (python -m explorer.analysis --list) or a shipped adversarially "
              "trained one: lenet5_adv_pgd, lenet5_adv_fgsm")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help=MODEL_HELP)
    p.add_argument("--images", required=True, help=IMAGES_HELP)
    p.add_argument("--json", action="store_true", help="one JSON document on stdout")
    p.add_argument("--limit", type=int, default=None, help="only the first N images")
    p.add_argument("--device", default=None, help="cpu, cuda (default: the best available)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m explorer.robust",
        description="Adversarial attacks (FGSM, PGD through captum.robust, in pixel space with "
                    "the model's normalisation inside), ImageNet-C corruptions and adversarial "
                    "training. ε is in pixel units: 4/255 or 0.0157.")
    sub = parser.add_subparsers(dest="command", required=True)

    a = sub.add_parser("attack", help="attack every image; accuracy before and after")
    _common(a)
    a.add_argument("--method", choices=["fgsm", "pgd"], default="fgsm")
    a.add_argument("--eps", default="4/255", help="the L∞ budget: 4/255, 0.03, ... (0 to 1)")
    a.add_argument("--steps", type=int, default=10, help="PGD steps (step size 2.5·ε/steps)")
    a.add_argument("--target", default=None,
                   help="a class index or name to push every image towards (targeted attack)")
    a.add_argument("--batch", type=int, default=32)

    c = sub.add_parser("curve", help="accuracy for each ε")
    _common(c)
    c.add_argument("--method", choices=["fgsm", "pgd"], default="fgsm")
    c.add_argument("--eps", nargs="+", default=["0", "0.05", "0.1", "0.15", "0.2", "0.25", "0.3"],
                   help="the budgets (default 0 0.05 … 0.3, the PyTorch FGSM tutorial's)")
    c.add_argument("--steps", type=int, default=10, help="PGD steps (step size 2.5·ε/steps)")
    c.add_argument("--batch", type=int, default=1000)

    r = sub.add_parser("corrupt", help="ImageNet-C corruptions: accuracy at each severity")
    _common(r)
    r.add_argument("--corruption", required=True, choices=list(CORRUPTIONS))
    r.add_argument("--severity", type=int, nargs="+", default=[1, 2, 3, 4, 5],
                   help="ImageNet-C's severity levels 1 … 5 (one or several; default all)")
    r.add_argument("--seed", type=int, default=0, help="seed of the noise corruptions")
    r.add_argument("--batch", type=int, default=32)

    t = sub.add_parser("train", help="adversarially train LeNet-5 on MNIST and write "
                                     "assets/lenet5_adv_<method>.pt with its model card")
    t.add_argument("--method", choices=["fgsm", "pgd"], default="pgd")
    t.add_argument("--eps", default="0.3", help="the training budget (pixel units)")
    t.add_argument("--steps", type=int, default=7, help="PGD steps while training")
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--warmup", type=int, default=2,
                   help="epochs over which ε grows from 0 to --eps (a curriculum)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--curve-steps", type=int, default=10, help="PGD steps of the card's curves")
    t.add_argument("--out", default=None, help="folder for the checkpoint (default assets/)")
    t.add_argument("--json", action="store_true")
    t.add_argument("--device", default=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    common = dict(as_json=args.json, device=args.device)
    if args.command == "attack":
        return commands.attack_command(args.model, args.images, args.method, args.eps,
                                       args.steps, args.target, limit=args.limit,
                                       batch=args.batch, **common)
    if args.command == "curve":
        return commands.curve_command(args.model, args.images, args.method, args.eps,
                                      args.steps, limit=args.limit, batch=args.batch, **common)
    if args.command == "corrupt":
        return commands.corrupt_command(args.model, args.images, args.corruption, args.severity,
                                        limit=args.limit, seed=args.seed, batch=args.batch,
                                        **common)
    return commands.train_command(args.method, args.eps, args.steps, args.epochs, args.seed,
                                  args.out, curve_steps=args.curve_steps, warmup=args.warmup,
                                  **common)


if __name__ == "__main__":
    sys.exit(main())
