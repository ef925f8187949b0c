"""Finds English left in a Chinese render: the checker the Chinese-UI tests use (issue 13).

A string is flagged when, after taking out what legitimately stays English (model names,
layer paths, code, units, identifiers, acronyms, names from the data such as ImageNet classes
and paper titles), it still holds two English words in a row, or is nothing but one English
word (a widget label such as "Weights").
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Iterable

CJK = re.compile(r"[\u3400-\u9fff]")
# Stay English everywhere: proper names, methods' and libraries' names, standard acronyms and
# units the course notes also leave in Latin letters.
KEEP = {
    "Adam", "Keras", "PyTorch", "torchvision", "Graphviz", "Captum", "Streamlit", "Inception",
    "Xception", "Apple", "Helvetica", "LeCun", "Song", "Kornblith", "viridis", "DeepLab",
    "Noto", "Chromium", "Lite", "ImageNet", "MNIST", "CIFAR", "Grad-CAM", "Guided", "Softmax",
    "px", "ms", "MB", "GiB", "KB", "s", "M", "G", "k", "x", "B", "A", "H", "W", "C", "t",
    "et", "al", "dw", "fc", "vs", "conv", "imagenet", "mnist", "English",
}
CODE = re.compile(r"<[^>]*>|`[^`]*`|\b[\w.]+\((?:[^()]|\([^()]*\))*\)|https?://\S+|\S+/\S+|"
                  r"\S+\.(?:py|pt|pth|json|csv|png|npy|dot|svg|jpg|safetensors)\b")
TOKEN = re.compile(r"[A-Za-z][A-Za-z0-9_'’.-]*")


def _is_english_word(token: str) -> bool:
    token = token.rstrip(".'’-")
    if len(token) < 2 or token in KEEP:
        return False
    if re.search(r"[0-9_.]", token):  # resnet50, layer3.0, efficientnet_lite0: identifiers
        return False
    if re.fullmatch(r"[A-Z0-9]{2,}s?", token):  # CPU, MACs, FLOPs, CKA: acronyms
        return False
    if re.search(r"[a-z][A-Z]", token):  # ResNet, BatchNorm, GoogLeNet: names and classes
        return False
    return bool(re.fullmatch(r"[A-Za-z][a-z'’-]*", token))


@lru_cache(maxsize=8)
def _allowed_pattern(allowed: frozenset) -> re.Pattern:
    """The allowed names as whole words ("Conv2d" is not taken out of "BasicConv2d")."""
    items = sorted((a for a in allowed if a and len(a) > 1), key=len, reverse=True)
    return re.compile(r"(?<![\w])(?:" + "|".join(map(re.escape, items)) + r")(?![\w])")


def english_left(text: str, allowed: Iterable[str] = ()) -> list[str]:
    """The English word runs in ``text`` that are not names, code or units; [] if none."""
    allowed = frozenset(allowed)
    text = CODE.sub(" ", text)  # first: a name taken out of a path would leave its parts
    if allowed:
        text = _allowed_pattern(allowed).sub(" ", text)
    # Pieces between spaces: an English word counts, Chinese ends a run, anything else
    # (numbers, symbols, acronyms, identifiers, kept names) neither counts nor ends it.
    found, run = [], []
    for piece in text.split():
        words = TOKEN.findall(piece)
        if CJK.search(piece):
            kind = "cjk"
        elif len(words) == 1 and _is_english_word(words[0]) and re.fullmatch(
                r"[(“\"'*_]*" + re.escape(words[0]) + r"[)”\"'*_,;:.!?…]*", piece):
            kind = "english"
        else:
            kind = "neutral"
        if kind == "english":
            run.append(words[0])
        elif kind == "cjk":
            if len(run) >= 2:
                found.append(" ".join(run))
            run = []
    if len(run) >= 2:
        found.append(" ".join(run))
    if not found and not CJK.search(text):
        lone = [w for w in TOKEN.findall(text) if _is_english_word(w)]
        if len(lone) == 1 and re.fullmatch(r"\W*" + re.escape(lone[0]) + r"\W*", text.strip()):
            found.append(lone[0])
    return found


# --------------------------------------------------------------------------------------------
# What an AppTest run shows

_SKIP_FIELDS = {"id", "form_id", "key", "type", "icon", "url", "url_path", "page_script_hash",
                "theme", "css", "data", "arrow_data", "page_name", "component_name",
                "markdown_id", "element_type", "vega_lite_chart", "use_container_width",
                "selection_mode", "format", "script_hash", "dataset", "name", "mime", "page",
                "columns", "tag", "raw_value", "engine", "json",
                "column_order"}


def _proto_strings(msg, path=""):
    for field, value in msg.ListFields():
        if field.name in _SKIP_FIELDS:
            continue
        where = f"{path}.{field.name}" if path else field.name
        items = value if getattr(field, "is_repeated", False) or (
            not isinstance(value, (str, bytes)) and not hasattr(value, "ListFields")
            and hasattr(value, "__iter__")) else [value]
        for item in items:
            if isinstance(item, str):
                yield where, item
            elif hasattr(item, "ListFields"):
                yield from _proto_strings(item, where)


def rendered_texts(at) -> list[tuple[str, str]]:
    """(where, text) for every string an AppTest run puts on screen: text elements, widget
    labels, options, help and placeholders, metrics, table headers and text cells, chart
    titles and axis titles (from the Vega-Lite spec), graph labels (DOT)."""
    import json

    out: list[tuple[str, str]] = []

    def walk(node):
        proto = getattr(node, "proto", None)
        kind = type(node).__name__
        if kind == "Code":  # source code stays as it is
            return
        if proto is not None and hasattr(proto, "ListFields"):
            for where, text in _proto_strings(proto):
                if where.endswith("spec") and text.lstrip().startswith("{"):
                    out.extend((f"{kind}.{k}", t) for k, t in _vega_texts(json.loads(text)))
                elif re.match(r"\s*(strict\s+)?(di)?graph\b", text):
                    out.extend((f"{kind}.dot", t.replace("\\n", " "))
                               for t in re.findall(r'label="((?:[^"\\]|\\.)*)"', text))
                else:
                    out.append((f"{kind}.{where}", text))
        if kind in ("Dataframe", "Table"):
            try:
                frame = node.value
            except Exception:
                frame = None
            config = json.loads(proto.columns) if getattr(proto, "columns", "") else {}
            for cfg in config.values():
                out.extend((f"{kind}.column_config", cfg[k]) for k in ("help",) if cfg.get(k))
            if frame is not None:
                out.extend((f"{kind}.column", str((config.get(str(c)) or {}).get("label", c)))
                           for c in frame.columns)
                for c in frame.columns:  # text columns (object, or pandas 3's str dtype)
                    out.extend((f"{kind}.cell[{c}]", v) for v in frame[c] if isinstance(v, str))
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return out


def _vega_texts(spec, path=""):
    """Titles and labels a Vega-Lite spec shows (its field names appear only as default
    titles, where no title is given)."""
    if isinstance(spec, dict):
        for k, v in spec.items():
            if k == "title" and v == "image" and path.endswith(".tooltip"):
                # vega-tooltip (Streamlit's tooltip handler) takes a tooltip entry titled
                # "image" as the picture's URL and draws <img>, without showing the title.
                continue
            if k in ("title", "text", "labelExpr") and isinstance(v, str):
                yield f"{path}.{k}", v
            elif k == "encoding" and isinstance(v, dict):
                for channel, enc in v.items():
                    titled = isinstance(enc, dict) and ("title" in enc or any(
                        isinstance(enc.get(k), dict) and "title" in enc[k]
                        for k in ("axis", "legend")))
                    hidden = isinstance(enc, dict) and (
                        enc.get("legend", 1) is None or enc.get("axis", 1) is None)
                    if isinstance(enc, dict) and "field" in enc and not titled and not hidden \
                            and channel in ("x", "y", "color"):
                        yield f"{path}.{channel}.field", enc["field"]
                    yield from _vega_texts(enc, f"{path}.{channel}")
            elif k not in ("data", "datasets", "$schema"):
                yield from _vega_texts(v, f"{path}.{k}")
    elif isinstance(spec, list):
        for item in spec:
            yield from _vega_texts(item, path)
