"""Cancellation leaves no orphans: ainvoke, astream exits, uninterruptible sync nodes, timeouts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _runtime_helpers import (
    State,
    chain_graph,
    no_asyncio_errors,  # noqa: F401 - autouse fixture
    only_this_task_left,
    parallel_graph,
    ticks_until,
)

from asyncgraph.errors import UninterruptibleNodeWarning
from asyncgraph.graph import START, StateGraph
from asyncgraph.types import Send


class Probe:
    """Records which async nodes started, and which ran their ``finally`` (and when)."""

    def __init__(self, cleanup_delay: float = 0.0) -> None:
        self.cleanup_delay = cleanup_delay
        self.started: list[str] = []
        self.cleaned: dict[str, float] = {}
        self.finished: list[str] = []
        self._progress = asyncio.Event()

    def node(self, name: str, seconds: float = 30.0) -> Any:
        async def node(state: Any) -> dict[str, Any]:
            label = state.get("label", name)
            self.started.append(label)
            self._progress.set()
            try:
                await asyncio.sleep(seconds)
                self.finished.append(label)
                return {"log": [label]}
            finally:
                if self.cleanup_delay:
                    # an async cleanup, like closing a socket
                    await asyncio.sleep(self.cleanup_delay)
                self.cleaned[label] = time.monotonic()

        return node

    async def wait_started(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.started) < count:
                self._progress.clear()
                await self._progress.wait()


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# -- cancelling ainvoke -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_cancelling_ainvoke_cancels_every_node_and_waits_for_their_cleanup() -> None:
    probe = Probe(cleanup_delay=0.01)
    graph = parallel_graph({n: probe.node(n) for n in ("a", "b", "c")})
    run = asyncio.get_running_loop().create_task(graph.ainvoke({"n": 0}))
    await probe.wait_started(3)
    await cancel_and_wait(run)
    assert sorted(probe.cleaned) == ["a", "b", "c"]  # finally blocks ran, async cleanup included
    assert probe.finished == []
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_cancelling_ainvoke_during_a_lone_node() -> None:
    probe = Probe(cleanup_delay=0.01)
    graph = chain_graph(("only", probe.node("only")))
    run = asyncio.get_running_loop().create_task(graph.ainvoke({"n": 0}))
    await probe.wait_started(1)
    await cancel_and_wait(run)
    assert list(probe.cleaned) == ["only"]
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_cancelling_ainvoke_cancels_send_tasks_waiting_for_max_concurrency() -> None:
    probe = Probe()
    builder = StateGraph(State).add_node("work", probe.node("work"))
    builder.add_conditional_edges(
        START, lambda s: [Send("work", {"label": f"w{i}"}) for i in range(6)]
    )
    graph = builder.compile()
    run = asyncio.get_running_loop().create_task(graph.ainvoke({"n": 0}, {"max_concurrency": 2}))
    await probe.wait_started(2)
    await asyncio.sleep(0.01)
    assert probe.started == ["w0", "w1"]
    await cancel_and_wait(run)
    assert sorted(probe.cleaned) == ["w0", "w1"]
    assert probe.started == ["w0", "w1"]  # the waiting ones never started
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_cancelling_ainvoke_twice_still_waits_for_every_cleanup() -> None:
    """A second cancel() that arrives while the nodes clean up (a timeout inside an outer
    cancellation, a server shutting down) must not make the run abandon its node tasks."""
    probe = Probe(cleanup_delay=0.05)
    graph = parallel_graph({n: probe.node(n) for n in ("a", "b")})
    run = asyncio.get_running_loop().create_task(graph.ainvoke({"n": 0}))
    await probe.wait_started(2)
    run.cancel()
    await asyncio.sleep(0.01)  # the nodes are now inside their 50 ms cleanup
    await cancel_and_wait(run)
    assert sorted(probe.cleaned) == ["a", "b"]
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_a_cancelled_run_in_a_later_step_keeps_no_task_pending() -> None:
    probe = Probe()

    async def first(state: State) -> dict[str, Any]:
        return {"log": ["first"]}

    builder = StateGraph(State).add_node(first)
    builder.add_node("x", probe.node("x")).add_node("y", probe.node("y"))
    builder.add_edge(START, "first").add_edge("first", "x").add_edge("first", "y")
    graph = builder.compile()
    run = asyncio.get_running_loop().create_task(graph.ainvoke({"n": 0}))
    await probe.wait_started(2)
    await cancel_and_wait(run)
    assert sorted(probe.cleaned) == ["x", "y"]
    assert only_this_task_left()


# -- leaving astream early ------------------------------------------------------------------------


def streaming_graph(probe: Probe) -> Any:
    """``fast`` finishes at once; ``slow`` is still running when its sibling's chunk arrives."""

    async def fast(state: State) -> dict[str, Any]:
        return {"log": ["fast"]}

    return parallel_graph({"fast": fast, "slow": probe.node("slow")})


