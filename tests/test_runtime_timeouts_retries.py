"""Per-node timeouts, RetryPolicy, and max_concurrency (per run, and per batch)."""

from __future__ import annotations

import asyncio
import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from _runtime_helpers import (
    Peak,
    State,
    chain_graph,
    no_asyncio_errors,  # noqa: F401 - autouse fixture
    only_this_task_left,
    parallel_graph,
)

from asyncgraph.config import get_config
from asyncgraph.errors import GraphValidationError, NodeTimeoutError
from asyncgraph.graph import END, START, StateGraph
from asyncgraph.types import RetryPolicy, RunnableConfig, Send, default_retry_on

FAST_RETRY = {"initial_interval": 0.001, "jitter": False}


# -- per-node timeouts --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_node_timeout_names_node_limit_and_elapsed_and_cancels_siblings() -> None:
    events: list[str] = []

    async def slow(state: State) -> None:
        try:
            await asyncio.sleep(30)
        finally:
            events.append("slow cleaned up")

    async def sibling(state: State) -> None:
        try:
            await asyncio.sleep(30)
            events.append("sibling finished")
        finally:
            events.append("sibling cleaned up")

    builder = StateGraph(State)
    builder.add_node("slow", slow, timeout=0.05).add_node("sibling", sibling)
    builder.add_edge(START, "slow").add_edge(START, "sibling")
    graph = builder.compile()
    started = time.monotonic()
    with pytest.raises(NodeTimeoutError) as info:
        await graph.ainvoke({"n": 0})
    waited = time.monotonic() - started
    err = info.value
    assert isinstance(err, TimeoutError)
    assert (err.node, err.timeout) == ("slow", 0.05)
    assert 0.05 <= err.elapsed <= waited
    assert str(err).startswith(f"Node 'slow' timed out after {err.elapsed:.3f}s (limit 0.05s).")
    assert err.__notes__ == ["asyncgraph: raised by node 'slow' (step 1, attempt 1)"]
    assert sorted(events) == ["sibling cleaned up", "slow cleaned up"]
    assert waited < 5
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_node_timeout_on_a_lone_node_in_a_later_step() -> None:
    async def first(state: State) -> dict[str, Any]:
        return {"n": 1}

    async def hang(state: State) -> None:
        await asyncio.Event().wait()

    builder = StateGraph(State).add_node(first).add_node("hang", hang, timeout=0.02)
    graph = builder.add_edge(START, "first").add_edge("first", "hang").compile()
    with pytest.raises(NodeTimeoutError) as info:
        await graph.ainvoke({"n": 0})
    assert info.value.node == "hang"
    assert info.value.__notes__ == ["asyncgraph: raised by node 'hang' (step 2, attempt 1)"]
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_a_nodes_own_timeout_error_is_not_mistaken_for_its_limit() -> None:
    own = TimeoutError("upstream API timed out")

    async def calls_api(state: State) -> None:
        raise own

    builder = StateGraph(State).add_node("calls_api", calls_api, timeout=5)
    graph = builder.add_edge(START, "calls_api").compile()
    with pytest.raises(TimeoutError) as info:
        await graph.ainvoke({"n": 0})
    assert info.value is own
    assert not isinstance(info.value, NodeTimeoutError)


def test_a_timeout_on_a_sync_node_is_refused_when_the_graph_is_built() -> None:
    def sync_node(state: State) -> None:
        pass

    with pytest.raises(GraphValidationError, match="'sync_node' is a sync function"):
        StateGraph(State).add_node(sync_node, timeout=1.0)


@pytest.mark.asyncio
async def test_each_attempt_gets_its_own_timeout_and_node_timeouts_can_be_retried() -> None:
    attempts: list[int] = []

    async def sometimes_slow(state: State) -> dict[str, Any]:
        attempt = get_config()["metadata"]["asyncgraph_attempt"]
        attempts.append(attempt)
        if attempt == 1:
            await asyncio.sleep(30)
        return {"n": attempt}

    policy = RetryPolicy(retry_on=NodeTimeoutError, **FAST_RETRY)
    builder = StateGraph(State)
    builder.add_node("sometimes_slow", sometimes_slow, timeout=0.05, retry_policy=policy)
    graph = builder.add_edge(START, "sometimes_slow").compile()
    assert await graph.ainvoke({"n": 0}) == {"n": 2, "log": []}
    assert attempts == [1, 2]


