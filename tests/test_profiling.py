"""asyncgraph.profiling: the run trace, its Chrome / summary / Gantt exports, bad input."""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import json
import operator
import re
import textwrap
import threading
from pathlib import Path
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph import profiling
from asyncgraph._run import _TASK_HOOKS, Observer
from asyncgraph.errors import NodeTimeoutError
from asyncgraph.graph import END, START, CompiledStateGraph, StateGraph
from asyncgraph.profiling import Span, Summary, Tracer, combine
from asyncgraph.types import RetryPolicy, Send


class State(TypedDict, total=False):
    n: int
    log: Annotated[list[str], operator.add]


def sleeper(name: str, delay: float) -> Any:
    async def node(state: State) -> dict[str, Any]:
        await asyncio.sleep(delay)
        return {"log": [name]}

    return node


def fan_out(delays: dict[str, float], join_delay: float = 0.0) -> CompiledStateGraph:
    """START -> every branch (one superstep), then all of them -> join."""
    builder = StateGraph(State)
    for name, delay in delays.items():
        builder.add_node(name, sleeper(name, delay)).add_edge(START, name)
    builder.add_node("join", sleeper("join", join_delay)).add_edge(list(delays), "join")
    return builder.add_edge("join", END).compile()


def x_events(trace: dict[str, Any], pid: int | None = None) -> list[dict[str, Any]]:
    return [
        e
        for e in trace["traceEvents"]
        if e["ph"] == "X" and e["tid"] > 0 and (pid is None or e["pid"] == pid)
    ]


def ns(us: float) -> int:
    return round(us * 1000)


# -- what a trace records ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_every_task_of_a_fan_out_is_recorded_with_its_step_and_timing() -> None:
    tracer = Tracer()
    graph = fan_out({"a": 0.03, "b": 0.06, "c": 0.03})
    await graph.ainvoke({"log": []}, {"tracer": tracer})
    [run] = tracer.runs
    assert run.outcome == "ok" and run.error is None and run.run_id == "run-1"
    assert sorted((s.step, s.node) for s in run.spans) == [
        (1, "a"),
        (1, "b"),
        (1, "c"),
        (2, "join"),
    ]
    for span in run.spans:
        assert run.start <= span.queued <= span.start <= span.end <= run.end
        assert (span.attempt, span.outcome, span.error) == (1, "ok", None)
        assert span.thread == threading.current_thread().name  # async nodes: the loop thread
    by_node = {s.node: s for s in run.spans}
    assert by_node["b"].duration >= 0.06 and by_node["a"].duration >= 0.03
    assert by_node["join"].start >= by_node["b"].end  # the barrier
    assert run.peak_concurrency == 3


@pytest.mark.asyncio
async def test_step_boundaries_enclose_their_tasks() -> None:
    tracer = Tracer()
    await fan_out({"a": 0.01, "b": 0.02}).ainvoke({"log": []}, {"tracer": tracer})
    run = tracer.run()
    steps = run.steps
    assert [(s.step, s.tasks) for s in steps] == [(1, 2), (2, 1)]
    assert steps[0].end <= steps[1].start
    for span in run.spans:
        step = steps[span.step - 1]
        assert step.start <= span.queued and span.end <= step.end
    assert steps[0].duration >= 0.02


@pytest.mark.asyncio
async def test_a_step_of_one_task_has_its_tasks_bounds() -> None:
    builder = StateGraph(State).add_sequence([("a", sleeper("a", 0.02)), ("b", sleeper("b", 0))])
    tracer = Tracer()
    await builder.add_edge(START, "a").compile().ainvoke({"log": []}, {"tracer": tracer})
    run = tracer.run()
    assert [(s.step, s.tasks) for s in run.steps] == [(1, 1), (2, 1)]
    for step, span in zip(run.steps, run.spans, strict=True):
        # Nothing runs between a lone step's start and its task's: no await separates them.
        assert step.start == span.queued == span.start and step.end == span.end
    first, second = run.steps
    assert run.start <= first.start and first.duration >= 0.02
    assert first.end <= second.start <= second.end <= run.end


