"""The Architecture page, headless: every zoo model renders, views switch and survive in the
URL, bad input sizes end in an error message, and the numbers shown match REFERENCE.md."""
from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer import zoo

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "architecture.py")

# REFERENCE.md: torchvision num_params (PyTorch convention) and _ops (GMACs)
TORCHVISION = {
    "alexnet": (61_100_840, 0.714), "vgg16": (138_357_544, 15.470),
    "vgg16_bn": (138_365_992, 15.470), "googlenet": (6_624_904, 1.498),
    "inception_v3": (27_161_264, 5.713), "resnet18": (11_689_512, 1.814),
    "resnet34": (21_797_672, 3.664), "resnet50": (25_557_032, 4.089),
    "resnext50_32x4d": (25_028_904, 4.230), "densenet121": (7_978_856, 2.834),
    "mobilenet_v2": (3_504_872, 0.301),
}
# REFERENCE.md: seed 002's Keras totals, LeNet-5's 61,706
KERAS = {"mnist_plain": 78_602, "mnist_bn_dropout": 79_114, "mnist_nin": 31_850,
         "lenet5": 61_706}


def run_page(model: str | None = None, **query) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=120)
    if model:
        at.query_params["model"] = model
    for k, v in query.items():
        at.query_params[k] = v
    return at.run()


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def diagram_dot(at: AppTest) -> str:
    charts = at.get("graphviz_chart")
    assert len(charts) == 1
    return charts[0].proto.spec


@pytest.mark.parametrize("name", zoo.list_models())
def test_every_model_renders(name):
    at = run_page(name)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error
    assert at.selectbox(key="arch_model").value == name
    assert f'label="{name} at ' in diagram_dot(at)
    table = at.dataframe[0].value
    assert len(table) > 3 and {"layer", "type", "output shape", "params", "MACs"} <= set(table)
    shown = metrics(at)
    params_pt = int(shown["Parameters (PyTorch)"].replace(",", ""))
    params_keras = int(shown["Parameters (Keras)"].replace(",", ""))
    if name in TORCHVISION:
        want_params, want_gmacs = TORCHVISION[name]
        assert params_pt == want_params
        assert float(shown["MACs"].removesuffix(" G")) == pytest.approx(want_gmacs, rel=0.01)
    if name in KERAS:
        assert params_keras == KERAS[name]
    labels = [d.proto.label for d in at.get("download_button")]
    assert "Diagram (DOT)" in labels and "Table (CSV)" in labels
    assert len(at.get("vega_lite_chart")) == 2


def test_resnet50_totals_match_reference():
    at = run_page("resnet50")
    shown = metrics(at)
    assert shown["Parameters (PyTorch)"] == "25,557,032"
    # Keras adds batch norm's running mean and variance: 2 × 26,560 BN channels
    assert shown["Parameters (Keras)"] == f"{25_557_032 + 2 * 26_560:,}"
    assert shown["MACs"] == "4.089 G"
    assert shown["Depth"] == "50"
    assert any("FLOPs = 2 × MACs" in c.value for c in at.caption)  # the convention, stated


def test_view_switching_and_url():
    at = run_page("resnet18")
    assert at.radio(key="arch_view").value == "block"
    assert at.query_params["view"] == "block"
    block = diagram_dot(at)
    assert "BasicBlock" in block and "cluster_" not in block

    at.radio(key="arch_view").set_value("layer").run()
    assert at.query_params == {"model": "resnet18", "view": "layer"}
    layer = diagram_dot(at)
    assert "cluster_" in layer and layer.count('[label="+\\n') == 8  # 8 residual adds

    at.radio(key="arch_view").set_value("stage").run()
    assert "stem (stride 2)" in diagram_dot(at)
    assert not at.exception


def test_a_shared_link_opens_the_same_model_and_view():
    at = run_page("googlenet", view="layer")
    assert at.selectbox(key="arch_model").value == "googlenet"
    assert at.radio(key="arch_view").value == "layer"
    assert '[label="concat\\n256×28×28"' in diagram_dot(at)  # inception3a, REFERENCE.md


def test_picking_another_model_updates_the_url():
    at = run_page("googlenet")
    at.selectbox(key="arch_model").set_value("resnet50").run()
    assert at.query_params["model"] == "resnet50"
    assert metrics(at)["Parameters (PyTorch)"] == "25,557,032"


def test_impossible_input_size_shows_an_error_not_an_exception():
    at = run_page("resnet18")
    at.number_input(key="arch_size_resnet18").set_value(16).run()
    assert not at.exception
    assert len(at.error) == 1
    assert "at least 32×32" in at.error[0].value
    # the rest of the page stays, at the native size
    assert "resnet18 at 3×224×224" in diagram_dot(at)
    assert metrics(at)["Parameters (PyTorch)"] == "11,689,512"


def test_resizing_changes_the_macs():
    at = run_page("resnet50")
    at.number_input(key="arch_size_resnet50").set_value(448).run()
    assert not at.exception and not at.error
    assert "resnet50 at 3×448×448" in diagram_dot(at)
    # convolutions cost in proportion to area (448 halves to 14×14 exactly): four times
    # 224×224's MACs but for the classifier's 2048 × 1000; parameters unchanged
    gmacs = float(metrics(at)["MACs"].removesuffix(" G"))
    assert gmacs == pytest.approx(4 * (4.089 - 0.002048) + 0.002048, abs=0.002)
    assert metrics(at)["Parameters (PyTorch)"] == "25,557,032"


def test_fixed_size_model_has_no_size_control():
    at = run_page("lenet5")
    assert not [n for n in at.number_input if n.key and n.key.startswith("arch_size")]
    assert "1×32×32 (fixed)" in [t.value for t in at.text_input]


def test_table_filters():
    at = run_page("resnet50")
    at.text_input(key="arch_search").input("downsample").run()
    table = at.dataframe[0].value
    # a projection shortcut (1×1 conv + BN) at the first block of each of the four stages
    assert len(table) == 8 and table["layer"].str.contains("downsample").all()
    at.text_input(key="arch_search").input("").run()
    at.multiselect(key="arch_types_resnet50").set_value(["Linear"]).run()
    table = at.dataframe[0].value
    assert list(table["layer"]) == ["fc"] and table["params"].iloc[0] == 2048 * 1000 + 1000
    at.selectbox(key="arch_rows").set_value("block").run()
    assert not at.exception


def test_unknown_model_in_the_link_falls_back():
    at = run_page("resnet5000")
    assert not at.exception
    assert at.warning and "resnet5000" in at.warning[0].value


def test_svg_download_needs_graphviz(monkeypatch):
    from explorer.analysis import diagram

    at = run_page("resnet18")
    labels = [d.proto.label for d in at.get("download_button")]
    assert ("Diagram (SVG)" in labels) == (diagram.has_dot())
    # without Graphviz's dot: no SVG button, a hint how to get one instead
    monkeypatch.setattr(diagram.shutil, "which", lambda _: None)
    at = run_page("resnet18")
    assert "Diagram (SVG)" not in [d.proto.label for d in at.get("download_button")]
    assert any("apt-get install graphviz" in c.value for c in at.caption)
    assert not at.exception


def test_input_size_is_part_of_the_link():
    at = run_page("resnet50", view="stage", size="448")
    assert at.number_input(key="arch_size_resnet50").value == 448
    assert "resnet50 at 3×448×448" in diagram_dot(at)
    at.number_input(key="arch_size_resnet50").set_value(224).run()
    assert "size" not in at.query_params  # the native size needs no parameter
    at.number_input(key="arch_size_resnet50").set_value(160).run()
    assert at.query_params["size"] == "160"