@pytest.mark.asyncio
async def test_aclose_cancels_in_flight_nodes_before_it_returns() -> None:
    probe = Probe()
    stream = streaming_graph(probe).astream({"n": 0})
    assert await anext(stream) == {"fast": {"log": ["fast"]}}
    await probe.wait_started(1)
    await stream.aclose()
    assert "slow" in probe.cleaned  # already true when aclose() returns
    assert probe.finished == []
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_aclosing_with_break_cancels_in_flight_nodes_on_exit() -> None:
    probe = Probe(cleanup_delay=0.01)
    chunks = []
    async with contextlib.aclosing(streaming_graph(probe).astream({"n": 0})) as stream:
        async for chunk in stream:
            chunks.append(chunk)
            await probe.wait_started(1)
            break
    assert "slow" in probe.cleaned  # even an awaiting cleanup is done when the block exits
    assert chunks == [{"fast": {"log": ["fast"]}}]
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_break_from_astream_runs_the_in_flight_nodes_finally_promptly() -> None:
    probe = Probe()
    async for _ in streaming_graph(probe).astream({"n": 0}):
        await probe.wait_started(1)
        left_at = time.monotonic()
        break
    # The dropped generator is closed by the loop's asyncgen hook: a few loop passes.
    ticks = await ticks_until(lambda: "slow" in probe.cleaned)
    elapsed = probe.cleaned["slow"] - left_at
    assert ticks <= 10, f"finally ran {ticks} loop passes ({elapsed * 1000:.1f} ms) after break"
    assert probe.finished == []
    await ticks_until(only_this_task_left)


@pytest.mark.asyncio
async def test_an_exception_in_the_astream_body_cancels_in_flight_nodes_promptly() -> None:
    probe = Probe()
    with pytest.raises(KeyError, match="consumer failed"):
        async for _ in streaming_graph(probe).astream({"n": 0}):
            await probe.wait_started(1)
            raise KeyError("consumer failed")
    ticks = await ticks_until(lambda: "slow" in probe.cleaned)
    assert ticks <= 10
    assert probe.finished == []
    await ticks_until(only_this_task_left)


@pytest.mark.asyncio
async def test_dropping_the_astream_iterator_cancels_in_flight_nodes_promptly() -> None:
    probe = Probe()
    stream = streaming_graph(probe).astream({"n": 0})
    assert await anext(stream) == {"fast": {"log": ["fast"]}}
    await probe.wait_started(1)
    del stream
    ticks = await ticks_until(lambda: "slow" in probe.cleaned)
    assert ticks <= 10
    assert probe.finished == []
    await ticks_until(only_this_task_left)


@pytest.mark.asyncio
async def test_cancelling_an_astream_consumer_twice_still_waits_for_every_cleanup() -> None:
    probe = Probe(cleanup_delay=0.05)
    got_chunk = asyncio.Event()

    async def consume() -> None:
        async for _ in streaming_graph(probe).astream({"n": 0}):
            got_chunk.set()

    consumer = asyncio.get_running_loop().create_task(consume())
    await got_chunk.wait()
    await probe.wait_started(1)
    consumer.cancel()
    await asyncio.sleep(0.01)  # "slow" is now inside its 50 ms cleanup
    await cancel_and_wait(consumer)
    assert "slow" in probe.cleaned
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_timeout_around_astream_cancels_the_run() -> None:
    probe = Probe()
    chunks = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            async for chunk in streaming_graph(probe).astream({"n": 0}):
                chunks.append(chunk)
    assert chunks == [{"fast": {"log": ["fast"]}}]
    assert "slow" in probe.cleaned
    await ticks_until(only_this_task_left)


def test_break_from_sync_stream_cancels_the_in_flight_node_before_the_next_statement() -> None:
    probe = Probe()
    graph = streaming_graph(probe)
    chunks = []
    for chunk in graph.stream({"n": 0}):
        chunks.append(chunk)
        break
    assert chunks == [{"fast": {"log": ["fast"]}}]
    assert "slow" in probe.cleaned
    assert probe.finished == []


# -- sync nodes cannot be interrupted ----------------------------------------------------------------


class Blocker:
    """A sync node that blocks its worker thread until released, then returns ``result``."""

    def __init__(self, result: Any = None) -> None:
        self.result = result
        self.entered = threading.Event()
        self.release = threading.Event()
        self.done = threading.Event()

    def __call__(self, state: State) -> Any:
        self.entered.set()
        try:
            assert self.release.wait(10), "never released"
            return self.result
        finally:
            self.done.set()

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 5)

    async def finish(self) -> None:
        self.release.set()
        assert await asyncio.to_thread(self.done.wait, 5)


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="runtime-cancel")
    yield executor
    executor.shutdown(wait=True)  # every thread a test left running has finished