@pytest.mark.asyncio
async def test_sync_nodes_record_the_worker_thread_that_ran_them() -> None:
    def work(state: State) -> dict[str, Any]:
        return {"log": [threading.current_thread().name]}

    graph = StateGraph(State).add_node(work).add_edge(START, "work").compile()
    tracer = Tracer()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="pool") as executor:
        result = await graph.ainvoke({"log": []}, {"tracer": tracer, "executor": executor})
    [span] = tracer.spans
    assert span.thread == result["log"][0] and span.thread.startswith("pool")  # type: ignore[index]


def test_the_sync_api_is_traced_too() -> None:
    graph = StateGraph(State).add_node("a", lambda s: {"n": 1}).add_edge(START, "a").compile()
    tracer = Tracer()
    assert graph.invoke({"n": 0}, {"tracer": tracer})["n"] == 1  # type: ignore[index]
    [span] = tracer.spans
    assert (span.node, span.outcome, span.thread) == ("a", "ok", threading.current_thread().name)


@pytest.mark.asyncio
async def test_retries_are_one_span_per_attempt_and_a_retry_is_queued_when_the_last_failed() -> (
    None
):
    calls = 0

    async def flaky(state: State) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise ConnectionError(f"blip {calls}")
        return {"n": calls}

    policy = RetryPolicy(initial_interval=0.01, jitter=False)
    graph = (
        StateGraph(State).add_node(flaky, retry_policy=policy).add_edge(START, "flaky").compile()
    )
    tracer = Tracer()
    await graph.ainvoke({"n": 0}, {"tracer": tracer})
    spans = sorted(tracer.spans, key=lambda s: s.attempt)
    assert [(s.attempt, s.outcome, s.error) for s in spans] == [
        (1, "error", "ConnectionError: blip 1"),
        (2, "error", "ConnectionError: blip 2"),
        (3, "ok", None),
    ]
    assert spans[1].queued == spans[0].end and spans[2].queued == spans[1].end
    assert spans[1].wait >= 0.01  # the backoff is waiting time, not running time
    [step] = tracer.run().steps  # the step spans all its attempts
    assert (step.step, step.tasks, step.start, step.end) == (1, 1, spans[0].queued, spans[2].end)
    stats = tracer.summary()["flaky"]
    assert (stats.calls, stats.errors) == (3, 2)
    assert tracer.run().outcome == "ok"


@pytest.mark.asyncio
async def test_max_concurrency_shows_as_waiting_and_caps_the_lanes() -> None:
    async def work(arg: int) -> dict[str, Any]:
        await asyncio.sleep(0.02)
        return {"log": [str(arg)]}

    builder = StateGraph(State).add_node("work", work)
    builder.add_conditional_edges(START, lambda s: [Send("work", i) for i in range(6)])
    tracer = Tracer()
    await builder.compile().ainvoke({"log": []}, {"tracer": tracer, "max_concurrency": 2})
    spans = tracer.spans
    assert len(spans) == 6 and tracer.run().peak_concurrency == 2
    assert sum(span.wait >= 0.015 for span in spans) == 4  # four waited for a slot
    lanes = {e["tid"] for e in x_events(tracer.to_chrome_trace())}
    assert lanes == {1, 2}


# -- runs that fail, are cancelled or time out still export --------------------------


