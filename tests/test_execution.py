"""The superstep semantics of DESIGN.md §2, checked on small graphs."""

from __future__ import annotations

import asyncio
import operator
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph import Command, GraphRecursionError, InvalidUpdateError, Send, get_config
from asyncgraph.graph import END, START, CompiledStateGraph, StateGraph


class State(TypedDict, total=False):
    x: int
    log: Annotated[list[str], operator.add]


def logger(name: str, delay: float = 0.0) -> Any:
    async def node(state: State) -> dict[str, Any]:
        await asyncio.sleep(delay)
        return {"log": [name]}

    return node


def fan_out_graph() -> CompiledStateGraph:
    """START -> a, b; a -> a2; join(a2, b) -> c. b is slow, so completion order != path order."""
    builder = StateGraph(State)
    builder.add_node("b", logger("b", 0.03))
    builder.add_node("a", logger("a"))
    builder.add_node("a2", logger("a2"))
    builder.add_node("c", logger("c"))
    builder.add_edge(START, "a").add_edge(START, "b").add_edge("a", "a2")
    builder.add_edge(["a2", "b"], "c").add_edge("c", END)
    return builder.compile()


async def test_writes_merge_in_task_path_order_not_completion_order() -> None:
    graph = fan_out_graph()
    assert await graph.ainvoke({"log": ["in"]}) == {"log": ["in", "a", "b", "a2", "c"]}


async def test_join_runs_once_after_all_sources_even_across_steps() -> None:
    steps = [chunk async for chunk in fan_out_graph().astream({"log": []}, stream_mode="debug")]
    started = [(e["step"], e["payload"]["name"]) for e in steps if e["type"] == "task"]
    assert started == [(1, "a"), (1, "b"), (2, "a2"), (3, "c")]


async def test_separate_edges_run_the_target_once_per_step_a_predecessor_finished() -> None:
    builder = StateGraph(State)
    for name in ("a", "a2", "b", "c"):
        builder.add_node(name, logger(name))
    builder.add_edge(START, "a").add_edge(START, "b").add_edge("a", "a2")
    builder.add_edge("a2", "c").add_edge("b", "c")
    result = await builder.compile().ainvoke({"log": []})
    assert result == {"log": ["a", "b", "a2", "c", "c"]}


async def test_writes_are_visible_only_in_the_next_step() -> None:
    seen: dict[str, Any] = {}

    async def writer(state: State) -> dict[str, Any]:
        return {"x": 1}

    async def reader(state: State) -> None:
        seen["reader"] = state.get("x")

    async def after(state: State) -> None:
        seen["after"] = state.get("x")

    builder = StateGraph(State).add_node(writer).add_node(reader).add_node(after)
    builder.add_edge(START, "writer").add_edge(START, "reader").add_edge("writer", "after")
    await builder.compile().ainvoke({"x": 0})
    assert seen == {"reader": 0, "after": 1}


async def test_two_writes_to_a_plain_key_in_one_step_raise_even_when_equal() -> None:
    async def one(state: State) -> dict[str, Any]:
        return {"x": 1}

    builder = StateGraph(State).add_node("p", one).add_node("q", one)
    graph = builder.add_edge(START, "p").add_edge(START, "q").compile()
    with pytest.raises(InvalidUpdateError, match=r"At key 'x': nodes 'p' and 'q' both wrote it"):
        await graph.ainvoke({"x": 0})


async def test_reducer_applies_to_the_input_and_default_is_present() -> None:
    builder = StateGraph(State).add_node("a", logger("a")).add_edge(START, "a")
    graph = builder.compile()
    assert await graph.ainvoke({"x": 1}) == {"x": 1, "log": ["a"]}
    assert await graph.ainvoke({"log": ["in"]}) == {"log": ["in", "a"]}


async def test_send_fan_out_merges_in_send_order_after_edge_tasks() -> None:
    async def work(arg: dict[str, int]) -> dict[str, Any]:
        await asyncio.sleep(0.01 * (3 - arg["i"]))  # the last Send finishes first
        return {"log": [f"w{arg['i']}"]}

    builder = StateGraph(State)
    builder.add_node("fan", logger("fan")).add_node(work).add_node("z", logger("z"))
    builder.add_edge(START, "fan")
    builder.add_conditional_edges("fan", lambda s: [Send("work", {"i": i}) for i in range(3)] + ["z"])
    result = await builder.compile().ainvoke({"log": []})
    assert result == {"log": ["fan", "z", "w0", "w1", "w2"]}


