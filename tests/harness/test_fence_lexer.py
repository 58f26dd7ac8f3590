"""The fence lexer and spelling check, on strings: no Sybil, no event loop."""

from __future__ import annotations

import textwrap

import pytest

from tests._docs_harness import iter_fences, spelling_problem

PAGE = textwrap.dedent('''\
    # Title

    ```python title="x.py" hl_lines="2 3" linenums="1"
    a = 1
    ```

    === "Async"

        ```python
        if True:
            b = 2
        ```

    ??? question "Why?"

        ```text title="Output"
        done
        ```

    ````markdown
    ```python
    not_a_block = True
    ```
    ````
    ''')


def test_fences_keep_attributes_indentation_and_lines() -> None:
    fences = list(iter_fences(PAGE))
    assert [(f.line, f.lang, f.title, f.indent) for f in fences] == [
        (3, "python", "x.py", ""),
        (9, "python", "", "    "),
        (16, "text", "Output", "    "),
        (20, "markdown", "", ""),
    ]
    assert fences[0].body == "a = 1\n"
    assert fences[1].body == "if True:\n    b = 2\n"  # the tab's indentation is removed
    assert PAGE[fences[0].start:fences[0].end].endswith('a = 1\n```')


def test_a_fence_inside_a_longer_fence_is_text() -> None:
    markdown_example = list(iter_fences(PAGE))[-1]
    assert "```python" in markdown_example.body


def test_unclosed_fence_runs_to_the_end() -> None:
    (fence,) = iter_fences("```python\nx = 1\n")
    assert fence.body == "x = 1\n"


def test_inline_code_with_three_backticks_is_not_a_fence() -> None:
    assert list(iter_fences("```py x```\n")) == []


@pytest.mark.parametrize(
    "opening", ["```py", "```Python", "``` python", "```python3", "```{.python}",
                "``` { .python title='x' }", "```pycon", "~~~py"],
)
def test_python_lookalikes_are_flagged(opening: str) -> None:
    (fence,) = iter_fences(f"{opening}\nx = 1\n{opening[:3]}\n")
    problem = spelling_problem(fence)
    assert problem is not None and "write ```python" in problem


@pytest.mark.parametrize(
    "opening", ['```python title="x"', "```python", "~~~python", "```bash", "```console",
                "```text", "```pytb", "```mermaid", "```"],
)
def test_intended_spellings_pass(opening: str) -> None:
    (fence,) = iter_fences(f"{opening}\nx\n{opening[:3]}\n")
    assert spelling_problem(fence) is None
