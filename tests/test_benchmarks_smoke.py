"""Smoke test of the benchmark suite (``python3 dev.py bench``): it runs end to end, in-process,
with tiny counts (``--quick``), and its result has the documented structure.

Never a speed test: no assertion here looks at how fast anything is, only that every workload
produced positive finite numbers and ratios, that W1 and W2 also measured asyncgraph with a
Tracer, and that LangGraph is either measured or marked skipped (it is the optional ``bench``
extra).
"""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKLOAD_IDS = ["W1", "W2", "W3", "W4", "W5", "W6", "W7"]
TRACED_IDS = ["W1", "W2"]  # sequential node-step workloads: also run with a Tracer
TRACE = "asyncgraph+trace"


def _bench() -> ModuleType:
    """``benchmarks`` lives beside ``tests/`` and is not installed; import it from the checkout."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    return importlib.import_module("benchmarks")


def _positive_finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _row_ids(table: str, prefix: str) -> list[str]:
    """The workload ids that start the rows of a rendered table (``| W1 |`` or ``W1  ...``)."""
    rows = [line[len(prefix) :] for line in table.splitlines() if line.startswith(prefix + "W")]
    return [row.split()[0] for row in rows]


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One quick run, written to JSON and read back: the tests check what the docs page reads."""
    bench = _bench()
    measured = bench.run_suite(bench.Options(quick=True, progress=False))
    path = tmp_path_factory.mktemp("bench") / "result.json"
    bench.dump(measured, path)
    loaded: dict[str, Any] = bench.load(path)
    return loaded


def test_every_workload_is_present(result: dict[str, Any]) -> None:
    assert result["format"] == "asyncgraph-bench"
    assert [w["id"] for w in result["workloads"]] == WORKLOAD_IDS
    for w in result["workloads"]:
        assert w["title"] and w["metric"] and w["unit"]
        assert w["better"] in ("lower", "higher")
        traced = {TRACE} if w["id"] in TRACED_IDS else set()
        assert set(w["results"]) == {"floor", "asyncgraph", "langgraph", *traced}, w["id"]


def test_floor_and_asyncgraph_measured_with_positive_finite_numbers(
    result: dict[str, Any],
) -> None:
    for w in result["workloads"]:
        for runner in ("floor", "asyncgraph"):
            entry = w["results"][runner]
            assert entry["status"] == "ok", (w["id"], runner, entry)
            assert _positive_finite(entry["median"]), (w["id"], runner, entry)
            assert entry["samples"] and all(_positive_finite(v) for v in entry["samples"])
        assert _positive_finite(w["ratios"]["asyncgraph/floor"]), w


def test_every_ratio_is_a_positive_finite_number(result: dict[str, Any]) -> None:
    for w in result["workloads"]:
        assert w["ratios"], w["id"]
        for key, value in w["ratios"].items():
            assert _positive_finite(value), (w["id"], key, value)


def test_tracing_overhead_is_measured_on_w1_and_w2_only(result: dict[str, Any]) -> None:
    assert result["runners"][TRACE]["status"] == "ok", result["runners"][TRACE]
    for w in result["workloads"]:
        if w["id"] not in TRACED_IDS:
            assert TRACE not in w["results"] and "trace_target" not in w, w["id"]
            assert not any(TRACE in key for key in w["ratios"]), w["id"]
            continue
        entry = w["results"][TRACE]
        assert entry["status"] == "ok", (w["id"], entry)
        assert _positive_finite(entry["median"]), (w["id"], entry)
        assert entry["samples"] and all(_positive_finite(v) for v in entry["samples"])
        assert entry["units_per_sample"] >= 1
        assert _positive_finite(w["ratios"][f"{TRACE}/asyncgraph"]), w["ratios"]
        target = w["trace_target"]
        assert target["text"] == "≤ 1.20×" and target["actual"]
        assert target["passed"] in (True, False)  # a verdict, never asserted here


def test_langgraph_is_measured_or_marked_skipped(result: dict[str, Any]) -> None:
    runner = result["runners"]["langgraph"]
    assert runner["status"] in ("ok", "skipped")
    for w in result["workloads"]:
        entry = w["results"]["langgraph"]
        if runner["status"] == "ok":
            assert entry["status"] == "ok", (w["id"], entry)
            assert _positive_finite(entry["median"])
            assert _positive_finite(w["ratios"]["langgraph/asyncgraph"])
        else:
            assert runner["reason"]
            assert entry["status"] == "skipped"
            assert "langgraph/asyncgraph" not in w["ratios"]


def test_targets_and_settings_are_reported(result: dict[str, Any]) -> None:
    for w in result["workloads"]:
        assert w["target"]["text"]
        assert w["target"]["passed"] in (True, False, None)  # a verdict, never asserted here
    assert result["settings"]["quick"] is True
    for key in ("repeat", "warmup", "gc"):
        assert key in result["settings"]
    assert result["environment"]["cpu_count"]


def test_renderers(result: dict[str, Any]) -> None:
    bench = _bench()
    blocks = bench.render_markdown(result).split("\n\n")
    main, tracing = [block for block in blocks if block.startswith("| id |")]
    assert _row_ids(main, "| ") == WORKLOAD_IDS
    assert "asyncgraph + Tracer" in tracing.splitlines()[0]
    assert _row_ids(tracing, "| ") == TRACED_IDS
    assert blocks[blocks.index(tracing) + 1].startswith("*Tracing overhead")  # its caption
    text = bench.render_text(result)
    main, tracing_part = text.split("\nTracing overhead")
    assert _row_ids(main, "") == WORKLOAD_IDS
    assert _row_ids(tracing_part, "") == TRACED_IDS
    for workload in (None, *WORKLOAD_IDS):
        chart = bench.render_mermaid(result, workload)
        assert chart.startswith("xychart-beta\n")
        assert "bar [" in chart and "e+" not in chart


def test_command_line_writes_json_and_rerenders_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bench = _bench()
    path = tmp_path / "w1.json"
    assert bench.main(["--quick", "--no-progress", "--only", "W1", "--json", str(path)]) == 0
    assert "W1" in capsys.readouterr().out
    assert [w["id"] for w in bench.load(path)["workloads"]] == ["W1"]
    assert bench.main(["--from-json", str(path), "--format", "markdown"]) == 0
    assert capsys.readouterr().out.startswith("| id |")
