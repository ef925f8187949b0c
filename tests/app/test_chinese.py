"""The Chinese UI read against the course notes (issue 21): every page rendered in Chinese, and
none of what the reviewer found left on screen.

``tests/app/test_i18n.py`` checks that no English sentence is left; this file checks the words:

* the wrong terms (:data:`FORBIDDEN`, each with the form the notes use instead): 滤波器 for a
  kernel, 种子 for the notes, 随机失活, 视野, "少 N 倍", "C3 全连接", 瓶颈块, 前向传播, ...;
* the English the reviewer saw: "None" in a table, "vs", "lr 0.001", "(bilinear)", "[… package]",
  "max-pool" and "dw" in the block diagrams, English ImageNet class names without their Chinese
  ones, chart axes ticked "6M" or titled 百万, chart tooltips titled with a column's English name;
* the numbers: 万/亿 as the notes write them (1.2亿, 420万: no space, never "6.6M"), and every
  exact count of a million or more in running text with its 万/亿 reading beside it.

The glossary (docs/glossary.md) says which form is right and where the notes use it.
"""
from __future__ import annotations

import json
import math
import re
from functools import lru_cache
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import i18n
from explorer.i18n import WORD_JOINER
from tests.english import rendered_texts

ROOT = Path(__file__).resolve().parents[2]
CJK = re.compile(r"[\u3400-\u9fff]")
# Code, paths, links and markup stay as they are: they are not read as Chinese text.
CODE = re.compile(r"`[^`]*`|<[^>]*>|https?://\S+|\]\([^)]*\)|\b[\w.-]+/[\w./<>*-]+|"
                  r"python -m [^，。；）]*")

# (wrong form, what the notes write instead), in text with Chinese in it.
FORBIDDEN = [
    (r"滤波器", "卷积核 (the notes' word for a kernel; 滤波器 only twice, in 000)"),
    (r"(?<!随机)种子", "the notes by their title (种子 reads as a random seed)"),
    (r"(?<!Dropout（)随机失活", "Dropout (the notes' word; 随机失活 only as a gloss)"),
    (r"视野", "感受野"),
    (r"少\s*\S{1,8}\s*倍", "仅为其 1/N (or 是其 N 倍)"),
    (r"多\s*[\d.{]\S{0,8}\s*倍", "是其 N 倍"),
    (r"C3\s*全连接", "C3 与 S2 的全部特征图相连 (全连接 reads as a dense layer)"),
    (r"瓶颈块|瓶颈残差块", "Bottleneck 结构 (瓶颈层 is the single 1×1 layer)"),
    (r"Inception ?模块(?!）)|残差模块|稠密模块|模块视图|每个模块的|基本模块|可分离模块|分解模块|"
     r"模型与模块|逐个模块", "块 (残差块, Inception块; 模块 is nn.Module or Inception模块)"),
    (r"(?<!“Identity block”（)恒等块", "“Identity block” (as note 000 writes it)"),
    (r"(?<!“Convolutional block”（)(?<!分解)(?<!可分离)卷积块",
     "“Convolutional block” (as note 000 writes it)"),
    (r"(?<!也称)跳跃连接", "捷径 (note 000's Short Cut; 跳跃连接 only in its gloss)"),
    (r"前向传播|前向和反向", "正向传播 (note 000)"),
    (r"主干起始层", "起始层 (主干 is a backbone)"),
    (r"×\d+(?:/\d+)? 卷积", "1×1卷积, 3×3卷积 (no space, as the notes write it)"),
    (r"未找到 GPU 上", "a device line that reads as a sentence"),
    (r" 对 |\d %? ?对 \d", "与 (对 is not 'vs')"),
    (r"(?:\d|[万亿]）?)\**\s*权重(?!量)", "个权重 (a count of weights)"),
    (r"\d\s+[万亿]", "no space before 万/亿 (1.2亿, 420万)"),
    (r"百万(?!像素)", "万/亿"),
    (r"[\u3400-\u9fff）], [\u3400-\u9fff]|\b[a-z][\w.]*, [a-z]\w*",
     "、 between items, not an ASCII comma"),
]
# English the reviewer saw on the Chinese pages, wherever it is (Chinese around it or not).
LEFTOVERS = [
    (r"\bNone\b", "— with a tooltip saying why"),
    (r"\bvs\.?(?=\s|$)", "与"),
    (r"\d(?:\.\d+)?\s?[kMG](?![A-Za-z])", "万/亿, not k/M/G"),
    (r"\blr\s+[\d{]", "学习率"),
    (r"et al\. \d{4}", "等人"),
    (r"\bpackage\b|\bbilinear\b|\bbicubic\b", "Chinese words in the preprocessing line"),
    (r"max-pool|avg-pool|global pool|\bdw\b", "最大池化, 逐通道… in block diagrams and labels"),
    (r"RF \d+", "感受野 N 像素"),
]
FORBIDDEN_COLUMNS = {"类别": "运算种类 (类别 also means a class, next to 类型)"}
# A chart axis of counts must tick in 万/亿.
COUNT_FIELDS = {"params", "MACs", "params (M)", "GMACs", "parameters"}
BIG_EXACT = re.compile(r"(?<![\d,.])\d{1,3}(?:,\d{3}){2,}(?![\d,])")
READING = re.compile(r"（\d+(?:\.\d+)?[万亿]）")

