"""The house keeps its floors: a static check of every import in explorer/, pages/ and app.py.

The sources are parsed with ``ast`` (nothing is imported, it takes milliseconds). A finding names
the file and line. The floors, bottom up (docs/CONTRIBUTING.md has the same table):

    0 i18n  1 data  2 zoo  3 weights  4 inference  5 analysis
    6 attribution, channels, robust, train, predict   7 ui   8 pages, app.py

Rules: no module imports a higher floor; no module uses another module's ``_private`` name;
streamlit only in ``explorer/ui`` (and pages, app.py); no torch, torchvision or captum in pages;
``argparse`` only in ``__main__.py`` files and nothing imports a ``__main__``; no import circle
between modules (imports inside functions count too).
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

FLOORS: dict[str, int] = {
    "explorer.i18n": 0,
    "explorer.data": 1,
    "explorer.zoo": 2,
    "explorer.weights": 3,
    "explorer.inference": 4,
    "explorer.analysis": 5,
    "explorer.features": 5,  # kept name: re-exports explorer.analysis.features
    "explorer.attribution": 6,
    "explorer.channels": 6,
    "explorer.robust": 6,
    "explorer.train": 6,
    "explorer.predict": 6,
    "explorer.ui": 7,
    "pages": 8,
    "app": 8,
}
FLOOR_NAMES = {0: "i18n", 1: "data", 2: "zoo", 3: "weights", 4: "inference", 5: "analysis",
               6: "interpretation and training", 7: "ui", 8: "pages"}
STREAMLIT = ("streamlit", "streamlit_drawable_canvas")
NOT_IN_PAGES = ("torch", "torchvision", "captum")
GETTEXT = {"_"}  # explorer.i18n's `_` is gettext's public name, not a private one


@dataclass
class Module:
    name: str  # dotted: explorer.analysis.blocks, pages.compare, app
    path: Path
    is_package: bool
    imports: list[tuple[str, list[str], int]] = field(default_factory=list)  # (module, names, line)
    tree: ast.Module | None = None


def _module_name(root: Path, path: Path) -> tuple[str, bool]:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def _sources(root: Path) -> dict[str, Module]:
    files = sorted((root / "explorer").rglob("*.py")) + sorted((root / "pages").glob("*.py"))
    if (root / "app.py").is_file():
        files.append(root / "app.py")
    modules = {}
    for path in files:
        name, is_pkg = _module_name(root, path)
        modules[name] = Module(name, path, is_pkg)
    return modules


def _resolve(mod: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = mod.name.split(".")
    if not mod.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
    return ".".join(base + ([node.module] if node.module else []))


def _parse(mod: Module) -> None:
    mod.tree = ast.parse(mod.path.read_text(encoding="utf-8"), filename=str(mod.path))
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                mod.imports.append((alias.name, [], node.lineno))
        elif isinstance(node, ast.ImportFrom):
            mod.imports.append((_resolve(mod, node), [a.name for a in node.names], node.lineno))


def floor_of(name: str) -> int | None:
    best = None
    for prefix, floor in FLOORS.items():
        if name == prefix or name.startswith(prefix + "."):
            if best is None or len(prefix) > len(best[0]):
                best = (prefix, floor)
    return None if best is None else best[1]


def _targets(modules: dict[str, Module], target: str, names: list[str]) -> list[str]:
    """The project modules an import statement reaches: ``from explorer.analysis import blocks``
    reaches explorer.analysis.blocks (a module), ``from explorer.zoo import build`` explorer.zoo."""
    out = []
    if names:
        for n in names:
            sub = f"{target}.{n}"
            out.append(sub if sub in modules else target)
    else:
        # `import explorer.a.b` binds and runs explorer.a.b
        out.append(target)
    return [t for t in dict.fromkeys(out) if t in modules]


def _rel(root: Path, mod: Module) -> str:
    return str(mod.path.relative_to(root))


def check(root: Path = ROOT) -> list[str]:
    """Every finding as 'path:line: what is wrong'. Empty when the house keeps its floors."""
    modules = _sources(root)
    findings: list[str] = []
    for mod in modules.values():
        _parse(mod)
    graph: dict[str, dict[str, int]] = {name: {} for name in modules}
    for mod in modules.values():
        here = _rel(root, mod)
        my_floor = floor_of(mod.name)
        if mod.name == "explorer":  # the namespace itself: a docstring, nothing else
            continue
        if my_floor is None:
            findings.append(f"{here}:1: {mod.name} is on no floor: add it to FLOORS in "
                            "tests/test_layers.py and to docs/CONTRIBUTING.md")
            continue
        in_ui = mod.name == "explorer.ui" or mod.name.startswith("explorer.ui.")
        in_pages = my_floor == FLOORS["pages"]
        is_main = mod.path.name == "__main__.py"
        aliases: dict[str, str] = {}  # local name bound to a project module
        for target, names, line in mod.imports:
            top = target.split(".")[0]
            if top in STREAMLIT and not (in_ui or in_pages):
                findings.append(f"{here}:{line}: imports {target}: streamlit belongs in explorer/ui")
            if top in NOT_IN_PAGES and in_pages:
                findings.append(f"{here}:{line}: imports {target}: pages never import {top} "
                                "(it goes behind explorer.ui)")
            if top == "argparse" and not is_main:
                findings.append(f"{here}:{line}: imports argparse: only __main__.py files parse "
                                "arguments")
            if top not in ("explorer", "pages", "app"):
                continue
            for t in _targets(modules, target, names):
                if t.endswith(".__main__") or t == "__main__":
                    findings.append(f"{here}:{line}: imports {t}: nothing imports a __main__")
                floor = floor_of(t)
                if floor is not None and floor > my_floor:
                    findings.append(
                        f"{here}:{line}: imports {t} (floor {FLOOR_NAMES[floor]}) from floor "
                        f"{FLOOR_NAMES[my_floor]}: a floor imports only the floors below it")
                if t != mod.name:
                    graph[mod.name].setdefault(t, line)
            for n in names:
                if n.startswith("_") and n not in GETTEXT and not n.startswith("__") and target != mod.name:
                    findings.append(f"{here}:{line}: imports {target}.{n}: a leading underscore "
                                    "means 'this file only'")
                sub = f"{target}.{n}"
                if sub in modules:
                    aliases[n] = sub
            if not names and target in modules:
                aliases[target.split(".")[0]] = target.split(".")[0]
        # `alias._private` on an imported project module
        for node in ast.walk(mod.tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for a in node.names:
                    if a.asname:
                        base = _resolve(mod, node) if isinstance(node, ast.ImportFrom) else ""
                        full = f"{base}.{a.name}" if base else a.name
                        if full in modules:
                            aliases[a.asname] = full
        for node in ast.walk(mod.tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and node.attr.startswith("_")
                    and not node.attr.startswith("__") and aliases[node.value.id] != mod.name):
                findings.append(f"{here}:{node.lineno}: uses {aliases[node.value.id]}.{node.attr}:"
                                " a leading underscore means 'this file only'")
    findings += _circles(root, modules, graph)
    return findings


def _circles(root: Path, modules: dict[str, Module], graph: dict[str, dict[str, int]]) -> list[str]:
    """Tarjan's strongly connected components; each one bigger than a module is a circle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[str] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                members = set(comp)
                edges = [f"{_rel(root, modules[a])}:{graph[a][b]} imports {b}"
                         for a in sorted(members) for b in graph[a] if b in members]
                out.append("import circle between " + ", ".join(sorted(members)) + ": "
                           + "; ".join(edges))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_house_keeps_its_floors():
    findings = check()
    assert not findings, "\n".join(findings)


