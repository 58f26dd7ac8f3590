"""Rendering a suite result: console table, Markdown table, Mermaid ``xychart-beta`` charts, JSON.

A *result* is the dict returned by :func:`benchmarks.run_suite` and written by ``--json PATH``
(format described in README.md). The renderers only read it, so the docs can re-render a stored
file without measuring anything::

    from benchmarks import load, render_markdown, render_mermaid

    result = load("benchmarks/results/latest.json")
    table = render_markdown(result)               # a Markdown table + a one-line caption
    chart = render_mermaid(result, "W1")          # one workload, native units, per runner
    overview = render_mermaid(result)             # asyncgraph cost relative to the floor, W1–W7

Workloads measured with a ``Tracer`` too (W1, W2) also get a small "Tracing overhead" table in
the text and Markdown renderings; results written before format version 2 have none.
"""

from __future__ import annotations

import json
import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.suite import (
    FORMAT,
    FORMAT_VERSION,
    LABELS,
    RUNNERS,
    TRACE,
    TRACE_RATIO,
    fmt_ratio,
)

__all__ = ["dump", "load", "render_markdown", "render_mermaid", "render_text"]

RATIO_COLUMNS = (
    ("asyncgraph/floor", "ag ÷ floor"),
    ("langgraph/asyncgraph", "LG ÷ ag"),
)

# Heads the tracing-overhead table: its title in the console, its caption in Markdown.
TRACE_TITLE = (
    "Tracing overhead (trace ÷ ag = what tracing adds per node-step): the same asyncgraph graph "
    "with a Tracer in its config, in the same process, samples interleaved with the runners "
    "above; one Tracer per sample keeps every run's spans"
)


# --------------------------------------------------------------------------------------------
# JSON
# --------------------------------------------------------------------------------------------