PAGES = [
    ("pages/overview.py", {}),
    ("pages/architecture.py", {"model": "googlenet"}),
    ("pages/architecture.py", {"model": "resnet50", "view": "layer"}),
    ("pages/architecture.py", {"model": "mobilenet_v2", "view": "stage"}),
    ("pages/blocks.py", {"kind": "inception_v1"}),
    ("pages/blocks.py", {"kind": "bottleneck"}),
    ("pages/blocks.py", {"kind": "depthwise_separable"}),
    ("pages/blocks.py", {"kind": "aspp"}),
    ("pages/inference.py", {"model": "efficientnet_lite0"}),
    ("pages/inference.py", {"model": "lenet5"}),
    ("pages/robustness.py", {"model": "efficientnet_lite0"}),
    ("pages/robustness.py", {"model": "lenet5"}),
    ("pages/compare.py", {"data": "mnist"}),
    ("pages/train.py", {}),
    ("pages/channels.py", {}),
    ("pages/weights.py", {}),
]


# --------------------------------------------------------------------------------------------
# Reading what a page shows


def _render(page: str, params: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.query_params["lang"] = "zh"
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _prose(text: str) -> str:
    """The text a reader reads as Chinese: code, links and markup taken out, Markdown table
    rows (exact figures by design) dropped."""
    text = text.replace(WORD_JOINER, "")
    text = "\n".join(line for line in text.split("\n") if not line.lstrip().startswith("|"))
    return CODE.sub(" ", text)


def _elements(at):
    """Every element of the tree (depth first)."""
    out = []

    def walk(node):
        out.append(node)
        for child in getattr(node, "children", {}).values():
            walk(child)

    walk(at._tree)
    return out


def _specs(at) -> list[dict]:
    specs = []
    for node in _elements(at):
        proto = getattr(node, "proto", None)
        spec = getattr(proto, "spec", "") if proto is not None else ""
        if isinstance(spec, str) and spec.lstrip().startswith("{"):
            specs.append(json.loads(spec))
    return specs


def _chart_values(at) -> list[str]:
    """The text values of every chart's data (bar labels such as class names)."""
    import pyarrow as pa

    values = []
    for node in _elements(at):
        proto = getattr(node, "proto", None)
        for ds in getattr(proto, "datasets", []) if proto is not None else []:
            frame = pa.ipc.open_stream(ds.data.data).read_all().to_pandas()
            for column in frame.columns:
                values += [v for v in frame[column] if isinstance(v, str)]
    return values


def _walk_spec(spec, path=""):
    if isinstance(spec, dict):
        yield path, spec
        for k, v in spec.items():
            if k not in ("data", "datasets"):
                yield from _walk_spec(v, f"{path}.{k}")
    elif isinstance(spec, list):
        for item in spec:
            yield from _walk_spec(item, path)


# --------------------------------------------------------------------------------------------
# A Vega label expression, evaluated as Vega would (the few functions explorer.i18n uses)


def _d3_format(x: float, spec: str) -> str:
    """d3-format for the specifiers vega_count_expr writes: ",.3~r" and ".3~r"."""
    m = re.fullmatch(r"(,?)\.(\d+)~r", spec)
    assert m, spec
    digits = int(m.group(2))
    if x == 0:
        return "0"
    rounded = round(x, digits - 1 - math.floor(math.log10(abs(x))))
    text = f"{rounded:,f}" if m.group(1) else f"{rounded:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def label_expr_value(expr: str, value: float) -> str:
    """``expr`` ("c1 ? e1 : c2 ? e2 : e3") at ``datum.value = value``."""
    def ev(part: str):
        part = re.sub(r"format\(", "_fmt(", part).replace("datum.value", repr(value))
        return eval(part, {"_fmt": _d3_format, "abs": abs})  # noqa: S307  (our own expression)

    pieces = re.split(r" \? | : ", expr)
    while len(pieces) > 1:
        cond, yes, *pieces = pieces
        if ev(cond):
            return ev(yes)
    return ev(pieces[0])


def test_axis_labels_read_in_wan_and_yi():
    i18n.set_language("zh")
    try:
        expr = i18n.vega_count_expr(1e6)  # an axis in millions of parameters
        assert [label_expr_value(expr, v) for v in (0.01, 0.1, 1, 10, 100, 1000)] == [
            "1万", "10万", "100万", "1000万", "1亿", "10亿"]
        expr = i18n.vega_count_expr()
        assert [label_expr_value(expr, v) for v in (0, 5000, 4e6, 2.5e8, 4_089_184_256)] == [
            "0", "5,000", "400万", "2.5亿", "40.9亿"]
    finally:
        i18n.set_language("en")
    assert [label_expr_value(i18n.vega_count_expr(), v) for v in (500, 6e6, 4e8, 1.5e9)] == [
        "500", "6M", "400M", "1.5G"]


def test_counts_in_chinese_are_written_as_the_notes_write_them():
    i18n.set_language("zh")
    try:
        assert i18n.format_yi(120_422_400) == "1.2亿" and i18n.format_yi(12_443_648) == "0.12亿"
        assert i18n.format_short(4_231_976) == "423万"
        assert i18n.format_exact(25_557_032) == f"25,557,032（2556{WORD_JOINER}万）"
        assert i18n.format_exact(9_999) == "9,999"
        assert i18n.join(["aux1", "aux2"]) == "aux1、aux2"
    finally:
        i18n.set_language("en")
    assert i18n.format_exact(25_557_032) == "25,557,032" and i18n.format_short(4_231_976) == "4.23M"
    assert i18n.join(["aux1", "aux2"]) == "aux1, aux2"


# --------------------------------------------------------------------------------------------
# The checks on a rendered page


@lru_cache(maxsize=1)
def _papers() -> re.Pattern:
    """Paper citations stay as published (authors, title, venue, with their commas)."""
    from explorer import zoo

    papers = sorted({zoo.get_spec(n).paper for n in zoo.list_models()}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, papers)))


