"""The harness on temporary pages: what is collected, how blocks run, what fails and why.

Each page's first outcome is its fence audit (line 1); the others are its blocks.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.harness._pages import Outcome, run_page


def statuses(outcomes: list[Outcome]) -> list[tuple[int, str]]:
    return [(o.line, o.status) for o in outcomes]


def test_fences_with_attributes_in_tabs_and_admonitions_all_run(tmp_path: Path) -> None:
    outcomes = run_page(tmp_path, '''\
        # Page

        ```python title="x.py" hl_lines="1" linenums="1"
        print("attributes")
        ```

        ```text title="Output"
        attributes
        ```

        === "Async"

            ```python
            print("tab")
            ```

            ```text title="Output"
            tab
            ```

        ??? answer "Why?"

            ```python title="answer.py"
            print("answer")
            ```

            ```text title="Output"
            answer
            ```
        ''')
    assert statuses(outcomes) == [(1, "passed"), (3, "passed"), (13, "passed"), (23, "passed")]


def test_a_page_without_code_has_just_its_audit(tmp_path: Path) -> None:
    assert statuses(run_page(tmp_path, "# Page\n\nProse only.\n")) == [(1, "passed")]


def test_lookalike_spellings_fail_the_audit_with_file_line_and_fix(tmp_path: Path) -> None:
    audit = run_page(tmp_path, '''\
        # Page

        ```py
        x = 1
        ```

        ``` python
        y = 2
        ```
        ''')[0]
    assert audit.status == "failed"
    assert "/docs/page.md:3: fence '```py' is not run as a test: write ```python" in audit.message
    assert "/docs/page.md:7: fence '``` python'" in audit.message
    # The space-before-python fence renders as Python, so the count disagrees too.
    assert "a reader sees 1 python code block(s) but the harness collected 0" in audit.message


def test_a_python_fence_readers_do_not_see_fails_the_audit(tmp_path: Path) -> None:
    audit = run_page(tmp_path, '''\
        # Page

        <!--
        ```python
        print("hidden in a comment")
        ```
        -->
        ''')[0]
    assert "a reader sees 0 python code block(s) but the harness collected 1" in audit.message


def test_printed_output_must_match(tmp_path: Path) -> None:
    outcomes = run_page(tmp_path, '''\
        # Page

        ```python
        print("one   ")
        print("two")
        ```

        ```text title="Output"
        one
        three
        ```
        ''')
    assert outcomes[1].status == "failed"
    assert "/docs/page.md:8: the block printed something other" in outcomes[1].message
    assert "-three\n+two" in outcomes[1].message  # trailing spaces after "one" do not count


def test_a_mermaid_fence_after_a_block_is_its_output(tmp_path: Path) -> None:
    page = '''\
        # Page

        ```python
        print("graph TD;\\n    a --> b;")
        ```

        ```mermaid
        graph TD;
            a --> {target};
        ```
        '''
    assert run_page(tmp_path, page.format(target="b"))[1].status == "passed"
    drawn = run_page(tmp_path, page.format(target="c"))[1]
    assert drawn.status == "failed" and "-    a --> c;\n+    a --> b;" in drawn.message
    assert "print graph.get_graph().draw_mermaid()" in drawn.message


def test_an_output_fence_after_prose_fails_the_audit(tmp_path: Path) -> None:
    audit = run_page(tmp_path, '''\
        # Page

        ```python
        print("x")
        ```

        Some prose.

        ```text title="Output"
        x
        ```
        ''')[0]
    assert "/docs/page.md:9: this Output fence follows no python block" in audit.message


def test_top_level_await_needs_the_repl_label_and_the_label_needs_it(tmp_path: Path) -> None:
    outcomes = run_page(tmp_path, '''\
        # Page

        ```python
        import asyncio
        await asyncio.sleep(0)
        ```

        ```python title="REPL-style: top-level await"
        import asyncio
        await asyncio.sleep(0)
        ```

        ```python title="REPL-style"
        x = 1
        ```
        ''')
    assert statuses(outcomes)[1:] == [(3, "failed"), (8, "passed"), (13, "failed")]
    assert "top-level await only runs in a REPL" in outcomes[1].message
    assert "has no top-level await: drop it" in outcomes[3].message


def test_blocks_are_standalone_unless_marked_continued(tmp_path: Path) -> None:
    outcomes = run_page(tmp_path, '''\
        # Page

        ```python
        answer = 42
        assert __name__ == "__main__"
        ```

        ```python title="(continued)"
        assert answer == 42
        ```

        ```python
        print(answer)
        ```
        ''')
    assert statuses(outcomes)[1:] == [(3, "passed"), (8, "passed"), (12, "raised")]
    assert "NameError" in outcomes[3].message


def test_continuing_the_first_block_of_a_page_fails(tmp_path: Path) -> None:
    outcomes = run_page(tmp_path, '''\
        # Page

        ```python title="setup.py (continued)"
        x = 1
        ```
        ''')
    assert 'ends with "(continued)" but no block comes before it' in outcomes[1].message


def test_repl_blocks_share_one_debug_loop_and_scripts_use_asyncio_run(tmp_path: Path) -> None:
    debug = bool(os.environ.get("PYTHONASYNCIODEBUG") or os.environ.get("PYTHONDEVMODE"))
    outcomes = run_page(tmp_path, f'''\
        # Page

        ```python title="REPL-style: top-level await"
        import asyncio
        loop = asyncio.get_running_loop()
        assert loop.get_debug() is {debug}
        ticker = asyncio.create_task(asyncio.sleep(3600))
        await asyncio.sleep(0)
        ```

        ```python title="REPL-style (continued)"
        await asyncio.sleep(0)
        assert asyncio.get_running_loop() is loop
        assert not ticker.done()
        ```

        ```python title="script.py"
        import asyncio


        async def main() -> str:
            return "ran"

        print(asyncio.run(main()))
        ```

        ```text title="Output"
        ran
        ```
        ''')
    # The ticker task is still pending when the page ends: teardown cancels it and closes
    # the loop without warnings, which filterwarnings=error would turn into errors.
    assert statuses(outcomes) == [(1, "passed"), (3, "passed"), (11, "passed"), (17, "passed")]


def test_blocks_see_a_real_main_module(tmp_path: Path) -> None:
    outcomes = run_page(tmp_path, '''\
        # Page

        ```python
        from __future__ import annotations

        import sys
        import typing
        from dataclasses import dataclass


        @dataclass
        class Point:
            x: int

        assert sys.modules["__main__"].Point is Point
        assert typing.get_type_hints(Point) == {"x": int}
        ```
        ''')
    assert statuses(outcomes) == [(1, "passed"), (3, "passed")]


def test_hidden_blocks_check_the_previous_block(tmp_path: Path) -> None:
    outcomes = run_page(tmp_path, '''\
        # Page

        ```python
        total = sum([1, 2, 3])
        ```

        <!-- invisible-code-block: python
        assert total == 6
        -->
        ''')
    assert statuses(outcomes) == [(1, "passed"), (3, "passed"), (7, "passed")]


def test_tracebacks_point_at_the_markdown_line(tmp_path: Path) -> None:
    outcomes = run_page(tmp_path, '''\
        # Page

        === "Sync"

            ```python
            x = 1
            raise ValueError(x)
            ```
        ''')
    assert outcomes[1] == Outcome(5, "raised", "ValueError(1) at page.md:7")


def test_skips_need_a_reason(tmp_path: Path) -> None:
    outcomes = run_page(tmp_path, '''\
        # Page

        <!-- skip: next "needs a network" -->

        ```python
        raise AssertionError("skipped")
        ```

        <!-- skip: next -->

        ```python
        x = 1
        ```
        ''')
    assert statuses(outcomes)[1:3] == [(3, "passed"), (5, "skipped")]
    assert outcomes[2].message == "needs a network"
    assert statuses(outcomes)[3:] == [(9, "failed"), (11, "passed")]
    assert outcomes[3].message.endswith(
        '/docs/page.md:9: <!-- skip: next --> needs a reason, e.g. '
        '<!-- skip: next "needs network" -->')