async def test_command_goto_adds_to_static_edges() -> None:
    async def p(state: State) -> Command[Any]:
        return Command(update={"log": ["p"]}, goto="q")

    builder = StateGraph(State).add_node(p, destinations=["q"])
    builder.add_node("q", logger("q")).add_node("r", logger("r"))
    graph = builder.add_edge(START, "p").add_edge("p", "r").compile()
    assert await graph.ainvoke({"log": []}) == {"log": ["p", "q", "r"]}
    assert [c async for c in graph.astream({"log": []})] == [
        {"p": {"log": ["p"]}},
        {"q": {"log": ["q"]}},
        {"r": {"log": ["r"]}},
    ]


async def test_router_sees_its_node_update_and_list_routes_run_together() -> None:
    seen: list[dict[str, Any]] = []

    def route(state: State) -> list[str]:
        seen.append(dict(state))
        return ["a", "b"]

    builder = StateGraph(State).add_node("start", logger("start"))
    builder.add_node("a", logger("a")).add_node("b", logger("b"))
    builder.add_edge(START, "start").add_conditional_edges("start", route)
    result = await builder.compile().ainvoke({"log": ["in"]})
    assert seen == [{"log": ["in", "start"]}]
    assert result == {"log": ["in", "start", "a", "b"]}


async def test_empty_route_list_ends_the_branch_and_async_routers_work() -> None:
    async def route(state: State) -> list[str]:
        await asyncio.sleep(0)
        return []

    builder = StateGraph(State).add_node("a", logger("a")).add_edge(START, "a")
    graph = builder.add_conditional_edges("a", route).compile()
    assert await graph.ainvoke({"log": []}) == {"log": ["a"]}


async def test_loops_run_until_the_router_returns_end() -> None:
    async def inc(state: State) -> dict[str, int]:
        return {"x": state["x"] + 1}

    builder = StateGraph(State).add_node(inc).add_edge(START, "inc")
    builder.add_conditional_edges("inc", lambda s: "inc" if s["x"] < 5 else END)
    assert await builder.compile().ainvoke({"x": 0}) == {"x": 5, "log": []}


def chain(k: int) -> CompiledStateGraph:
    builder = StateGraph(State)
    builder.add_sequence([(f"n{i}", logger(f"n{i}")) for i in range(k)])
    return builder.add_edge(START, "n0").compile()


async def test_a_chain_of_k_nodes_needs_recursion_limit_k_plus_one() -> None:
    graph = chain(3)
    assert await graph.ainvoke({"log": []}, {"recursion_limit": 4}) == {"log": ["n0", "n1", "n2"]}
    with pytest.raises(GraphRecursionError, match=r"limit of 3.*3 supersteps ran") as info:
        await graph.ainvoke({"log": []}, {"recursion_limit": 3})
    assert isinstance(info.value, RecursionError)
    assert "Last nodes visited: step 1: n0; step 2: n1; step 3: n2." in str(info.value)
    # As in LangGraph, the steps up to the limit ran and streamed before the error.
    seen: list[Any] = []
    with pytest.raises(GraphRecursionError, match=r"1 supersteps ran.* Step 2 would run n1\."):
        async for chunk in graph.astream({"log": []}, {"recursion_limit": 1}):
            seen.append(chunk)
    assert seen == [{"n0": {"log": ["n0"]}}]


async def test_default_recursion_limit_is_10007() -> None:
    async def inc(state: State) -> dict[str, int]:
        return {"x": state["x"] + 1}

    builder = StateGraph(State).add_node(inc).add_edge(START, "inc")
    graph = builder.add_conditional_edges("inc", lambda s: "inc").compile()
    with pytest.raises(GraphRecursionError, match="limit of 10007"):
        await graph.ainvoke({"x": 0})


