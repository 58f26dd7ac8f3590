"""Compile-time validation: every malformed graph fails before any node runs."""

from __future__ import annotations

import operator
from dataclasses import dataclass
from typing import Annotated, Literal, TypedDict

import pytest

from asyncgraph import Command, GraphValidationError, GraphValidationWarning, RetryPolicy
from asyncgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    n: int
    log: Annotated[list[str], operator.add]


def noop(state: State) -> None:
    return None


async def anoop(state: State) -> None:
    return None


def builder_with(*names: str) -> StateGraph:
    builder = StateGraph(State)
    for name in names:
        builder.add_node(name, noop)
    return builder


def test_edge_to_unknown_node_names_it_and_suggests_the_close_match() -> None:
    builder = builder_with("fetch").add_edge(START, "fetch").add_edge("fetch", "fetc")
    with pytest.raises(GraphValidationError, match=r"unknown node 'fetc'.*Did you mean 'fetch'"):
        builder.compile()


def test_edge_from_unknown_node() -> None:
    builder = builder_with("a").add_edge(START, "a").add_edge("zzz", "a")
    with pytest.raises(GraphValidationError, match=r"Edge 'zzz' -> 'a' names unknown node 'zzz'"):
        builder.compile()


def test_no_edge_out_of_start() -> None:
    with pytest.raises(GraphValidationError, match=r"no entry point.*add_edge\(START, 'a'\)"):
        builder_with("a").compile()


def test_empty_graph() -> None:
    with pytest.raises(GraphValidationError, match="no nodes"):
        StateGraph(State).compile()


def test_duplicate_node_name() -> None:
    with pytest.raises(GraphValidationError, match="'a' is already in the graph"):
        builder_with("a", "a")


@pytest.mark.parametrize("name", [START, END])
def test_reserved_node_names(name: str) -> None:
    with pytest.raises(GraphValidationError, match="reserved"):
        builder_with(name)


def test_node_that_is_not_callable() -> None:
    with pytest.raises(GraphValidationError, match=r"Node 'a' must be a function.*got int 3"):
        StateGraph(State).add_node("a", 3)  # type: ignore[arg-type]


def test_add_node_with_a_name_but_no_function() -> None:
    with pytest.raises(GraphValidationError, match=r"add_node\('a'\) needs a function"):
        StateGraph(State).add_node("a")


def test_lambda_without_a_name() -> None:
    with pytest.raises(GraphValidationError, match="lambda has no usable name"):
        StateGraph(State).add_node(lambda s: None)


def test_path_map_target_that_is_not_a_node() -> None:
    builder = builder_with("a").add_edge(START, "a")
    builder.add_conditional_edges("a", lambda s: "x", {"x": "missing"})
    with pytest.raises(GraphValidationError, match=r"path_map of router 'router'.*'missing'"):
        builder.compile()


def test_unreachable_node_is_an_error_that_names_it() -> None:
    builder = builder_with("a", "island").add_edge(START, "a")
    with pytest.raises(GraphValidationError, match=r"'island' cannot be reached from START"):
        builder.compile()


def test_command_annotation_makes_its_targets_reachable() -> None:
    def hop(state: State) -> Command[Literal["b"]]:
        return Command(goto="b")

    builder = StateGraph(State).add_node(hop).add_node("b", noop).add_edge(START, "hop")
    graph = builder.compile()
    assert graph.invoke({"n": 1}) == {"n": 1, "log": []}


def test_declared_destinations_make_targets_reachable() -> None:
    def hop(state: State) -> Command:
        return Command(goto="b")

    builder = StateGraph(State).add_node(hop, destinations=["b"]).add_node("b", noop)
    assert builder.add_edge(START, "hop").compile().nodes == ("hop", "b")


def test_a_cycle_without_exit_warns() -> None:
    builder = builder_with("a", "b").add_edge(START, "a").add_edge("a", "b").add_edge("b", "a")
    with pytest.warns(GraphValidationWarning, match=r"'a', 'b' ever reaches END"):
        builder.compile()


