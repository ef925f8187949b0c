"""The translation catalogs: extract the UI's strings, merge them into each .po, compile .mo, check.

Driven by ``python -m explorer.i18n`` (see ``__main__``); the app itself only reads the compiled
``.mo`` files with the standard library's ``gettext`` (no Babel at run time).
"""
from __future__ import annotations

import io
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_file
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.util import pathmatch

ROOT = Path(__file__).resolve().parents[2]
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
MAPPING = ROOT / "babel.cfg"
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
TRANSLATED = ("zh",)  # every language but the source language (English)
_SKIP_DIRS = {".venv", ".git", "tests", "node_modules", "__pycache__", "bench", "docs"}


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(lang: str) -> Path:
    return po_path(lang).with_suffix(".mo")


def _source_files(root: Path = ROOT) -> list[tuple[Path, str]]:
    """(file, extraction method) for every file babel.cfg's patterns match."""
    with open(MAPPING, encoding="utf-8") as f:
        method_map, _options = parse_mapping_cfg(f)
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            rel = (Path(dirpath) / name).relative_to(root).as_posix()
            for pattern, method in method_map:
                if pathmatch(pattern, rel):
                    found.append((root / rel, method))
                    break
    return found


def extract_json_notes(fileobj, keywords, comment_tags, options):
    """Babel extraction method for the model cards (``assets/*.json``): their ``notes``, which
    the Train page shows (babel.cfg names it as ``explorer.i18n.catalog:extract_json_notes``)."""
    import json

    try:
        data = json.load(fileobj)
    except ValueError:
        return
    if isinstance(data, dict) and isinstance(data.get("notes"), str) and data["notes"]:
        yield 1, None, data["notes"], []


