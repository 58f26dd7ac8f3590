"""The pure planning rules, tested without an event loop."""

from __future__ import annotations

import pytest

from asyncgraph import GraphValidationError, Send
from asyncgraph._plan import END, START, Join, Node, build_topology, plan_next, resolve_route


def node(name: str) -> Node:
    return Node(name, lambda s: None, False, False, False, None, None, None)


TOPOLOGY = build_topology(
    {name: node(name) for name in ("a", "b", "c", "d")},
    [(START, "a"), (START, "b"), ("a", "c"), ("b", "c"), ("c", END)],
    [],
    [Join(frozenset({"a", "d"}), "b")],
)


def test_a_target_runs_once_per_step_however_many_predecessors_finished() -> None:
    assert plan_next(TOPOLOGY, [("a", []), ("b", [])], {}) == (["c"], [])


def test_edge_tasks_are_sorted_by_name_and_sends_keep_their_order() -> None:
    sends = [Send("d", 2), Send("a", 1)]
    names, planned = plan_next(TOPOLOGY, [("c", ["b", *sends, "a"])], {})
    assert names == ["a", "b"] and planned == sends


def test_a_join_waits_for_all_its_sources_across_steps_then_resets() -> None:
    barriers: dict[Join, set[str]] = {}
    assert plan_next(TOPOLOGY, [("a", [])], barriers) == (["c"], [])
    assert plan_next(TOPOLOGY, [("d", [])], barriers) == (["b"], [])
    assert barriers == {}
    assert plan_next(TOPOLOGY, [("d", [])], barriers) == ([], [])


def test_end_is_dropped_from_the_plan() -> None:
    assert plan_next(TOPOLOGY, [("c", [END])], {}) == ([], [])


def test_resolve_route_maps_validates_and_wraps_single_values() -> None:
    assert resolve_route(TOPOLOGY, "a", origin="r") == ["a"]
    assert resolve_route(TOPOLOGY, ("a", END), origin="r") == ["a", END]
    assert resolve_route(TOPOLOGY, True, origin="r", path_map={True: "b"}) == ["b"]
    with pytest.raises(GraphValidationError, match=r"r returned int 3"):
        resolve_route(TOPOLOGY, 3, origin="r")
    with pytest.raises(GraphValidationError, match=r"r routed to 'zz'"):
        resolve_route(TOPOLOGY, ["zz"], origin="r")


def test_a_source_finishing_twice_in_the_step_that_fills_a_join_counts_once() -> None:
    # Found by the property tests against LangGraph: the join fired a second time.
    topology = build_topology(
        {name: node(name) for name in ("a", "z", "c")}, [], [], [Join(frozenset({"a", "z"}), "c")]
    )
    barriers: dict[Join, set[str]] = {}
    assert plan_next(topology, [("z", [])], barriers) == ([], [])
    assert plan_next(topology, [("a", []), ("z", [])], barriers) == (["c"], [])
    assert barriers == {}
    assert plan_next(topology, [("a", [])], barriers) == ([], [])  # a new round begins
