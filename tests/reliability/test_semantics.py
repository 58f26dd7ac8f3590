"""Property-based tests of the superstep semantics against a sequential reference interpreter.

Every property runs on asyncgraph, and on LangGraph too where it is installed (that is how the
reference itself is validated). Examples per property: ``ASYNCGRAPH_PBT_EXAMPLES`` (default 30);
``CI`` set in the environment makes the examples derandomized (the same every run).
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from .graphs import Delays, build, delays_for, graphs
from .reference import END, START, Graph, Node, Router, SendTo, Trace, run

LIBS = [
    pytest.param("asyncgraph", id="asyncgraph"),
    pytest.param(
        "langgraph",
        id="langgraph",
        marks=pytest.mark.skipif(
            importlib.util.find_spec("langgraph") is None,
            reason="langgraph is not installed; it only validates the reference interpreter",
        ),
    ),
]

SETTINGS = settings(
    max_examples=int(os.environ.get("ASYNCGRAPH_PBT_EXAMPLES", "30")),
    deadline=None,
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[HealthCheck.too_slow],
)


# Fixed examples, always run: each showed a difference between asyncgraph and LangGraph.
#: "z" finishes in step 0 and again in step 1, when "a" completes the join; the second "z" is
#: absorbed (the barrier is a set), so "a" finishing again in step 2 must not run "c" again.
JOIN_REFIRE = Graph(
    nodes=(Node("z"), Node("x"), Node("y"), Node("a"), Node("c")),
    edges=((START, "z"), (START, "x"), ("x", "a"), ("x", "z"), ("x", "y"), ("y", "a")),
    joins=((("a", "z"), "c"),),
    input={"log": []},
)
#: Empty input: no first "values" chunk; nothing ever written: ainvoke returns None; an
#: update of {} and a Command without update stream as None.
NOTHING_WRITTEN = Graph(
    nodes=(Node("a", log=False), Node("b", log=False, goto=Router(choices=(END,)))),
    edges=((START, "a"), (START, "b")),
)
#: Three steps: recursion_limit=1 runs one step, then raises.
CHAIN = Graph(
    nodes=(Node("a"), Node("b"), Node("c")),
    edges=((START, "a"), ("a", "b"), ("b", "c")),
    input={"log": []},
)


@st.composite
def cases(draw: st.DrawFn, conflicts: bool = False) -> tuple[Graph, Delays]:
    graph = draw(graphs(conflicts=conflicts))
    return graph, draw(delays_for(graph))


# --------------------------------------------------------------------------------------------
# Running a graph and putting what it did in a comparable shape
# --------------------------------------------------------------------------------------------


def error_name(lib: str, exc: BaseException) -> str:
    errors = importlib.import_module(f"{lib}.errors")
    if isinstance(exc, errors.GraphRecursionError):
        return "GraphRecursionError"
    assert isinstance(exc, errors.InvalidUpdateError), exc
    # "At key 'shared': Can receive only one value per step. ..."
    key = str(exc).split("'")[1]
    return f"InvalidUpdateError: {key}"


async def observe(
    lib: str, graph: Graph, delays: Delays, mode: Any, limit: int | None = None
) -> tuple[list[Any], str | None]:
    """The chunks ``astream`` yields, and the error it ends with, if any."""
    errors = importlib.import_module(f"{lib}.errors")
    compiled = build(graph, lib, delays)
    given_input = dict(graph.input)
    config = None if limit is None else {"recursion_limit": limit}
    chunks: list[Any] = []
    error = None
    try:
        async for chunk in compiled.astream(given_input, config, stream_mode=mode):
            chunks.append(chunk)
    except (errors.InvalidUpdateError, errors.GraphRecursionError) as exc:
        error = error_name(lib, exc)
    assert given_input == graph.input, "the input dict was mutated"
    return chunks, error


def bag(items: list[Any]) -> list[str]:
    """A multiset, printable: tasks of one step finish in any order."""
    return sorted(repr(item) for item in items)


def expected_shape(trace: Trace) -> list[Any]:
    """The combined ["updates", "values"] stream: per step the bag of its updates, then its
    "values" chunk if it wrote a key."""
    shape: list[Any] = []
    if trace.input_values is not None:
        shape.append(("values", trace.input_values))
    for step in trace.steps:
        shape.append(bag([("updates", u) for u in step.updates]))
        if step.values is not None:
            shape.append(("values", step.values))
    return [*shape, ("error", trace.error)]


def observed_shape(chunks: list[Any], error: str | None, trace: Trace) -> list[Any]:
    """Cut the observed stream at the reference's step boundaries, so a mismatch shows as a
    readable diff against ``expected_shape`` (leftover chunks are kept, not dropped)."""
    shape: list[Any] = []
    rest = list(chunks)
    if trace.input_values is not None and rest:
        shape.append(rest.pop(0))
    for step in trace.steps:
        shape.append(bag(rest[: len(step.updates)]))
        del rest[: len(step.updates)]
        if step.values is not None and rest:
            shape.append(rest.pop(0))
    return [*shape, *rest, ("error", error)]


def updates_per_step(chunks: list[Any], trace: Trace) -> list[Any]:
    """A default-mode ("updates") stream cut into the reference's steps, as bags."""
    rest = list(chunks)
    steps = []
    for step in trace.steps:
        steps.append(bag(rest[: len(step.updates)]))
        del rest[: len(step.updates)]
    return steps + rest


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("lib", LIBS)
@SETTINGS
@given(case=cases())
@example(case=(JOIN_REFIRE, {}))
@example(case=(NOTHING_WRITTEN, {}))
def test_invoke_returns_the_reference_final_state(lib: str, case: tuple[Graph, Delays]) -> None:
    graph, delays = case
    trace = run(graph)
    given_input = dict(graph.input)
    result = asyncio.run(build(graph, lib, delays).ainvoke(given_input))
    assert result == trace.final
    assert given_input == graph.input, "the input dict was mutated"


