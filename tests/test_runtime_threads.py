"""Sync and async nodes in one graph: threads, contextvars, executors, the sync API, routers."""

from __future__ import annotations

import asyncio
import contextvars
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _runtime_helpers import (
    Napper,
    Peak,
    State,
    Ticker,
    assert_loop_not_blocked,
    chain_graph,
    no_asyncio_errors,  # noqa: F401 - autouse fixture
    only_this_task_left,
    parallel_graph,
)

from asyncgraph.config import get_config, get_stream_writer
from asyncgraph.graph import END, START, StateGraph
from asyncgraph.types import RunnableConfig

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="unset")


def sleeper(name: str, seconds: float, threads: dict[str, str], peak: Peak | None = None) -> Any:
    def node(state: State) -> dict[str, Any]:
        threads[name] = threading.current_thread().name
        if peak is None:
            time.sleep(seconds)
        else:
            with peak:
                time.sleep(seconds)
        return {"log": [name]}

    return node


# -- sync nodes never block the loop ----------------------------------------------------------


@pytest.mark.asyncio
async def test_eight_sync_nodes_sleeping_in_parallel_do_not_block_a_ticker() -> None:
    napper = Napper(0.1)
    names = [f"s{i}" for i in range(8)]
    graph = parallel_graph({n: napper.node(n) for n in names})
    with ThreadPoolExecutor(max_workers=8, thread_name_prefix="eight") as pool:
        async with Ticker() as ticker:
            started = time.monotonic()
            result = await graph.ainvoke({"n": 1}, {"executor": pool})
            elapsed = time.monotonic() - started
    assert result == {"n": 1, "log": sorted(names)}  # merged in task-path order
    assert_loop_not_blocked(ticker, napper)
    assert elapsed < 0.8 * 0.6, f"8 x 0.1 s took {elapsed:.3f}s: the nodes did not overlap"
    assert len(set(napper.threads.values())) == 8
    assert all(name.startswith("eight") for name in napper.threads.values())


@pytest.mark.asyncio
async def test_a_lone_sync_node_runs_in_a_worker_thread_under_ainvoke() -> None:
    napper = Napper(0.15)
    graph = chain_graph(("blocking", napper.node("blocking")))
    async with Ticker() as ticker:
        result = await graph.ainvoke({"n": 1})
    assert result == {"n": 1, "log": ["blocking"]}
    assert napper.threads["blocking"] != threading.current_thread().name
    assert_loop_not_blocked(ticker, napper)


@pytest.mark.asyncio
async def test_sync_nodes_default_to_the_loops_default_executor_which_is_bounded() -> None:
    threads: dict[str, str] = {}
    peak = Peak()
    names = [f"s{i}" for i in range(6)]
    graph = parallel_graph({n: sleeper(n, 0.05, threads, peak) for n in names})
    pool = ThreadPoolExecutor(max_workers=3, thread_name_prefix="loop-default")
    asyncio.get_running_loop().set_default_executor(pool)
    try:
        result = await graph.ainvoke({"n": 0})
    finally:
        pool.shutdown(wait=True)
    assert result == {"n": 0, "log": names}
    assert all(name.startswith("loop-default") for name in threads.values()), threads
    assert peak.peak == 3


@pytest.mark.asyncio
async def test_config_executor_runs_every_sync_node_and_bounds_them() -> None:
    threads: dict[str, str] = {}
    peak = Peak()
    names = [f"s{i}" for i in range(4)]
    graph = parallel_graph({n: sleeper(n, 0.05, threads, peak) for n in names})
    lone_thread: list[str] = []

    def lone(state: State) -> None:
        lone_thread.append(threading.current_thread().name)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="user-pool") as pool:
        result = await graph.ainvoke({"n": 0}, {"executor": pool})
        await chain_graph(("lone", lone)).ainvoke({"n": 0}, {"executor": pool})
    assert result == {"n": 0, "log": names}
    assert all(name.startswith("user-pool") for name in threads.values()), threads
    assert peak.peak == 2
    assert len(lone_thread) == 1
    assert lone_thread[0].startswith("user-pool")


# -- contextvars, get_config and the stream writer inside worker threads ------------------------


