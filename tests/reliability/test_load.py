"""Load, fault injection and early exit: many runs on one loop lose nothing and leak nothing.

These run with the rest of the suite under asyncio debug mode, so counts are sized to
finish in seconds there while still putting thousands of runs in flight at once.
"""

from __future__ import annotations

import asyncio
import gc
import operator
import random
import threading
import tracemalloc
from typing import Annotated, Any, TypedDict

from asyncgraph import NodeTimeoutError
from asyncgraph.graph import START, CompiledStateGraph, StateGraph

SEED = random.randrange(2**32)


class State(TypedDict, total=False):
    run: int
    parts: Annotated[list[str], operator.add]
    total: int


WORKERS = ("w0", "w1", "w2", "w3")


def fan_graph(worker: Any, *, timeout: float | None = None) -> CompiledStateGraph:
    """START -> w0..w3 in parallel -> join -> total."""

    async def join(state: State) -> dict[str, Any]:
        return {"total": len(state["parts"])}

    builder = StateGraph(State)
    for name in WORKERS:
        builder.add_node(name, worker(name), timeout=timeout)
        builder.add_edge(START, name)
    builder.add_node(join).add_edge(list(WORKERS), "join")
    return builder.compile()


def expected(run: int) -> dict[str, Any]:
    return {"run": run, "parts": [f"{w}:{run}" for w in WORKERS], "total": len(WORKERS)}


def only_this_task_left() -> bool:
    return asyncio.all_tasks() == {asyncio.current_task()}


async def test_ten_thousand_concurrent_runs_are_exact_and_leak_nothing() -> None:
    def worker(name: str) -> Any:
        async def node(state: State) -> dict[str, Any]:
            await asyncio.sleep(0)
            return {"parts": [f"{name}:{state['run']}"]}

        return node

    graph = fan_graph(worker)
    threads_before = threading.active_count()

    async def soak(runs: int) -> None:
        results = await asyncio.gather(*(graph.ainvoke({"run": i}) for i in range(runs)))
        assert all(result == expected(i) for i, result in enumerate(results))
        assert only_this_task_left()
        assert threading.active_count() == threads_before

    await soak(10_000)
    # Leak check: asyncio itself keeps the tasks of the last gather() and grown tables
    # alive, so compare two later rounds of equal size: a runner leak grows every round.
    tracemalloc.start()
    try:
        await soak(2_000)
        gc.collect()
        after_first = tracemalloc.get_traced_memory()[0]
        await soak(2_000)
        gc.collect()
        growth = tracemalloc.get_traced_memory()[0] - after_first
    finally:
        tracemalloc.stop()
    assert growth < 2_000 * 64, f"memory grew by {growth} bytes over 2,000 more runs"


class Injected(Exception):
    """A fault injected by the test, carrying its run and node."""


async def test_fault_injection_every_run_is_exact_or_fails_with_its_own_fault() -> None:
    rng = random.Random(SEED)
    plan: dict[tuple[int, str], str] = {}
    for run in range(1_000):
        if rng.random() < 0.3:  # 30% of runs get one fault in one random node
            plan[(run, rng.choice(WORKERS))] = rng.choice(["raise", "hang", "cancel"])

    def worker(name: str) -> Any:
        async def node(state: State) -> dict[str, Any]:
            fault = plan.get((state["run"], name))
            await asyncio.sleep(0)
            if fault == "raise":
                raise Injected(f"{name}:{state['run']}")
            if fault == "hang":
                await asyncio.sleep(10)  # past the node's timeout
            if fault == "cancel":
                raise asyncio.CancelledError  # the node cancels itself
            return {"parts": [f"{name}:{state['run']}"]}

        return node

    graph = fan_graph(worker, timeout=0.5)

    async def one(run: int) -> Any:
        try:
            return await graph.ainvoke({"run": run})
        except (Injected, NodeTimeoutError, asyncio.CancelledError) as exc:
            return exc

    outcomes = await asyncio.gather(*(one(run) for run in range(1_000)))
    faults_by_run = {run: (node, kind) for (run, node), kind in plan.items()}
    for run, outcome in enumerate(outcomes):
        context = f"seed={SEED} run={run} outcome={outcome!r}"
        if run not in faults_by_run:
            assert outcome == expected(run), context
            continue
        node, kind = faults_by_run[run]
        if kind == "raise":
            assert isinstance(outcome, Injected) and str(outcome) == f"{node}:{run}", context
            assert f"raised by node {node!r} (step 1, attempt 1)" in outcome.__notes__[0], context
        elif kind == "hang":
            assert isinstance(outcome, NodeTimeoutError) and outcome.node == node, context
        else:
            assert isinstance(outcome, asyncio.CancelledError), context
    assert only_this_task_left(), f"seed={SEED}"


async def test_a_thousand_streams_left_at_random_points_leave_no_task_pending() -> None:
    rng = random.Random(SEED)
    cleaned = 0

    def worker(name: str) -> Any:
        async def node(state: State) -> dict[str, Any]:
            nonlocal cleaned
            try:
                await asyncio.sleep(rng.random() * 0.01)
                return {"parts": [f"{name}:{state['run']}"]}
            finally:
                cleaned += 1

        return node

    graph = fan_graph(worker)

    async def consume(run: int, stop_after: int) -> int:
        seen = 0
        async for _ in graph.astream({"run": run}):
            seen += 1
            if seen == stop_after:
                break
        return seen

    stops = [rng.randint(1, len(WORKERS) + 1) for _ in range(1_000)]
    seen = await asyncio.gather(*(consume(run, stop) for run, stop in enumerate(stops)))
    assert seen == stops, f"seed={SEED}"
    assert only_this_task_left(), f"seed={SEED}"
    started = cleaned
    await asyncio.sleep(0.05)
    assert cleaned == started  # every node's finally had already run: nothing still going