def test_a_node_without_outgoing_edges_ends_the_run_without_warning() -> None:
    graph = builder_with("a").add_edge(START, "a").compile()
    assert graph.invoke({"n": 1}) == {"n": 1, "log": []}


def test_timeout_on_a_sync_node_is_refused() -> None:
    with pytest.raises(GraphValidationError, match=r"'slow' is a sync function.*async def"):
        StateGraph(State).add_node("slow", noop, timeout=1.0)


@pytest.mark.parametrize("bad", [0, -1, "1", True])
def test_timeout_must_be_a_positive_number(bad: object) -> None:
    with pytest.raises(GraphValidationError, match="timeout must be a positive number"):
        StateGraph(State).add_node("a", anoop, timeout=bad)  # type: ignore[arg-type]


def test_retry_policy_is_checked() -> None:
    with pytest.raises(GraphValidationError, match="max_attempts counts the first attempt"):
        StateGraph(State).add_node("a", noop, retry_policy=RetryPolicy(max_attempts=0))
    with pytest.raises(GraphValidationError, match="must be a RetryPolicy"):
        StateGraph(State).add_node("a", noop, retry_policy={"max_attempts": 2})  # type: ignore[arg-type]


def test_edges_into_start_or_out_of_end_are_refused() -> None:
    with pytest.raises(GraphValidationError, match="START cannot be the target"):
        builder_with("a").add_edge("a", START)
    with pytest.raises(GraphValidationError, match="END cannot be the source"):
        builder_with("a").add_edge(END, "a")
    with pytest.raises(GraphValidationError, match="join's sources must be nodes"):
        builder_with("a").add_edge([START, "a"], "a")


def test_schema_must_be_a_class_with_keys() -> None:
    with pytest.raises(GraphValidationError, match="needs a state schema class"):
        StateGraph({"n": int})  # type: ignore[arg-type]

    class Empty(TypedDict):
        pass

    with pytest.raises(GraphValidationError, match="declares no keys"):
        StateGraph(Empty)


def test_unresolvable_annotations_are_explained() -> None:
    class Local(TypedDict):
        item: Annotated[list[int], one_arg_local]  # noqa: F821 - resolved lazily, and fails

    with pytest.raises(GraphValidationError, match="Define the schema at module level"):
        StateGraph(Local)


def one_arg(x: list[int]) -> list[int]:
    return x


class Bad(TypedDict):
    items: Annotated[list[int], one_arg]


def test_reducer_must_take_two_arguments() -> None:
    with pytest.raises(GraphValidationError, match=r"Bad.items must take two arguments"):
        StateGraph(Bad)


def test_dataclass_schema_nodes_receive_an_instance() -> None:
    @dataclass
    class Point:
        x: int = 0
        y: int = 0

    seen: list[object] = []

    def move(p: Point) -> dict[str, int]:
        seen.append(p)
        return {"x": p.x + 1}

    graph = StateGraph(Point).add_node(move).add_edge(START, "move").compile()
    assert graph.invoke(Point(x=1, y=2)) == {"x": 2, "y": 2}
    assert seen == [Point(1, 2)]


def test_add_sequence_chains_nodes_and_takes_pairs() -> None:
    def a(state: State) -> dict[str, list[str]]:
        return {"log": ["a"]}

    builder = StateGraph(State).add_sequence([a, ("b", lambda s: {"log": ["b"]})])
    graph = builder.add_edge(START, "a").compile()
    assert graph.invoke({"log": []}) == {"log": ["a", "b"]}
    with pytest.raises(GraphValidationError, match="at least one node"):
        StateGraph(State).add_sequence([])


def test_entry_and_finish_points() -> None:
    builder = builder_with("a")
    builder.set_entry_point("a").set_finish_point("a")
    assert [(e.source, e.target) for e in builder.compile().get_graph().edges] == [
        (START, "a"),
        ("a", END),
    ]


def test_conditional_entry_point() -> None:
    builder = builder_with("a", "b")
    builder.set_conditional_entry_point(lambda s: "b" if s["n"] else "a", ["a", "b"])
    assert builder.compile().invoke({"n": 1}) == {"n": 1, "log": []}
