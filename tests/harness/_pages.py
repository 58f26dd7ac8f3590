"""Run the docs harness on a temporary page through Sybil's API, without a nested pytest."""

from __future__ import annotations

import textwrap
import traceback
import unittest
from dataclasses import dataclass
from pathlib import Path

from sybil.example import SybilFailure

from tests._docs_harness import make_sybil

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Outcome:
    line: int
    status: str  # "passed", "failed" (a harness check), "skipped" or "raised"
    message: str = ""


def run_page(tmp_path: Path, text: str) -> list[Outcome]:
    """Write docs/page.md, then evaluate its examples in order as Sybil's pytest items do."""
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir(exist_ok=True)
    page.write_text(textwrap.dedent(text), encoding="utf-8")
    sybil = make_sybil(tmp_path, ROOT / "mkdocs.yml")
    document = sybil.parse(page)
    assert sybil.setup is not None and sybil.teardown is not None
    sybil.setup(document.namespace)
    outcomes = []
    try:
        for example in document:
            try:
                example.evaluate()
            except SybilFailure as failure:
                outcomes.append(Outcome(example.line, "failed", failure.result))
            except unittest.SkipTest as skip:
                outcomes.append(Outcome(example.line, "skipped", str(skip)))
            except Exception as error:
                frame = traceback.extract_tb(error.__traceback__)[-1]
                where = f"{Path(frame.filename).name}:{frame.lineno}"
                outcomes.append(Outcome(example.line, "raised", f"{error!r} at {where}"))
            else:
                outcomes.append(Outcome(example.line, "passed"))
    finally:
        sybil.teardown(document.namespace)
    return outcomes
