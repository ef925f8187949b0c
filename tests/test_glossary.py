"""docs/glossary.md cites where the course notes really use each term (issue 21, point 6).

Each citation in the glossary's terms table is written `` `NNN` term「quote」 ``: the quote must
occur verbatim in note NNN (the file the glossary's notes table names, in ../shared/seeds/) and
must contain the term exactly as that note writes it (Traditional characters for 004). A row
with no citation must say "not in the notes".
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from explorer import data

GLOSSARY = Path(__file__).resolve().parents[1] / "docs" / "glossary.md"
# The notes sit beside the data in the shared folder next to the repository (../shared/seeds),
# found the way explorer.data finds ../shared/data.
NOTES_DIR = data.SHARED.parent / "seeds"

CITATION = re.compile(r"`(\d{3})`\s*([^`「」<>]+?)\s*「([^「」]+)」")
NOT_IN_NOTES = "not in the notes"

# Terms issue 21 discusses: each must be cited as the notes write it ...
MUST_CITE = ["瓶颈层", "Bottleneck結構", "卷积核", "卷積核", "滤波器", "残差块", "Inception块",
             "Inception模块", "模块", "Identity block", "Convolutional block", "捷径",
             "跳跃连接", "残差跳连", "shortcut", "正向传播", "Dropout", "感受野", "1 × 1卷积",
             "通道", "信道", "批量归一化", "亿", "萬"]
# ... and the UI column must give the form the UI uses.
MUST_NAME = ["瓶颈层", "Bottleneck 结构", "卷积核", "残差块", "Inception块（Inception模块）",
             "模块", "捷径（跳跃连接）", "正向传播（前向传播）", "Dropout（随机失活）", "感受野",
             "主干", "1×1卷积", "通道", "批量归一化", "亿 / 万"]


def _table(heading: str) -> list[list[str]]:
    """The rows (cells stripped) of the first table after the ``## heading`` line."""
    lines = GLOSSARY.read_text(encoding="utf-8").splitlines()
    start = lines.index(f"## {heading}")
    rows: list[list[str]] = []
    for line in lines[start + 1:]:
        if line.startswith("|"):
            rows.append([c.strip() for c in line.strip().strip("|").split("|")])
        elif rows:
            break
    assert len(rows) > 2 and set(rows[1][0]) <= set("-: "), f"no table under ## {heading}"
    return rows[2:]  # without the header and its rule


NOTE_FILES = {row[0]: row[1].strip("`") for row in _table("The notes")}
TERMS = _table("Terms")


@pytest.fixture(scope="module")
def notes() -> dict[str, str]:
    if not NOTES_DIR.is_dir():
        pytest.fail(f"the course notes are not at {NOTES_DIR} (../shared/seeds beside the "
                    "repository)", pytrace=False)
    return {n: (NOTES_DIR / f).read_text(encoding="utf-8")
            for n, f in NOTE_FILES.items() if (NOTES_DIR / f).is_file()}


def test_notes_table_names_every_note_file():
    assert sorted(NOTE_FILES.values()) == sorted(p.name for p in NOTES_DIR.glob("*.txt"))
    for number, name in NOTE_FILES.items():
        assert name.startswith(number + "_"), (number, name)
        assert (NOTES_DIR / name).is_file(), name


def test_terms_table_shape():
    assert len(TERMS) >= 40
    assert all(len(row) == 3 and all(row) for row in TERMS), [r for r in TERMS if len(r) != 3]


@pytest.mark.parametrize("row", TERMS, ids=[row[0] for row in TERMS])
def test_row_cites_the_notes_verbatim(row, notes):
    english, chinese, where = row
    citations = CITATION.findall(where)
    if not citations:
        assert NOT_IN_NOTES in where, f"{english}: no citation and no '{NOT_IN_NOTES}'"
    # Nothing that looks like a citation may escape the pattern (it would go unchecked).
    rest = CITATION.sub("", where)
    assert not re.search(r"[「」]|`\d{3}`", rest), f"{english}: malformed citation in {rest!r}"
    for number, term, quote in citations:
        assert number in NOTE_FILES, f"{english}: note {number} is not in the notes table"
        assert (NOTES_DIR / NOTE_FILES[number]).is_file(), NOTE_FILES[number]
        assert term in quote, f"{english}: the quote 「{quote}」 lacks the term {term!r}"
        assert quote in notes[number], f"{english}: 「{quote}」 is not in note {number}"


def test_the_issue_terms_are_there():
    cited = {term for row in TERMS for _, term, _ in CITATION.findall(row[2])}
    assert not [t for t in MUST_CITE if t not in cited], "terms the glossary must cite"
    ui = " ".join(row[1] for row in TERMS)
    assert not [t for t in MUST_NAME if t not in ui], "UI forms the glossary must give"