@pytest.mark.asyncio
async def test_a_failed_run_exports_with_its_outcome() -> None:
    async def boom(state: State) -> dict[str, Any]:
        await asyncio.sleep(0.01)
        raise ValueError("bad input")

    builder = StateGraph(State).add_node("slow", sleeper("slow", 1.0)).add_node(boom)
    graph = builder.add_edge(START, "slow").add_edge(START, "boom").compile()
    tracer = Tracer()
    with pytest.raises(ValueError, match="bad input"):
        await graph.ainvoke({"log": []}, {"tracer": tracer})
    run = tracer.run()
    assert (run.outcome, run.error) == ("error", "ValueError: bad input")
    outcomes = {s.node: s.outcome for s in run.spans}
    assert outcomes == {"boom": "error", "slow": "cancelled"}  # the sibling was cancelled
    assert [s.step for s in run.steps] == [1] and run.steps[0].end == run.end
    trace = json.loads(json.dumps(tracer.to_chrome_trace()))
    assert {e["name"]: e["args"]["outcome"] for e in x_events(trace)} == outcomes
    assert trace["traceEvents"][0]["args"]["name"] == "run run-1 (error)"
    gantt = tracer.to_mermaid_gantt()
    assert "boom (error) :crit, " in gantt and "slow (cancelled) :crit, " in gantt
    assert tracer.summary()["boom"].errors == 1 and tracer.summary()["slow"].errors == 0


@pytest.mark.asyncio
async def test_a_cancelled_run_exports_with_its_outcome() -> None:
    graph = fan_out({"a": 5.0, "b": 5.0})
    tracer = Tracer()
    runner = asyncio.create_task(graph.ainvoke({"log": []}, {"tracer": tracer}))
    await asyncio.sleep(0.02)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    run = tracer.run()
    assert run.outcome == "cancelled" and run.duration < 1.0
    assert sorted((s.node, s.outcome) for s in run.spans) == [
        ("a", "cancelled"),
        ("b", "cancelled"),
    ]
    assert len(x_events(tracer.to_chrome_trace())) == 2
    assert "section step 1" in tracer.to_mermaid_gantt()


@pytest.mark.asyncio
async def test_a_node_timeout_is_recorded_as_timeout() -> None:
    builder = StateGraph(State).add_node("slow", sleeper("slow", 1.0), timeout=0.02)
    tracer = Tracer()
    with pytest.raises(NodeTimeoutError):
        await builder.add_edge(START, "slow").compile().ainvoke({"n": 0}, {"tracer": tracer})
    [span] = tracer.spans
    assert span.outcome == "timeout" and tracer.run().outcome == "timeout"
    assert span.error is not None and span.error.startswith("NodeTimeoutError")


# -- many runs, one tracer ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_one_tracer_shared_by_concurrent_runs_keeps_them_apart() -> None:
    tracer = Tracer()
    graph = fan_out({"a": 0.01, "b": 0.02}, join_delay=0.01)
    configs: list[Any] = [{"tracer": tracer, "run_id": f"user-{i}"} for i in range(10)]
    configs += [{"tracer": tracer} for _ in range(10)]
    await asyncio.gather(*(graph.ainvoke({"log": []}, c) for c in configs))
    runs = tracer.runs
    assert len(runs) == 20 and len({r.run_id for r in runs}) == 20
    assert {r.run_id for r in runs} >= {f"user-{i}" for i in range(10)} | {"run-1", "run-10"}
    for run in runs:
        assert sorted(s.node for s in run.spans) == ["a", "b", "join"]
        assert {s.run_id for s in run.spans} == {run.run_id}
        assert [s.step for s in run.steps] == [1, 2]
    assert tracer.summary()["a"].peak_concurrency == 20  # the runs overlapped
    assert tracer.summary(run_id="user-3")["a"].calls == 1
    trace = tracer.to_chrome_trace()
    assert len({e["pid"] for e in x_events(trace)}) == 20
    for pid in range(1, 21):  # every run's lanes are its own: at most 2 at once per run
        assert {e["tid"] for e in x_events(trace, pid)} == {1, 2}


@pytest.mark.asyncio
async def test_abatch_runs_are_traced_separately() -> None:
    tracer = Tracer()
    graph = StateGraph(State).add_node("a", sleeper("a", 0.01)).add_edge(START, "a").compile()
    await graph.abatch([{"log": []}] * 4, {"tracer": tracer})
    assert len(tracer.runs) == 4 and len(tracer.spans) == 4


# -- the Chrome trace --------------------------------------------------------------------


