"""The measuring harness: workloads W1–W7 × runners (floor, asyncgraph, LangGraph), in one process.

W1 and W2 have a fourth runner, "asyncgraph+trace": the same asyncgraph graph run with a
``Tracer`` in its config, to measure what tracing costs per node-step.

How one workload is measured (see README.md for the why):

1. For each available runner, build its case (compile the graph; nothing here is timed) and take
   a first sample, then check the runner's output against the expected final state. A runner
   that returns a wrong result gets an error cell instead of a number, so it cannot look fast.
2. Calibrate: grow the number of units per sample (runs, batches, streams) until one sample takes
   about ``sample_time`` seconds, so timer resolution and loop overhead stay negligible. Every
   calibration sample, plus ``warmup`` more, is discarded.
3. Take ``repeat`` samples per runner, interleaved and in rotating order (floor, asyncgraph,
   LangGraph; then asyncgraph, LangGraph, floor; …) so a burst of load from another process
   hits every runner alike. Garbage is collected before every sample.
4. Report the median sample per runner, the ratios between medians, and the workload's budget
   (plus, for traced workloads, the tracing budget: ``asyncgraph+trace ÷ asyncgraph``).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import functools
import gc
import importlib.metadata
import math
import os
import platform
import shutil
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from benchmarks import floor
from benchmarks.workloads import (
    BRANCHES,
    GraphAPI,
    Parking,
    build_chain,
    build_fan_join,
    chain_names,
    fan_join_expected,
    inc,
    inc_sync,
    join,
    make_branch,
    make_sleeper,
)

SLOW_CELL_BUDGET_S = 12.0
MIN_SLOW_REPEAT = 3
FORMAT = "asyncgraph-bench"
# 2: traced workloads gained results["asyncgraph+trace"], its ratio and "trace_target".
FORMAT_VERSION = 2
RUNNERS = ("floor", "asyncgraph", "langgraph")  # measured on every workload: the main table
TRACE = "asyncgraph+trace"  # asyncgraph with a Tracer, only on workloads that set trace_spans
TRACE_RATIO = f"{TRACE}/asyncgraph"
TRACE_LIMIT = 1.20  # tracing may cost at most +20% per node-step
LABELS = {
    "floor": "floor",
    "asyncgraph": "asyncgraph",
    "langgraph": "LangGraph",
    TRACE: "asyncgraph + Tracer",
}


# --------------------------------------------------------------------------------------------
# Options
# --------------------------------------------------------------------------------------------


@dataclass
class Options:
    """What to run and how hard. ``quick`` is for the smoke test: tiny counts, one sample."""

    quick: bool = False
    repeat: int | None = None
    warmup: int | None = None
    sample_time: float | None = None
    workloads: Sequence[str] | None = None
    langgraph: bool = True
    gc_during_samples: bool = True
    gc_freeze: bool = True
    progress: bool = True

    def resolved(self) -> tuple[int, int, float]:
        """``(repeat, warmup, sample_time)`` with the defaults of the chosen mode filled in."""
        repeat = self.repeat if self.repeat is not None else (1 if self.quick else 7)
        warmup = self.warmup if self.warmup is not None else (0 if self.quick else 1)
        sample_time = (
            self.sample_time if self.sample_time is not None else (0.0 if self.quick else 0.1)
        )
        if repeat < 1 or warmup < 0 or sample_time < 0:
            raise ValueError("repeat must be >= 1, warmup >= 0 and sample_time >= 0")
        return repeat, warmup, sample_time


# --------------------------------------------------------------------------------------------
# Cases: one workload bound to one runner
# --------------------------------------------------------------------------------------------


class WrongResult(AssertionError):
    """A runner's output differs from the expected final state."""