@pytest.mark.parametrize("lib", LIBS)
@SETTINGS
@given(case=cases(conflicts=True))
@example(case=(JOIN_REFIRE, {}))
@example(case=(NOTHING_WRITTEN, {}))
def test_updates_and_values_stream_matches_the_reference(
    lib: str, case: tuple[Graph, Delays]
) -> None:
    """``stream_mode=["updates", "values"]``: each step's updates (in any order), then the state
    after it. Also covers InvalidUpdateError: the failing step's updates are streamed, then it
    raises, with no "values" chunk for that step."""
    graph, delays = case
    trace = run(graph)
    chunks, error = asyncio.run(observe(lib, graph, delays, ["updates", "values"]))
    assert observed_shape(chunks, error, trace) == expected_shape(trace)


@pytest.mark.parametrize("lib", LIBS)
@SETTINGS
@given(case=cases())
@example(case=(NOTHING_WRITTEN, {}))
def test_values_stream_matches_the_reference(lib: str, case: tuple[Graph, Delays]) -> None:
    graph, delays = case
    trace = run(graph)
    chunks, error = asyncio.run(observe(lib, graph, delays, "values"))
    assert (chunks, error) == (trace.values, trace.error)


@pytest.mark.parametrize("lib", LIBS)
@SETTINGS
@given(case=cases())
@example(case=(NOTHING_WRITTEN, {}))
def test_default_stream_is_updates_per_step(lib: str, case: tuple[Graph, Delays]) -> None:
    graph, delays = case
    trace = run(graph)
    chunks, error = asyncio.run(observe(lib, graph, delays, "updates"))
    expected = [bag(step.updates) for step in trace.steps]
    assert (updates_per_step(chunks, trace), error) == (expected, trace.error)


