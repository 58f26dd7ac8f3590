"""Stream modes of astream/stream: updates, values, custom, debug, and lists of modes."""

from __future__ import annotations

import asyncio
import operator
import threading
from typing import Annotated, Any, TypedDict

import pytest

from asyncgraph import get_stream_writer
from asyncgraph.graph import START, CompiledStateGraph, StateGraph
from asyncgraph.types import StreamWriter


class State(TypedDict, total=False):
    x: int
    log: Annotated[list[str], operator.add]


def parallel_graph() -> CompiledStateGraph:
    async def slow(state: State) -> dict[str, Any]:
        await asyncio.sleep(0.03)
        return {"log": ["slow"]}

    async def fast(state: State) -> dict[str, Any]:
        return {"log": ["fast"]}

    async def quiet(state: State) -> None:
        return None

    builder = StateGraph(State).add_node("a_slow", slow).add_node("b_fast", fast)
    builder.add_node(quiet).add_edge(START, "a_slow").add_edge(START, "b_fast")
    builder.add_edge("b_fast", "quiet")
    return builder.compile()


async def test_updates_is_the_default_in_completion_order_with_none_for_empty() -> None:
    chunks = [c async for c in parallel_graph().astream({"log": []})]
    assert chunks == [{"b_fast": {"log": ["fast"]}}, {"a_slow": {"log": ["slow"]}}, {"quiet": None}]


async def test_values_yields_the_input_then_each_step_that_wrote() -> None:
    chunks = [c async for c in parallel_graph().astream({"x": 1}, stream_mode="values")]
    assert chunks == [{"x": 1, "log": []}, {"x": 1, "log": ["slow", "fast"]}]


async def test_a_list_of_modes_yields_mode_chunk_pairs() -> None:
    modes = ["updates", "values"]
    chunks = [c async for c in parallel_graph().astream({"x": 1}, stream_mode=modes)]  # type: ignore[arg-type]
    assert chunks[0] == ("values", {"x": 1, "log": []})
    assert [mode for mode, _ in chunks] == ["values", "updates", "updates", "values", "updates"]


async def custom_node(state: State) -> dict[str, Any]:
    write = get_stream_writer()
    write({"progress": 1})
    return {"x": 1}


def sync_writer_node(state: State, writer: StreamWriter) -> dict[str, Any]:
    writer({"thread": threading.get_ident() != MAIN})
    return {"log": ["sync"]}


MAIN = threading.get_ident()


def custom_graph() -> CompiledStateGraph:
    builder = StateGraph(State).add_node(custom_node).add_node(sync_writer_node)
    builder.add_edge(START, "custom_node").add_edge("custom_node", "sync_writer_node")
    return builder.compile()


async def test_custom_chunks_come_before_the_node_update_even_from_threads() -> None:
    chunks = [c async for c in custom_graph().astream({"x": 0}, stream_mode=["custom", "updates"])]
    assert chunks == [
        ("custom", {"progress": 1}),
        ("updates", {"custom_node": {"x": 1}}),
        ("custom", {"thread": True}),  # the sync node ran in a worker thread
        ("updates", {"sync_writer_node": {"log": ["sync"]}}),
    ]


async def test_the_writer_is_a_no_op_when_custom_is_not_requested() -> None:
    assert await custom_graph().ainvoke({"x": 0}) == {"x": 1, "log": ["sync"]}
    chunks = [c async for c in custom_graph().astream({"x": 0}, stream_mode="custom")]
    assert chunks == [{"progress": 1}, {"thread": True}]


async def test_debug_events_carry_step_node_attempt_and_timing() -> None:
    events = [c async for c in parallel_graph().astream({"log": []}, stream_mode="debug")]
    assert [(e["type"], e["step"], e["payload"]["name"]) for e in events] == [
        ("task", 1, "a_slow"),
        ("task", 1, "b_fast"),
        ("task_result", 1, "b_fast"),
        ("task_result", 1, "a_slow"),
        ("task", 2, "quiet"),
        ("task_result", 2, "quiet"),
    ]
    result = events[3]["payload"]
    assert result["attempt"] == 1 and result["error"] is None
    assert result["result"] == {"log": ["slow"]} and result["duration"] > 0


def test_sync_stream_is_a_generator_of_the_same_chunks() -> None:
    assert list(custom_graph().stream({"x": 0}, stream_mode="values")) == [
        {"x": 0, "log": []},
        {"x": 1, "log": []},
        {"x": 1, "log": ["sync"]},
    ]


def test_closing_a_sync_stream_early_stops_the_run() -> None:
    stream = parallel_graph().stream({"log": []})
    assert next(stream) == {"b_fast": {"log": ["fast"]}}
    stream.close()  # must not hang or leave the private loop open


@pytest.mark.parametrize("mode", ["value", ["updates", "messages"], []])
def test_unknown_stream_modes_fail_at_the_call(mode: Any) -> None:
    with pytest.raises(ValueError, match="stream_mode"):
        parallel_graph().astream({"x": 1}, stream_mode=mode)
    with pytest.raises(ValueError, match="stream_mode"):
        parallel_graph().stream({"x": 1}, stream_mode=mode)


async def test_a_list_of_one_mode_still_yields_pairs() -> None:
    chunks = [c async for c in custom_graph().astream({"x": 0}, stream_mode=["updates"])]
    assert chunks[0] == ("updates", {"custom_node": {"x": 1}})


def test_a_list_with_a_repeated_mode_yields_pairs_once_per_chunk() -> None:
    chunks = list(custom_graph().stream({"x": 0}, stream_mode=["values", "values"]))
    assert chunks[0] == ("values", {"x": 0, "log": []}) and len(chunks) == 3
