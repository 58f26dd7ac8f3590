"""Command line of the suite: ``python -m benchmarks`` (what ``python3 dev.py bench`` runs)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchmarks.report import (
    dump,
    load,
    render_markdown,
    render_mermaid,
    render_text,
    write_docs,
)
from benchmarks.suite import WORKLOADS, Options, run_suite


def _parser() -> argparse.ArgumentParser:
    ids = ", ".join(f"{w.id} {w.title}" for w in WORKLOADS)
    traced = ", ".join(w.id for w in WORKLOADS if w.trace_spans is not None)
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure asyncgraph against a plain-asyncio floor and LangGraph (when "
        f"installed) on workloads {ids}; on {traced} also asyncgraph with a Tracer, for the "
        "cost of tracing. Prints a table of medians and ratios; progress goes to stderr.",
    )
    p.add_argument("--quick", action="store_true",
                   help="tiny counts and one sample: checks that everything runs (smoke test); "
                   "the numbers mean nothing")
    p.add_argument("--repeat", type=int, metavar="N",
                   help="timed samples per runner and workload (default 7; W3 at most 5, W7 at "
                   "most 3)")
    p.add_argument("--warmup", type=int, metavar="N",
                   help="extra untimed samples after calibration (default 1)")
    p.add_argument("--sample-time", type=float, metavar="S",
                   help="calibrate each sample to last about S seconds (default 0.1)")
    p.add_argument("--only", metavar="W1,W3", help="run only these workloads")
    p.add_argument("--no-langgraph", action="store_true",
                   help="skip LangGraph even when it is installed")
    p.add_argument("--no-gc", action="store_true",
                   help="disable the cyclic GC during samples (default: enabled, as in "
                   "production; it is always collected before each sample)")
    p.add_argument("--no-freeze", action="store_true",
                   help="do not gc.freeze() the imported libraries' objects before measuring")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    p.add_argument("--json", metavar="PATH", help="also write the full result as JSON to PATH")
    p.add_argument("--format", choices=("text", "markdown", "mermaid"), default="text",
                   help="how to print the result (default: text table)")
    p.add_argument("--docs", metavar="PATH",
                   help="also write the Markdown tables and overview charts that the docs page "
                   "'Performance of Async Execution' includes (docs/topics/_benchmark-results.md)")
    p.add_argument("--from-json", metavar="PATH",
                   help="do not measure: render a result previously written with --json")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.from_json:
        result = load(args.from_json)
    else:
        options = Options(
            quick=args.quick,
            repeat=args.repeat,
            warmup=args.warmup,
            sample_time=args.sample_time,
            workloads=args.only.split(",") if args.only else None,
            langgraph=not args.no_langgraph,
            gc_during_samples=not args.no_gc,
            gc_freeze=not args.no_freeze,
            progress=not args.no_progress,
        )
        try:
            result = run_suite(options)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if args.json:
            print(f"wrote {dump(result, args.json)}", file=sys.stderr)
    if args.docs:
        print(f"wrote {write_docs(result, args.docs)}", file=sys.stderr)
    if args.format == "markdown":
        print(render_markdown(result))
    elif args.format == "mermaid":
        blocks = []
        if any("asyncgraph/floor" in w["ratios"] for w in result["workloads"]):
            blocks.append(render_mermaid(result))
        if any("langgraph/asyncgraph" in w["ratios"] for w in result["workloads"]):
            blocks.append(render_mermaid(result, versus="langgraph"))
        blocks += [render_mermaid(result, w["id"]) for w in result["workloads"]]
        print("\n\n".join(f"```mermaid\n{b}\n```" for b in blocks))
    else:
        print(render_text(result))
    return 0
