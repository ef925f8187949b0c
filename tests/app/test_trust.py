"""The Inference page's "Can I trust these maps?" sections headless: nothing runs until asked,
then the page shows what explorer.trust computes for the same photo."""
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explorer.attribution import trust
from explorer.data.images import load_image, sample_images
from explorer.inference import predict
from explorer.weights import load_model

PAGE = str(Path(__file__).resolve().parents[2] / "pages" / "inference.py")
TOGGLES = ["trust_rand_on", "trust_class_on", "trust_faith_on", "trust_depth_on"]
VERDICT = re.compile(r"^\*\*(Saliency \(gradient\)|Grad-CAM): (passes|fails|doubtful)\.\*\* ")


def _verdicts(at) -> list[str]:
    return [m.value for m in at.markdown if VERDICT.match(m.value)]


def test_trust_sections_show_what_the_core_computes():
    at = AppTest.from_file(PAGE, default_timeout=400)
    at.run()
    assert not at.exception, at.exception
    # The trained LeNet-5 on a digit: the same code as for photos, in a fraction of the time
    # (tests/test_trust.py covers EfficientNet-Lite0 on real photos).
    at.selectbox(key="inference_model").set_value("lenet5")
    at.run()
    assert [at.toggle(key=k).value for k in TOGGLES] == [False] * 4  # nothing runs unasked
    assert not _verdicts(at) and not any(m.label == "SSIM" for m in at.metric)

    for key in TOGGLES:
        at.toggle(key=key).set_value(True)
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert len(_verdicts(at)) == 2  # one verdict per selected method

    # The same photo through the core: the page's numbers must be these.
    loaded = load_model("lenet5", "trained")
    name = at.selectbox(key="inference_image_sample").value
    x = loaded.preprocess(load_image(sample_images()[name]))
    top = predict(loaded, x, topk=2).indices
    cs = trust.class_sensitivity(loaded, x, "saliency", (top[0], top[1]))
    shown = {m.label: m.value for m in at.metric}
    assert shown["Rank correlation"] == f"{cs.spearman_abs:.2f}"
    assert shown["SSIM"] == f"{cs.ssim:.2f}"
    table = at.dataframe[-1].value
    assert list(table.iloc[:, 0]) == ["Saliency (gradient)", "Grad-CAM", "Random order (baseline)",
                                      "Centre first (baseline)"]
    base = trust.faithfulness(loaded, x, {}, top[0])
    assert table.iloc[2, 1] == pytest.approx(base.deletion_auc["random"], abs=1e-6)
    assert table.iloc[3, 2] == pytest.approx(base.insertion_auc["centre"], abs=1e-6)
    assert any(m.value == "**LayerCAM**" for m in at.markdown)
    assert any(m.value.startswith("Grad-CAM weights each channel") for m in at.markdown)

    at.radio(key="trust_rand_mode").set_value("independent")
    at.run()
    assert not at.exception and not at.error
    assert sum("single-block randomisations" in m.value for m in at.markdown) == 2
