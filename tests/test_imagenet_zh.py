"""The Chinese names of the 1,000 ImageNet classes (assets/imagenet_classes_zh.txt, issue 21
point 3): one name a line in torchvision's class-index order. Source, licence and the few
deterministic changes are in assets/README.md."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

NAMES = Path(__file__).resolve().parents[1] / "assets" / "imagenet_classes_zh.txt"

# Index -> (the English name in imagenet_class_index.json, the Chinese name checked by hand).
SPOT = {
    0: ("tench", "丁鲷"),
    1: ("goldfish", "金鱼"),
    134: ("crane", "鹤"),          # the bird ...
    285: ("Egyptian_cat", "埃及猫"),
    388: ("giant_panda", "大熊猫"),
    517: ("crane", "起重机"),      # ... and the machine: one English name, two Chinese ones
    817: ("sports_car", "跑车"),
    954: ("banana", "香蕉"),
    999: ("toilet_tissue", "卫生纸"),
}
# Names the published list gives to two classes each (the English name tells them apart).
SHARED_NAMES = {
    "导弹": [657, 744],          # missile, projectile
    "有轨电车": [705, 829],      # passenger car, streetcar
    "太阳镜": [836, 837],        # sunglass, sunglasses
}


def _lines() -> list[str]:
    raw = NAMES.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no byte-order mark"
    assert b"\r" not in raw, "LF line ends only"
    text = raw.decode("utf-8")
    assert text.endswith("\n") and not text.endswith("\n\n")
    return text[:-1].split("\n")


def test_one_name_per_class():
    lines = _lines()
    assert len(lines) == 1000
    assert all(line and line == line.strip() for line in lines)
    counts = Counter(lines)
    duplicated = {name: [i for i, x in enumerate(lines) if x == name]
                  for name, n in counts.items() if n > 1}
    print(f"{len(lines) - len(counts)} duplicate names: {duplicated}")
    assert duplicated == SHARED_NAMES


def test_simplified_characters_in_the_bmp():
    lines = _lines()
    # The four Traditional characters of the source were converted (assets/README.md).
    assert not any(ch in line for line in lines for ch in "紋國紅")
    assert all(ord(ch) < 0x10000 for line in lines for ch in line)


@pytest.mark.parametrize("index", sorted(SPOT))
def test_spot_checked_names(index):
    assert _lines()[index] == SPOT[index][1]


def test_order_is_torchvision_class_index(data_dir):
    """The spot checks sit at the indices the project's class index gives those English names."""
    index = json.loads((data_dir("imagenet-samples") / "imagenet_class_index.json")
                       .read_text(encoding="utf-8"))
    assert len(index) == 1000
    for i, (english, _) in SPOT.items():
        assert index[str(i)][1] == english, i