def _short(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _expect(got: Any, expected: Any) -> None:
    if got != expected:
        raise WrongResult(f"wrong result: got {_short(got)}, expected {_short(expected)}")


Run = Callable[[dict[str, Any]], Coroutine[Any, Any, Any]]


class Case:
    """One workload bound to one runner; ``sample(n)`` -> ``(elapsed_s, metric_value, extra)``."""

    calibrate = True

    async def sample(self, n: int) -> tuple[float, float, dict[str, float]]:
        raise NotImplementedError

    async def verify(self) -> None:
        raise NotImplementedError


class Sequential(Case):
    """``n`` runs one after another (W1, W2, W6); metric: µs per ``units`` of one run."""

    def __init__(self, run: Run, inp: dict[str, Any], expected: Any, units: int) -> None:
        self.run, self.inp, self.expected, self.units = run, inp, expected, units

    async def sample(self, n: int) -> tuple[float, float, dict[str, float]]:
        return await self._timed(self.run, n)

    async def _timed(self, run: Run, n: int) -> tuple[float, float, dict[str, float]]:
        inp = self.inp
        start = time.perf_counter()
        for _ in range(n):
            await run(inp)
        elapsed = time.perf_counter() - start
        return elapsed, elapsed / (n * self.units) * 1e6, {}

    async def verify(self) -> None:
        _expect(await self.run(self.inp), self.expected)


class Traced(Sequential):
    """An asyncgraph :class:`Sequential` case run with ``{"tracer": tracer}`` in its config.

    Each sample gets one fresh ``Tracer``, shared by all its runs and kept until the sample
    ends: that is how a user traces for a while and then exports, so the sample includes the
    cost of keeping every run's spans. It is dropped when the sample returns, so the other
    runners' samples never walk its objects. After every sample the tracer must hold ``n``
    finished runs, the last one with ``spans`` spans: a tracer that records nothing gives an
    error cell, not a fast number.
    """

    def __init__(self, case: Sequential, spans: int) -> None:
        super().__init__(case.run, case.inp, case.expected, case.units)
        self.ainvoke: Callable[..., Coroutine[Any, Any, Any]] = case.run  # takes a config too
        # Imported here, not at the top: importing the benchmarks imports no library, and
        # discover_runners has already turned an import failure into the runner's status.
        from asyncgraph.profiling import Tracer

        self.new_tracer = Tracer
        self.spans = spans

    async def sample(self, n: int) -> tuple[float, float, dict[str, float]]:
        tracer = self.new_tracer()  # before the clock starts: creating it is not the cost
        # partial, not a lambda: no Python frame of ours between the loop and ainvoke.
        run = functools.partial(self.ainvoke, config={"tracer": tracer})
        measured = await self._timed(run, n)
        self._check(tracer, n)
        return measured

    async def verify(self) -> None:
        tracer = self.new_tracer()
        _expect(await self.ainvoke(self.inp, {"tracer": tracer}), self.expected)
        self._check(tracer, 1)

    def _check(self, tracer: Any, runs: int) -> None:
        recorded = tracer.runs
        if len(recorded) != runs:
            raise WrongResult(f"the tracer recorded {len(recorded)} runs, expected {runs}")
        spans = len(recorded[-1].spans)
        if spans != self.spans:
            raise WrongResult(f"the tracer recorded {spans} spans in a run, expected {self.spans}")


class Gathered(Case):
    """``n`` batches of ``asyncio.gather`` over all inputs (W3: runs/s; W4: wall seconds)."""

    def __init__(
        self, run: Run, inputs: list[dict[str, Any]], expected: list[Any], throughput: bool
    ) -> None:
        self.run, self.inputs, self.expected, self.throughput = run, inputs, expected, throughput
        self.calibrate = throughput
        self.last: list[Any] | None = None

    async def sample(self, n: int) -> tuple[float, float, dict[str, float]]:
        run, inputs = self.run, self.inputs
        start = time.perf_counter()
        for _ in range(n):
            self.last = await asyncio.gather(*[run(inp) for inp in inputs])
        elapsed = time.perf_counter() - start
        value = n * len(inputs) / elapsed if self.throughput else elapsed / n
        return elapsed, value, {}

    async def verify(self) -> None:
        if self.last is None:
            await self.sample(1)
        _expect(self.last, self.expected)


class Streamed(Case):
    """``n`` streams consumed with ``async for`` (W5); metric: updates per second."""

    def __init__(
        self, stream: Callable[[dict[str, Any]], Any], inp: dict[str, Any], expected: list[Any]
    ) -> None:
        self.stream, self.inp, self.expected = stream, inp, expected

    async def sample(self, n: int) -> tuple[float, float, dict[str, float]]:
        stream, inp = self.stream, self.inp
        count = 0
        start = time.perf_counter()
        for _ in range(n):
            async for _chunk in stream(inp):
                count += 1
        elapsed = time.perf_counter() - start
        return elapsed, count / elapsed, {}

    async def verify(self) -> None:
        _expect([chunk async for chunk in self.stream(self.inp)], self.expected)


class Parked(Case):
    """W7: start all runs, wait until every one is suspended inside the park node, then measure.

    ``tracemalloc`` runs only inside the sample (it slows allocation several-fold), from just
    before the first run starts to the moment the last one parks; the delta of traced memory,
    divided by the number of runs, is what one suspended run keeps alive. The delta of
    GC-tracked objects (``len(gc.get_objects())``) is reported alongside: it is what the cyclic
    collector has to walk per in-flight run.
    """

    calibrate = False

    def __init__(
        self,
        make_run: Callable[[Parking], Run],
        inputs: list[dict[str, Any]],
        expected: list[Any],
        timeout: float = 120.0,
    ) -> None:
        self.make_run, self.inputs, self.expected, self.timeout = (
            make_run,
            inputs,
            expected,
            timeout,
        )

    async def sample(self, n: int) -> tuple[float, float, dict[str, float]]:
        parking = Parking(len(self.inputs))
        run = self.make_run(parking)  # compiles the graph: not part of the measured delta
        inputs = self.inputs
        for _ in range(3):
            await asyncio.sleep(0)
        gc.collect()
        objects_before = len(gc.get_objects())
        start = time.perf_counter()
        ours = not tracemalloc.is_tracing()  # under -X tracemalloc, measure without stopping it
        if ours:
            tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            tasks: list[asyncio.Task[Any]] = [asyncio.create_task(run(inp)) for inp in inputs]
            while not parking.all_parked.is_set():
                await asyncio.sleep(0.001)
                if time.perf_counter() - start > self.timeout or any(t.done() for t in tasks):
                    break
            held = tracemalloc.get_traced_memory()[0] - before
        finally:
            if ours:
                tracemalloc.stop()
        objects = len(gc.get_objects()) - objects_before
        parked = parking.parked
        parking.release.set()
        results = await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
        if parked != len(inputs):
            raise WrongResult(f"only {parked} of {len(inputs)} runs reached the park node")
        _expect(results, self.expected)
        per_run = len(inputs)
        return elapsed, held / per_run / 1024, {"objects_per_run": objects / per_run}

    async def verify(self) -> None:  # every sample checks its own results
        return None


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------

Medians = dict[str, float]
Verdict = tuple[bool | None, str]


@dataclass(frozen=True)
class Workload:
    id: str
    title: str
    description: str
    metric: str  # long form, for axes and JSON
    unit: str  # short form, for the table
    higher_is_better: bool
    target: str
    params: dict[str, Any]
    quick_params: dict[str, Any]
    make_case: Callable[[GraphAPI | None, dict[str, Any]], Case]
    judge: Callable[[Medians, dict[str, Any]], Verdict]
    # Spans one traced run records, from the params; set only on workloads whose asyncgraph
    # case is Sequential (node-steps run one after another), which adds the traced runner.
    trace_spans: Callable[[dict[str, Any]], int] | None = None


def _ratio_text(r: float, what: str) -> str:
    return f"{fmt_ratio(r)} {what}"


def fmt_ratio(r: float) -> str:
    """A ratio as the tables show it: three significant digits, then ×."""
    if r >= 100:
        return f"{r:,.0f}×"
    if r >= 10:
        return f"{r:.1f}×"
    return f"{r:.2f}×"


def _cost_budget(limit: float) -> Callable[[Medians, dict[str, Any]], Verdict]:
    """A budget on asyncgraph's cost relative to the floor (lower-is-better metrics)."""

    def judge(m: Medians, params: dict[str, Any]) -> Verdict:
        if "asyncgraph" not in m or "floor" not in m:
            return None, "n/a"
        r = m["asyncgraph"] / m["floor"]
        return r <= limit, _ratio_text(r, "floor")

    return judge


def _case_w1(api: GraphAPI | None, p: dict[str, Any]) -> Case:
    nodes = [inc] * p["nodes"]
    inp, expected = {"x": 0}, {"x": p["nodes"]}
    if api is None:
        return Sequential(lambda s: floor.chain(nodes, s), inp, expected, p["nodes"])
    return Sequential(build_chain(api, nodes).ainvoke, inp, expected, p["nodes"])


def _case_w2(api: GraphAPI | None, p: dict[str, Any]) -> Case:
    inp, expected = {"x": 1}, fan_join_expected(1)
    if api is None:
        branches = [make_branch(i) for i in range(len(BRANCHES))]
        return Sequential(lambda s: floor.fan_join(branches, join, s), inp, expected, 1)
    return Sequential(build_fan_join(api).ainvoke, inp, expected, 1)


def _gathered_chain(api: GraphAPI | None, nodes: list[Any], runs: int, *, throughput: bool) -> Case:
    """Many concurrent runs of one chain of ``nodes``, each adding 1 to x (W3, W4)."""
    inputs = [{"x": i} for i in range(runs)]
    expected = [{"x": i + len(nodes)} for i in range(runs)]
    run: Run = (lambda s: floor.chain(nodes, s)) if api is None else build_chain(api, nodes).ainvoke
    return Gathered(run, inputs, expected, throughput=throughput)


def _case_w3(api: GraphAPI | None, p: dict[str, Any]) -> Case:
    return _gathered_chain(api, [inc] * p["nodes"], p["runs"], throughput=True)


def _judge_w3(m: Medians, p: dict[str, Any]) -> Verdict:
    if "asyncgraph" not in m:
        return None, "n/a"
    ag = m["asyncgraph"]
    text = f"{ag:,.0f} runs/s"
    ok = ag >= 30_000
    if "langgraph" in m:
        r = ag / m["langgraph"]
        text += f"; {fmt_ratio(r)} LG"
        ok = ok or r >= 50
    return ok, text


def _case_w4(api: GraphAPI | None, p: dict[str, Any]) -> Case:
    nodes = [make_sleeper(p["delay"])] * p["nodes"]
    return _gathered_chain(api, nodes, p["runs"], throughput=False)


def _judge_w4(m: Medians, p: dict[str, Any]) -> Verdict:
    if "asyncgraph" not in m:
        return None, "n/a"
    ideal = p["nodes"] * p["delay"]
    r = m["asyncgraph"] / ideal
    text = _ratio_text(r, "ideal")
    if "floor" in m:  # the floor's own distance from ideal says how loaded the machine was
        text += f" (floor {fmt_ratio(m['floor'] / ideal)})"
    return r <= 1.08, text


def _case_w5(api: GraphAPI | None, p: dict[str, Any]) -> Case:
    names = chain_names(p["nodes"])
    nodes = [inc] * p["nodes"]
    inp = {"x": 0}
    expected = [{name: {"x": i + 1}} for i, name in enumerate(names)]
    if api is None:
        return Streamed(lambda s: floor.chain_stream(names, nodes, s), inp, expected)
    graph = build_chain(api, nodes, names)
    return Streamed(lambda s: graph.astream(s, stream_mode="updates"), inp, expected)


def _judge_w5(m: Medians, p: dict[str, Any]) -> Verdict:
    if "asyncgraph" not in m:
        return None, "n/a"
    if "langgraph" not in m:
        return None, "n/a (needs LG)"
    r = m["asyncgraph"] / m["langgraph"]
    return r >= 40, _ratio_text(r, "LG")


def _case_w6(api: GraphAPI | None, p: dict[str, Any]) -> Case:
    nodes = [inc_sync] * p["nodes"]
    inp, expected = {"x": 0}, {"x": p["nodes"]}
    if api is None:
        return Sequential(lambda s: floor.chain_in_executor(nodes, s), inp, expected, p["nodes"])
    return Sequential(build_chain(api, nodes).ainvoke, inp, expected, p["nodes"])


def _case_w7(api: GraphAPI | None, p: dict[str, Any]) -> Case:
    names = ["n0", "park", "n2"]
    inputs = [{"x": i} for i in range(p["runs"])]
    expected = [{"x": i + 3} for i in range(p["runs"])]

    def make_run(parking: Parking) -> Run:
        nodes = [inc, parking.node, inc]
        if api is None:
            return lambda s: floor.chain(nodes, s)
        return build_chain(api, nodes, names).ainvoke  # type: ignore[no-any-return]

    return Parked(make_run, inputs, expected)


def _judge_w7(m: Medians, p: dict[str, Any]) -> Verdict:
    if "asyncgraph" not in m:
        return None, "n/a"
    return m["asyncgraph"] <= 4.0, f"{m['asyncgraph']:.2f} KiB"


WORKLOADS: list[Workload] = [
    Workload(
        "W1",
        "10-node chain",
        "START → n0 → … → n9 → END, async nodes (x + 1), ainvoke one run after another.",
        "µs per node-step",
        "µs/node-step",
        False,
        "≤ 10× floor",
        {"nodes": 10},
        {"nodes": 10},
        _case_w1,
        _cost_budget(10.0),
        trace_spans=lambda p: p["nodes"],
    ),
    Workload(
        "W2",
        "fan-out 8 + join",
        "START → b0…b7 in one superstep (each appends to an operator.add list), then "
        "add_edge([b0…b7], 'join') sums them; ainvoke one run after another.",
        "µs per run",
        "µs/run",
        False,
        "≤ 2.5× floor",
        {},
        {},
        _case_w2,
        _cost_budget(2.5),
        trace_spans=lambda p: len(BRANCHES) + 1,  # the branches and the join
    ),
    Workload(
        "W3",
        "3-node chain, {runs} gathered runs",
        "asyncio.gather of ainvoke over 2000 inputs of a 3-node async chain.",
        "runs per second",
        "runs/s",
        True,
        "≥ 30k runs/s or ≥ 50× LG",
        {"nodes": 3, "runs": 2000},
        {"nodes": 3, "runs": 20},
        _case_w3,
        _judge_w3,
    ),
    Workload(
        "W4",
        "2 × sleep({delay}), {runs} gathered runs",
        "asyncio.gather of ainvoke over 200 inputs of a 2-node chain whose nodes await "
        "asyncio.sleep(0.05); ideal wall time 0.100 s.",
        "seconds of wall time per batch",
        "s wall",
        False,
        "≤ 1.08× ideal",
        {"nodes": 2, "runs": 200, "delay": 0.05},
        {"nodes": 2, "runs": 10, "delay": 0.005},
        _case_w4,
        _judge_w4,
    ),
    Workload(
        "W5",
        "astream updates, 10-node chain",
        "async for over astream(stream_mode='updates') of the W1 chain; one update per node.",
        "updates per second",
        "updates/s",
        True,
        "≥ 40× LG",
        {"nodes": 10},
        {"nodes": 10},
        _case_w5,
        _judge_w5,
    ),
    Workload(
        "W6",
        "10-node chain of def nodes",
        "W1 with plain def nodes under ainvoke (each runs in a worker thread); the floor is "
        "one bare loop.run_in_executor(None, node, state) round trip per node.",
        "µs per node-step",
        "µs/node-step",
        False,
        "≤ 1.5× floor",
        {"nodes": 10},
        {"nodes": 10},
        _case_w6,
        _cost_budget(1.5),
    ),
    Workload(
        "W7",
        "memory per parked run",
        "500 concurrent runs of n0 → park → n2, all suspended in 'park' on one asyncio.Event; "
        "tracemalloc delta / runs.",
        "KiB per parked run",
        "KiB/run",
        False,
        "≤ 4 KiB/run",
        {"runs": 500},
        {"runs": 20},
        _case_w7,
        _judge_w7,
    ),
]


# --------------------------------------------------------------------------------------------
# Runners
# --------------------------------------------------------------------------------------------


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def discover_runners(options: Options) -> tuple[dict[str, GraphAPI | None], dict[str, Any]]:
    """Import the libraries; returns the usable runners and a status entry for every runner."""
    usable: dict[str, GraphAPI | None] = {"floor": None}
    status: dict[str, Any] = {
        "floor": {"status": "ok", "label": "plain asyncio (floor)", "version": None},
    }
    try:
        from asyncgraph.graph import END, START, StateGraph
    except Exception as exc:  # the product itself is missing or broken: say so, keep measuring
        status["asyncgraph"] = {
            "status": "error",
            "reason": f"import failed: {exc!r}",
            "version": _version("asyncgraph"),
        }
        status[TRACE] = {
            "status": "error",
            "reason": "asyncgraph failed to import",
            "version": None,
        }
    else:
        usable["asyncgraph"] = GraphAPI("asyncgraph", StateGraph, START, END)
        status["asyncgraph"] = {
            "status": "ok",
            "label": "asyncgraph",
            "version": _version("asyncgraph"),
        }
        _discover_tracer(usable, status)
    if not options.langgraph:
        status["langgraph"] = {
            "status": "skipped",
            "reason": "disabled with --no-langgraph",
            "version": None,
        }
    else:
        try:
            from langgraph.graph import END as LG_END
            from langgraph.graph import START as LG_START
            from langgraph.graph import StateGraph as LGStateGraph
        except ImportError:
            status["langgraph"] = {
                "status": "skipped",
                "reason": "langgraph is not installed (it is the optional 'bench' extra; "
                "python3 dev.py bench installs it)",
                "version": None,
            }
        else:
            usable["langgraph"] = GraphAPI("langgraph", LGStateGraph, LG_START, LG_END)
            status["langgraph"] = {
                "status": "ok",
                "label": "LangGraph",
                "version": _version("langgraph"),
            }
    return usable, status


def _discover_tracer(usable: dict[str, GraphAPI | None], status: dict[str, Any]) -> None:
    """The traced runner: asyncgraph's own graphs (same API), run by :class:`Traced`."""
    try:
        from asyncgraph.profiling import Tracer  # noqa: F401  (Traced imports it when built)
    except Exception as exc:  # tracing is broken: say so, keep measuring the rest
        status[TRACE] = {"status": "error", "reason": f"import failed: {exc!r}", "version": None}
        return
    usable[TRACE] = usable["asyncgraph"]
    # No version: it is the asyncgraph runner's, which the header already prints.
    status[TRACE] = {"status": "ok", "label": "asyncgraph with a Tracer", "version": None}


def runners_of(workload: Workload) -> tuple[str, ...]:
    """The runners a workload is measured on: ``RUNNERS``, plus ``TRACE`` where it is traced."""
    return RUNNERS if workload.trace_spans is None else (*RUNNERS, TRACE)


def _make_case(
    workload: Workload, runner: str, api: GraphAPI | None, params: dict[str, Any]
) -> Case:
    case = workload.make_case(api, params)
    if runner != TRACE:
        return case
    if workload.trace_spans is None or not isinstance(case, Sequential):
        raise TypeError(f"{workload.id} cannot be traced: only Sequential cases are")
    return Traced(case, workload.trace_spans(params))


# --------------------------------------------------------------------------------------------
# Progress (stderr)
# --------------------------------------------------------------------------------------------


class Progress:
    """One self-overwriting status line on a terminal; one line per stage otherwise."""

    def __init__(self, enabled: bool, total: int) -> None:
        self.enabled = enabled
        self.tty = enabled and sys.stderr.isatty()
        self.total = total
        self.start = time.perf_counter()
        self.width = 0

    def update(self, index: int, name: str, detail: str, stage: bool = False) -> None:
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.start
        text = f"[{index}/{self.total}] {name}: {detail}  ({elapsed:.0f} s)"
        if self.tty:
            text = text[: max(20, shutil.get_terminal_size().columns - 1)]
            pad = max(0, self.width - len(text))
            sys.stderr.write("\r" + text + " " * pad)
            self.width = len(text)
            sys.stderr.flush()
        elif stage:
            sys.stderr.write(text + "\n")
            sys.stderr.flush()

    def finish(self) -> None:
        if self.tty and self.width:
            sys.stderr.write("\r" + " " * self.width + "\r")
            sys.stderr.flush()


# --------------------------------------------------------------------------------------------
# Measuring
# --------------------------------------------------------------------------------------------


@dataclass
class _Cell:
    case: Case | None = None
    n: int = 1
    samples: list[float] = field(default_factory=list)
    extras: list[dict[str, float]] = field(default_factory=list)
    error: str | None = None
    reps: int = 0


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, WrongResult):
        return str(exc)
    return f"{type(exc).__name__}: {_short(str(exc), 200)}"


