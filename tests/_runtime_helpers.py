"""Shared pieces of the runtime-guarantee tests (tests/test_runtime_*.py).

Nothing here measures speed in absolute terms: the ticker reports the largest gap between
its ticks (a blocked loop shows up as one huge gap), and concurrency is measured by counting
how many bodies are inside a section at once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import operator
import threading
import time
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph.graph import END, START, CompiledStateGraph, StateGraph


class State(TypedDict):
    n: int
    log: Annotated[list[str], operator.add]


class Ticker:
    """A coroutine that ticks every ``interval`` seconds and records the gaps between ticks.

    Use as ``async with Ticker() as ticker: ...`` then read ``ticker.max_gap``. If the loop
    is blocked for 100 ms, one gap is at least 100 ms.
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.gaps: list[float] = []
        self.times: list[float] = []
        self._task: asyncio.Task[None] | None = None

    async def _tick(self) -> None:
        last = time.monotonic()
        while True:
            await asyncio.sleep(self.interval)
            now = time.monotonic()
            self.gaps.append(now - last)
            self.times.append(now)
            last = now

    def ticks_between(self, start: float, end: float) -> int:
        """How many ticks happened strictly inside ``(start, end)`` (monotonic clock)."""
        return sum(start < t < end for t in self.times)

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.get_running_loop().create_task(self._tick())
        await asyncio.sleep(0)  # let it take its first timestamp
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.wait([self._task])

    @property
    def max_gap(self) -> float:
        return max(self.gaps)


class Napper:
    """Sync nodes that sleep in ``time.sleep`` and record when each sleep began and ended.

    ``overlap()`` is the window in which every node was asleep at once. A tick of the
    loop's ticker inside that window proves that none of the nodes held the loop: if a node
    ran on the loop thread, the loop could not tick while that node slept.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.spans: dict[str, tuple[float, float]] = {}
        self.threads: dict[str, str] = {}

    def node(self, name: str) -> Callable[[Any], dict[str, Any]]:
        def nap(state: Any) -> dict[str, Any]:
            self.threads[name] = threading.current_thread().name
            began = time.monotonic()
            time.sleep(self.seconds)
            self.spans[name] = (began, time.monotonic())
            return {"log": [name]}

        return nap

    def overlap(self) -> tuple[float, float]:
        start = max(b for b, _ in self.spans.values())
        end = min(e for _, e in self.spans.values())
        assert start < end, "the nodes' sleeps did not overlap: they did not run in parallel"
        return start, end


def assert_loop_not_blocked(ticker: Ticker, napper: Napper) -> None:
    """The loop ticked while every sync node slept, and never stalled for a whole sleep."""
    start, end = napper.overlap()
    inside = ticker.ticks_between(start, end)
    assert inside >= 2, f"only {inside} ticks while the nodes slept {end - start:.3f}s together"
    # The window check above is the proof. This bound only catches gross stalls (nodes run
    # one after another on the loop thread stall it for the sum of their sleeps): on 2 busy
    # cores the OS alone was seen to delay the loop by 80-100 ms, so it is two sleeps.
    bound = 2 * napper.seconds
    assert ticker.max_gap < bound, f"the loop stalled for {ticker.max_gap:.3f}s"


class Peak:
    """Counts how many callers are inside ``with peak:`` at once (thread-safe)."""

    def __init__(self) -> None:
        self.current = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __enter__(self) -> Peak:
        with self._lock:
            self.current += 1
            self.peak = max(self.peak, self.current)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.current -= 1


def parallel_graph(nodes: dict[str, Callable[..., Any]]) -> CompiledStateGraph:
    """START fans out to every node; all of them run in superstep 1 and then END."""
    builder = StateGraph(State)
    for name, fn in nodes.items():
        builder.add_node(name, fn)
        builder.add_edge(START, name)
        builder.add_edge(name, END)
    return builder.compile()


def chain_graph(*nodes: tuple[str, Callable[..., Any]]) -> CompiledStateGraph:
    """START -> nodes[0] -> nodes[1] -> ... -> END."""
    builder = StateGraph(State).add_sequence(list(nodes))
    builder.add_edge(START, nodes[0][0])
    builder.add_edge(nodes[-1][0], END)
    return builder.compile()


def only_this_task_left() -> bool:
    """True when the calling task is the only task left on the running loop."""
    return asyncio.all_tasks() == {asyncio.current_task()}


async def ticks_until(predicate: Callable[[], bool], max_ticks: int = 20) -> int:
    """Yield to the loop until ``predicate()`` holds; return how many passes it took.

    Counting loop passes instead of seconds makes "promptly" independent of machine speed:
    a cancelled node's ``finally`` needs a handful of passes, a stuck one never gets there.
    """
    for ticks in range(max_ticks + 1):
        if predicate():
            return ticks
        await asyncio.sleep(0)
    raise AssertionError(f"condition still false after {max_ticks} loop passes")


@pytest.fixture(autouse=True)
def no_asyncio_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Autouse fixture (import it into a test module): fail a test if asyncio logged an error.

    That is where "Task was destroyed but it is pending!" and "Task exception was never
    retrieved" end up; a ``gc.collect()`` first makes abandoned tasks report now, inside
    the test that abandoned them.
    """
    caplog.set_level(logging.ERROR, logger="asyncio")
    yield
    gc.collect()
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    errors = [r.getMessage() for r in records if r.name == "asyncio" and r.levelno >= logging.ERROR]
    assert errors == [], f"asyncio logged errors: {errors}"