def wrong_terms(texts: list[tuple[str, str]]) -> list[str]:
    found = []
    for where, text in texts:
        prose = _papers().sub(" ", _prose(text))
        rules = (FORBIDDEN if CJK.search(prose) else []) + LEFTOVERS
        for pattern, instead in rules:
            for m in re.finditer(pattern, prose):
                found.append(f"{where}: …{prose[max(0, m.start() - 25):m.end() + 25]}… "
                             f"-> {instead}")
    return found


def counts_not_in_notes_style(texts: list[tuple[str, str]]) -> list[str]:
    """Exact counts of a million or more in Chinese running text without their 万/亿 reading
    (tables and the tooltip's 精确值 give exact figures by design)."""
    found = []
    for where, text in texts:
        if where.startswith(("Dataframe", "Table")) or not CJK.search(text):
            continue
        prose = _prose(text)
        for m in BIG_EXACT.finditer(prose):
            if prose[max(0, m.start() - 4):m.start()].endswith("精确值："):
                continue
            if re.match(r"\s*[+=]", prose[m.end():]) or prose[:m.start()].rstrip().endswith("+"):
                continue  # a term of a sum: the sum carries the reading
            if not READING.match(prose, m.end()):
                found.append(f"{where}: {prose[max(0, m.start() - 20):m.end() + 20]!r}")
    for where, text in texts:  # a headline metric is a count: 万/亿, not 25,557,032
        if where == "Metric.body" and BIG_EXACT.search(text):
            found.append(f"{where}: {text!r}")
    return found


def empty_cells_shown_as_none(at) -> list[str]:
    """A table with empty cells and no placeholder draws the word "None" in them."""
    found = []
    for node in _elements(at):
        kind = type(node).__name__
        if kind not in ("Dataframe", "Table"):
            continue
        try:
            frame = node.value
        except Exception:
            continue
        gaps = [str(c) for c in frame.columns if frame[c].isna().any()]
        if gaps and not getattr(node.proto, "placeholder", ""):
            found.append(f"{kind} with empty cells in {gaps} and no placeholder (shows None)")
        for c in frame.columns:
            if any(isinstance(v, str) and v == "None" for v in frame[c]):
                found.append(f"{kind}: the text 'None' in column {c}")
    return found


