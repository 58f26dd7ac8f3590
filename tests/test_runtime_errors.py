"""Errors reach the caller unwrapped and name the node, step and attempt; none is lost."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any, TypedDict

import pytest
from _runtime_helpers import (
    State,
    chain_graph,
    no_asyncio_errors,  # noqa: F401 - autouse fixture
    only_this_task_left,
    parallel_graph,
)

from asyncgraph.errors import GraphValidationError, InvalidUpdateError
from asyncgraph.graph import END, START, StateGraph
from asyncgraph.types import Command, Send


class Boom(Exception):
    pass


async def first(state: Any) -> dict[str, Any]:
    return {"log": ["first"]}


def failing_chain(kind: str, error: BaseException) -> Any:
    """first -> boom, where boom (sync or async) raises ``error`` in step 2."""

    def boom(state: State) -> None:
        raise error

    async def aboom(state: State) -> None:
        await asyncio.sleep(0)
        raise error

    return chain_graph(("first", first), ("boom", boom if kind == "sync" else aboom))


NOTE = "asyncgraph: raised by node 'boom' (step 2, attempt 1)"


# -- the node's own exception ----------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_ainvoke_raises_the_nodes_own_exception_with_a_note(kind: str) -> None:
    error = Boom("it broke")
    with pytest.raises(Boom) as info:
        await failing_chain(kind, error).ainvoke({"n": 0})
    assert info.value is error
    assert error.__notes__ == [NOTE]
    assert only_this_task_left()


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_astream_raises_the_nodes_own_exception_after_the_streamed_updates(kind: str) -> None:
    error = Boom("it broke")
    chunks = []
    with pytest.raises(Boom) as info:
        async for chunk in failing_chain(kind, error).astream({"n": 0}):
            chunks.append(chunk)
    assert info.value is error
    assert error.__notes__ == [NOTE]
    assert chunks == [{"first": {"log": ["first"]}}]
    assert only_this_task_left()


@pytest.mark.parametrize("kind", ["sync", "async"])
def test_invoke_and_stream_raise_the_nodes_own_exception_with_a_note(kind: str) -> None:
    error = Boom("it broke")
    with pytest.raises(Boom) as info:
        failing_chain(kind, error).invoke({"n": 0})
    assert info.value is error
    assert error.__notes__ == [NOTE]
    error2 = Boom("again")
    chunks = []
    with pytest.raises(Boom) as info:
        for chunk in failing_chain(kind, error2).stream({"n": 0}):
            chunks.append(chunk)
    assert info.value is error2
    assert error2.__notes__ == [NOTE]
    assert chunks == [{"first": {"log": ["first"]}}]


@pytest.mark.asyncio
async def test_a_failing_node_cancels_its_running_siblings() -> None:
    events: list[str] = []

    async def fails(state: State) -> None:
        await asyncio.sleep(0.01)
        raise Boom("fails")

    def sibling(name: str) -> Any:
        async def node(state: State) -> None:
            try:
                await asyncio.sleep(30)
                events.append(f"{name} finished")
            finally:
                await asyncio.sleep(0.005)
                events.append(f"{name} cleaned up")

        return node

    graph = parallel_graph({"fails": fails, "s1": sibling("s1"), "s2": sibling("s2")})
    with pytest.raises(Boom, match="fails") as info:
        await graph.ainvoke({"n": 0})
    assert info.value.__notes__ == ["asyncgraph: raised by node 'fails' (step 1, attempt 1)"]
    assert sorted(events) == ["s1 cleaned up", "s2 cleaned up"]
    assert only_this_task_left()


# -- several failures in one step -------------------------------------------------------------------


@pytest.mark.asyncio
async def test_when_several_nodes_fail_the_first_is_raised_and_the_others_listed() -> None:
    errors = {"a": Boom("a broke"), "b": KeyError("kb"), "c": ValueError("c broke")}

    def raiser(name: str) -> Any:
        async def node(state: State) -> None:
            raise errors[name]  # all three fail in the same loop pass

        return node

    graph = parallel_graph({name: raiser(name) for name in errors})
    with pytest.raises(Boom) as info:
        await graph.ainvoke({"n": 0})
    assert info.value is errors["a"]
    assert info.value.__notes__ == [
        "asyncgraph: raised by node 'a' (step 1, attempt 1)",
        "asyncgraph: node 'b' (step 1, attempt 1) failed too: KeyError: 'kb'",
        "asyncgraph: node 'c' (step 1, attempt 1) failed too: ValueError: c broke",
    ]
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_an_error_raised_by_a_sibling_while_it_is_cancelled_is_not_lost() -> None:
    async def fails(state: State) -> None:
        await asyncio.sleep(0.01)
        raise Boom("first failure")

    async def bad_cleanup(state: State) -> None:
        try:
            await asyncio.sleep(30)
        finally:
            raise OSError("cleanup failed")

    graph = parallel_graph({"fails": fails, "bad_cleanup": bad_cleanup})
    with pytest.raises(Boom) as info:
        await graph.ainvoke({"n": 0})
    assert info.value.__notes__ == [
        "asyncgraph: raised by node 'fails' (step 1, attempt 1)",
        "asyncgraph: node 'bad_cleanup' (step 1, attempt 1) failed too: OSError: cleanup failed",
    ]
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_abatch_raises_the_first_failed_run_and_cancels_the_others() -> None:
    cleaned: list[int] = []

    async def node(state: State) -> dict[str, Any]:
        if state["n"] == 1:
            raise Boom("run 1 failed")
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append(state["n"])
        return {}

    graph = chain_graph(("node", node))
    with pytest.raises(Boom, match="run 1 failed"):
        await graph.abatch([{"n": 0}, {"n": 1}, {"n": 2}])
    assert sorted(cleaned) == [0, 2]
    assert only_this_task_left()
    results = await chain_graph(("node", node)).abatch([{"n": 1}], return_exceptions=True)
    assert isinstance(results[0], Boom)


# -- reducers, routers, updates ----------------------------------------------------------------------


def refuse_merge(current: list[int], new: list[int]) -> list[int]:
    if 13 in new:
        raise ArithmeticError("unlucky value")
    return current + new


class ReducedState(TypedDict):
    n: int
    items: Annotated[list[int], refuse_merge]


@pytest.mark.asyncio
async def test_a_reducer_error_names_the_key_and_the_node_whose_update_it_merged() -> None:
    async def fine(state: ReducedState) -> dict[str, Any]:
        return {"items": [1]}

    async def unlucky(state: ReducedState) -> dict[str, Any]:
        return {"items": [13]}

    builder = StateGraph(ReducedState).add_node(fine).add_node(unlucky)
    graph = builder.add_edge(START, "fine").add_edge(START, "unlucky").compile()
    with pytest.raises(ArithmeticError, match="unlucky value") as info:
        await graph.ainvoke({"n": 0})
    notes = info.value.__notes__
    assert len(notes) == 1
    assert "reducer of key 'items'" in notes[0]
    assert "'refuse_merge'" in notes[0]
    assert "update of 'unlucky'" in notes[0]
    assert only_this_task_left()


def routed(router: Any, path_map: Any = None) -> Any:
    builder = StateGraph(State).add_node("a", first).add_node("b", first)
    builder.add_edge(START, "a").add_edge("b", END)
    builder.add_conditional_edges("a", router, path_map)
    return builder.compile()


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_router_error_names_the_router_and_its_node(kind: str) -> None:
    error = Boom("cannot decide")

    def route(state: State) -> str:
        raise error

    async def aroute(state: State) -> str:
        raise error

    with pytest.raises(Boom) as info:
        await routed(route if kind == "sync" else aroute, ["b", END]).ainvoke({"n": 0})
    assert info.value is error
    name = "route" if kind == "sync" else "aroute"
    assert f"asyncgraph: raised by Router {name!r} after node 'a'" in info.value.__notes__
    assert only_this_task_left()


@pytest.mark.asyncio
async def test_an_entry_point_router_error_names_the_router() -> None:
    def entry(state: State) -> str:
        raise Boom("no entry")

    builder = StateGraph(State).add_node("a", first)
    builder.add_conditional_edges(START, entry, ["a"])
    with pytest.raises(Boom) as info:
        await builder.compile().ainvoke({"n": 0})
    assert info.value.__notes__ == ["asyncgraph: raised by Router 'entry' after the entry point"]


@pytest.mark.asyncio
@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_routing_to_an_unknown_node_names_the_router_and_the_target(kind: str) -> None:
    def route(state: State) -> str:
        return "nowhere"

    async def aroute(state: State) -> str:
        return "nowhere"

    with pytest.raises(GraphValidationError) as info:
        await routed(route if kind == "sync" else aroute).ainvoke({"n": 0})
    message = str(info.value)
    name = "route" if kind == "sync" else "aroute"
    assert f"Router {name!r} after node 'a'" in message
    assert "'nowhere'" in message
    assert only_this_task_left()


def test_routing_to_an_unknown_node_is_an_error_under_invoke_too() -> None:
    def route(state: State) -> list[Any]:
        return ["b", Send("ghost", {})]

    with pytest.raises(GraphValidationError) as info:
        routed(route).invoke({"n": 0})
    assert "Router 'route' after node 'a'" in str(info.value)
    assert "'ghost'" in str(info.value)


@pytest.mark.asyncio
async def test_a_router_value_missing_from_its_path_map_names_the_router_and_value() -> None:
    def route(state: State) -> str:
        return "elsewhere"

    with pytest.raises(GraphValidationError) as info:
        await routed(route, {"go": "b"}).ainvoke({"n": 0})
    assert "Router 'route' after node 'a'" in str(info.value)
    assert "'elsewhere'" in str(info.value)


async def jumper_unannotated(state: State):
    return Command(update={"n": 1}, goto="nowhere")


async def jumper_annotated(state: State) -> Command[Any]:  # "may go anywhere"
    return Command(update={"n": 1}, goto="nowhere")


@pytest.mark.asyncio
@pytest.mark.parametrize("jumper", [jumper_unannotated, jumper_annotated])
async def test_command_goto_to_an_unknown_node_names_the_node_and_the_target(jumper: Any) -> None:
    graph = chain_graph(("jumper", jumper))
    with pytest.raises(GraphValidationError) as info:
        await graph.ainvoke({"n": 0})
    assert "Command(goto=...) of node 'jumper'" in str(info.value)
    assert "'nowhere'" in str(info.value)


@pytest.mark.asyncio
async def test_two_writes_to_a_plain_key_name_both_nodes() -> None:
    async def left(state: State) -> dict[str, Any]:
        return {"n": 1}

    def right(state: State) -> dict[str, Any]:  # a sync node in a thread, same rule
        return {"n": 1}

    with pytest.raises(InvalidUpdateError) as info:
        await parallel_graph({"left": left, "right": right}).ainvoke({"n": 0})
    assert "At key 'n': nodes 'left' and 'right' both wrote it" in str(info.value)
    assert only_this_task_left()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("update", "fragment"),
    [([("n", 1)], "returned list"), ({"missing": 1}, "wrote key 'missing'")],
)
async def test_an_invalid_update_names_the_node(update: Any, fragment: str) -> None:
    async def bad(state: State) -> Any:
        return update

    with pytest.raises(InvalidUpdateError) as info:
        await chain_graph(("bad", bad)).ainvoke({"n": 0})
    assert str(info.value).startswith(f"Node 'bad' {fragment}")
    assert info.value.__notes__ == ["asyncgraph: raised by node 'bad' (step 1, attempt 1)"]
