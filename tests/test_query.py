"""explorer.query: every query parameter a link can hold parses to a valid value or the default
with a one-line notice, never an exception. A deterministic fuzz over generated strings (Unicode
digits, signs, huge, empty, control characters, Markdown) and the exact cases from issue 14."""
from __future__ import annotations

import random
import re

import pytest

from explorer.data import query

OPTIONS = ["vgg16", "resnet50", "efficientnet_lite0", "googlenet", "lenet5"]
# characters a link can carry that trip str.isdigit()/int() or Markdown
ODD = ["²", "¹", "⁸", "١", "٣", "１", "٢", "߄", "Ⅻ", "½", "-", "+", ",", ".", " ", "\t", "\x00",
       "\n", "e", "_", "*", "`", "$", "[", "]", "(", ")", "#", ":", "|", "<", "🧠", "0", "7", "9"]


def fuzz_strings(n=3000, seed=14):
    rng = random.Random(seed)
    fixed = ["", " ", "²", "¹²", "⁸", "-1", "-0", "+8", "0", "00008", "8", "1024", "1025",
             "9" * 30, "9" * 5000, "-" + "9" * 30, "1e3", "8.0", "0x10", "１２", "٣", " 16 ",
             ",", ",,,", "vgg16,vgg16,resnet50", "resnet50,resnet50", "lenet5,lenet5",
             ",".join(OPTIONS * 3), "a" * 10_000, "$x$", "**bold**", "[x](javascript:alert(1))",
             ":red[x]", "<script>", "\u202e", "\ufffd"]
    yield from fixed
    pool = ODD + OPTIONS
    for _ in range(n):
        yield "".join(rng.choice(pool) for _ in range(rng.randint(0, 12)))


def check_notice(notice, raw_text):
    assert isinstance(notice, str) and notice
    assert "\n" not in notice  # one line
    assert len(notice) < 600
    # the user's text is quoted only shortened and escaped: no live Markdown from a link
    for quoted in re.findall(r"“(.*?)”", notice):
        assert len(quoted.replace("\\", "")) <= query.MAX_SHOWN
        assert not re.search(r"(?<!\\)[`*$\[\]]", quoted), quoted


def test_parse_int_fuzz():
    for raw in fuzz_strings():
        value, notice = query.parse_int(raw, 224, 1, 1024, param="size")
        assert isinstance(value, int) and 1 <= value <= 1024
        text = raw.strip()
        if re.fullmatch(r"[+-]?[0-9]+", text, re.ASCII) and len(text) < 10 \
                and 1 <= int(text) <= 1024:
            assert (value, notice) == (int(text), None)
        elif text == "":
            assert (value, notice) == (224, None)
        else:
            assert value == 224
            check_notice(notice, raw)


@pytest.mark.parametrize("raw", ["²", "¹²", "⁸", "١٢", "１２", "-8", "0", "1025", "9" * 5000])
def test_issue_links_fall_back_with_a_notice(raw):
    value, notice = query.parse_int(raw, 224, 1, 1024, param="size")
    assert value == 224
    assert notice.startswith("The link's size=") and notice.endswith("showing 224 instead.")


def test_parse_int_accepts_plain_numbers():
    assert query.parse_int("160", 224, 1, 1024) == (160, None)
    assert query.parse_int(" 32 ", 224, 1, 1024) == (32, None)
    assert query.parse_int(["7", "8"], 1, 1, 64) == (8, None)  # a repeated key: the last value
    assert query.parse_int(None, 5, 1, 64) == (5, None)


def test_parse_choice_fuzz():
    for raw in fuzz_strings(1000):
        value, notice = query.parse_choice(raw, ["stage", "block", "layer"], "block", param="view")
        assert value in ("stage", "block", "layer")
        if raw.strip() in ("stage", "block", "layer"):
            assert notice is None and value == raw.strip()
        elif raw.strip():
            assert value == "block"
            check_notice(notice, raw)


def test_parse_model_fuzz():
    for raw in fuzz_strings(1000):
        value, notice = query.parse_model(raw, OPTIONS, "googlenet")
        assert value in OPTIONS
        if raw.strip() in OPTIONS:
            assert (value, notice) == (raw.strip(), None)
        elif raw.strip():
            assert value == "googlenet" and "does not have" in notice
            check_notice(notice, raw)


def test_parse_list_fuzz():
    default = ["vgg16", "resnet50", "efficientnet_lite0"]
    for raw in fuzz_strings():
        names, notice = query.parse_list(raw, OPTIONS, default, 2, 4, param="nets")
        assert 2 <= len(names) <= 4
        assert len(set(names)) == len(names), raw  # never a repeated name (duplicate widget keys)
        assert set(names) <= set(OPTIONS)
        parts = [p.strip() for p in raw.split(",") if p.strip()]
        clean = parts and len(set(parts)) == len(parts) and set(parts) <= set(OPTIONS) \
            and 2 <= len(parts) <= 4
        if clean:
            assert (names, notice) == (parts, None)
        elif parts:
            check_notice(notice, raw)


def test_parse_list_issue_links():
    default = ["vgg16", "resnet50", "efficientnet_lite0"]
    names, notice = query.parse_list("vgg16,vgg16,resnet50", OPTIONS, default, 2, 4, "nets")
    assert names == ["vgg16", "resnet50"]
    assert notice == "The link's nets repeats “vgg16”; each is shown once."
    names, notice = query.parse_list("resnet50,resnet50", OPTIONS, default, 2, 4, "nets")
    assert names == default and "repeats" in notice and "needs 2 to 4" in notice
    names, notice = query.parse_list("vgg16,nosuchnet,resnet50", OPTIONS, default, 2, 4, "nets")
    assert names == ["vgg16", "resnet50"] and "“nosuchnet”" in notice
    names, notice = query.parse_list(",".join(OPTIONS), OPTIONS, default, 2, 4, "nets")
    assert names == default and "has 5" in notice


def test_shown_escapes_and_shortens():
    assert query.shown("**x**") == "“\\*\\*x\\*\\*”"
    assert query.shown("a\x00b") == "“a\ufffdb”"
    assert len(query.shown("x" * 1000)) == query.MAX_SHOWN + 2
