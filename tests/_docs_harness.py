"""The docs harness: every ```python block under docs/ and in README.md is a test.

Sybil does the collecting and reporting; this module decides what a block is and how it
runs. Conventions a page author follows (the same list heads conftest.py):

``` ```python ```
    Every block with exactly this info string runs, attributes included
    (``title="x.py"``, ``hl_lines="2 3"``, ``linenums="1"``), at any indentation (content
    tabs, admonitions, ``???`` answers). Spellings that would be rendered but not run
    (``py``, ``Python``, ``python3``, `` python`` with a space, ``{.python}``, ``pycon``)
    fail the page's fence audit. Blocks meant not to run use ``bash``, ``console``,
    ``text``.
Standalone by default
    A block runs in a fresh ``__main__`` namespace, as if pasted alone into a file.
    A block whose title ends with ``(continued)`` runs in the namespace left by the
    previous block of the page instead, e.g. ``title="main.py (continued)"``.
Printed output
    A ```` ```text title="Output" ```` fence directly after a python block (nothing but
    blank lines between, same indentation) must equal what the block printed, modulo
    trailing whitespace. A ```` ```mermaid ```` fence directly after a python block is
    its output too, so a diagram printed by ``graph.get_graph().draw_mermaid()`` is both
    rendered by Material and checked against the code. An Output fence that follows no
    python block fails the audit (it would never be checked).
REPL-style blocks
    A block with top-level ``await`` must carry ``REPL-style`` in its title, e.g.
    ``title="REPL-style: top-level await"``, and a block with that label must use it.
    Such blocks run the way ``python -m asyncio`` and Jupyter run them: on one event loop
    per page (debug mode under PYTHONASYNCIODEBUG / PYTHONDEVMODE), closed after the
    page's last block. Other blocks run with no loop running, so ``asyncio.run(main())``
    works in them.
Skips
    ``<!-- skip: next "reason" -->`` skips the next example and pytest reports the
    reason; a skip without a reason fails. Under ``CI=true`` every skipped docs example
    (and browser test) fails the run: see ``report_skips``.
Hidden code
    ``<!-- invisible-code-block: python ... -->`` runs in the namespace of the block
    before it (for hidden checks). Hidden *setup* means the next visible block is not
    standalone, so it must say ``(continued)``. Keep both rare.

Why the audit renders the page: Sybil's stock parser silently drops fences with
attributes, so "how many python blocks did we run?" needs an independent answer. The
audit (first item of every page) renders the page with the markdown extensions of
mkdocs.yml and counts the python blocks a reader sees; it fails unless that equals the
number of blocks Sybil collected.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import difflib
import functools
import inspect
import io
import itertools
import os
import re
import sys
import types
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import markdown
from mkdocs.utils.yaml import yaml_load
from sybil import Document, Example, Region, Sybil
from sybil.integration.pytest import SybilItem
from sybil.parsers.markdown import SkipParser
from sybil.parsers.markdown.lexers import DirectiveInHTMLCommentLexer

REPL_LABEL = "REPL-style"
CONTINUED = "(continued)"
OUTPUT_TITLE = "Output"
PAGE_KEY = "__docs_page__"  # where a page's state lives in Sybil's per-document namespace

# ---------------------------------------------------------------------------------------
# Fences. Mirrors pymdownx.superfences, which renders the site: an opening fence may be
# indented (tabs, admonitions), the closing fence repeats it exactly at the same
# indentation, and fences do not nest (a ```python inside a ````markdown example is text).

FENCE_LINE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*?)[ \t]*$")
TITLE = re.compile(r"""\btitle=(["'])(?P<title>.*?)\1""")
# Spellings a reader would see highlighted as Python but that are not the one we run.
PYTHONISH = re.compile(r"py|python\d*|py\d|pycon|ipython\d*", re.IGNORECASE)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
LANGUAGE_WORD = re.compile(r"[\s{.]*([\w#+-]*)")  # "python" in ' { .python title="x" }'


@dataclass
class Fence:
    start: int  # offset of the opening line in the document
    end: int  # offset just after the closing fence
    line: int  # 1-based line of the opening fence
    indent: str
    marker: str  # the backticks or tildes
    info: str  # everything after the backticks, e.g. 'python title="x.py"'
    body: str  # content with the fence's indentation removed

    @property
    def lang(self) -> str:
        # " python" (space first) is not "python": Sybil-style lexers would skip it.
        return self.info.split()[0] if self.info[:1].strip() else ""

    @property
    def title(self) -> str:
        match = TITLE.search(self.info)
        return match["title"] if match else ""

    @property
    def is_python(self) -> bool:
        return self.lang == "python"

    @property
    def is_output(self) -> bool:
        return (self.lang == "text" and self.title == OUTPUT_TITLE) or self.lang == "mermaid"


def iter_fences(text: str) -> Iterator[Fence]:
    opening: tuple[re.Match[str], int, int] | None = None
    body: list[str] = []
    offset = 0
    for number, line in enumerate(text.split("\n"), start=1):  # "\n" only, as Sybil counts
        bare = line.rstrip("\r")
        if opening is None:
            match = FENCE_LINE.match(bare)
            # A backtick fence's info string cannot hold a backtick (``` `x` ``` is inline).
            if match and not (match["fence"][0] == "`" and "`" in match["info"]):
                opening, body = (match, offset, number), []
        else:
            match, start, first = opening
            indent = match["indent"]
            if bare.strip() == match["fence"] and bare[: len(indent)] == indent:
                yield Fence(start, offset + len(bare), first, indent, match["fence"],
                            match["info"], _dedent(body, indent))
                opening = None
            else:
                body.append(bare)
        offset += len(line) + 1
    if opening is not None:  # unclosed: runs to the end, as Markdown renders it
        match, start, first = opening
        if body and not body[-1]:
            body.pop()  # what follows the text's final newline is not a line
        yield Fence(start, len(text), first, match["indent"], match["fence"], match["info"],
                    _dedent(body, match["indent"]))


def _dedent(lines: list[str], indent: str) -> str:
    return "".join((line[len(indent):] if line.startswith(indent) else line.lstrip(" \t"))
                   + "\n" for line in lines)


def spelling_problem(fence: Fence) -> str | None:
    """Why a fence that looks like Python would be rendered but never run, if it would."""
    word = LANGUAGE_WORD.match(fence.info)[1]  # type: ignore[index]  # it always matches
    if fence.is_python or not PYTHONISH.fullmatch(word):
        return None
    return (f"fence {fence.marker + fence.info!r} is not run as a test: write "
            "```python (attributes such as title=\"...\" may follow after a space); "
            "for code that must not run use ```text, ```bash or ```console")


# ---------------------------------------------------------------------------------------
# What Sybil collects.


@dataclass
class Block:
    source: str
    pad: int  # newlines to prepend so tracebacks show the markdown file's line numbers
    title: str = ""
    hidden: bool = False
    output: Fence | None = None

    @property
    def continues(self) -> bool:
        return self.title.rstrip().endswith(CONTINUED)

    @property
    def repl_style(self) -> bool:
        return REPL_LABEL in self.title


@dataclass
class Audit:
    problems: list[str]  # found while parsing; the count is checked when the audit runs


class PythonBlockParser:
    """Yields one region per ```python fence (plus its output fence) and hidden block."""

    def __init__(self) -> None:
        self.hidden = DirectiveInHTMLCommentLexer("invisible-code-block", arguments="python")

    def __call__(self, document: Document) -> Iterable[Region]:
        fences = list(iter_fences(document.text))
        for fence, after in itertools.zip_longest(fences, fences[1:]):
            if not fence.is_python:
                continue
            output = after if after and _directly_after(document.text, fence, after) else None
            block = Block(fence.body, fence.line, fence.title, output=output)
            yield Region(fence.start, output.end if output else fence.end, block, run_block)
        for region in self.hidden(document):
            source = region.lexemes["source"]
            line = document.text.count("\n", 0, region.start) + 1
            block = Block(source, line + source.line_offset, hidden=True)
            yield Region(region.start, region.end, block, run_block)


def _directly_after(text: str, fence: Fence, after: Fence) -> bool:
    return (after.is_output and after.indent == fence.indent
            and not text[fence.end:after.start].strip())


class AuditParser:
    """Yields the page's fence audit: an empty region at offset 0, so it runs first.

    Keep it last in Sybil's parser list: a region that starts at offset 0 and is added
    after the audit would be reported as overlapping it.
    """

    def __init__(self, mkdocs_yml: Path) -> None:
        self.mkdocs_yml = mkdocs_yml

    def __call__(self, document: Document) -> Iterable[Region]:
        fences = list(iter_fences(document.text))
        problems = [f"{_where(document.path, f.line)}: {problem}"
                    for f in fences if (problem := spelling_problem(f))]
        attached = {id(after) for fence, after in itertools.pairwise(fences)
                    if fence.is_python and _directly_after(document.text, fence, after)}
        problems += [f"{_where(document.path, f.line)}: this Output fence follows no python "
                     "block directly, so it is never checked: move it right after the block "
                     "whose output it shows" for f in fences
                     if f.lang == "text" and f.title == OUTPUT_TITLE and id(f) not in attached]
        yield Region(0, 0, Audit(problems), functools.partial(
            audit_page, mkdocs_yml=self.mkdocs_yml))


def audit_page(example: Example, mkdocs_yml: Path) -> str | None:
    problems = list(example.parsed.problems)
    collected = sum(isinstance(region.parsed, Block) and not region.parsed.hidden
                    for _, region in example.document.regions)
    shown = count_rendered_python_blocks(example.document.text, mkdocs_yml)
    if shown != collected:
        problems.append(
            f"{_where(example.path, 1)}: a reader sees {shown} python code block(s) but the "
            f"harness collected {collected}: every ```python fence must be a test, and "
            "only fences shown as Python may run (check fence spelling and indentation)")
    return "\n".join(problems) or None


def count_rendered_python_blocks(text: str, mkdocs_yml: Path) -> int:
    renderer = _renderer(mkdocs_yml)
    renderer.reset()
    # Markdown renders a fence inside <!-- --> too; the browser hides it, so drop comments.
    html = HTML_COMMENT.sub("", renderer.convert(text))
    return html.count('<div class="language-python highlight"')


@functools.cache
def _renderer(mkdocs_yml: Path) -> markdown.Markdown:
    """A Markdown converter configured like `mkdocs build` renders pages."""
    with mkdocs_yml.open(encoding="utf-8") as file:
        config = yaml_load(file)
    names: list[str] = ["toc", "tables", "fenced_code"]  # MkDocs always adds these
    options: dict[str, dict[str, Any]] = {}
    for entry in config.get("markdown_extensions") or []:
        name, opts = (entry, {}) if isinstance(entry, str) else next(iter(entry.items()))
        if name == "pymdownx.snippets":
            continue  # included sections are counted on the page they come from
        names.append(name)
        options[name] = dict(opts or {})
    # The count looks for this class; force it so the count does not depend on it.
    options.setdefault("pymdownx.highlight", {})["pygments_lang_class"] = True
    return markdown.Markdown(extensions=list(dict.fromkeys(names)), extension_configs=options)


# ---------------------------------------------------------------------------------------
# Running blocks.


@dataclass
class Page:
    """State shared by the blocks of one page, created and closed by Sybil's setup/teardown."""

    module: types.ModuleType | None = None  # the namespace the last block ran in
    loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)

    def run(self, coroutine: Any) -> Any:
        if self.loop is None:
            # new_event_loop() turns on debug mode itself under PYTHONASYNCIODEBUG or
            # PYTHONDEVMODE, exactly as asyncio.run() would.
            self.loop = asyncio.new_event_loop()
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        """Finish the loop the way asyncio.run() does, so nothing leaks a ResourceWarning."""
        loop, self.loop, self.module = self.loop, None, None
        if loop is None:
            return
        try:
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()


