"""Bad input at run time: each error names the node, key or value and how to fix it."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph import EmptyInputError, GraphValidationError, InvalidUpdateError, Send
from asyncgraph.graph import START, CompiledStateGraph, StateGraph
from asyncgraph.profiling import Tracer


class State(TypedDict, total=False):
    x: int


def single(fn: Any, name: str = "node") -> CompiledStateGraph:
    return StateGraph(State).add_node(name, fn).add_edge(START, name).compile()


def ok(state: State) -> None:
    return None


GRAPH = single(ok)


@pytest.mark.parametrize("bad", [[("x", 1)], "x=1", 3])
def test_input_that_is_not_a_mapping(bad: Any) -> None:
    with pytest.raises(TypeError, match=r"Graph input must be a dict of state keys \(schema State: x\)"):
        GRAPH.invoke(bad)


def test_none_input() -> None:
    with pytest.raises(EmptyInputError, match=r"no input \(None\)"):
        GRAPH.invoke(None)


def test_input_key_not_in_schema_is_refused_not_dropped() -> None:
    with pytest.raises(InvalidUpdateError, match=r"Input key 'y' is not in the state schema State"):
        GRAPH.invoke({"y": 1})


@pytest.mark.parametrize("value", [42, "x", [("x", 1)]])
def test_node_returning_something_else_than_dict_command_or_none(value: Any) -> None:
    graph = single(lambda s: value, "shaper")
    with pytest.raises(InvalidUpdateError, match=r"Node 'shaper' returned .*must return a dict"):
        graph.invoke({"x": 1})


def test_update_to_a_key_not_in_the_schema_names_node_and_key() -> None:
    graph = single(lambda s: {"y": 1}, "typo")
    with pytest.raises(InvalidUpdateError, match=r"Node 'typo' wrote key 'y'.*keys: x") as info:
        graph.invoke({"x": 1})
    assert "raised by node 'typo' (step 1, attempt 1)" in info.value.__notes__[0]


async def fetch() -> dict[str, int]:
    await asyncio.sleep(0)
    return {"x": 1}


def test_sync_node_returning_a_coroutine_forgot_to_await() -> None:
    graph = single(lambda s: fetch(), "lazy")
    with pytest.raises(TypeError, match=r"Node 'lazy' returned an awaitable \(coroutine\)"):
        graph.invoke({"x": 1})  # and no "coroutine was never awaited" warning escapes


async def test_async_node_returning_a_coroutine_forgot_to_await() -> None:
    async def lazy(state: State) -> Any:
        return fetch()

    with pytest.raises(TypeError, match="`await` the call"):
        await single(lazy).ainvoke({"x": 1})


@pytest.mark.parametrize("limit", [0, -3, 1.5, True])
def test_recursion_limit_below_one_or_not_an_int(limit: Any) -> None:
    with pytest.raises(ValueError, match=r"recursion_limit'\] must be an int >= 1"):
        GRAPH.invoke({"x": 1}, {"recursion_limit": limit})


@pytest.mark.parametrize("cap", [0, -1, "4"])
def test_max_concurrency_below_one(cap: Any) -> None:
    with pytest.raises(ValueError, match=r"max_concurrency'\] must be an int >= 1"):
        GRAPH.invoke({"x": 1}, {"max_concurrency": cap})


def test_a_tracer_that_is_not_an_observer() -> None:
    with pytest.raises(TypeError, match=r"config\['tracer'\] must be an observer: .*; got True\.$"):
        GRAPH.invoke({"x": 1}, {"tracer": True})
    with pytest.raises(TypeError, match=r"Pass an instance, Tracer\(\), not the class\."):
        GRAPH.invoke({"x": 1}, {"tracer": Tracer})


def test_unknown_config_key_suggests_the_right_one() -> None:
    with pytest.raises(ValueError, match=r"Unknown config key 'recursion-limit'.*'recursion_limit'"):
        GRAPH.invoke({"x": 1}, {"recursion-limit": 5})  # type: ignore[typeddict-unknown-key]
    with pytest.raises(TypeError, match="config must be a dict"):
        GRAPH.invoke({"x": 1}, [("recursion_limit", 5)])  # type: ignore[arg-type]


def router_graph(route: Any, path_map: Any = None) -> CompiledStateGraph:
    builder = StateGraph(State).add_node("a", ok).add_node("b", ok).add_edge(START, "a")
    return builder.add_conditional_edges("a", route, path_map).compile()


def test_routing_to_an_unknown_node_names_router_and_target() -> None:
    def pick(state: State) -> str:
        return "c"

    with pytest.raises(GraphValidationError, match=r"Router 'pick' after node 'a' routed to 'c'"):
        router_graph(pick).invoke({"x": 1})


def test_sending_to_an_unknown_node() -> None:
    with pytest.raises(GraphValidationError, match=r"routed to 'nowhere'.*not a node"):
        router_graph(lambda s: [Send("nowhere", {})]).invoke({"x": 1})


def test_router_returning_none() -> None:
    with pytest.raises(GraphValidationError, match=r"returned None, which is not a destination"):
        router_graph(lambda s: None).invoke({"x": 1})


def test_router_value_missing_from_its_path_map() -> None:
    with pytest.raises(GraphValidationError, match=r"returned 'maybe', which is not in its path_map"):
        router_graph(lambda s: "maybe", {"yes": "b"}).invoke({"x": 1})


def test_router_errors_name_router_and_node() -> None:
    def broken(state: State) -> str:
        raise KeyError("flag")

    with pytest.raises(KeyError) as info:
        router_graph(broken).invoke({"x": 1})
    assert "raised by Router 'broken' after node 'a'" in info.value.__notes__[0]


def strict_add(old: int, new: int) -> int:
    if new < 0:
        raise ValueError("negative")
    return old + new


class Counter(TypedDict):
    total: Annotated[int, strict_add]


def test_reducer_errors_name_key_and_node() -> None:
    builder = StateGraph(Counter).add_node("minus", lambda s: {"total": -1})
    with pytest.raises(ValueError, match="negative") as info:
        builder.add_edge(START, "minus").compile().invoke({"total": 1})
    assert "reducer of key 'total'" in info.value.__notes__[0]
    assert "update of 'minus'" in info.value.__notes__[0]


def test_a_sync_router_returning_a_coroutine_is_explained() -> None:
    async def pick(state: State) -> str:
        return "b"

    with pytest.raises(TypeError, match=r"Router 'router' after node 'a' returned an awaitable"):
        router_graph(lambda s: pick(s)).invoke({"x": 1})  # and no "never awaited" warning
