# Conventions for code blocks in docs/**/*.md and README.md. The why and the details are
# in tests/_docs_harness.py; every rule is enforced by a test.
#
#   ```python                  runs as a test, attributes allowed: ```python title="x.py"
#                              Rendered but not run, so flagged: ```py ```Python ```python3
#                              ``` python ```{.python}. Not meant to run: ```bash ```console
#                              ```text
#   standalone                 each block runs in a fresh __main__ namespace...
#   title="... (continued)"    ...unless its title ends with "(continued)": then it runs in
#                              the namespace of the previous block of the page
#   ```text title="Output"     right after a python block: must equal what it printed
#                              (modulo trailing whitespace)
#   ```mermaid                 right after a python block: ditto, so print
#                              graph.get_graph().draw_mermaid() in the block
#   title="REPL-style: ..."    required on, and only on, blocks with top-level await;
#                              they share one event loop per page, closed after the page
#   <!-- skip: next "why" -->  skips the next block; the reason is required. CI=true turns
#                              skipped docs examples and browser tests into failures
#   <!-- invisible-code-block: python -->  hidden checks, run in the previous block's
#                              namespace; rare
"""Test wiring for the whole repository: the docs harness (Sybil) and the built site."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._docs_harness import make_sybil, report_skips

ROOT = Path(__file__).resolve().parent

pytest_plugins = [
    "pytester",  # tests/harness runs the harness on temporary pages
    "tests._services",  # a real PostgreSQL for the tests and docs pages that need one
]

pytest_collect_file = make_sybil(ROOT).pytest()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    report_skips(item, report)
    return report


@dataclass
class BuiltSite:
    path: Path
    returncode: int
    log: str


@pytest.fixture(scope="session")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> BuiltSite:
    """`mkdocs build --strict` once per session, for the build test and the browser test."""
    site = tmp_path_factory.mktemp("site")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")  # quiet Material's end-of-life banner
    env.pop("PYTHONDEVMODE", None)  # we test the build, not its dependencies' warnings
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )
    return BuiltSite(site, result.returncode, result.stdout + result.stderr)
