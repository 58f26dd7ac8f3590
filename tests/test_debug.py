"""asyncgraph.debug (blocking detector, logging) and the "debug" stream mode."""

from __future__ import annotations

import asyncio
import inspect
import logging
import math
import operator
import re
import time
import warnings
from datetime import datetime
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph.debug import (
    BlockingDetector,
    LoggingObserver,
    LoopBlockedError,
    LoopBlockedWarning,
)
from asyncgraph.errors import NodeTimeoutError
from asyncgraph.graph import END, START, CompiledStateGraph, StateGraph
from asyncgraph.profiling import Tracer, combine
from asyncgraph.types import RetryPolicy, Send


class State(TypedDict, total=False):
    n: int
    log: Annotated[list[str], operator.add]


def one_node(fn: Any, name: str = "node") -> CompiledStateGraph:
    return StateGraph(State).add_node(name, fn).add_edge(START, name).compile()


async def blocking_sleep(state: State) -> dict[str, Any]:  # the line the warning points at
    time.sleep(0.2)  # noqa: ASYNC251  (on purpose: it holds the event loop)
    return {"log": ["slept"]}


async def cpu_loop(state: State) -> dict[str, Any]:
    deadline = time.perf_counter() + 0.2
    total = 0
    while time.perf_counter() < deadline:  # pure Python work, no await
        total += 1
    return {"n": total}


async def polite_sleep(state: State) -> dict[str, Any]:
    await asyncio.sleep(0.2)  # suspends: the loop runs other work meanwhile
    return {"log": ["slept"]}


def sync_sleep(state: State) -> dict[str, Any]:
    time.sleep(0.2)  # a plain def node runs in a worker thread under ainvoke
    return {"log": ["slept"]}


# -- the blocking detector ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_time_sleep_in_an_async_node_is_reported_naming_node_step_and_duration() -> None:
    builder = StateGraph(State).add_node("first", polite_sleep).add_node("parse", blocking_sleep)
    graph = builder.add_edge(START, "first").add_edge("first", "parse").compile()
    detector = BlockingDetector()
    with pytest.warns(LoopBlockedWarning) as caught:
        await graph.ainvoke({"log": []}, {"tracer": detector, "run_id": "r7"})
    [report] = detector.reports
    assert (report.run_id, report.node, report.step, report.attempt) == ("r7", "parse", 2, 1)
    assert report.duration >= 0.2 and report.threshold == 0.1
    [warning] = caught.list
    message = str(warning.message)
    assert re.match(
        r"Node 'parse' \(step 2, attempt 1\) blocked the event loop for 0\.2\d\d s "
        r"without awaiting \(threshold 0\.100 s\)\.",
        message,
    )
    assert "asyncio.to_thread" in message
    # The warning points at the node's own code, not at the runner.
    assert warning.filename == __file__
    assert warning.lineno == inspect.getsourcelines(blocking_sleep)[1]


@pytest.mark.asyncio
async def test_a_cpu_loop_is_reported() -> None:
    detector = BlockingDetector(threshold=0.1)
    with pytest.warns(LoopBlockedWarning, match="Node 'crunch'"):
        await one_node(cpu_loop, "crunch").ainvoke({"n": 0}, {"tracer": detector})
    assert [r.node for r in detector.reports] == ["crunch"]