# -- RetryPolicy ----------------------------------------------------------------------------------


def test_retry_policy_has_langgraphs_fields_and_defaults() -> None:
    policy = RetryPolicy()
    assert isinstance(policy, tuple)
    assert RetryPolicy._fields == (
        "initial_interval",
        "backoff_factor",
        "max_interval",
        "max_attempts",
        "jitter",
        "retry_on",
    )
    assert policy[:5] == (0.5, 2.0, 128.0, 3, True)
    assert policy.retry_on is default_retry_on
    assert RetryPolicy(max_attempts=5).max_attempts == 5


@pytest.mark.parametrize(
    ("exc", "retried"),
    [
        (ConnectionResetError(), True),
        (ConnectionError(), True),
        (Exception("generic"), True),
        (ValueError(), False),
        (TypeError(), False),
        (KeyError("k"), False),
        (ZeroDivisionError(), False),
        (RuntimeError(), False),
        (OSError(), False),
        (NodeTimeoutError("n", 1.0, 1.0), False),
    ],
)
def test_default_retry_on_retries_only_errors_that_may_be_transient(
    exc: Exception, retried: bool
) -> None:
    assert default_retry_on(exc) is retried


def flaky(fail_times: int, exc_type: type[Exception] = ConnectionError) -> Any:
    """An async node that fails ``fail_times`` times, recording the attempt it sees."""
    seen: list[int] = []
    raised: list[Exception] = []
    entered = asyncio.Event()

    async def node(state: State) -> dict[str, Any]:
        attempt = get_config()["metadata"]["asyncgraph_attempt"]
        seen.append(attempt)
        entered.set()
        if len(seen) <= fail_times:
            raised.append(exc_type(f"attempt {attempt} failed"))
            raise raised[-1]
        return {"n": attempt, "log": [f"ok on {attempt}"]}

    node.seen = seen
    node.raised = raised
    node.entered = entered
    return node


def one_node(fn: Any, policy: RetryPolicy | None, name: str = "flaky") -> Any:
    builder = StateGraph(State).add_node(name, fn, retry_policy=policy)
    return builder.add_edge(START, name).add_edge(name, END).compile()


@pytest.mark.asyncio
async def test_an_async_node_is_retried_and_sees_its_attempt_number() -> None:
    node = flaky(2)
    graph = one_node(node, RetryPolicy(**FAST_RETRY))
    assert await graph.ainvoke({"n": 0}) == {"n": 3, "log": ["ok on 3"]}
    assert node.seen == [1, 2, 3]


@pytest.mark.asyncio
async def test_a_sync_node_in_a_thread_is_retried_and_sees_its_attempt_number() -> None:
    seen: list[int] = []

    def sync_flaky(state: State, config: RunnableConfig) -> dict[str, Any]:
        attempt = config["metadata"]["asyncgraph_attempt"]
        assert get_config()["metadata"]["asyncgraph_attempt"] == attempt
        seen.append(attempt)
        if attempt < 3:
            raise ConnectionResetError("try again")
        return {"n": attempt}

    async def sibling(state: State) -> dict[str, Any]:
        return {"log": ["sibling"]}

    builder = StateGraph(State).add_node(
        "sync_flaky", sync_flaky, retry_policy=RetryPolicy(**FAST_RETRY)
    )
    builder.add_node(sibling).add_edge(START, "sync_flaky").add_edge(START, "sibling")
    graph = builder.compile()
    assert await graph.ainvoke({"n": 0}) == {"n": 3, "log": ["sibling"]}
    assert seen == [1, 2, 3]


def test_retries_work_under_the_sync_api() -> None:
    node = flaky(1)
    graph = one_node(node, RetryPolicy(**FAST_RETRY))
    assert graph.invoke({"n": 0}) == {"n": 2, "log": ["ok on 2"]}
    assert node.seen == [1, 2]