@pytest.mark.parametrize("lib", LIBS)
@SETTINGS
@given(case=cases(), offset=st.integers(0, 99))
@example(case=(CHAIN, {}), offset=0)
def test_recursion_limit_counts_supersteps(
    lib: str, case: tuple[Graph, Delays], offset: int
) -> None:
    """A run of S supersteps needs ``recursion_limit > S``; with a limit L <= S, L steps run
    (their output streamed) and then GraphRecursionError is raised."""
    graph, delays = case
    steps = len(run(graph).steps)
    limit = 1 + offset % (steps + 1)
    trace = run(graph, recursion_limit=limit)
    chunks, error = asyncio.run(observe(lib, graph, delays, ["updates", "values"], limit))
    assert observed_shape(chunks, error, trace) == expected_shape(trace)


@pytest.mark.parametrize("lib", LIBS)
@SETTINGS
@given(case=cases(conflicts=True), data=st.data())
def test_merge_order_does_not_depend_on_latency(
    lib: str, case: tuple[Graph, Delays], data: st.DataObject
) -> None:
    """The same graph under two latency assignments: same values stream, same error, and the
    same updates per step — without looking at the reference."""
    graph, delays = case
    other = data.draw(delays_for(graph), label="other delays")

    def summary(chunks: list[Any], error: str | None) -> Any:
        values = [c for mode, c in chunks if mode == "values"]
        # the updates between two "values" chunks, as a multiset
        runs: list[Counter[str]] = [Counter()]
        for mode, c in chunks:
            if mode == "values":
                runs.append(Counter())
            else:
                runs[-1][repr(c)] += 1
        return values, runs, error

    first = asyncio.run(observe(lib, graph, delays, ["updates", "values"]))
    second = asyncio.run(observe(lib, graph, other, ["updates", "values"]))
    assert summary(*first) == summary(*second)


def test_the_strategy_reaches_every_feature() -> None:
    """Guard against a strategy that silently stops producing the interesting cases."""
    seen: Counter[str] = Counter()

    @settings(max_examples=300, deadline=None, derandomize=True, database=None)
    @given(graph=graphs(conflicts=True))
    def collect(graph: Graph) -> None:
        trace = run(graph)
        seen["join"] += bool(graph.joins)
        seen["goto"] += any(n.goto for n in graph.nodes)
        seen["loop"] += any(r.back for _, r in graph.routers)
        seen["send"] += any("<" in repr(s.updates) for s in trace.steps)
        seen["error"] += bool(trace.error)
        seen["sync"] += any(n.sync for n in graph.nodes)
        seen["parallel"] += any(len(s.updates) > 1 for s in trace.steps)
        seen["empty step"] += any(s.values is None for s in trace.steps)
        seen["no input chunk"] += trace.input_values is None
        seen["long"] += len(trace.steps) >= 4

    collect()
    assert all(seen[k] >= 5 for k in seen), seen
    assert len(seen) == 10


def test_reference_examples() -> None:
    """A few hand-checked facts, so the reference is not only checked against itself."""
    # fan-out then fan-in through separate edges and a join: c runs twice
    g = Graph(
        nodes=(Node("a"), Node("a2"), Node("b"), Node("c")),
        edges=((START, "a"), (START, "b"), ("a", "a2"), ("a2", "c"), ("b", "c")),
        joins=((("a2", "b"), "c"),),
    )
    trace = run(g)
    assert [sorted(next(iter(u)) for u in s.updates) for s in trace.steps] == [
        ["a", "b"],
        ["a2", "c"],
        ["c"],
    ]
    # merge order: by node name, then Sends in order; a router sees its own writes
    g = Graph(
        nodes=(Node("z"), Node("b"), Node("w")),
        edges=((START, "z"), (START, "b"), ("z", "w")),
        routers=(("z", Router(choices=((SendTo("w", "p"), SendTo("w", "q"), END),))),),
        input={"log": ["in0"]},
    )
    trace = run(g)
    assert trace.final == {
        "log": ["in0", "b@1/0/2", "z@1/0/2", "w@3/0/2", "w<p.2>", "w<q.2>"],
        "n": 0,
    }