def dump(result: dict[str, Any], path: str | os.PathLike[str]) -> Path:
    """Write ``result`` as JSON atomically (``PATH.tmp`` then rename); returns the path."""
    target = Path(path)
    if target.parent != Path():
        target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    return target


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a result written by ``--json``; checks the format marker and version.

    Older versions load as they are: the renderers treat every key a version added as optional.
    """
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{path} is not an asyncgraph benchmark result")
    if data.get("version", 1) > FORMAT_VERSION:
        raise ValueError(
            f"{path} has format version {data['version']}; this suite reads up to "
            f"{FORMAT_VERSION}: update the checkout"
        )
    return data


# --------------------------------------------------------------------------------------------
# Number formatting
# --------------------------------------------------------------------------------------------


def fmt_value(v: float) -> str:
    """Three significant digits, thousands separators for large values."""
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def _plain_number(v: float) -> str:
    """Four significant digits, never in exponent notation (Mermaid does not parse ``1e5``)."""
    if v == 0 or not math.isfinite(v):
        return "0"
    decimals = max(0, 3 - math.floor(math.log10(abs(v))))
    return f"{round(v, decimals):.{decimals}f}"


def _cell(workload: dict[str, Any], runner: str) -> str:
    entry = workload["results"].get(runner, {"status": "skipped"})
    if entry["status"] == "ok":
        return fmt_value(entry["median"])
    return str(entry["status"])


def _verdict(target: dict[str, Any]) -> str:
    passed = target["passed"]
    return "n/a" if passed is None else ("PASS" if passed else "MISS")


@dataclass
class _Table:
    """Cells as text, for both the console and Markdown; ``numeric`` columns align right."""

    header: list[str]
    rows: list[list[str]]
    numeric: range


def _metric(w: dict[str, Any]) -> str:
    return f"{w['unit']} {'↑' if w['better'] == 'higher' else '↓'}"


def _ratio_cell(w: dict[str, Any], key: str) -> str:
    return fmt_ratio(w["ratios"][key]) if key in w["ratios"] else "–"


def _main_table(result: dict[str, Any]) -> _Table:
    header = [
        "",
        "workload",
        "metric",
        *(LABELS[r] for r in RUNNERS),
        *(label for _, label in RATIO_COLUMNS),
        "target",
        "measured",
        "",
    ]
    rows = [
        [
            w["id"],
            w["title"],
            _metric(w),
            *(_cell(w, r) for r in RUNNERS),
            *(_ratio_cell(w, key) for key, _ in RATIO_COLUMNS),
            w["target"]["text"],
            w["target"]["actual"],
            _verdict(w["target"]),
        ]
        for w in result["workloads"]
    ]
    return _Table(header, rows, range(3, 3 + len(RUNNERS) + len(RATIO_COLUMNS)))


def _trace_table(result: dict[str, Any]) -> _Table:
    """One row per workload measured with a Tracer: asyncgraph with it on against off."""
    medians = [LABELS["asyncgraph"], LABELS[TRACE]]
    header = ["", "workload", "metric", *medians, "trace ÷ ag", "target", ""]
    rows = [
        [
            w["id"],
            w["title"],
            _metric(w),
            _cell(w, "asyncgraph"),
            _cell(w, TRACE),
            # Three decimals: the ratio often sits near its limit, and 1.20× MISS would puzzle.
            f"{w['ratios'][TRACE_RATIO]:.3f}×" if TRACE_RATIO in w["ratios"] else "–",
            w["trace_target"]["text"],
            _verdict(w["trace_target"]),
        ]
        for w in result["workloads"]
        if "trace_target" in w  # traced workloads; none in results before format version 2
    ]
    return _Table(header, rows, range(3, 3 + len(medians) + 1))  # the medians and their ratio


def _notes(result: dict[str, Any]) -> list[str]:
    notes = []
    for name, info in result["runners"].items():
        if info["status"] != "ok":
            notes.append(f"{LABELS.get(name, name)} {info['status']}: {info.get('reason', '')}")
    for w in result["workloads"]:
        for name, entry in w["results"].items():
            if entry["status"] == "error" and result["runners"][name]["status"] == "ok":
                notes.append(f"{w['id']} {LABELS.get(name, name)} error: {entry['reason']}")
    return notes


# --------------------------------------------------------------------------------------------
# Console table
# --------------------------------------------------------------------------------------------


def _header_lines(result: dict[str, Any]) -> list[str]:
    env, s = result["environment"], result["settings"]
    versions = " · ".join(
        f"{LABELS[n]} {info['version']}"
        for n, info in result["runners"].items()
        if info.get("version")
    )
    rep_text = f"{s['repeat']} samples"
    fewer: dict[str, list[str]] = {}
    for w in result["workloads"]:
        for runner, entry in w["results"].items():
            if entry["status"] == "ok" and len(entry["samples"]) < s["repeat"]:
                key = f"{LABELS[runner]} {len(entry['samples'])}"
                fewer.setdefault(key, []).append(w["id"])
    if fewer:
        rep_text += (
            " (long samples: "
            + "; ".join(
                f"{key.rsplit(' ', 1)[0]} {', '.join(ids)}: {key.rsplit(' ', 1)[1]}"
                for key, ids in fewer.items()
            )
            + ")"
        )
    load_start, load_end = env.get("loadavg_start"), env.get("loadavg_end")
    load = ""
    if load_start and load_end:
        load = f" · load average {load_start[0]:.2f} → {load_end[0]:.2f} (1 min)"
    frozen = ""
    if s.get("gc_freeze"):
        frozen = f"; {env.get('gc_frozen_objects', 0):,} import-time objects frozen"
    cpus = f"{env['cpu_count']} CPUs"
    if env.get("cpu_affinity") and env["cpu_affinity"] != env["cpu_count"]:
        cpus += f" ({env['cpu_affinity']} usable)"
    return [
        "asyncgraph benchmarks: workloads W1–W7, every runner in one process"
        + (" — QUICK MODE, numbers meaningless" if s["quick"] else ""),
        f"{env['implementation']} {env['python']} · {env['system']} · {cpus} · "
        f"{env['event_loop'].rsplit('.', 1)[-1]} "
        f"(asyncio debug {'on' if env['asyncio_debug'] else 'off'})",
        f"{versions} · floor = plain asyncio calling the same node functions",
        f"median of {rep_text} per runner, interleaved, each ≈ {s['sample_time_s']} s; "
        f"warm-up: result check, calibration, {s['warmup']} more sample(s)",
        f"GC {s['gc']}, collected before each sample{frozen}{load} · "
        f"total {result['duration_s']:.0f} s",
    ]


def _aligned(table: _Table) -> list[str]:
    widths = [max(len(r[i]) for r in [table.header, *table.rows]) for i in range(len(table.header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(widths[i]) if i in table.numeric else c.ljust(widths[i])
            for i, c in enumerate(cells)
        ).rstrip()

    return [line(table.header), line(["-" * w for w in widths]), *(line(r) for r in table.rows)]


def render_text(result: dict[str, Any]) -> str:
    """The console report: header lines, the aligned table, the legend, the tracing-overhead
    table (when the result has traced workloads) and any notes."""
    out = [*_header_lines(result), "", *_aligned(_main_table(result)), "", *_legend()]
    trace = _trace_table(result)
    if trace.rows:
        out += ["", *textwrap.wrap(TRACE_TITLE + ":", 100), *_aligned(trace)]
    out += [f"note: {n}" for n in _notes(result)]
    return "\n".join(out)


def _legend() -> list[str]:
    return [
        "Ratios compare costs (time, memory, or 1/throughput), so > 1 means more expensive:",
        "ag ÷ floor = asyncgraph's overhead over plain asyncio; LG ÷ ag = how many times",
        "faster (or leaner) asyncgraph is than LangGraph on the same graph. ↓ lower is better, "
        "↑ higher.",
    ]


# --------------------------------------------------------------------------------------------
# Markdown and Mermaid (for the docs page)
# --------------------------------------------------------------------------------------------


def _markdown_table(table: _Table) -> list[str]:
    header = ["id", *table.header[1:-1], "result"]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    align = ["--:" if i in table.numeric else "---" for i in range(len(header))]
    return [line(header), "|" + "|".join(align) + "|", *(line(r) for r in table.rows)]


def render_markdown(result: dict[str, Any]) -> str:
    """A GitHub/MkDocs Markdown table of the result, followed by a one-line caption; then,
    when the result has traced workloads, the tracing-overhead table and its caption."""
    out = _markdown_table(_main_table(result))
    env, s = result["environment"], result["settings"]
    load = ""
    if env.get("loadavg_start") and env.get("loadavg_end"):
        load = f", load average {env['loadavg_start'][0]:.1f} → {env['loadavg_end'][0]:.1f}"
    versions = ", ".join(
        f"{LABELS[n]} {info['version']}"
        for n, info in result["runners"].items()
        if info.get("version")
    )
    out += [
        "",
        f"*Medians of up to {s['repeat']} interleaved samples per runner, in one process; "
        f"{env['implementation']} {env['python']}, {env['cpu_count']} CPUs{load}; {versions}. "
        "Ratios compare costs (time, memory or 1/throughput): ag ÷ floor is asyncgraph's "
        "overhead over plain asyncio, LG ÷ ag how many times faster asyncgraph is than LangGraph."
        + (" Quick mode: numbers are meaningless." if s["quick"] else "")
        + "*",
    ]
    trace = _trace_table(result)
    if trace.rows:
        out += ["", *_markdown_table(trace), "", f"*{TRACE_TITLE}.*"]
    notes = _notes(result)
    if notes:
        out += ["", *(f"- {n}" for n in notes)]
    return "\n".join(out)


def _quote(text: str) -> str:
    return '"' + text.replace('"', "'") + '"'


def render_mermaid(
    result: dict[str, Any], workload: str | None = None, *, versus: str = "floor"
) -> str:
    """Mermaid ``xychart-beta`` source (without the surrounding code fence).

    * ``workload="W1"`` (any id): one bar per runner that produced a number, in the workload's
      own unit (µs per node-step, runs/s, …).
    * ``workload=None``: an overview, one bar per workload. ``versus="floor"`` plots
      asyncgraph's cost relative to the floor (1 = as cheap as plain asyncio);
      ``versus="langgraph"`` plots how many times cheaper asyncgraph is than LangGraph.
    """
    if workload is not None:
        matches = [w for w in result["workloads"] if w["id"] == workload.upper()]
        if not matches:
            raise KeyError(f"no workload {workload!r} in this result")
        w = matches[0]
        names = [r for r in RUNNERS if w["results"].get(r, {}).get("status") == "ok"]
        better = "higher is better" if w["better"] == "higher" else "lower is better"
        values = [w["results"][r]["median"] for r in names]
        title = f"{w['id']} {w['title']}: {w['metric']} ({better})"
        return "\n".join(
            [
                "xychart-beta",
                f"    title {_quote(title)}",
                f"    x-axis [{', '.join(_quote(LABELS[r]) for r in names)}]",
                f"    y-axis {_quote(w['metric'])}",
                f"    bar [{', '.join(_plain_number(v) for v in values)}]",
            ]
        )
    if versus == "floor":
        key, title, axis = (
            "asyncgraph/floor",
            "asyncgraph cost relative to the plain-asyncio floor (1 = floor, lower is better)",
            "times the floor",
        )
    elif versus == "langgraph":
        key, title, axis = (
            "langgraph/asyncgraph",
            "How many times cheaper asyncgraph is than LangGraph (higher is better)",
            "times cheaper than LangGraph",
        )
    else:
        raise ValueError("versus must be 'floor' or 'langgraph'")
    points = [(w["id"], w["ratios"][key]) for w in result["workloads"] if key in w["ratios"]]
    return "\n".join(
        [
            "xychart-beta",
            f"    title {_quote(title)}",
            f"    x-axis [{', '.join(_quote(i) for i, _ in points)}]",
            f"    y-axis {_quote(axis)}",
            f"    bar [{', '.join(_plain_number(v) for _, v in points)}]",
        ]
    )


def write_docs(result: dict[str, Any], path: str) -> str:
    """Write the include file of the docs' performance page: the tables and overview charts."""
    charts = [render_mermaid(result)]
    if any("langgraph/asyncgraph" in w["ratios"] for w in result["workloads"]):
        charts.append(render_mermaid(result, versus="langgraph"))
    text = "\n\n".join(
        [
            "<!-- Generated by `python3 dev.py bench --docs docs/topics/_benchmark-results.md`;"
            " do not edit by hand. -->",
            render_markdown(result),
            *(f"```mermaid\n{chart}\n```" for chart in charts),
        ]
    )
    with open(path, "w", encoding="utf-8") as out:
        out.write(text + "\n")
    return path