@pytest.mark.asyncio
async def test_when_attempts_run_out_the_last_error_is_raised_naming_its_attempt() -> None:
    node = flaky(5)
    graph = one_node(node, RetryPolicy(max_attempts=3, **FAST_RETRY))
    with pytest.raises(ConnectionError) as info:
        await graph.ainvoke({"n": 0})
    assert info.value is node.raised[-1]
    assert node.seen == [1, 2, 3]
    assert info.value.__notes__ == ["asyncgraph: raised by node 'flaky' (step 1, attempt 3)"]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    "retry_on",
    [KeyError, (KeyError, IndexError), lambda exc: isinstance(exc, KeyError)],
    ids=["class", "tuple", "predicate"],
)
async def test_retry_on_selects_the_errors_to_retry(retry_on: Any) -> None:
    retried = flaky(1, KeyError)
    graph = one_node(retried, RetryPolicy(retry_on=retry_on, **FAST_RETRY))
    assert await graph.ainvoke({"n": 0}) == {"n": 2, "log": ["ok on 2"]}
    not_retried = flaky(1, ValueError)
    graph = one_node(not_retried, RetryPolicy(retry_on=retry_on, **FAST_RETRY))
    with pytest.raises(ValueError, match="attempt 1 failed") as info:
        await graph.ainvoke({"n": 0})
    assert not_retried.seen == [1]
    assert info.value.__notes__ == ["asyncgraph: raised by node 'flaky' (step 1, attempt 1)"]


@pytest.mark.asyncio
async def test_the_default_policy_does_not_retry_programming_errors() -> None:
    node = flaky(1, ValueError)
    graph = one_node(node, RetryPolicy(**FAST_RETRY))
    with pytest.raises(ValueError, match="attempt 1 failed"):
        await graph.ainvoke({"n": 0})
    assert node.seen == [1]


def attempt_times(fail_times: int) -> tuple[Any, list[float]]:
    times: list[float] = []

    async def node(state: State) -> dict[str, Any]:
        times.append(time.monotonic())
        if len(times) <= fail_times:
            raise ConnectionError("again")
        return {"n": len(times)}

    return node, times


@pytest.mark.asyncio
async def test_backoff_grows_by_the_factor_and_is_capped_by_max_interval() -> None:
    node, times = attempt_times(2)
    policy = RetryPolicy(initial_interval=0.1, backoff_factor=10.0, max_interval=0.15, jitter=False)
    assert await one_node(node, policy).ainvoke({"n": 0}) == {"n": 3, "log": []}
    first_wait, second_wait = times[1] - times[0], times[2] - times[1]
    assert first_wait >= 0.1
    assert second_wait >= 0.15
    assert second_wait < 0.6, f"{second_wait:.3f}s: max_interval 0.15 did not cap 0.1 * 10"


@pytest.mark.asyncio
async def test_jitter_adds_a_uniform_random_part_to_each_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[float, float]] = []

    def fake_uniform(a: float, b: float) -> float:
        calls.append((a, b))
        return 0.05

    monkeypatch.setattr(random, "uniform", fake_uniform)
    node, times = attempt_times(2)
    policy = RetryPolicy(initial_interval=0.0, jitter=True)
    assert await one_node(node, policy).ainvoke({"n": 0}) == {"n": 3, "log": []}
    assert calls == [(0, 1), (0, 1)]
    assert times[1] - times[0] >= 0.05
    assert times[2] - times[1] >= 0.05
    calls.clear()
    node, times = attempt_times(1)
    await one_node(node, policy._replace(jitter=False)).ainvoke({"n": 0})
    assert calls == []