def assignments_to_underscore(root: Path = ROOT) -> list[str]:
    """``_`` assigned (``a, _ = ...``, ``for _ in``) in a module that imports ``_`` to
    translate: the assignment shadows it (at module level for the whole page, in a function
    for that function), and the next ``_("...")`` fails."""
    import ast

    out = []
    for path, method in _source_files(root):
        if method != "python":
            continue
        source = path.read_text(encoding="utf-8")
        if not re.search(r"from (explorer|\.)\.?i18n import [^\n]*\b_\b", source):
            continue
        tree = ast.parse(source)
        comprehension = {id(n) for c in ast.walk(tree)
                         if isinstance(c, (ast.ListComp, ast.SetComp, ast.DictComp,
                                           ast.GeneratorExp))
                         for g in c.generators for n in ast.walk(g.target)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "_" and isinstance(node.ctx, ast.Store) \
                    and id(node) not in comprehension:
                out.append(f"{path.relative_to(root).as_posix()}:{node.lineno}: '_' assigned")
    return out


# Streamlit and Altair calls whose text arguments a user reads (first argument / keywords).
_UI_CALLS = {"title", "header", "subheader", "caption", "markdown", "write", "info", "warning",
             "error", "success", "toast", "button", "toggle", "checkbox", "radio", "selectbox",
             "multiselect", "slider", "select_slider", "number_input", "text_input",
             "text_area", "file_uploader", "camera_input", "download_button", "expander",
             "metric", "progress", "spinner", "page_link", "link_button", "popover", "status",
             "segmented_control", "pills", "form_submit_button", "tabs"}
_UI_KEYWORDS = {"label", "help", "text", "caption", "placeholder", "title", "body",
                "display_text", "value_label"}
_WORDS = re.compile(r"[A-Za-z][a-z]+[ ,;:]+[A-Za-z][a-z]+|^[A-Z][a-z]{2,}[ .:?!]*$")


def _literal_text(node) -> str | None:
    """The literal text of a plain string or of an f-string's constant parts; None otherwise."""
    import ast

    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return " ".join(v.value for v in node.values
                        if isinstance(v, ast.Constant) and isinstance(v.value, str))
    if isinstance(node, ast.BinOp):  # "a" + "b", f"..." + "..."
        parts = [_literal_text(node.left), _literal_text(node.right)]
        return " ".join(p for p in parts if p) or None
    if isinstance(node, (ast.List, ast.Tuple)):  # tabs(["One", "Two"]), captions=[...]
        parts = [_literal_text(e) for e in node.elts]
        return " | ".join(p for p in parts if p) or None
    return None


def bare_strings(root: Path = ROOT) -> list[str]:
    """English text handed straight to a Streamlit widget or an Altair title in the UI code
    (pages/, explorer/ui/, app.py) without going through ``_``: it would stay English."""
    import ast

    out = []
    for path, method in _source_files(root):
        rel = path.relative_to(root).as_posix()
        if method != "python" or not (rel.startswith(("pages/", "explorer/ui/"))
                                      or rel == "app.py"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else \
                getattr(node.func, "id", "")
            candidates = []
            if name in _UI_CALLS and node.args:
                candidates.append(node.args[0])
            candidates += [k.value for k in node.keywords if k.arg in _UI_KEYWORDS]
            for value in candidates:
                text = _literal_text(value)
                if text and _WORDS.search(text):
                    out.append(f"{rel}:{value.lineno}: {text[:70]!r}")
    return out


_STATEFUL = {"radio", "selectbox", "multiselect", "slider", "select_slider", "number_input",
             "text_input", "text_area", "toggle", "checkbox", "file_uploader", "camera_input",
             "segmented_control", "pills", "color_picker", "date_input", "time_input"}


def unkeyed_widgets(root: Path = ROOT) -> list[str]:
    """Stateful widgets without ``key=`` in the UI code: Streamlit would identify them by their
    (translated) label, so a language switch would reset them."""
    import ast

    out = []
    for path, method in _source_files(root):
        rel = path.relative_to(root).as_posix()
        if method != "python" or not (rel.startswith(("pages/", "explorer/ui/"))
                                      or rel == "app.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                    and node.func.attr in _STATEFUL:
                kw = {k.arg: k.value for k in node.keywords}
                disabled = isinstance(kw.get("disabled"), ast.Constant) and kw["disabled"].value
                if "key" not in kw and not disabled:
                    out.append(f"{rel}:{node.lineno}: {node.func.attr} without key= (a language "
                               "switch would reset it)")
    return out


def extract(root: Path = ROOT) -> Catalog:
    """Every string wrapped in ``_``, ``N_`` or ``ngettext`` in the files babel.cfg names."""
    template = Catalog(project="CNN Explorer", charset="utf-8", fuzzy=False)
    for path, method in _source_files(root):
        rel = path.relative_to(root).as_posix()
        for lineno, message, comments, context in extract_from_file(
                method, str(path), keywords=KEYWORDS, comment_tags=("i18n:",),
                strip_comment_tags=True):
            template.add(message, None, [(rel, lineno)], auto_comments=comments,
                         context=context)
    return template


def bad_calls(root: Path = ROOT) -> list[str]:
    """Calls the extractor cannot see: ``_(f"...")`` or ``_(a + b)`` (not a plain literal)."""
    pattern = re.compile(r"""(?<![\w.])(?:_|N_)\(\s*(?:[rRbB]?[fF][rR]?["']|[A-Za-z_][\w.]*\s*\+)""")
    out = []
    for path, method in _source_files(root):
        if method != "python" or path.parent == Path(__file__).resolve().parent:
            continue  # this package's own docstrings quote the patterns
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line):
                out.append(f"{path.relative_to(root).as_posix()}:{n}: {line.strip()}")
    return out


def read(lang: str) -> Catalog:
    with open(po_path(lang), "rb") as f:
        return read_po(f, locale=lang)


def write(lang: str, catalog: Catalog) -> None:
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, sort_by_file=False, omit_header=False,
             include_previous=True)
    po_path(lang).parent.mkdir(parents=True, exist_ok=True)
    po_path(lang).write_bytes(buf.getvalue())


def compile_mo(lang: str, catalog: Catalog | None = None) -> None:
    """The .mo the app reads; fuzzy or empty translations are left out (English is shown)."""
    catalog = catalog or read(lang)
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    mo_path(lang).write_bytes(buf.getvalue())


def update(lang: str, template: Catalog) -> Catalog:
    """Merge the extracted strings into ``lang``'s .po: new strings arrive untranslated (or
    fuzzy with a close match's translation, to be reviewed); vanished ones become obsolete."""
    if po_path(lang).exists():
        catalog = read(lang)
        catalog.update(template, no_fuzzy_matching=False, update_creation_date=False)
    else:
        catalog = Catalog(locale=lang, project="CNN Explorer", charset="utf-8", fuzzy=False)
        catalog.update(template, no_fuzzy_matching=True)
    # Obsolete strings stay only as long as nothing replaced them: keep the file readable.
    catalog.obsolete.clear()
    write(lang, catalog)
    compile_mo(lang, catalog)
    return catalog


_FORMATTER = string.Formatter()


def placeholders(text: str) -> list[str] | None:
    """The ``{name:spec}`` fields of a str.format template, sorted; None if it does not parse."""
    try:
        return sorted(f"{name}:{spec}" for _lit, name, spec, _conv in _FORMATTER.parse(text)
                      if name is not None)
    except ValueError:
        return None


@dataclass
class Report:
    lang: str
    untranslated: list[str] = field(default_factory=list)
    fuzzy: list[str] = field(default_factory=list)
    placeholder_mismatch: list[str] = field(default_factory=list)
    not_extracted: list[str] = field(default_factory=list)  # in the code, not in the .po yet
    stale_mo: bool = False
    bad_calls: list[str] = field(default_factory=list)
    bare: list[str] = field(default_factory=list)  # UI text not wrapped in _()

    @property
    def ok(self) -> bool:
        return not (self.untranslated or self.fuzzy or self.placeholder_mismatch
                    or self.not_extracted or self.stale_mo or self.bad_calls or self.bare)

    def lines(self) -> list[str]:
        out = [f"[{self.lang}] " + ("OK" if self.ok else "PROBLEMS")]
        for title, items in (("untranslated", self.untranslated), ("fuzzy (review, then "
                             "remove the fuzzy flag)", self.fuzzy),
                             ("placeholders differ", self.placeholder_mismatch),
                             ("in the code but not in the catalog (run update)",
                              self.not_extracted),
                             ("not extractable (use a literal with named placeholders)",
                              self.bad_calls),
                             ("UI text not wrapped in _() (stays English)", self.bare)):
            if items:
                out.append(f"  {len(items)} {title}:")
                out += [f"    {item}" for item in items]
        if self.stale_mo:
            out.append("  the compiled .mo differs from the .po (run update or compile)")
        return out


def _where(message) -> str:
    return ", ".join(f"{f}:{n}" for f, n in message.locations[:2])


def _msgstrs(message) -> list[str]:
    return list(message.string) if isinstance(message.string, (list, tuple)) else [message.string]


def _msgids(message) -> list[str]:
    return list(message.id) if isinstance(message.id, (list, tuple)) else [message.id]


def check(lang: str, template: Catalog | None = None) -> Report:
    """Everything that would leave English in ``lang``'s UI, or break a translated string."""
    report = Report(lang)
    catalog = read(lang)
    for message in catalog:
        if not message.id:
            continue
        ids, strs = _msgids(message), _msgstrs(message)
        label = f"{ids[0]!r} ({_where(message)})"
        if not all(strs):
            report.untranslated.append(label)
            continue
        if message.fuzzy:
            report.fuzzy.append(label)
        want = placeholders(ids[-1])
        for s in strs:
            if placeholders(s) != want:
                report.placeholder_mismatch.append(f"{label}: {s!r}")
    if template is not None:
        known = {m.id if not isinstance(m.id, (list, tuple)) else m.id[0] for m in catalog}
        for m in template:
            mid = m.id if not isinstance(m.id, (list, tuple)) else m.id[0]
            if m.id and mid not in known:
                report.not_extracted.append(f"{mid!r} ({_where(m)})")
        report.bad_calls = bad_calls() + assignments_to_underscore() + unkeyed_widgets()
        report.bare = bare_strings()
    # The .mo must be exactly what compiling the .po gives (compilation is deterministic).
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    report.stale_mo = not mo_path(lang).exists() or mo_path(lang).read_bytes() != buf.getvalue()
    return report