async def test_output_is_a_new_dict_and_the_input_is_not_mutated() -> None:
    graph = chain(1)
    given = {"log": ["in"]}
    result = await graph.ainvoke(given)
    assert given == {"log": ["in"]}
    assert result == {"log": ["in", "n0"]} and result is not given


async def test_nodes_may_rebind_keys_of_their_input_without_touching_the_state() -> None:
    # The input is a shallow copy: rebinding or deleting keys is private to the node
    # (mutating a nested list in place is not, as in LangGraph: return an update instead).
    async def vandal(state: State) -> None:
        state["x"] = 99
        state.clear()

    builder = StateGraph(State).add_node(vandal).add_edge(START, "vandal")
    assert await builder.compile().ainvoke({"x": 1}) == {"x": 1, "log": []}


async def test_output_is_none_and_no_values_when_nothing_was_ever_written() -> None:
    graph = StateGraph(State).add_node("a", lambda s: {}).add_edge(START, "a").compile()
    assert await graph.ainvoke({}) is None  # even though log has a default, as in LangGraph
    assert [c async for c in graph.astream({}, stream_mode="values")] == []
    assert [c async for c in graph.astream({})] == [{"a": None}]  # {} streams as None


async def test_config_parameter_and_get_config_are_the_same_object() -> None:
    seen: list[Any] = []

    async def node(state: State, config: Any) -> None:
        seen.append(config)
        seen.append(get_config())

    builder = StateGraph(State).add_node(node).add_edge(START, "node")
    config = {"configurable": {"user": "ada"}, "tags": ["t"], "metadata": {"m": 1}}
    await builder.compile().ainvoke({"x": 1}, config)  # type: ignore[arg-type]
    assert seen[0] is seen[1]
    assert seen[0]["configurable"] == {"user": "ada"} and seen[0]["tags"] == ["t"]
    assert seen[0]["metadata"] == {
        "m": 1,
        "langgraph_step": 1,
        "langgraph_node": "node",
        "asyncgraph_attempt": 1,
    }


def test_get_config_outside_a_run_explains_itself() -> None:
    with pytest.raises(RuntimeError, match=r"get_config\(\) was called outside a running graph"):
        get_config()


def test_sync_invoke_drives_async_nodes() -> None:
    assert chain(2).invoke({"log": []}) == {"log": ["n0", "n1"]}


async def test_abatch_keeps_input_order_and_can_return_exceptions() -> None:
    async def check(state: State) -> dict[str, int]:
        await asyncio.sleep(0.01 * (3 - state["x"]))
        if state["x"] == 2:
            raise ValueError("two")
        return {"x": state["x"] * 10}

    graph = StateGraph(State).add_node(check).add_edge(START, "check").compile()
    results = await graph.abatch([{"x": 1}, {"x": 2}, {"x": 3}], return_exceptions=True)
    assert results[0] == {"x": 10, "log": []} and results[2] == {"x": 30, "log": []}
    assert isinstance(results[1], ValueError)
    with pytest.raises(ValueError, match="two"):
        await graph.abatch([{"x": 1}, {"x": 2}])


def test_batch_is_the_sync_twin_of_abatch() -> None:
    async def times_ten(state: State) -> dict[str, int]:
        return {"x": state["x"] * 10}

    graph = StateGraph(State).add_node(times_ten).add_edge(START, "times_ten").compile()
    assert graph.batch([{"x": 3}, {"x": 1}]) == [{"x": 30, "log": []}, {"x": 10, "log": []}]


async def test_abatch_takes_one_config_per_input() -> None:
    async def node(state: State, config: Any) -> dict[str, int]:
        return {"x": config["configurable"]["v"]}

    graph = StateGraph(State).add_node(node).add_edge(START, "node").compile()
    configs = [{"configurable": {"v": 1}}, {"configurable": {"v": 2}}]
    results = await graph.abatch([{"x": 0}, {"x": 0}], configs)  # type: ignore[arg-type]
    assert [r["x"] for r in results] == [1, 2]
    with pytest.raises(ValueError, match="got 2 inputs but 1 configs"):
        await graph.abatch([{"x": 0}, {"x": 0}], configs[:1])  # type: ignore[arg-type]
