"""The harness as pytest runs it: what the report shows, and the CI rule for skips."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# The same wiring as the repository's conftest.py, for a temporary project.
CONFTEST = f"""
import pytest
from pathlib import Path

from tests._docs_harness import report_skips, make_sybil

pytest_collect_file = make_sybil(Path(__file__).parent, Path({str(ROOT / "mkdocs.yml")!r})).pytest()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    report_skips(item, report)
    return report
"""

PAGE = '''\
# Page

<!-- skip: next "needs a network" -->

```python title="fetch.py"
raise AssertionError("never runs")
```

```python title="REPL-style: top-level await"
import asyncio
await asyncio.sleep(0)
print("slept")
```

```text title="Output"
slept
```
'''


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    # Without the plugins the pages do not need, an in-process run takes 0.1 s, not 2 s.
    plugins = "-p no:cacheprovider -p no:asyncio -p no:hypothesispytest"
    pytester.makeini(f"[pytest]\nfilterwarnings = error\naddopts = {plugins}\n"
                     "markers = browser: drives a browser\n")
    (pytester.path / "docs").mkdir()
    (pytester.path / "docs" / "page.md").write_text(PAGE)
    return pytester


def test_report_names_lines_and_skip_reasons(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CI", raising=False)
    result = project.runpytest("-rs", "-v", "docs")
    result.assert_outcomes(passed=3, skipped=1)
    result.stdout.fnmatch_lines([
        "docs/page.md::line:1,column:1 PASSED*",  # the fence audit
        "docs/page.md::line:5,column:1 SKIPPED*",
        "SKIPPED [[]1[]] docs/page.md:5: needs a network",
    ])


def test_ci_turns_skipped_examples_into_failures(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CI", "true")
    result = project.runpytest("docs")
    result.assert_outcomes(passed=3, failed=1)
    result.stdout.fnmatch_lines(
        ["*CI=true forbids skipping docs examples and browser tests: needs a network*"])


def test_ci_turns_skipped_browser_tests_into_failures_and_no_other_skips(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Names unlike the outer run's modules: pytest imports test files by their basename.
    project.makepyfile(
        test_chromium_page="""
            import pytest

            pytestmark = pytest.mark.browser

            @pytest.fixture
            def browser():
                pytest.skip("no chromium")

            def test_page(browser):
                pass
        """,
        test_optional_extra="""
            import pytest

            def test_optional():
                pytest.skip("optional dependency missing")
        """,
    )
    monkeypatch.setenv("CI", "true")
    result = project.runpytest("test_chromium_page.py", "test_optional_extra.py", "-rs")
    result.assert_outcomes(errors=1, skipped=1)  # the skip came from a fixture: an error
    result.stdout.fnmatch_lines(["*CI=true forbids skipping*: no chromium*"])


def test_failures_show_the_page_line_and_the_diff(project: pytest.Pytester) -> None:
    (project.path / "docs" / "page.md").write_text(textwrap.dedent('''\
        # Page

        ```python
        print("actual")
        ```

        ```text title="Output"
        expected
        ```
        '''))
    result = project.runpytest("docs")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "docs/page.md:7: the block printed something other than its text output fence shows:",
        "-expected",
        "+actual",
    ])


def test_readme_is_collected_and_other_markdown_is_not(project: pytest.Pytester) -> None:
    (project.path / "README.md").write_text("# Readme\n\n```python\nprint('readme')\n```\n")
    (project.path / "NOTES.md").write_text("# Notes\n\n```python\nraise SystemExit(1)\n```\n")
    result = project.runpytest("-v")
    result.stdout.fnmatch_lines(["README.md::line:3,column:1 PASSED*"])
    result.stdout.no_fnmatch_line("NOTES.md*")
