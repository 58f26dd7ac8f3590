"""Event loop integration: asyncio.run, uvloop, an aiohttp server, many runs on one loop."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import threading
import time
from typing import Any

import aiohttp
import pytest
import uvloop
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
from aiohttp import web

from asyncgraph.config import get_config
from asyncgraph.graph import START, StateGraph

RUN_LABEL: contextvars.ContextVar[str] = contextvars.ContextVar("run_label", default="-")


def labelled_graph(peak: Peak | None = None) -> Any:
    """An async node and a sync node (in a thread) that both report their run's label."""

    async def fetch(state: State) -> dict[str, Any]:
        label = get_config()["configurable"]["label"]
        assert RUN_LABEL.get() in ("-", label)
        if peak is None:
            await asyncio.sleep(0.01)
        else:
            with peak:
                await asyncio.sleep(0.01)
        return {"log": [f"fetch:{label}"]}

    def parse(state: State, config: Any) -> dict[str, Any]:
        label = config["configurable"]["label"]
        assert get_config()["configurable"]["label"] == label
        assert RUN_LABEL.get() in ("-", label)
        time.sleep(0.005)
        return {"n": state["n"] + 1, "log": [f"parse:{label}"]}

    return chain_graph(("fetch", fetch), ("parse", parse))


async def core_scenario() -> None:
    """What every loop must support; raises AssertionError on the first broken guarantee."""
    graph = labelled_graph()
    assert await graph.ainvoke({"n": 1}, {"configurable": {"label": "x"}}) == {
        "n": 2,
        "log": ["fetch:x", "parse:x"],
    }
    chunks = [c async for c in graph.astream({"n": 1}, {"configurable": {"label": "y"}})]
    assert chunks == [{"fetch": {"log": ["fetch:y"]}}, {"parse": {"n": 2, "log": ["parse:y"]}}]

    # sync nodes do not block the loop
    napper = Napper(0.1)
    async with Ticker() as ticker:
        await parallel_graph({f"nap{i}": napper.node(f"nap{i}") for i in range(4)}).ainvoke(
            {"n": 0}
        )
    assert_loop_not_blocked(ticker, napper)

    # cancellation cleans up every node
    cleaned: list[str] = []

    def hanging(name: str) -> Any:
        async def node(state: State) -> None:
            try:
                await asyncio.sleep(30)
            finally:
                cleaned.append(name)

        return node

    hangs = parallel_graph({"h1": hanging("h1"), "h2": hanging("h2")})
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(0.05):
            await hangs.ainvoke({"n": 0})
    assert sorted(cleaned) == ["h1", "h2"]

    # leaving astream early
    cleaned.clear()

    async def fast(state: State) -> dict[str, Any]:
        return {"log": ["fast"]}

    stream = parallel_graph({"fast": fast, "h1": hanging("h1")}).astream({"n": 0})
    async with contextlib.aclosing(stream):
        async for _ in stream:
            break
    assert cleaned == ["h1"]

    # the sync API refuses to block a running loop
    try:
        graph.invoke({"n": 0})
    except RuntimeError as exc:
        assert "await graph.ainvoke(...)" in str(exc)
    else:
        raise AssertionError("invoke() inside a running loop did not raise")
    assert only_this_task_left()


def test_the_runtime_works_under_asyncio_run() -> None:
    asyncio.run(core_scenario())


def test_the_runtime_works_under_uvloop() -> None:
    async def main() -> None:
        assert isinstance(asyncio.get_running_loop(), uvloop.Loop)
        await core_scenario()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())


def test_invoke_and_stream_work_under_a_uvloop_policy() -> None:
    """The sync API makes its private loop from the current policy; uvloop's must work."""
    policy = asyncio.get_event_loop_policy()
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    loops: list[type] = []

    async def which_loop(state: State) -> None:
        loops.append(type(asyncio.get_running_loop()))

    try:
        chain_graph(("which_loop", which_loop)).invoke({"n": 0})
        assert loops == [uvloop.Loop]
        graph = labelled_graph()
        config = {"configurable": {"label": "u"}}
        assert graph.invoke({"n": 0}, config) == {"n": 1, "log": ["fetch:u", "parse:u"]}
        assert [next(iter(c)) for c in graph.stream({"n": 0}, config)] == ["fetch", "parse"]
    finally:
        asyncio.set_event_loop_policy(policy)