@pytest.mark.asyncio
async def test_sync_nodes_see_a_copy_of_the_callers_contextvars() -> None:
    seen: dict[str, str] = {}

    def reader(name: str) -> Any:
        def node(state: State) -> None:
            seen[name] = REQUEST_ID.get()
            REQUEST_ID.set(f"changed by {name}")  # must not leak into the caller or siblings

        return node

    parallel = parallel_graph({"p1": reader("p1"), "p2": reader("p2")})
    lone = chain_graph(("lone", reader("lone")))
    token = REQUEST_ID.set("req-42")
    try:
        await parallel.ainvoke({"n": 0})
        await lone.ainvoke({"n": 0})
        assert REQUEST_ID.get() == "req-42"
    finally:
        REQUEST_ID.reset(token)
    assert seen == {"p1": "req-42", "p2": "req-42", "lone": "req-42"}


def probe(name: str, loop_threads: set[int]) -> Any:
    """A sync node that reports through get_config() and both stream writers."""

    def node(state: State, config: RunnableConfig, writer: Any) -> dict[str, Any]:
        assert threading.get_ident() not in loop_threads
        cfg = get_config()
        assert cfg is config
        meta = cfg["metadata"]
        get_stream_writer()({"node": name, "via": "get_stream_writer"})
        writer({"node": name, "via": "parameter"})
        user = cfg["configurable"]["user"]
        return {"log": [f"{meta['langgraph_node']}@{meta['langgraph_step']}:{user}"]}

    return node


@pytest.mark.asyncio
async def test_get_config_and_stream_writer_work_in_sync_nodes_in_threads() -> None:
    loop_threads = {threading.get_ident()}
    graph = StateGraph(State)
    graph.add_node("first", probe("first", loop_threads))
    graph.add_node("left", probe("left", loop_threads))
    graph.add_node("right", probe("right", loop_threads))
    graph.add_edge(START, "first")
    graph.add_edge("first", "left")
    graph.add_edge("first", "right")
    compiled = graph.compile()
    chunks = [
        chunk
        async for chunk in compiled.astream(
            {"n": 0}, {"configurable": {"user": "ada"}}, stream_mode=["custom", "updates"]
        )
    ]
    first = [
        ("custom", {"node": "first", "via": "get_stream_writer"}),
        ("custom", {"node": "first", "via": "parameter"}),
        ("updates", {"first": {"log": ["first@1:ada"]}}),
    ]
    assert chunks[:3] == first
    # left and right run concurrently: each one's custom chunks precede its own update
    rest = chunks[3:]
    for name in ("left", "right"):
        mine = [c for c in rest if name in (c[1].get("node"), *c[1])]
        assert mine == [
            ("custom", {"node": name, "via": "get_stream_writer"}),
            ("custom", {"node": name, "via": "parameter"}),
            ("updates", {name: {"log": [f"{name}@2:ada"]}}),
        ]
    assert len(rest) == 6


# -- the sync API -------------------------------------------------------------------------------


async def async_double(state: State) -> dict[str, Any]:
    await asyncio.sleep(0.001)
    return {"n": state["n"] * 2, "log": ["async_double"]}


def sync_inc(state: State) -> dict[str, Any]:
    return {"n": state["n"] + 1, "log": ["sync_inc"]}


def mixed_graph() -> Any:
    return chain_graph(("async_double", async_double), ("sync_inc", sync_inc))


def test_invoke_runs_async_nodes_when_no_loop_is_running() -> None:
    graph = mixed_graph()
    assert graph.invoke({"n": 5}) == {"n": 11, "log": ["async_double", "sync_inc"]}
    assert graph.invoke({"n": 0}) == {"n": 1, "log": ["async_double", "sync_inc"]}  # again


def test_stream_runs_async_nodes_when_no_loop_is_running() -> None:
    chunks = list(mixed_graph().stream({"n": 5}))
    assert chunks == [
        {"async_double": {"n": 10, "log": ["async_double"]}},
        {"sync_inc": {"n": 11, "log": ["sync_inc"]}},
    ]


def test_batch_runs_async_nodes_when_no_loop_is_running() -> None:
    results = mixed_graph().batch([{"n": 1}, {"n": 2}])
    assert results == [
        {"n": 3, "log": ["async_double", "sync_inc"]},
        {"n": 5, "log": ["async_double", "sync_inc"]},
    ]


