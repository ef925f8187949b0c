"""Command line: python -m explorer.data where|fetch|manifest."""
from __future__ import annotations

import argparse
import sys

from explorer import data


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m explorer.data", description=data.__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("where", help="where each kind is found (downloads nothing)")
    f = sub.add_parser("fetch", help="download the kinds not found yet")
    f.add_argument("kinds", nargs="*", metavar="KIND", help=f"any of {', '.join(data.KINDS)} (all)")
    sub.add_parser("manifest", help=f"rebuild {data.MANIFEST.name} from {data.SHARED}")
    args = p.parse_args(argv)
    if args.cmd == "where":
        for kind in data.KINDS:
            found = data.find(kind)
            print(f"{kind:18} {found if found else 'not found (would download into ' + str(data.download_target(kind)) + ')'}")
        return 0
    if args.cmd == "manifest":
        data.MANIFEST.write_text(data.format_manifest(data.build_manifest()))
        print(f"wrote {data.MANIFEST}")
        return 0
    failed = 0
    unknown = [k for k in args.kinds if k not in data.KINDS]
    if unknown:
        p.error(f"unknown kind {', '.join(unknown)}; choose from {', '.join(data.KINDS)}")
    for kind in args.kinds or data.KINDS:
        try:
            print(f"{kind:18} {data.data_root(kind, progress=lambda m: print('  ' + m, flush=True))}")
        except data.DataNotFound as exc:
            print(f"{kind}: {exc}", file=sys.stderr)
            failed += 1
    return 1 if failed else 0


sys.exit(main())
