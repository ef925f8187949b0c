"""The UI in Simplified Chinese (issue 13): complete catalogs, no English left on any page, and a
language switch that keeps what the user was doing.

Every page is rendered headless through app.py with ``?lang=zh`` for several models; every string
it puts on screen (text, widget labels, options, help, table headers, chart and graph labels) is
run through ``tests/english.py``'s checker, which lets through only model names, layer paths,
code, units and names that come from the data (ImageNet classes, paper titles).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import i18n
from explorer.i18n import catalog
from tests.english import english_left, rendered_texts

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------
# The catalogs


def test_every_ui_string_has_a_chinese_translation_with_the_same_placeholders():
    report = catalog.check("zh", catalog.extract())
    assert report.ok, "\n" + "\n".join(report.lines()) + (
        "\nRun `python -m explorer.i18n update`, translate the new entries in "
        f"{catalog.po_path('zh').relative_to(ROOT)}, then run it again.")


def test_the_placeholder_check_sees_a_renamed_or_dropped_placeholder():
    assert catalog.placeholders("{n} images: {what}") == catalog.placeholders("{what}：{n} 张")
    assert catalog.placeholders("{n} images") != catalog.placeholders("{count} 张")
    assert catalog.placeholders("{p:.1%}") != catalog.placeholders("{p}")
    assert catalog.placeholders("{a} and {b}") != catalog.placeholders("{a}")


def test_the_check_finds_ui_text_left_unwrapped_and_a_shadowed_underscore(tmp_path):
    (tmp_path / "pages").mkdir()
    (tmp_path / "pages" / "page.py").write_text(
        "import streamlit as st\nfrom explorer.i18n import _\n"
        "st.caption('Choose an image first')\n"         # bare: stays English
        "col.metric('Depth', 3)\n"                        # a bare one-word label
        "x = alt.X('a:Q', title='fraction of pixels')\n"  # a chart title
        "st.markdown(_('Wrapped, so translated'))\n"
        "st.subheader(name)\nst.caption(f'{a} · {b}')\n"  # no words of its own
        "left, _ = st.columns(2)\n"
        "st.radio(_('View'), ['a', 'b'])\nst.radio(_('View'), ['a', 'b'], key='v')\n",
        encoding="utf-8")
    assert [b.split(":")[1] for b in catalog.bare_strings(tmp_path)] == ["3", "4", "5"]
    assert [b.split(":")[1] for b in catalog.assignments_to_underscore(tmp_path)] == ["9"]
    assert [b.split(":")[1] for b in catalog.unkeyed_widgets(tmp_path)] == ["10"]


def test_the_compiled_catalog_translates_at_run_time_per_thread():
    assert i18n.set_language("zh") == "zh"
    try:
        assert i18n._("Overview") == "总览"
        seen = {}
        # A new thread (another browser session's script run) starts in English.
        worker = threading.Thread(target=lambda: seen.update(lang=i18n.get_language(),
                                                             text=i18n._("Overview")))
        worker.start()
        worker.join()
        assert seen == {"lang": "en", "text": "Overview"}
    finally:
        i18n.set_language("en")
    assert i18n._("Overview") == "Overview"
    assert i18n.set_language("fr") == "en"  # unknown codes fall back to English


def test_browser_locales_pick_the_ui_language():
    assert i18n.language_from_locale("zh-CN") == "zh"
    assert i18n.language_from_locale("zh-Hans-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.language_from_locale("en-GB,zh;q=0.5") == "en"
    assert i18n.language_from_locale("de-DE") == "en"
    assert i18n.language_from_locale(None) == "en"


def test_counts_are_written_with_yi_and_wan_in_chinese_as_the_course_notes_do():
    # Seed 000: (28·28·32)·(5·5·192) = 120,422,400 multiplications "= 1.2亿"; with the 1×1
    # reduction (28·28·16)·(1·1·192) + (28·28·32)·(5·5·16) = 12,443,648 "= 0.12亿".
    naive, reduced = 28 * 28 * 32 * 5 * 5 * 192, 28 * 28 * 16 * 192 + 28 * 28 * 32 * 5 * 5 * 16
    assert (naive, reduced) == (120_422_400, 12_443_648)
    i18n.set_language("zh")
    try:
        assert i18n.format_count(naive, 2) == "1.2亿"
        assert i18n.format_count(reduced) == "1244万"
        assert i18n.format_count(138_357_544) == "1.38亿"  # VGG-16's parameters
        assert i18n.format_count(9_999) == "9,999"
    finally:
        i18n.set_language("en")
    assert i18n.format_count(naive) == "120 M"
    assert i18n.format_int(naive) == "120,422,400"


# --------------------------------------------------------------------------------------------
# The checker for English left in a Chinese page


def test_the_checker_finds_english_sentences_and_labels():
    assert english_left("Choose an image on the left: a sample, an upload or the camera.")
    assert english_left("Weights") == ["Weights"]
    assert english_left("**设备：** CPU (2 threads) — no GPU found")
    assert english_left("批量归一化 (batch norm)") == ["batch norm"]


def test_the_checker_reads_chart_titles_but_not_the_tooltip_picture():
    from tests.english import _vega_texts

    spec = {"encoding": {
        "x": {"field": "lo", "type": "quantitative"},  # untitled: the axis shows "lo"
        "y": {"field": "y", "title": "image"},  # an axis title is shown, whatever it says
        "tooltip": [{"field": "image", "title": "image"},  # drawn as <img>, no title shown
                    {"field": "digit", "title": "true digit"}]}}
    assert sorted(t for _w, t in _vega_texts(spec)) == ["image", "lo", "true digit"]


def test_the_checker_lets_names_paths_code_and_units_through():
    for text in ["resnet50 · layer3.0.conv2 · 256×14×14", "CPU（2 个线程）— 未找到 GPU",
                 "MACs = 卷积层和全连接层的乘加次数；FLOPs = 2 × MACs。",
                 "前向传播 12.3 ms，设备 **cpu** · 类别来自 ImageNet 元数据",
                 "用 `python -m explorer.train --model mnist_plain` 可以复现",
                 "efficientnet_lite0 — EfficientNet, 2019", "Conv2d 3×3/2", "1.2亿 次乘法"]:
        assert english_left(text) == [], text
    assert english_left("Szegedy et al., Going deeper with convolutions",
                        allowed=["Szegedy et al., Going deeper with convolutions"]) == []


# --------------------------------------------------------------------------------------------
# Every page in Chinese


@lru_cache(maxsize=1)
def _allowed() -> frozenset[str]:
    """What stays English by design: model names and families, paper titles, class names from
    the data, torch module types (layer types in tables and filters), the language's own name."""
    import torch.nn as nn

    from explorer import zoo

    from explorer.analysis import analyze

    names = {"English"}
    for name in zoo.list_models():
        spec = zoo.get_spec(name)
        names |= {name, spec.family, spec.paper}
        names |= set(zoo.class_names(name))
    for name in SHOWN_MODELS:  # layer paths and their parts ("features", "classifier")
        for row in analyze(name).layers:
            names |= {row.name, *row.name.split(".")} if row.name else set()
    names |= {n for n in dir(nn) if n[:1].isupper()}
    # Module paths inside the Blocks page's standalone blocks ("pointwise", "depthwise").
    from explorer.analysis import blocks

    for kind, variants in blocks.standalone_forms().items():
        for variant in variants:
            try:
                module, _shape = blocks.build_standalone(kind, variant.name, device="meta")
            except Exception:  # a variant that needs the real weights: its paths are in SHOWN
                continue
            for path, _m in module.named_modules():
                names |= {path, *path.split(".")} if path else set()
    # Module classes of the zoo's networks (layer types in the tables and filters).
    import sys
    import torchvision.models  # noqa: F401  (its submodules hold the block classes)

    for module_name, module in list(sys.modules.items()):
        if module_name.startswith(("torchvision.models", "explorer.zoo", "explorer.analysis.blocks")):
            names |= {k for k, v in vars(module).items()
                      if isinstance(v, type) and issubclass(v, nn.Module)}
    return frozenset(names)