@pytest.mark.asyncio
async def test_chrome_trace_of_a_fan_out_has_every_task_on_non_overlapping_lanes(
    tmp_path: Path,
) -> None:
    tracer = Tracer()
    delays = {"a": 0.03, "b": 0.05, "c": 0.01, "d": 0.04}
    await fan_out(delays, join_delay=0.01).ainvoke({"log": []}, {"tracer": tracer})
    path = tracer.write_chrome_trace(tmp_path / "trace.json")
    trace = json.loads(path.read_text(encoding="utf-8"))
    assert trace["displayTimeUnit"] == "ms"
    tasks = x_events(trace)
    assert sorted(e["name"] for e in tasks) == ["a", "b", "c", "d", "join"]
    for event in tasks:
        assert event["dur"] >= 0 and event["args"]["outcome"] == "ok"
        assert {"run_id", "step", "attempt", "thread", "queued_us"} <= set(event["args"])
    lanes: dict[int, list[tuple[int, int]]] = {}
    for event in tasks:
        lanes.setdefault(event["tid"], []).append(
            (ns(event["ts"]), ns(event["ts"]) + ns(event["dur"]))
        )
    for intervals in lanes.values():
        intervals.sort()
        for (_, end), (start, _) in itertools.pairwise(intervals):
            assert end <= start + 1  # never overlapping (1 ns of rounding)
    assert sorted(lanes) == [1, 2, 3, 4]  # four at once in step 1, the join reuses lane 1
    join = next(e for e in tasks if e["name"] == "join")
    assert join["tid"] == 1
    names = {
        (e["tid"], e["args"]["name"])
        for e in trace["traceEvents"]
        if e["ph"] == "M" and e["name"] == "thread_name"
    }
    assert names == {
        (0, "run and supersteps"),
        (1, "lane 0"),
        (2, "lane 1"),
        (3, "lane 2"),
        (4, "lane 3"),
    }
    track0 = [e["name"] for e in trace["traceEvents"] if e["ph"] == "X" and e["tid"] == 0]
    assert track0 == ["run (ok)", "step 1", "step 2"]


def test_lanes_take_the_lowest_free_lane() -> None:
    def span(start: float, end: float) -> Span:
        return Span("r", 1, "n", 1, start, start, end, "t", "ok", None)

    spans = (span(0, 10), span(1, 3), span(2, 5), span(3, 4), span(5, 6), span(10, 11))
    assert profiling._lanes(spans) == [0, 1, 2, 1, 1, 0]


def test_an_empty_tracer_exports_empty_documents() -> None:
    tracer = Tracer()
    assert tracer.to_chrome_trace()["traceEvents"] == []
    assert len(tracer.summary()) == 0 and tracer.summary().to_text().startswith("node")
    with pytest.raises(LookupError, match="no finished run yet"):
        tracer.to_mermaid_gantt()


# -- the summary -------------------------------------------------------------------------


def test_summary_statistics_from_known_spans() -> None:
    def span(node: str, start: float, end: float, outcome: str = "ok") -> Span:
        return Span("r", 1, node, 1, start, start, end, "t", outcome, None)

    spans = [span("a", i, i + (i + 1) / 100) for i in range(20)]  # 10 ms ... 200 ms
    spans += [
        span("b", 0, 0.5),
        span("b", 0.1, 0.2, "error"),
        span("b", 0.15, 0.3, "timeout"),
        span("b", 0.6, 0.7, "cancelled"),
    ]
    summary = Summary(spans)
    a, b = summary["a"], summary["b"]
    assert [row.node for row in summary] == ["a", "b"]  # largest total first
    assert (a.calls, a.errors, a.peak_concurrency) == (20, 0, 1)
    assert a.total == pytest.approx(2.1) and a.mean == pytest.approx(0.105)
    assert a.p95 == pytest.approx(0.19) and a.max == pytest.approx(0.2)  # nearest rank: 19th
    assert (b.calls, b.errors, b.peak_concurrency) == (4, 2, 3)
    with pytest.raises(KeyError, match="No span of node 'c' was recorded; nodes: a, b"):
        summary["c"]
    text = summary.to_text().splitlines()
    assert text[0].split() == [
        "node",
        "calls",
        "total",
        "ms",
        "mean",
        "ms",
        "p95",
        "ms",
        "max",
        "ms",
        "errors",
        "peak",
    ]
    assert text[1].split() == ["a", "20", "2100.0", "105.0", "190.0", "200.0", "0", "1"]
    assert summary.to_text(resolution_ms=100).splitlines()[2].split() == [
        "b",
        "4",
        "800",
        "200",
        "500",
        "500",
        "2",
        "3",
    ]