# -- inside an application's running loop ------------------------------------------------------


@pytest.mark.asyncio
async def test_ainvoke_inside_an_aiohttp_handler() -> None:
    peak = Peak()
    graph = labelled_graph(peak)
    handler_threads: set[int] = set()

    async def run_graph(request: web.Request) -> web.Response:
        handler_threads.add(threading.get_ident())
        label = request.match_info["label"]
        result = await graph.ainvoke({"n": 0}, {"configurable": {"label": label}})
        return web.json_response(result)

    async def run_sync(request: web.Request) -> web.Response:
        try:
            graph.invoke({"n": 0}, {"configurable": {"label": "sync"}})
        except RuntimeError as exc:
            return web.Response(status=500, text=str(exc))
        return web.Response(text="invoke() blocked the server's loop")

    app = web.Application()
    app.router.add_get("/run/{label}", run_graph)
    app.router.add_get("/sync", run_sync)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        base = f"http://{host}:{port}"
        async with aiohttp.ClientSession() as session:

            async def get(label: str) -> Any:
                async with session.get(f"{base}/run/{label}") as response:
                    assert response.status == 200
                    return await response.json()

            labels = [f"r{i}" for i in range(8)]
            results = await asyncio.gather(*(get(label) for label in labels))
            async with session.get(f"{base}/sync") as response:
                status, text = response.status, await response.text()
    finally:
        await runner.cleanup()
    assert results == [{"n": 1, "log": [f"fetch:{x}", f"parse:{x}"]} for x in labels]
    assert handler_threads == {threading.get_ident()}  # the handlers ran on this loop
    assert peak.peak > 1  # the requests' graph runs overlapped on the one loop
    assert status == 500
    assert "await graph.ainvoke(...)" in text


# -- many runs sharing one loop -----------------------------------------------------------------


@pytest.mark.asyncio
async def test_many_concurrent_runs_on_one_loop_keep_their_own_config_and_context() -> None:
    peak = Peak()
    graph = labelled_graph(peak)

    async def one(i: int) -> Any:
        RUN_LABEL.set(f"run{i}")  # each gather child has its own context
        return await graph.ainvoke({"n": i}, {"configurable": {"label": f"run{i}"}})

    results = await asyncio.gather(*(one(i) for i in range(50)))
    assert results == [{"n": i + 1, "log": [f"fetch:run{i}", f"parse:run{i}"]} for i in range(50)]
    assert peak.peak > 10
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_concurrent_streams_on_one_loop_see_only_their_own_chunks() -> None:
    graph = labelled_graph()

    async def consume(i: int) -> list[Any]:
        config = {"configurable": {"label": f"s{i}"}}
        return [c async for c in graph.astream({"n": i}, config)]

    all_chunks = await asyncio.gather(*(consume(i) for i in range(20)))
    for i, chunks in enumerate(all_chunks):
        assert chunks == [
            {"fetch": {"log": [f"fetch:s{i}"]}},
            {"parse": {"n": i + 1, "log": [f"parse:s{i}"]}},
        ]
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_cancelling_one_run_leaves_the_others_on_the_loop_untouched() -> None:
    cleaned: list[str] = []
    release = asyncio.Event()

    async def wait_for_release(state: State) -> dict[str, Any]:
        label = get_config()["configurable"]["label"]
        try:
            await release.wait()
            return {"log": [label]}
        finally:
            cleaned.append(label)

    builder = StateGraph(State).add_node("wait_for_release", wait_for_release)
    graph = builder.add_edge(START, "wait_for_release").compile()
    loop = asyncio.get_running_loop()
    runs = [
        loop.create_task(graph.ainvoke({"n": i}, {"configurable": {"label": f"r{i}"}}))
        for i in range(5)
    ]
    await asyncio.sleep(0.02)
    runs[2].cancel()
    with pytest.raises(asyncio.CancelledError):
        await runs[2]
    assert cleaned == ["r2"]
    release.set()
    results = await asyncio.gather(*(runs[i] for i in (0, 1, 3, 4)))
    assert results == [{"n": i, "log": [f"r{i}"]} for i in (0, 1, 3, 4)]
    assert only_this_task_left()