def wrong_columns(texts) -> list[str]:
    return [f"{where}: {text} -> {FORBIDDEN_COLUMNS[text]}" for where, text in texts
            if where.endswith((".column", "column_config")) and text in FORBIDDEN_COLUMNS] + [
        f"{where}: {text} -> {FORBIDDEN_COLUMNS[text]}" for where, text in texts
        if "legend.title" in where and text in FORBIDDEN_COLUMNS]


def chart_problems(at) -> list[str]:
    found = []
    for spec in _specs(at):
        for path, node in _walk_spec(spec):
            enc = node.get("encoding") if isinstance(node.get("encoding"), dict) else {}
            for channel, e in enc.items():
                if channel == "tooltip":
                    for t in e if isinstance(e, list) else [e]:
                        if isinstance(t, dict) and "field" in t and "title" not in t:
                            found.append(f"{path}: tooltip {t['field']!r} shows its English "
                                         "field name")
                        if isinstance(t, str):
                            found.append(f"{path}: tooltip {t!r} shows its English field name")
                    continue
                if channel not in ("x", "y") or not isinstance(e, dict):
                    continue
                axis = e.get("axis") if isinstance(e.get("axis"), dict) else {}
                title = e.get("title") or ""
                if re.search(r"百万|GMACs|\(M\)", str(title)):
                    found.append(f"{path}.{channel}: axis title {title!r}")
                if str(axis.get("format", "")).endswith("s"):
                    found.append(f"{path}.{channel}: SI tick format {axis['format']!r} (6M)")
                if e.get("field") in COUNT_FIELDS and e.get("type") == "quantitative":
                    expr = axis.get("labelExpr", "")
                    scale = 1e6 if e["field"] == "params (M)" else 1e9 if e["field"] == "GMACs" \
                        else 1
                    ticks = [label_expr_value(expr, 4e8 / scale), label_expr_value(expr, 5e6 / scale)] \
                        if expr else []
                    if ticks != ["4亿", "500万"]:
                        found.append(f"{path}.{channel}: {e['field']} ticks {ticks or 'M/G'} "
                                     "(want 亿/万)")
    return found


@lru_cache(maxsize=1)
def _imagenet() -> tuple[list[str], list[str]]:
    from explorer import zoo
    from explorer.zoo import classes

    return zoo.class_names("imagenet"), list(classes.imagenet_names_zh())


def english_class_names(at, texts) -> list[str]:
    """ImageNet classes named in English alone: in a picker ("#285 Egyptian cat"), a prediction,
    a chart's bars or a caption. The Chinese name must stand before it: 埃及猫（Egyptian cat）."""
    english, chinese = _imagenet()
    found = []
    shown = [(w, t) for w, t in texts if w.split(".")[0] in (
        "Selectbox", "Multiselect", "Radio", "Subheader", "Image", "Caption", "Markdown",
        "SelectSlider")] + [("chart data", v) for v in _chart_values(at)]
    for where, text in shown:
        for m in re.finditer(r"#(\d{1,3})\b", text):
            i = int(m.group(1))
            if english[i] in text and chinese[i] not in text:
                found.append(f"{where}: {text!r} (#{i} is {chinese[i]})")
        if where.startswith("Subheader") and re.match(r"预测：|随机权重：", text):
            name = re.split(r"[：（]", text, 2)[1]
            if name in english:  # an ImageNet class named in English alone
                found.append(f"{where}: {text!r}")
    return found


def spinner_texts_in_decorators() -> list[str]:
    """``st.cache_data(show_spinner="…")`` is fixed English at import time: a cached function
    shows its spinner through ``st.spinner(_("…"))`` at the call instead."""
    import ast

    found = []
    for path in sorted([*ROOT.glob("pages/*.py"), *ROOT.glob("explorer/ui/*.py"), ROOT / "app.py"]):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.keyword) and node.arg == "show_spinner" and \
                    isinstance(node.value, (ast.Constant, ast.JoinedStr)) and \
                    isinstance(getattr(node.value, "value", ""), str):
                found.append(f"{path.relative_to(ROOT)}:{node.value.lineno}")
    return found


@pytest.mark.parametrize("page,params", PAGES, ids=[f"{p[6:-3]}-{'-'.join(map(str, q.values()))}"
                                                    for p, q in PAGES])