@pytest.mark.asyncio
async def test_summary_of_a_traced_run_finds_the_slow_node() -> None:
    tracer = Tracer()
    await fan_out({"fast": 0.01, "slow": 0.06}).ainvoke({"log": []}, {"tracer": tracer})
    summary = tracer.summary()
    assert summary.rows[0].node == "slow"
    assert summary["slow"].mean > 3 * summary["fast"].mean  # ratios, not wall-clock numbers
    assert str(summary) == summary.to_text()


# -- the Gantt chart ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_gantt_on_a_coarse_grid_is_the_same_every_run() -> None:
    # Sleeps on the grid: lateness (tens of ms on a loaded machine) is truncated away.
    graph = fan_out({"fetch_a": 0.2, "fetch_b": 0.4, "fetch_c": 0.2}, join_delay=0.2)
    tracer = Tracer()
    await graph.ainvoke({"log": []}, {"tracer": tracer})
    assert tracer.to_mermaid_gantt(resolution_ms=200, title="fan-out: 3 fetches") == (
        textwrap.dedent(
            """\
            gantt
                title fan-out 3 fetches
                dateFormat x
                axisFormat %L ms
                todayMarker off
                section step 1
                fetch_a :0, 200
                fetch_b :0, 400
                fetch_c :0, 200
                section step 2
                join :400, 600"""
        )
    )
    text = tracer.summary().to_text(resolution_ms=200).splitlines()
    assert [line.split() for line in text[1:3]] == [
        ["fetch_b", "1", "400", "400", "400", "400", "0", "1"],
        ["fetch_a", "1", "200", "200", "200", "200", "0", "1"],
    ]


@pytest.mark.asyncio
async def test_gantt_picks_a_run_marks_attempts_and_keeps_short_bars_visible() -> None:
    calls = 0

    async def flaky(state: State) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("blip")
        return {"n": 1}

    policy = RetryPolicy(initial_interval=0.001, jitter=False)
    graph = StateGraph(State).add_node("odd; name#1", flaky, retry_policy=policy)
    graph.add_edge(START, "odd; name#1")
    tracer = Tracer()
    await graph.compile().ainvoke({"n": 0}, {"tracer": tracer, "run_id": "first"})
    await graph.compile().ainvoke({"n": 0}, {"tracer": tracer, "run_id": "second"})
    lines = tracer.to_mermaid_gantt("first").splitlines()
    assert lines[-2] == "    odd name 1 (error) :crit, 0, 1"
    assert re.fullmatch(r"    odd name 1 \(attempt 2\) :\d+, \d+", lines[-1])
    start, end = map(int, lines[-1].split(":")[1].split(", "))
    assert end >= start + 1  # a bar is never empty
    assert "(attempt 2)" not in tracer.to_mermaid_gantt()  # the default is the last run
    with pytest.raises(LookupError, match="No finished run has run_id 'third'"):
        tracer.to_mermaid_gantt("third")


@pytest.mark.parametrize("bad", [0, -50, 2.5, "50", True, float("nan")])
def test_resolution_must_be_whole_positive_milliseconds(bad: Any) -> None:
    tracer = Tracer()
    message = (
        f"resolution_ms must be a whole number of milliseconds >= 1 .*got {re.escape(repr(bad))}"
    )
    with pytest.raises(ValueError, match=message):
        tracer.to_mermaid_gantt(resolution_ms=bad)
    with pytest.raises(ValueError, match=message):
        tracer.summary().to_text(resolution_ms=bad)


# -- observers: combining, and the cost when off -----------------------------------------


