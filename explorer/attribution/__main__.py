"""Command line: python -m explorer.attribution sanity|faithfulness --model M --images DIR.

Flags only; the work is :func:`explorer.attribution.report.run` (see its module for what each
command reports).
"""
import argparse
import sys
from pathlib import Path

from explorer.attribution.report import COMMANDS, DEFAULT_METHODS, run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m explorer.attribution",
                                     description="Sanity checks and faithfulness of attribution maps.")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, help_ in COMMANDS.items():
        p = sub.add_parser(name, help=help_)
        p.add_argument("--model", required=True, help="a model name from the zoo")
        p.add_argument("--images", required=True, type=Path, help="a folder of images")
        p.add_argument("--methods", nargs="+", default=DEFAULT_METHODS,
                       help=f"default: {' '.join(DEFAULT_METHODS)}")
        p.add_argument("--json", action="store_true", help="one JSON document on stdout")
        p.add_argument("--weights", default="auto",
                       help="auto, package, trained, torchvision, random")
        p.add_argument("--limit", type=int, default=None, help="use the first N images only")
        p.add_argument("--device", default=None, help="cpu, cuda (default: the best available)")
        p.add_argument("--seed", type=int, default=0)
        p.add_argument("--batch", type=int, default=4, help="images per pass (sanity)")
        if name == "sanity":
            p.add_argument("--mode", choices=["cascade", "independent"], default="cascade")
        else:
            p.add_argument("--steps", type=int, default=20, help="points per curve minus one")
    return parser


options = vars(_parser().parse_args())
options["as_json"] = options.pop("json")
sys.exit(run(**options))
