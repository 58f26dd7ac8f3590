"""The recall lines: one per topic page, each proved right below it, all on the recall sheet."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
TOPICS = sorted(p for p in (DOCS / "topics").glob("*.md") if not p.name.startswith("_"))
RECALL = re.compile(
    r"<!-- --8<-- \[start:recall\] -->\n(?P<body>.*?)<!-- --8<-- \[end:recall\] -->\n(?P<after>.*)",
    re.S,
)


def test_there_are_fourteen_topic_pages() -> None:
    assert len(TOPICS) == 14, [p.name for p in TOPICS]


@pytest.mark.parametrize("page", TOPICS, ids=lambda p: p.stem)
def test_each_page_has_one_recall_proved_by_the_next_block(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert text.count("[start:recall]") == 1, f"{page.name}: exactly one recall section"
    match = RECALL.search(text)
    assert match, f"{page.name}: recall section markers are malformed"
    body = match["body"].strip().splitlines()
    assert body[0] == '!!! abstract "Recall"' and len(body) >= 2, f"{page.name}: {body[:2]}"
    first_block = re.search(r"^```(\S*)", match["after"], re.M)
    assert first_block and first_block[1] == "python", f"{page.name}: no proof right after"
    proof = match["after"][first_block.end() : match["after"].index("\n```", first_block.end())]
    assert "assert " in proof, f"{page.name}: the proving example asserts nothing"


def test_the_recall_sheet_includes_every_page_once() -> None:
    sheet = (DOCS / "recall.md").read_text(encoding="utf-8")
    included = re.findall(r'--8<-- "docs/topics/([\w-]+)\.md:recall"', sheet)
    assert sorted(included) == sorted(p.stem for p in TOPICS)
    assert len(included) == len(set(included))


def test_the_home_page_table_links_every_topic_in_order() -> None:
    home = (DOCS / "index.md").read_text(encoding="utf-8")
    linked = re.findall(r"^\| \d+ \| \[[^\]]+\]\(topics/([\w-]+)\.md\)", home, re.M)
    assert sorted(linked) == sorted(p.stem for p in TOPICS) and len(linked) == 14