@pytest.mark.asyncio
async def test_combine_calls_every_observer_and_chains_wrappers_in_order() -> None:
    calls: list[str] = []

    class Wrapping(Observer):
        def __init__(self, name: str) -> None:
            self.name = name

        def task_started(self, task: Any) -> None:
            calls.append(f"{self.name} started {task.node.name}")

        def wrap_coroutine(self, task: Any, coro: Any) -> Any:
            async def wrapped() -> Any:
                calls.append(f"{self.name} enters")
                return await coro

            return wrapped()

    tracer = Tracer()
    graph = StateGraph(State).add_node("a", sleeper("a", 0)).add_edge(START, "a").compile()
    observer = combine(Wrapping("one"), tracer, Wrapping("two"))
    assert await graph.ainvoke({"log": []}, {"tracer": observer}) == {"log": ["a"]}
    assert calls == ["one started a", "two started a", "two enters", "one enters"]
    assert len(tracer.spans) == 1
    with pytest.raises(TypeError, match=r"combine\(\) takes observers: .*; got <object"):
        combine(tracer, object())  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_only_observers_that_override_a_task_hook_are_called_per_task() -> None:
    class Finishes(Observer):
        def __init__(self) -> None:
            self.finished: list[tuple[str, str]] = []

        def task_finished(self, task: Any, outcome: str, error: BaseException | None) -> None:
            self.finished.append((task.node.name, outcome))

    assert Finishes.watches_tasks and not Finishes.records
    assert Tracer.records and not Tracer.watches_tasks  # the runner records for it
    graph = fan_out({"a": 0, "b": 0})
    finishes = Finishes()
    await graph.ainvoke({"log": []}, {"tracer": finishes})
    assert sorted(finishes.finished) == [("a", "ok"), ("b", "ok"), ("join", "ok")]

    first, second = Tracer(), Tracer()
    await graph.ainvoke({"log": []}, {"tracer": combine(first, second), "run_id": "both"})
    assert first.run("both").spans == second.run("both").spans
    assert [(s.step, s.tasks) for s in first.run().steps] == [(1, 2), (2, 1)]


@pytest.mark.asyncio
async def test_an_untraced_run_never_calls_an_observer(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*args: Any) -> None:
        raise AssertionError("an observer hook ran without a tracer")

    for hook in ("run_started", *_TASK_HOOKS, "run_finished"):
        monkeypatch.setattr(Observer, hook, fail)
    assert await fan_out({"a": 0, "b": 0}).ainvoke({"log": []}) == {"log": ["a", "b", "join"]}


@pytest.mark.asyncio
async def test_a_sync_node_cancelled_before_its_thread_started_is_a_span_that_never_ran() -> None:
    entered, release = threading.Event(), threading.Event()

    def hold(state: State) -> dict[str, Any]:
        entered.set()
        release.wait(5)
        return {"log": ["held"]}

    builder = StateGraph(State).add_node("first", hold).add_node("second", hold)
    graph = builder.add_edge(START, "first").add_edge(START, "second").compile()
    tracer = Tracer()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="only") as executor:
        config = {"tracer": tracer, "executor": executor}
        run = asyncio.create_task(graph.ainvoke({"log": []}, config))  # type: ignore[arg-type]
        await asyncio.to_thread(entered.wait, 5)  # "first" holds the only worker thread
        await asyncio.sleep(0.01)  # and "second" waits for it
        with pytest.warns(Warning, match="worker thread"):
            run.cancel()
            with pytest.raises(asyncio.CancelledError):
                await run
        before = tracer.run().spans
        release.set()  # the waiting node now gets the thread, after its run ended
    assert tracer.run().spans == before  # nothing recorded after the run ended
    by_node = {span.node: span for span in before}
    assert by_node["first"].thread.startswith("only") and by_node["first"].duration > 0
    assert by_node["second"].outcome == by_node["first"].outcome == "cancelled"
    assert by_node["second"].duration == 0.0  # it never ran
    assert by_node["second"].thread == threading.current_thread().name