@pytest.mark.asyncio
async def test_cancelling_during_the_backoff_stops_retrying_at_once() -> None:
    node = flaky(5)
    graph = one_node(node, RetryPolicy(initial_interval=30.0, jitter=False))
    run = asyncio.get_running_loop().create_task(graph.ainvoke({"n": 0}))
    async with asyncio.timeout(5):
        await node.entered.wait()
    await asyncio.sleep(0.01)  # now sleeping 30 s before attempt 2
    started = time.monotonic()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    assert time.monotonic() - started < 1
    await asyncio.sleep(0.05)
    assert node.seen == [1]
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_cancelling_during_an_attempt_is_never_retried() -> None:
    attempts: list[int] = []
    entered = asyncio.Event()

    async def slow(state: State) -> None:
        attempts.append(get_config()["metadata"]["asyncgraph_attempt"])
        entered.set()
        await asyncio.sleep(30)

    everything = RetryPolicy(retry_on=lambda exc: True, max_attempts=10, **FAST_RETRY)
    graph = one_node(slow, everything, name="slow")
    run = asyncio.get_running_loop().create_task(graph.ainvoke({"n": 0}))
    async with asyncio.timeout(5):
        await entered.wait()
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run
    await asyncio.sleep(0.02)
    assert attempts == [1]
    assert only_this_task_left()


# -- max_concurrency ------------------------------------------------------------------------------


def fan_out_graph(peak: Peak, edge_nodes: tuple[str, ...] = (), sends: int = 10) -> Any:
    """START triggers ``edge_nodes`` by edges and ``sends`` Send tasks, all in step 1."""

    def worker(label: str | None) -> Any:
        async def work(arg: dict[str, Any]) -> dict[str, Any]:
            with peak:
                await asyncio.sleep(0.02)
            return {"log": [label or arg["label"]]}

        return work

    builder = StateGraph(State).add_node("work", worker(None))
    for name in edge_nodes:
        builder.add_node(name, worker(name))
        builder.add_edge(START, name)

    def fan_out(state: State) -> list[Send]:
        return [Send("work", {"label": f"send{i}"}) for i in range(sends)]

    builder.add_conditional_edges(START, fan_out)
    return builder.compile()


@pytest.mark.asyncio
async def test_max_concurrency_caps_send_tasks() -> None:
    peak = Peak()
    result = await fan_out_graph(peak).ainvoke({"n": 0}, {"max_concurrency": 3})
    assert result == {"n": 0, "log": [f"send{i}" for i in range(10)]}
    assert peak.peak == 3


@pytest.mark.asyncio
async def test_max_concurrency_counts_edge_tasks_and_send_tasks_together() -> None:
    peak = Peak()
    graph = fan_out_graph(peak, edge_nodes=("edge1", "edge2"), sends=4)
    result = await graph.ainvoke({"n": 0}, {"max_concurrency": 2})
    assert result == {"n": 0, "log": ["edge1", "edge2", "send0", "send1", "send2", "send3"]}
    assert peak.peak == 2


@pytest.mark.asyncio
async def test_without_max_concurrency_all_tasks_of_a_step_overlap() -> None:
    peak = Peak()
    await fan_out_graph(peak, sends=6).ainvoke({"n": 0})
    assert peak.peak == 6


@pytest.mark.asyncio
async def test_max_concurrency_caps_sync_nodes_in_threads() -> None:
    peak = Peak()

    def blocking(name: str) -> Any:
        def node(state: State) -> dict[str, Any]:
            with peak:
                time.sleep(0.03)
            return {"log": [name]}

        return node

    names = [f"s{i}" for i in range(5)]
    graph = parallel_graph({n: blocking(n) for n in names})
    with ThreadPoolExecutor(max_workers=8) as pool:
        result = await graph.ainvoke({"n": 0}, {"max_concurrency": 2, "executor": pool})
    assert result == {"n": 0, "log": names}
    assert peak.peak == 2


@pytest.mark.asyncio
async def test_max_concurrency_in_abatch_caps_concurrent_runs() -> None:
    runs = Peak()

    async def one(state: State) -> dict[str, Any]:
        with runs:
            await asyncio.sleep(0.02)
        return {"n": state["n"] * 10}

    graph = chain_graph(("one", one))
    results = await graph.abatch([{"n": i} for i in range(6)], {"max_concurrency": 2})
    assert results == [{"n": i * 10, "log": []} for i in range(6)]
    assert runs.peak == 2
    runs.peak = 0
    await graph.abatch([{"n": i} for i in range(6)])
    assert runs.peak == 6
    assert only_this_task_left()
