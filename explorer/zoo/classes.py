"""Class names in the UI's language: what a prediction, a class picker or a top image is called.

English: each dataset's own names (``class_names``: torchvision's ImageNet categories, the
digits, CIFAR-10's ten). Chinese: the Chinese name with the English one beside it, "埃及猫（Egyptian
cat）", because a published Chinese list is a translation and a few of its names read oddly or
are shared by two classes (657 missile and 744 projectile are both 导弹); the English name keeps
every class apart and lets a reader check.

Sources:

* ImageNet in Chinese: ``assets/imagenet_classes_zh.txt``, one name a line in torchvision's
  class-index order, from ``datasets/ImageNet-1K/label_cn.txt`` of Chinese-CLIP
  (github.com/OFA-Sys/Chinese-CLIP, commit a305b032bffce0671592d897cabeca36a228f7de), MIT
  licence, "Copyright (c) 2022-2023 OFA-Sys Team" (with open_clip's authors); four Traditional
  characters made Simplified. ``assets/README.md`` has the details and the licence text;
  ``tests/test_imagenet_zh.py`` checks the order against ImageNet's class index.
* CIFAR-10 in Chinese: the usual textbook names (飞机, 汽车, 鸟, 猫, 鹿, 狗, 青蛙, 马, 船, 卡车).

This is the one function every page uses: ``class_label(model_or_dataset, index)``.
"""
from __future__ import annotations

from functools import lru_cache

from explorer.data.paths import ASSETS
from explorer.i18n import get_language
from explorer.zoo.registry import UnknownModelError, class_names, get_spec

__all__ = ["IMAGENET_ZH", "imagenet_names_zh", "class_label", "class_labels"]

IMAGENET_ZH = ASSETS / "imagenet_classes_zh.txt"
_CIFAR10_ZH = ["飞机", "汽车", "鸟", "猫", "鹿", "狗", "青蛙", "马", "船", "卡车"]


@lru_cache(maxsize=1)
def imagenet_names_zh() -> tuple[str, ...]:
    """The 1,000 Chinese ImageNet class names, index 0 (丁鲷, tench) to 999 (卫生纸, toilet
    tissue); empty if the file is missing (the English names are shown alone then)."""
    try:
        names = tuple(IMAGENET_ZH.read_text(encoding="utf-8").splitlines())
    except OSError:
        return ()
    return names if len(names) == 1000 else ()


def _dataset(model_or_dataset: str) -> str:
    try:
        return get_spec(model_or_dataset).dataset
    except UnknownModelError:
        return model_or_dataset


def _chinese(dataset: str) -> tuple[str, ...]:
    if dataset == "imagenet":
        return imagenet_names_zh()
    if dataset == "cifar10":
        return tuple(_CIFAR10_ZH)
    return ()  # MNIST's classes are the digits themselves


def class_label(model_or_dataset: str, index: int, english: str | None = None) -> str:
    """Class ``index`` of a model (or a dataset: "imagenet", "mnist", "cifar10") as the UI says
    it: "Egyptian cat" in English, "埃及猫（Egyptian cat）" in Chinese. ``english`` is the name the
    weights carry (torchvision's metadata), by default the dataset's own."""
    dataset = _dataset(model_or_dataset)
    if english is None:
        names = class_names(dataset)
        english = names[index] if 0 <= index < len(names) else str(index)
    if get_language() != "zh":
        return english
    chinese = _chinese(dataset)
    if not 0 <= index < len(chinese) or chinese[index] == english:
        return english
    return f"{chinese[index]}（{english}）"


def class_labels(model_or_dataset: str) -> list[str]:
    """Every class of a model or dataset as :func:`class_label` writes it."""
    dataset = _dataset(model_or_dataset)
    return [class_label(dataset, i, name) for i, name in enumerate(class_names(dataset))]