@pytest.mark.asyncio
async def test_cancelling_a_run_does_not_wait_for_a_sync_node_and_warns(
    pool: ThreadPoolExecutor,
) -> None:
    blocker = Blocker(result="not an update")  # would be an error if it were ever applied
    graph = chain_graph(("blocker", blocker))
    run = asyncio.get_running_loop().create_task(graph.ainvoke({"n": 0}, {"executor": pool}))
    try:
        await blocker.wait_entered()
        with pytest.warns(UninterruptibleNodeWarning, match="'blocker'") as record:
            await cancel_and_wait(run)
        assert not blocker.done.is_set()  # the run returned while the thread was still blocked
        assert len(record) == 1
        assert only_this_task_left()
    finally:
        await blocker.finish()
    await asyncio.sleep(0.01)  # the thread's result reaches the loop, and is dropped silently


@pytest.mark.asyncio
async def test_leaving_astream_warns_for_each_sync_node_still_running(
    pool: ThreadPoolExecutor,
) -> None:
    b1, b2 = Blocker({"log": ["b1"]}), Blocker({"log": ["b2"]})

    async def fast(state: State) -> dict[str, Any]:
        return {"log": ["fast"]}

    graph = parallel_graph({"b1": b1, "b2": b2, "fast": fast})
    chunks = []
    try:
        with pytest.warns(UninterruptibleNodeWarning) as record:
            stream = graph.astream({"n": 0}, {"executor": pool})
            async with contextlib.aclosing(stream):
                async for chunk in stream:
                    chunks.append(chunk)
                    await b1.wait_entered()
                    await b2.wait_entered()
                    break
        messages = sorted(str(w.message) for w in record)
        assert len(messages) == 2
        assert "'b1'" in messages[0]
        assert "'b2'" in messages[1]
        assert chunks == [{"fast": {"log": ["fast"]}}]
        assert only_this_task_left()
    finally:
        await b1.finish()
        await b2.finish()


@pytest.mark.asyncio
async def test_timeout_around_ainvoke_with_a_sync_node_raises_timeout_and_warns(
    pool: ThreadPoolExecutor,
) -> None:
    blocker = Blocker()
    graph = chain_graph(("blocker", blocker))
    try:
        with (
            pytest.warns(UninterruptibleNodeWarning, match="'blocker'"),
            pytest.raises(TimeoutError),
        ):
            async with asyncio.timeout(0.05):
                await graph.ainvoke({"n": 0}, {"executor": pool})
        assert not blocker.done.is_set()
        assert only_this_task_left()
    finally:
        await blocker.finish()


# -- asyncio.timeout / wait_for around ainvoke ----------------------------------------------------------


@pytest.mark.asyncio
async def test_asyncio_timeout_around_ainvoke_behaves_like_cancellation() -> None:
    probe = Probe(cleanup_delay=0.01)
    graph = parallel_graph({n: probe.node(n) for n in ("a", "b")})
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.05):
            await graph.ainvoke({"n": 0})
    assert sorted(probe.cleaned) == ["a", "b"]
    assert probe.finished == []
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_wait_for_around_ainvoke_behaves_like_cancellation() -> None:
    probe = Probe(cleanup_delay=0.01)
    graph = parallel_graph({n: probe.node(n) for n in ("a", "b")})
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(graph.ainvoke({"n": 0}), 0.05)
    assert sorted(probe.cleaned) == ["a", "b"]
    assert probe.finished == []
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_timeout_that_does_not_expire_leaves_the_result_intact() -> None:
    probe = Probe()
    graph = parallel_graph({n: probe.node(n, seconds=0.01) for n in ("a", "b")})
    async with asyncio.timeout(5):
        result = await graph.ainvoke({"n": 0})
    assert result == {"n": 0, "log": ["a", "b"]}
    assert only_this_task_left()


async def test_an_error_raised_by_a_node_while_its_run_is_cancelled_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()

    async def messy(state: State) -> dict[str, Any]:
        try:
            started.set()
            await asyncio.sleep(10)
        finally:
            raise OSError("cleanup failed")
        return {}

    async def calm(state: State) -> dict[str, Any]:
        await asyncio.sleep(10)
        return {}

    builder = StateGraph(State).add_node(messy).add_node(calm)
    graph = builder.add_edge(START, "messy").add_edge(START, "calm").compile()
    caplog.set_level(logging.WARNING, logger="asyncgraph")
    run = asyncio.get_running_loop().create_task(graph.ainvoke({"log": []}))
    await started.wait()
    await cancel_and_wait(run)
    assert run.cancelled()
    lost = [r for r in caplog.records if r.name == "asyncgraph"]
    assert [r.getMessage() for r in lost] == [
        "node 'messy' (step 1, attempt 1) raised while its run was being cancelled"
    ]
    assert isinstance(lost[0].exc_info[1], OSError)  # type: ignore[index]
    caplog.clear()  # expected: not an asyncio error for the autouse check