@pytest.mark.asyncio
async def test_invoke_inside_a_running_loop_raises_a_clear_error() -> None:
    ran: list[str] = []

    async def node(state: State) -> None:
        ran.append("node")

    graph = chain_graph(("node", node))
    with pytest.raises(RuntimeError, match=re.escape("await graph.ainvoke(...)")) as info:
        graph.invoke({"n": 0})
    assert "running event loop" in str(info.value)
    assert ran == []
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_stream_inside_a_running_loop_raises_a_clear_error() -> None:
    async def node(state: State) -> None:
        pass

    graph = chain_graph(("node", node))
    with pytest.raises(RuntimeError) as info:
        for _ in graph.stream({"n": 0}):
            pass
    message = str(info.value)
    assert "async for" in message
    assert "graph.astream(...)" in message
    with pytest.raises(RuntimeError, match=re.escape("await graph.abatch(...)")):
        graph.batch([{"n": 0}])
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_invoke_works_from_a_worker_thread_of_a_running_loop() -> None:
    result = await asyncio.to_thread(mixed_graph().invoke, {"n": 2})
    assert result == {"n": 5, "log": ["async_double", "sync_inc"]}


def test_a_sync_node_under_invoke_may_run_its_own_event_loop() -> None:
    """A sync node is sync code: under ``invoke()`` it may call another graph's ``invoke()``
    (a subgraph) or ``asyncio.run()``, exactly as it can under ``ainvoke()``."""
    inner = mixed_graph()

    def calls_subgraph(state: State) -> dict[str, Any]:
        return {"n": inner.invoke({"n": state["n"]})["n"]}

    def calls_asyncio_run(state: State) -> dict[str, Any]:
        async def fetch() -> int:
            await asyncio.sleep(0)
            return 100

        return {"n": state["n"] + asyncio.run(fetch())}

    graph = chain_graph(
        ("calls_subgraph", calls_subgraph), ("calls_asyncio_run", calls_asyncio_run)
    )
    assert asyncio.run(graph.ainvoke({"n": 5})) == {"n": 111, "log": []}  # works: a thread
    assert graph.invoke({"n": 5}) == {"n": 111, "log": []}


# -- routers, sync or async, under both APIs -----------------------------------------------------


def routed_graph(router_kind: str) -> Any:
    def choose(state: State) -> str:
        assert get_config()["metadata"]["langgraph_node"] == "count"
        return "count" if state["n"] < get_config()["configurable"]["until"] else END

    async def achoose(state: State) -> str:
        await asyncio.sleep(0)
        return choose(state)

    def count(state: State) -> dict[str, Any]:
        return {"n": state["n"] + 1, "log": [f"count{state['n']}"]}

    builder = StateGraph(State).add_node(count).add_edge(START, "count")
    router = choose if router_kind == "sync" else achoose
    builder.add_conditional_edges("count", router, ["count", END])
    return builder.compile()


EXPECTED_ROUTED = {"n": 3, "log": ["count0", "count1", "count2"]}


@pytest.mark.parametrize("router_kind", ["sync", "async"])
def test_sync_and_async_routers_under_invoke(router_kind: str) -> None:
    graph = routed_graph(router_kind)
    assert graph.invoke({"n": 0}, {"configurable": {"until": 3}}) == EXPECTED_ROUTED


@pytest.mark.asyncio
@pytest.mark.parametrize("router_kind", ["sync", "async"])
async def test_sync_and_async_routers_under_ainvoke(router_kind: str) -> None:
    graph = routed_graph(router_kind)
    assert await graph.ainvoke({"n": 0}, {"configurable": {"until": 3}}) == EXPECTED_ROUTED


@pytest.mark.asyncio
@pytest.mark.parametrize("router_kind", ["sync", "async"])
async def test_an_entry_point_router_can_read_get_config(router_kind: str) -> None:
    def entry(state: State) -> str:
        return get_config()["configurable"]["first"]

    async def aentry(state: State) -> str:
        return entry(state)

    async def a(state: State) -> dict[str, Any]:
        return {"log": ["a"]}

    async def b(state: State) -> dict[str, Any]:
        return {"log": ["b"]}

    builder = StateGraph(State).add_node(a).add_node(b)
    builder.add_conditional_edges(START, entry if router_kind == "sync" else aentry, ["a", "b"])
    graph = builder.compile()
    assert await graph.ainvoke({"n": 0}, {"configurable": {"first": "b"}}) == {"n": 0, "log": ["b"]}
