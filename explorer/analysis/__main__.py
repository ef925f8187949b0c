"""Command line: per-layer shapes, parameters, MACs and receptive field of a zoo model.

    python -m explorer.analysis resnet50 [--input-size 3 160 160] [--json] [--level block]
    python -m explorer.analysis --list
    python -m explorer.analysis --summary [PATH]   (assets/zoo_summary.json; - prints)

Errors a user can cause (an unknown model, an input the network cannot take) are one line on
stderr with exit code 2.
"""
from __future__ import annotations

import argparse
import json
import sys

from explorer.analysis.layers import analyze
from explorer.analysis.report import format_model_list, format_table, write_summary
from explorer.analysis.types import AnalysisError

__all__ = ["main"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m explorer.analysis",
        description="Per-layer shapes, parameters, MACs and receptive field of a zoo model.")
    parser.add_argument("name", nargs="?", help="model name (see --list)")
    parser.add_argument("--input-size", nargs=3, type=int, metavar=("C", "H", "W"))
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument("--level", choices=("all", "block", "layer"), default="all",
                        help="rows to print in the table (default: all)")
    parser.add_argument("--list", action="store_true", help="list the models and exit")
    parser.add_argument("--summary", nargs="?", const="", metavar="PATH",
                        help="write every model's totals as JSON (default: "
                             "assets/zoo_summary.json, which the Overview reads; - prints)")
    args = parser.parse_args(argv)
    from explorer import zoo

    if args.summary is not None:
        print(write_summary(args.summary or None), file=sys.stderr)
        return 0
    if args.list:
        print(format_model_list())
        return 0
    if not args.name:
        parser.print_usage(sys.stderr)
        print("error: give a model name, or --list", file=sys.stderr)
        return 2
    try:
        result = analyze(args.name, args.input_size)
    except (zoo.UnknownModelError, AnalysisError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        print(format_table(result, args.level))
    return 0


if __name__ == "__main__":
    sys.exit(main())