@pytest.mark.asyncio
async def test_awaiting_asyncio_sleep_is_not_reported() -> None:
    detector = BlockingDetector(threshold=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("error", LoopBlockedWarning)
        await one_node(polite_sleep).ainvoke({"log": []}, {"tracer": detector})
    assert detector.reports == []


@pytest.mark.asyncio
async def test_a_sync_node_in_a_worker_thread_is_not_reported() -> None:
    detector = BlockingDetector(threshold=0.1)
    await one_node(sync_sleep).ainvoke({"log": []}, {"tracer": detector})
    assert detector.reports == []


@pytest.mark.asyncio
async def test_only_the_blocking_node_of_a_fan_out_is_named() -> None:
    builder = StateGraph(State)
    for name, fn in [("a", polite_sleep), ("b", blocking_sleep), ("c", sync_sleep)]:
        builder.add_node(name, fn).add_edge(START, name)
    detector = BlockingDetector()
    with pytest.warns(LoopBlockedWarning):
        await builder.compile().ainvoke({"log": []}, {"tracer": detector})
    assert [(r.node, r.step) for r in detector.reports] == [("b", 1)]


@pytest.mark.asyncio
async def test_strict_mode_fails_the_node_with_an_error_naming_it_and_runs_its_finally() -> None:
    cleaned: list[str] = []

    async def blocks_then_awaits(state: State) -> dict[str, Any]:
        try:
            time.sleep(0.15)  # noqa: ASYNC251
            await asyncio.sleep(10)  # never reached: the detector stops the node here
            return {"n": 1}
        finally:
            cleaned.append("finally")

    detector = BlockingDetector(threshold=0.1, strict=True)
    graph = one_node(blocks_then_awaits, "slow")
    start = time.perf_counter()
    with pytest.raises(
        LoopBlockedError, match=r"Node 'slow' \(step 1, attempt 1\) blocked"
    ) as info:
        await graph.ainvoke({"n": 0}, {"tracer": detector})
    assert time.perf_counter() - start < 5
    assert cleaned == ["finally"]
    assert info.value.report is detector.reports[0]
    assert "asyncgraph: raised by node 'slow' (step 1, attempt 1)" in info.value.__notes__


@pytest.mark.asyncio
async def test_strict_mode_after_a_node_returned_still_fails_it() -> None:
    with pytest.raises(LoopBlockedError, match="Node 'node'"):
        await one_node(blocking_sleep).ainvoke(
            {"log": []}, {"tracer": BlockingDetector(strict=True)}
        )


@pytest.mark.asyncio
async def test_strict_mode_keeps_the_nodes_own_error_and_adds_a_note() -> None:
    async def blocks_then_fails(state: State) -> dict[str, Any]:
        time.sleep(0.15)  # noqa: ASYNC251
        raise KeyError("missing")

    detector = BlockingDetector(strict=True)
    with pytest.raises(KeyError) as info:
        await one_node(blocks_then_fails).ainvoke({"n": 0}, {"tracer": detector})
    assert any("blocked the event loop" in note for note in info.value.__notes__)


@pytest.mark.asyncio
async def test_the_wrapper_is_transparent_to_values_errors_timeouts_and_cancellation() -> None:
    async def awaits_things(state: State) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[int] = loop.create_future()
        loop.call_soon(future.set_exception, ValueError("from a future"))
        try:
            await future
        except ValueError as exc:  # thrown into the node through the wrapper
            caught = str(exc)
        value = loop.create_future()
        loop.call_soon(value.set_result, 41)
        return {"n": await value + 1, "log": [caught]}

    detector = BlockingDetector()
    result = await one_node(awaits_things).ainvoke({"log": []}, {"tracer": detector})
    assert result == {"n": 42, "log": ["from a future"]}

    cleaned: list[str] = []

    async def slow(state: State) -> dict[str, Any]:
        try:
            await asyncio.sleep(10)
            return {}
        finally:
            cleaned.append("finally")

    graph = StateGraph(State).add_node("slow", slow, timeout=0.05).add_edge(START, "slow").compile()
    with pytest.raises(NodeTimeoutError):
        await graph.ainvoke({"n": 0}, {"tracer": detector})
    assert cleaned == ["finally"]
    runner = asyncio.create_task(one_node(slow).ainvoke({"n": 0}, {"tracer": detector}))
    await asyncio.sleep(0.02)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
    assert cleaned == ["finally", "finally"] and detector.reports == []


@pytest.mark.asyncio
async def test_retried_attempts_are_reported_with_their_attempt() -> None:
    attempts = 0

    async def flaky(state: State) -> dict[str, Any]:
        nonlocal attempts
        attempts += 1
        time.sleep(0.12)  # noqa: ASYNC251
        if attempts == 1:
            raise ConnectionError("blip")
        return {"n": attempts}

    policy = RetryPolicy(initial_interval=0.001, jitter=False)
    graph = (
        StateGraph(State).add_node(flaky, retry_policy=policy).add_edge(START, "flaky").compile()
    )
    detector = BlockingDetector()
    with pytest.warns(LoopBlockedWarning):
        await graph.ainvoke({"n": 0}, {"tracer": detector})
    assert [(r.node, r.attempt) for r in detector.reports] == [("flaky", 1), ("flaky", 2)]


@pytest.mark.parametrize("bad", [0, -0.1, math.nan, math.inf, "0.1", None, True])
def test_invalid_thresholds_are_refused_with_the_fix(bad: Any) -> None:
    with pytest.raises(
        ValueError,
        match=(
            rf"threshold must be a positive, finite number of seconds; got {re.escape(repr(bad))}\. "
            r"Pass e\.g\. threshold=0\.1 for 100 ms"
        ),
    ):
        BlockingDetector(threshold=bad)


def test_whole_seconds_are_a_valid_threshold() -> None:
    assert BlockingDetector(threshold=2).threshold == 2.0


@pytest.mark.asyncio
async def test_detector_and_tracer_combine() -> None:
    tracer, detector = Tracer(), BlockingDetector()
    with pytest.warns(LoopBlockedWarning):
        await one_node(blocking_sleep, "parse").ainvoke(
            {"log": []}, {"tracer": combine(tracer, detector)}
        )
    [report] = detector.reports
    [span] = tracer.spans
    assert report.run_id == span.run_id == "run-1" and span.duration >= report.duration


# -- the "debug" stream ------------------------------------------------------------------


@pytest.mark.asyncio
async def test_debug_stream_pairs_each_start_with_its_result() -> None:
    async def work(arg: int) -> dict[str, Any]:
        await asyncio.sleep(0.05 * arg)
        return {"log": [str(arg)]}

    builder = StateGraph(State).add_node("work", work).add_node("done", polite_sleep)
    builder.add_conditional_edges(START, lambda s: [Send("work", 2), Send("work", 1)])
    builder.add_edge("work", "done")
    events = [e async for e in builder.compile().astream({"log": []}, stream_mode="debug")]
    assert [(e["type"], e["step"], e["payload"]["name"]) for e in events] == [
        ("task", 1, "work"),
        ("task", 1, "work"),
        ("task_result", 1, "work"),
        ("task_result", 1, "work"),
        ("task", 2, "done"),
        ("task_result", 2, "done"),
    ]
    starts = {e["payload"]["id"]: e for e in events if e["type"] == "task"}
    assert len(starts) == 3  # the two Send tasks of one node have their own ids
    for result in (e for e in events if e["type"] == "task_result"):
        start = starts[result["payload"]["id"]]  # every result names its start
        assert start["payload"]["name"] == result["payload"]["name"]
        assert start["payload"]["attempt"] == result["payload"]["attempt"] == 1
        assert result["payload"]["error"] is None and result["payload"]["duration"] >= 0
        assert datetime.fromisoformat(result["timestamp"]) >= datetime.fromisoformat(
            start["timestamp"]
        )
    first, second = (e for e in events if e["type"] == "task_result" and e["step"] == 1)
    assert (first["payload"]["result"], second["payload"]["result"]) == (
        {"log": ["1"]},
        {"log": ["2"]},
    )  # completion order
    assert second["payload"]["duration"] > first["payload"]["duration"]
    assert [starts[i]["payload"]["triggers"] for i in starts] == [("send",), ("send",), ("edge",)]


@pytest.mark.asyncio
async def test_debug_stream_shows_every_attempt_and_the_final_error() -> None:
    async def flaky(state: State) -> dict[str, Any]:
        raise ConnectionError("down")

    policy = RetryPolicy(max_attempts=2, initial_interval=0.001, jitter=False)
    graph = StateGraph(State).add_node(flaky, retry_policy=policy).add_edge(START, "flaky")
    events: list[dict[str, Any]] = []
    with pytest.raises(ConnectionError):
        async for event in graph.compile().astream({"n": 0}, stream_mode="debug"):
            events.append(event)
    assert [(e["type"], e["payload"]["attempt"]) for e in events] == [
        ("task", 1),
        ("task_result", 1),
        ("task", 2),
        ("task_result", 2),
    ]
    assert len({e["payload"]["id"] for e in events}) == 1  # one task, two attempts
    assert [e["payload"]["error"] for e in events[1::2]] == ["ConnectionError('down')"] * 2
    assert [e["payload"]["result"] for e in events[1::2]] == [None, None]


@pytest.mark.asyncio
async def test_debug_stream_mixes_with_updates_and_a_tracer() -> None:
    tracer = Tracer()
    graph = one_node(polite_sleep)
    chunks = [
        c
        async for c in graph.astream(
            {"log": []}, {"tracer": tracer}, stream_mode=["updates", "debug"]
        )
    ]
    assert [mode for mode, _ in chunks] == ["debug", "updates", "debug"]
    assert len(tracer.spans) == 1


# -- task visibility ---------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("max_concurrency", [None, 1])
async def test_parallel_nodes_run_as_tasks_named_after_node_and_step(
    max_concurrency: int | None,
) -> None:
    builder = StateGraph(State)
    for name in ("fetch_a", "fetch_b"):
        builder.add_node(name, polite_sleep).add_edge(START, name)
    config: Any = {} if max_concurrency is None else {"max_concurrency": max_concurrency}
    run = asyncio.create_task(builder.compile().ainvoke({"log": []}, config))
    await asyncio.sleep(0.05)
    names = sorted(t.get_name() for t in asyncio.all_tasks() if t is not run)
    await run
    assert [n for n in names if n.startswith("asyncgraph")] == [
        "asyncgraph: fetch_a (step 1)",
        "asyncgraph: fetch_b (step 1)",
    ]


# -- logging -----------------------------------------------------------------------------


def test_the_library_logger_is_silent_by_default() -> None:
    handlers = logging.getLogger("asyncgraph").handlers
    assert any(isinstance(h, logging.NullHandler) for h in handlers)


@pytest.mark.asyncio
async def test_the_runner_logs_nothing_without_a_logging_observer(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.DEBUG, logger="asyncgraph"):
        await one_node(polite_sleep).ainvoke({"log": []})
    assert [r for r in caplog.records if r.name.startswith("asyncgraph")] == []


@pytest.mark.asyncio
async def test_logging_observer_logs_run_step_and_node_context(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def boom(state: State) -> dict[str, Any]:
        raise ValueError("bad")

    builder = StateGraph(State).add_node("ok", sleeper_node).add_node("boom", boom)
    graph = builder.add_edge(START, "ok").add_edge("ok", "boom").add_edge("boom", END).compile()
    with caplog.at_level(logging.DEBUG, logger="asyncgraph"), pytest.raises(ValueError):
        await graph.ainvoke({"log": []}, {"tracer": LoggingObserver(), "run_id": "r1"})
    records = [r for r in caplog.records if r.name == "asyncgraph"]
    lines = [
        (r.levelname, r.asyncgraph_step, r.asyncgraph_node, r.getMessage())  # type: ignore[attr-defined]
        for r in records
    ]
    assert lines[0] == ("DEBUG", None, None, "run r1 started")
    assert ("DEBUG", 1, None, "step 1 started: ok") in lines
    assert ("DEBUG", 1, "ok", "node 'ok' (step 1, attempt 1) started") in lines
    assert lines[-1] == ("WARNING", None, None, "run r1 finished: error: ValueError: bad")
    failed = [line for line in lines if line[2] == "boom" and line[0] == "WARNING"]
    assert len(failed) == 1 and re.fullmatch(
        r"node 'boom' \(step 2, attempt 1\) finished: error: ValueError: bad", failed[0][3]
    )
    finished = [r for r in records if r.getMessage().endswith("finished: ok")]
    assert [r.asyncgraph_outcome for r in finished] == ["ok"]  # type: ignore[attr-defined]
    assert finished[0].asyncgraph_duration >= 0  # type: ignore[attr-defined]
    assert records[-1].asyncgraph_duration >= finished[0].asyncgraph_duration  # type: ignore[attr-defined]
    assert {r.asyncgraph_run_id for r in records} == {"r1"}  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_logging_observer_level_and_numbering(caplog: pytest.LogCaptureFixture) -> None:
    observer = LoggingObserver(level=logging.INFO)
    with caplog.at_level(logging.INFO, logger="asyncgraph"):
        for _ in range(2):
            await one_node(sleeper_node).ainvoke({"log": []}, {"tracer": observer})
    started = [r.getMessage() for r in caplog.records if r.getMessage().startswith("run ")]
    assert started == [
        "run run-1 started",
        "run run-1 finished: ok",
        "run run-2 started",
        "run run-2 finished: ok",
    ]
    assert {r.levelno for r in caplog.records} == {logging.INFO}


async def sleeper_node(state: State) -> dict[str, Any]:
    await asyncio.sleep(0)
    return {"log": ["x"]}