def test_every_package_says_what_it_is_for():
    for init in sorted((ROOT / "explorer").rglob("__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree)
        assert doc, f"{init.relative_to(ROOT)}: a package starts with a docstring saying what it is for"


def test_no_file_holds_many_rooms():
    big = [f"{p.relative_to(ROOT)}: {n} lines" for p in sorted((ROOT / "explorer").rglob("*.py"))
           if (n := len(p.read_text(encoding="utf-8").splitlines())) > 600]
    pages = [f"{p.relative_to(ROOT)}: {n} lines" for p in sorted((ROOT / "pages").glob("*.py"))
             if (n := len(p.read_text(encoding="utf-8").splitlines())) > 150]
    assert not big, "files in explorer/ over 600 lines:\n" + "\n".join(big)
    assert not pages, "pages over 150 lines:\n" + "\n".join(pages)


# The test of the test: a small house with one fault of each kind, each found with its line.

def _house(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in {"explorer/__init__.py": '"""x"""\n', "explorer/ui/__init__.py": '"""x"""\n',
                      "explorer/data/__init__.py": '"""x"""\n',
                      "explorer/zoo/__init__.py": '"""x"""\n', **files}.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def test_a_clean_small_house_passes(tmp_path):
    root = _house(tmp_path, {"explorer/data/paths.py": "import os\n",
                             "explorer/zoo/a.py": "from explorer.data import paths\n",
                             "explorer/ui/page.py": "import streamlit as st\nfrom explorer.zoo import a\n",
                             "pages/p.py": "from explorer.ui import page\n"})
    assert check(root) == []


@pytest.mark.parametrize("files, expected", [
    ({"explorer/data/paths.py": "import os\n\n\ndef f():\n    from explorer.ui import page\n",
      "explorer/ui/page.py": "X = 1\n"},
     "explorer/data/paths.py:5: imports explorer.ui.page (floor ui) from floor data"),
    ({"explorer/zoo/a.py": "from explorer.data.paths import _secret\n",
      "explorer/data/paths.py": "_secret = 1\n"},
     "explorer/zoo/a.py:1: imports explorer.data.paths._secret"),
    ({"explorer/zoo/a.py": "from explorer.data import paths\n\nprint(paths._secret)\n",
      "explorer/data/paths.py": "_secret = 1\n"},
     "explorer/zoo/a.py:3: uses explorer.data.paths._secret"),
    ({"explorer/zoo/a.py": "import streamlit\n"},
     "explorer/zoo/a.py:1: imports streamlit: streamlit belongs in explorer/ui"),
    ({"pages/p.py": "import torch\n"}, "pages/p.py:1: imports torch: pages never import torch"),
    ({"explorer/zoo/a.py": "import argparse\n"}, "explorer/zoo/a.py:1: imports argparse"),
    ({"explorer/zoo/__main__.py": "import argparse\n", "explorer/zoo/a.py": "from explorer.zoo import __main__\n"},
     "explorer/zoo/a.py:1: imports explorer.zoo.__main__: nothing imports a __main__"),
    ({"explorer/zoo/a.py": "from explorer.zoo import b\n", "explorer/zoo/b.py": "import explorer.zoo.a\n"},
     "import circle between explorer.zoo.a, explorer.zoo.b: explorer/zoo/a.py:1 imports explorer.zoo.b"),
    ({"explorer/mystery.py": "X = 1\n"}, "explorer/mystery.py:1: explorer.mystery is on no floor"),
])
def test_the_check_finds_each_fault_with_its_line(tmp_path, files, expected):
    findings = check(_house(tmp_path, files))
    assert any(f.startswith(expected) for f in findings), findings


def test_an_upward_import_added_to_the_real_house_is_caught(tmp_path):
    """Copy the real explorer/ and add one upward import: the check names it."""
    import shutil

    shutil.copytree(ROOT / "explorer", tmp_path / "explorer",
                    ignore=shutil.ignore_patterns("__pycache__", "*.mo", "*.po", "*.json"))
    shutil.copytree(ROOT / "pages", tmp_path / "pages", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "explorer" / "zoo" / "lenet.py"
    lines = target.read_text().splitlines()
    lines.append("from explorer.ui import widgets  # an upward import")
    target.write_text("\n".join(lines) + "\n")
    findings = check(tmp_path)
    assert any(f.startswith(f"explorer/zoo/lenet.py:{len(lines)}: imports explorer.ui.widgets")
               for f in findings), findings