def setup_page(namespace: dict[str, Any]) -> None:
    namespace[PAGE_KEY] = Page()


def teardown_page(namespace: dict[str, Any]) -> None:
    namespace.pop(PAGE_KEY).close()


def run_block(example: Example) -> str | None:
    page: Page = example.namespace[PAGE_KEY]
    block: Block = example.parsed
    where = _where(example.path, example.line)
    code = compile("\n" * block.pad + block.source, example.path, "exec",
                   flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True)
    awaits = bool(code.co_flags & inspect.CO_COROUTINE)
    if not block.hidden and (problem := _label_problem(block, awaits, page.module)):
        return f"{where}: {problem}"
    if page.module is None or not (block.continues or block.hidden):
        page.module = types.ModuleType("__main__")
    printed = io.StringIO()
    try:
        with contextlib.redirect_stdout(printed), _as_main(page.module):
            if awaits:
                page.run(eval(code, page.module.__dict__))
            else:
                exec(code, page.module.__dict__)
    finally:
        sys.stdout.write(printed.getvalue())  # shown by pytest when the block fails
    if block.output is not None:
        return _compare_output(block.output, printed.getvalue(), example.path)
    return None


def _label_problem(block: Block, awaits: bool, previous: types.ModuleType | None) -> str:
    if block.continues and previous is None:
        return f'the title ends with "{CONTINUED}" but no block comes before it on this page'
    if awaits and not block.repl_style:
        return ('top-level await only runs in a REPL (python -m asyncio, Jupyter): label the '
                f'block ```python title="{REPL_LABEL}: top-level await", or make it a script '
                "(async def main(): ...; asyncio.run(main()))")
    if block.repl_style and not awaits:
        return f'the title says "{REPL_LABEL}" but the block has no top-level await: drop it'
    return ""


