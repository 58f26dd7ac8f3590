"""The asyncgraph overhead suite: workloads W1–W7 against a plain-asyncio floor and LangGraph.

Run it with ``python3 dev.py bench`` (or ``python -m benchmarks --help``). From Python::

    from benchmarks import Options, render_markdown, render_mermaid, run_suite

    result = run_suite(Options(quick=True))   # the same dict ``--json PATH`` writes
    print(render_markdown(result))
    print(render_mermaid(result, "W1"))

Importing this package imports neither asyncgraph nor LangGraph; :func:`run_suite` does.
"""

from benchmarks.cli import main
from benchmarks.report import dump, load, render_markdown, render_mermaid, render_text
from benchmarks.suite import WORKLOADS, Options, run_suite

__all__ = [
    "WORKLOADS",
    "Options",
    "dump",
    "load",
    "main",
    "render_markdown",
    "render_mermaid",
    "render_text",
    "run_suite",
]
