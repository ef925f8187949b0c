"""``python -m explorer.i18n update | check | compile``: keep the translation catalogs in step.

update   re-extract every wrapped string (babel.cfg), merge into each .po, compile the .mo,
         then check; exit status 1 while anything is untranslated, fuzzy or mismatched.
check    the same report without writing anything (CI, tests).
compile  only rebuild the .mo files from the .po files (after translating by hand).
"""
from __future__ import annotations

import argparse
import sys

from explorer.i18n import catalog


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m explorer.i18n", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["update", "check", "compile"])
    args = parser.parse_args(argv)
    if args.command == "compile":
        for lang in catalog.TRANSLATED:
            catalog.compile_mo(lang)
            print(f"compiled {catalog.mo_path(lang).relative_to(catalog.ROOT)}")
        return 0
    template = catalog.extract()
    print(f"{len(template)} strings in the code")
    ok = True
    for lang in catalog.TRANSLATED:
        if args.command == "update":
            catalog.update(lang, template)
            print(f"updated {catalog.po_path(lang).relative_to(catalog.ROOT)} and its .mo")
        report = catalog.check(lang, template)
        print("\n".join(report.lines()))
        ok &= report.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