@contextlib.contextmanager
def _as_main(module: types.ModuleType) -> Iterator[None]:
    """Make the block's namespace the real ``__main__`` while it runs, as runpy does, so
    dataclasses and typing.get_type_hints() resolve names the way a pasted script would."""
    saved = sys.modules["__main__"]
    sys.modules["__main__"] = module
    try:
        yield
    finally:
        sys.modules["__main__"] = saved


def _compare_output(output: Fence, printed: str, path: str) -> str | None:
    expected, actual = _lines(output.body), _lines(printed)
    if expected == actual:
        return None
    diff = "\n".join(difflib.unified_diff(expected, actual, "documented", "printed",
                                          lineterm=""))
    hint = ""
    if output.lang == "mermaid":
        hint = ("\n(a ```mermaid fence right after a python block is that block's output; "
                "print graph.get_graph().draw_mermaid() in the block, or put prose between "
                "them if the diagram is not its output)")
    return (f"{_where(path, output.line)}: the block printed something other than its "
            f"{output.lang} output fence shows:\n{diff}{hint}")


def _lines(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _where(path: str, line: int) -> str:
    with contextlib.suppress(ValueError):
        path = os.path.relpath(path)
    return f"{path}:{line}"


# ---------------------------------------------------------------------------------------
# Skips and wiring.


class ReasonedSkipParser(SkipParser):
    """Sybil's skip directive, but ``<!-- skip: next -->`` without a reason fails: Sybil
    would otherwise report the example as passed without running it."""

    def __call__(self, document: Document) -> Iterable[Region]:
        for region in super().__call__(document):
            action, reason = region.parsed
            if action in ("start", "next") and not reason:
                where = _where(document.path, document.text.count("\n", 0, region.start) + 1)
                message = (f'{where}: <!-- skip: {action} --> needs a reason, e.g. '
                           f'<!-- skip: {action} "needs network" -->')
                region.evaluator = lambda example, message=message: message
            yield region


class DocsSybil(Sybil):
    """Parses README.md and docs/**/*.md under the root, nothing else."""

    def should_parse(self, path: Path) -> bool:
        try:
            relative = path.relative_to(self.path)
        except ValueError:
            return False
        return relative == Path("README.md") or (
            relative.parts[0] == "docs" and relative.suffix == ".md")


def make_sybil(root: Path, mkdocs_yml: Path | None = None) -> DocsSybil:
    return DocsSybil(
        parsers=[ReasonedSkipParser(), PythonBlockParser(),
                 AuditParser(mkdocs_yml or root / "mkdocs.yml")],
        path=str(root.resolve()),
        setup=setup_page,
        teardown=teardown_page,
    )


def report_skips(item: Any, report: Any) -> None:
    """Point a skipped docs example at its page line (not at pytest's unittest shim), and
    under CI=true turn skipped docs examples and browser tests into failures: CI must run
    every one of them."""
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
    reason = reason.removeprefix("Skipped: ")
    is_example = isinstance(item, SybilItem)
    if is_example:
        report.longrepr = (item.example.path, item.example.line, reason)
    if os.environ.get("CI") == "true" and (is_example or item.get_closest_marker("browser")):
        report.outcome = "failed"
        report.longrepr = f"CI=true forbids skipping docs examples and browser tests: {reason}"
