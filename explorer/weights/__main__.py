"""Command line: python -m explorer.weights list [--json] | fetch [--all | NAME ...]."""
from __future__ import annotations

import argparse
import sys

from explorer.weights import overview


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer.weights",
                                description="The zoo's weights on this machine; fetch them ahead "
                                            "of time into torch hub's cache ($TORCH_HOME).")
    sub = p.add_subparsers(dest="cmd", required=True)
    ls = sub.add_parser("list", help="every model, where its weights come from, cached or not")
    ls.add_argument("--json", action="store_true", help="JSON instead of a table")
    f = sub.add_parser("fetch", help="download torchvision weights into the cache")
    f.add_argument("names", nargs="*", metavar="NAME", help="models to fetch")
    f.add_argument("--all", action="store_true", help="every model with torchvision weights")
    args = p.parse_args(argv)

    if args.cmd == "list":
        return overview.print_list(args.json)
    if args.all == bool(args.names):
        p.error("give --all or one or more model names, not both")
    return overview.fetch_models(None if args.all else args.names)


sys.exit(main())