async def _sample(cell: _Cell, gc_during: bool) -> tuple[float, float, dict[str, float]]:
    assert cell.case is not None
    for _ in range(3):  # let callbacks left by the previous sample run and drop what they hold
        await asyncio.sleep(0)
    gc.collect()
    if not gc_during:
        gc.disable()
    try:
        return await cell.case.sample(cell.n)
    finally:
        if not gc_during:
            gc.enable()


async def _calibrate(cell: _Cell, sample_time: float, gc_during: bool) -> float:
    """Grow ``n`` until one sample lasts about ``sample_time``; also the first run and the check.

    Returns the expected duration of one sample at the chosen ``n``.
    """
    assert cell.case is not None
    cell.n = 1
    elapsed, _, _ = await _sample(cell, gc_during)
    await cell.case.verify()
    if not cell.case.calibrate or sample_time <= 0:
        return elapsed
    while elapsed < sample_time / 10 and cell.n < 10_000_000:
        cell.n *= 2 if elapsed > sample_time / 50 else 8
        elapsed, _, _ = await _sample(cell, gc_during)
    per_unit = max(elapsed, 1e-9) / cell.n
    cell.n = max(1, math.ceil(sample_time / per_unit))
    return per_unit * cell.n


async def _measure_workload(
    workload: Workload,
    index: int,
    usable: dict[str, GraphAPI | None],
    status: dict[str, Any],
    options: Options,
    progress: Progress,
) -> dict[str, Any]:
    started = time.perf_counter()
    repeat, warmup, sample_time = options.resolved()
    params = workload.quick_params if options.quick else workload.params
    label = f"{workload.id} {workload.title.format(**params)}"
    cells: dict[str, _Cell] = {}
    wanted = runners_of(workload)
    for name, api in usable.items():
        if name not in wanted:
            continue
        cell = cells[name] = _Cell()
        progress.update(index, label, f"{LABELS[name]} · check + calibrate", stage=True)
        try:
            cell.case = _make_case(workload, name, api, params)
            expected = await _calibrate(cell, sample_time, options.gc_during_samples)
            # A runner whose single sample is long (LangGraph's W3 batch takes seconds) gets
            # fewer samples, at least MIN_SLOW_REPEAT, to keep the whole suite in minutes; its
            # check and calibration sample already warmed it up.
            if expected * repeat > SLOW_CELL_BUDGET_S:
                cell.reps = min(repeat, max(MIN_SLOW_REPEAT, int(SLOW_CELL_BUDGET_S / expected)))
            else:
                cell.reps = repeat
            for w in range(warmup if expected < 1.0 else 0):
                progress.update(index, label, f"{LABELS[name]} · warm-up {w + 1}/{warmup}")
                await _sample(cell, options.gc_during_samples)
        except Exception as exc:
            cell.error = _error_text(exc)
    names = [n for n in cells if cells[n].error is None]
    for rep in range(repeat):
        shift = rep % len(names) if names else 0
        for name in names[shift:] + names[:shift]:
            cell = cells[name]
            if cell.error is not None or rep >= cell.reps:
                continue
            progress.update(index, label, f"rep {rep + 1}/{repeat} · {LABELS[name]}")
            try:
                _, value, extra = await _sample(cell, options.gc_during_samples)
            except Exception as exc:
                cell.error = _error_text(exc)
                continue
            cell.samples.append(value)
            cell.extras.append(extra)
    result = _workload_result(workload, params, cells, repeat, warmup, status)
    result["duration_s"] = round(time.perf_counter() - started, 2)
    progress.update(index, label, f"done in {result['duration_s']:.1f} s", stage=True)
    return result