def _english_on(at) -> list[str]:
    allowed = _allowed()
    found = []
    for where, text in rendered_texts(at):
        left = english_left(text, allowed)
        if left:
            found.append(f"{where}: {text[:140]!r} -> {left}")
    return found


@contextmanager
def speaking(lang: str):
    """AppTest formats a widget's value with the page's ``format_func`` in the test's own
    thread; give that thread the language the page is shown in."""
    i18n.set_language(lang)
    try:
        yield
    finally:
        i18n.set_language("en")


def _zh(page: str | None = None, **params) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.query_params["lang"] = "zh"
    for k, v in params.items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def _assert_chinese(at, what: str) -> None:
    assert not at.exception, at.exception
    left = _english_on(at)
    assert not left, f"{what}: English left in the Chinese UI:\n" + "\n".join(left)


SHOWN_MODELS = ["googlenet", "resnet50", "mnist_nin", "efficientnet_lite0", "lenet5",
                "mnist_plain", "mnist_bn_dropout", "resnet18"]


@pytest.mark.parametrize("page,params", [
    ("pages/overview.py", {}),
    ("pages/architecture.py", {"model": "googlenet"}),
    ("pages/architecture.py", {"model": "resnet50", "view": "layer"}),
    ("pages/architecture.py", {"model": "mnist_nin", "view": "stage"}),
    ("pages/blocks.py", {"kind": "inception_v1"}),
    ("pages/blocks.py", {"kind": "bottleneck"}),
    ("pages/inference.py", {"model": "efficientnet_lite0"}),
    ("pages/inference.py", {"model": "lenet5"}),
    ("pages/compare.py", {"data": "mnist"}),
    ("pages/train.py", {}),
    ("pages/channels.py", {}),
    ("pages/channels.py", {"model": "lenet5"}),
    ("pages/weights.py", {}),
])
def test_every_page_in_chinese_leaves_no_english_sentence(page, params):
    at = _zh(page, **params)
    assert at.title and all(not english_left(t.value) for t in at.title)
    _assert_chinese(at, f"{page} {params}")