def test_every_page_in_chinese_speaks_the_notes_language(page, params):
    at = _render(page, params)
    texts = rendered_texts(at)
    problems = (wrong_terms(texts) + counts_not_in_notes_style(texts)
                + empty_cells_shown_as_none(at) + wrong_columns(texts) + chart_problems(at)
                + english_class_names(at, texts))
    assert not problems, f"{page} {params}:\n" + "\n".join(problems)


def test_predictions_and_class_pickers_name_imagenet_classes_in_chinese():
    at = _render("pages/inference.py", {"model": "efficientnet_lite0"})
    english, chinese = _imagenet()
    head = next(s.value for s in at.subheader if s.value.startswith("预测："))
    assert "埃及猫（Egyptian cat）" in head, head  # the cat sample: ImageNet class 285
    with _speaking("zh"):
        options = at.selectbox(key="inference_target").options
    assert len(options) == 1001
    assert options[286] == "#285 埃及猫（Egyptian cat）"
    assert all(chinese[i] in o and english[i] in o for i, o in enumerate(options[1:])), \
        [o for o in options[1:] if not CJK.search(o)][:5]
    bars = [v for v in _chart_values(at) if "（#" in v]
    assert bars and all(CJK.search(v.split("（#")[0]) for v in bars), bars


def test_no_cache_decorator_shows_a_fixed_english_spinner():
    assert not spinner_texts_in_decorators(), spinner_texts_in_decorators()


class _speaking:
    """AppTest formats widget options in the test's thread: give it the page's language."""

    def __init__(self, lang):
        self.lang = lang

    def __enter__(self):
        i18n.set_language(self.lang)

    def __exit__(self, *exc):
        i18n.set_language("en")


def test_the_checks_see_each_wrong_form():
    """Each wrong form the reviewer found, as it was on screen, is caught."""
    before = [("Markdown.body", "**这个块 对 形状相同的一个普通 3×3 卷积**"),
              ("Caption.body", "运行在 CPU（1 个线程）— 未找到 GPU 上。"),
              ("Markdown.body", "- 5×5 卷积，64 → 64：**102,400（10.2万）** 权重"),
              ("Markdown.body", "比例：**35.1%**（相对朴素做法的开销）（少 2.9 倍）"),
              ("Caption.body", "不只是种子的方法"), ("Caption.body", "C3 全连接时共 61,706 个参数"),
              ("Selectbox.options", "瓶颈残差块（1×1、3×3、1×1）"),
              ("Caption.body", "所有输出特征图的模块，按前向传播的执行顺序排列"),
              ("Caption.body", "逐通道卷积（每个通道一个滤波器）"),
              ("Caption.body", "输入 224 时有 420 万参数"), ("UnknownElement.dot", "branch4 (max-pool 3×3 → 1×1)"),
              ("UnknownElement.dot", "4. 卷积 3×3 dw"), ("Caption.body", "（71.6 % 对 69.8 %）"),
              ("Caption.body", "16·32·3·3 vs 16·3·3 + 16·32"), ("Caption.body", "课程笔记称之为恒等块"),
              ("Caption.body", "空洞率 12 的 3×3 卷积（视野 25×25）"),
              ("Image.caption", "网络看到的：张量 — 缩放到 256（bilinear）[efficientnet-lite0 package]"),
              ("Table.cell", "Adam，批大小 64，lr 0.001 → 0.0004（第 3 轮）"),
              ("Caption.body", "已下载：alexnet, vgg16。")]
    assert [t for t in before if not wrong_terms([t])] == []
    assert counts_not_in_notes_style([("Caption.body", "合计：6,639,464 个参数"),
                                      ("Metric.body", "25,557,032")]) != []
    assert counts_not_in_notes_style([("Caption.body", "合计：6,639,464（664万）个参数"),
                                      ("Metric.help", "精确值：25,557,032。")]) == []
    assert wrong_columns([("Dataframe.column", "类别")])
    after = [("Markdown.body", "比例：朴素做法开销的 **35.1%**（仅为其 1/2.9）"),
             ("Caption.body", "“Identity block”（恒等块）"), ("Caption.body", "相同随机种子"),
             ("Caption.body", "捷径（Short Cut，也称跳跃连接）"), ("Caption.body", "Dropout（随机失活）"),
             ("Caption.body", "1.2亿 与 0.12亿"), ("Caption.body", "图像为 12 百万像素")]
    assert wrong_terms(after) == []