def _workload_result(
    workload: Workload,
    params: dict[str, Any],
    cells: dict[str, _Cell],
    repeat: int,
    warmup: int,
    status: dict[str, Any],
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    medians: Medians = {}
    for name in runners_of(workload):
        cell = cells.get(name)
        if cell is None:
            results[name] = {"status": status[name]["status"], "reason": status[name]["reason"]}
            continue
        if cell.error is not None or not cell.samples:
            results[name] = {"status": "error", "reason": cell.error or "no samples"}
            continue
        median = statistics.median(cell.samples)
        medians[name] = median
        entry: dict[str, Any] = {
            "status": "ok",
            "median": median,
            "min": min(cell.samples),
            "max": max(cell.samples),
            "samples": cell.samples,
            "units_per_sample": cell.n,
        }
        extra_keys = sorted({k for e in cell.extras for k in e})
        for key in extra_keys:
            entry[key] = statistics.median(e[key] for e in cell.extras if key in e)
        results[name] = entry

    def cost(name: str) -> float:
        v = medians[name]
        return 1.0 / v if workload.higher_is_better else v

    ratios: dict[str, float] = {}
    for num, den in (
        ("asyncgraph", "floor"),
        ("langgraph", "floor"),
        ("langgraph", "asyncgraph"),
        (TRACE, "asyncgraph"),  # TRACE_RATIO, on traced workloads only
    ):
        if num in medians and den in medians and medians[num] > 0 and medians[den] > 0:
            ratios[f"{num}/{den}"] = cost(num) / cost(den)
    if workload.id == "W4":
        ideal = params["nodes"] * params["delay"]
        for name in medians:
            ratios[f"{name}/ideal"] = medians[name] / ideal
    passed, actual = workload.judge(medians, params)
    result: dict[str, Any] = {
        "id": workload.id,
        "title": workload.title.format(**params),
        "description": workload.description,
        "metric": workload.metric,
        "unit": workload.unit,
        "better": "higher" if workload.higher_is_better else "lower",
        "params": params,
        "repeat": repeat,
        "warmup": warmup,
        "results": results,
        "ratios": ratios,
        "target": {"text": workload.target, "actual": actual, "passed": passed},
    }
    if workload.trace_spans is not None:
        result["trace_target"] = _trace_target(ratios)
    return result


def _trace_target(ratios: dict[str, float]) -> dict[str, Any]:
    """The tracing budget: ``asyncgraph+trace ÷ asyncgraph`` at most ``TRACE_LIMIT``."""
    text = f"≤ {fmt_ratio(TRACE_LIMIT)}"
    if TRACE_RATIO not in ratios:
        return {"text": text, "actual": "n/a", "passed": None}
    r = ratios[TRACE_RATIO]
    return {"text": text, "actual": _ratio_text(r, "asyncgraph"), "passed": r <= TRACE_LIMIT}


def _environment(loop: asyncio.AbstractEventLoop) -> dict[str, Any]:
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    try:
        load = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        load = None
    return {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "system": f"{platform.system()} {platform.machine()}",
        "cpu_count": os.cpu_count(),
        "cpu_affinity": affinity,
        "loadavg_start": load,
        "event_loop": f"{type(loop).__module__}.{type(loop).__name__}",
        "asyncio_debug": loop.get_debug(),
        "gc_thresholds": list(gc.get_threshold()),
    }


async def _run(
    options: Options, usable: dict[str, GraphAPI | None], runners: dict[str, Any]
) -> dict[str, Any]:
    repeat, warmup, sample_time = options.resolved()
    selected = WORKLOADS
    if options.workloads:
        wanted = {w.upper() for w in options.workloads}
        unknown = wanted - {w.id for w in WORKLOADS}
        if unknown:
            raise ValueError(f"unknown workload(s): {', '.join(sorted(unknown))}")
        selected = [w for w in WORKLOADS if w.id in wanted]
    env = _environment(asyncio.get_running_loop())
    froze = options.gc_freeze and gc.get_freeze_count() == 0  # never undo someone else's
    if froze:
        # Move everything the imports created (LangGraph alone adds ~80,000 GC-tracked objects)
        # to the permanent generation. Otherwise every runner's full collections would also
        # walk the other libraries' heaps, and absolute numbers such as W3's runs/s would
        # depend on whether LangGraph happens to be installed. Undone at the end.
        gc.collect()
        gc.freeze()
    env["gc_frozen_objects"] = gc.get_freeze_count()
    progress = Progress(options.progress, len(selected))
    started = time.perf_counter()
    workloads = []
    try:
        for i, workload in enumerate(selected, 1):
            workloads.append(
                await _measure_workload(workload, i, usable, runners, options, progress)
            )
    finally:
        progress.finish()
        if froze:
            gc.unfreeze()
    try:
        env["loadavg_end"] = [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        env["loadavg_end"] = None
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - started, 2),
        "environment": env,
        "settings": {
            "quick": options.quick,
            "repeat": repeat,
            "warmup": warmup,
            "sample_time_s": sample_time,
            "gc": ("enabled" if options.gc_during_samples else "disabled") + " during samples",
            "gc_freeze": options.gc_freeze,
            "gc_collect_before_sample": True,
            "order": "interleaved, rotating",
            "statistic": "median",
        },
        "runners": runners,
        "workloads": workloads,
    }


def run_suite(options: Options | None = None) -> dict[str, Any]:
    """Run the suite in a fresh event loop and return the result (the JSON document, as a dict)."""
    options = options or Options()
    usable, runners = discover_runners(options)  # imports, before the loop: not a slow callback
    return asyncio.run(_run(options, usable, runners))