def test_a_standalone_block_and_its_costs_in_chinese():
    at = _zh("pages/blocks.py", kind="depthwise_separable")
    with speaking("zh"):
        at.radio(key="blk_form").set_value("Standalone").run()
    _assert_chinese(at, "blocks, standalone depthwise-separable")
    # Note 000's 亿 arithmetic, on the Inception block's cost panel, written as the notes write
    # it ("1.2亿", no space).
    at = _zh("pages/blocks.py", kind="inception_v1")
    assert any("1.2亿" in m.value and "0.12亿" in m.value for m in at.markdown), \
        [m.value for m in at.markdown if "亿" in m.value]


def test_results_drawn_after_a_click_are_chinese_too():
    """CKA between two MNIST networks: the result's heading, notes and chart in Chinese. (The
    page runs on its own in a Chinese script run: AppTest loses a plain button's click on a
    page opened through app.py's navigation.)"""
    script = ("import runpy\nfrom explorer.i18n import set_language\nset_language('zh')\n"
              f"runpy.run_path({str(ROOT / 'pages' / 'compare.py')!r}, run_name='__main__')\n")
    at = AppTest.from_string(script, default_timeout=240)
    at.query_params["data"] = "mnist"
    at.run()
    with speaking("zh"):
        at.button(key="cka_run").click().run()
    _assert_chinese(at, "compare, CKA result")
    assert any("张图像" in s.value for s in at.subheader), [s.value for s in at.subheader]


# --------------------------------------------------------------------------------------------
# The switch


def test_switching_language_keeps_the_model_the_image_and_the_result():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=240)
    at.run()
    at.switch_page("pages/inference.py").run()
    at.selectbox(key="inference_model").set_value("lenet5").run()
    at.selectbox(key="inference_image_sample").set_value("MNIST digit 7").run()
    assert not at.exception, at.exception
    english = next(h.value for h in at.subheader if h.value.startswith("Prediction:"))
    guess = english.split(": ", 1)[1]  # "7 (99.9%)"

    at.radio(key="ui_language").set_value("zh").run()
    assert not at.exception, at.exception
    assert at.query_params["lang"] in (["zh"], "zh")
    with speaking("zh"):
        assert at.selectbox(key="inference_model").value == "lenet5"
        assert at.selectbox(key="inference_image_sample").value == "MNIST digit 7"
    assert "预测：" + guess.replace(" (", "（").replace(")", "）") in [h.value for h in at.subheader]
    assert at.title[0].value == "推理"

    with speaking("zh"):
        at.radio(key="ui_language").set_value("en").run()
    assert english in [h.value for h in at.subheader]


def test_switching_language_keeps_the_architecture_view_and_the_block_step():
    at = _zh("pages/architecture.py", model="resnet18", view="layer")
    with speaking("zh"):
        at.radio(key="ui_language").set_value("en").run()
    assert at.selectbox(key="arch_model").value == "resnet18"
    assert at.radio(key="arch_view").value == "layer"
    assert at.title[0].value == "Architecture"

    at.switch_page("pages/blocks.py").run()
    at.button(key="blk_next").click().run()
    at.button(key="blk_next").click().run()
    assert at.session_state["blk_step"] == 3
    at.radio(key="ui_language").set_value("zh").run()  # the test thread speaks English here
    assert not at.exception, at.exception
    assert at.session_state["blk_step"] == 3
    assert any(s.value.startswith("第 3 步") for s in at.subheader)
