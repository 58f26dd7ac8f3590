"""Graph definitions for workloads W1–W7, written once against a ``StateGraph/START/END`` triple.

Every function here takes a :class:`GraphAPI` (the three names imported from ``asyncgraph.graph``
or ``langgraph.graph``) and builds the *same* graph on either library, with the *same* node
functions. The plain-asyncio floor (:mod:`benchmarks.floor`) calls these same node functions, so
the three runners differ only in what surrounds the node calls.

Node functions are deliberately trivial (one dict lookup, one addition): the suite measures what a
runner costs around a node, not the node.
"""

from __future__ import annotations

import asyncio
import itertools
import operator
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, TypedDict


@dataclass(frozen=True)
class GraphAPI:
    """The import-swap triple: ``from <package>.graph import StateGraph, START, END``."""

    name: str
    StateGraph: Any
    START: Any
    END: Any


# --------------------------------------------------------------------------------------------
# State schemas
# --------------------------------------------------------------------------------------------


class ChainState(TypedDict):
    """W1, W3–W7: one integer that every node increments."""

    x: int


class FanState(TypedDict):
    """W2: eight branches append to ``results`` (a reducer key); the join sums them."""

    x: int
    results: Annotated[list[int], operator.add]
    total: int


# --------------------------------------------------------------------------------------------
# Node functions (shared by every runner, the floor included)
# --------------------------------------------------------------------------------------------

Update = dict[str, Any]
AsyncNode = Callable[[Any], Awaitable[Update]]
SyncNode = Callable[[Any], Update]


async def inc(state: ChainState) -> Update:
    """An ``async def`` node: ``x + 1``."""
    return {"x": state["x"] + 1}


def inc_sync(state: ChainState) -> Update:
    """The same node as a plain ``def`` (W6: runs in a worker thread under ``ainvoke``)."""
    return {"x": state["x"] + 1}


def make_sleeper(delay: float) -> AsyncNode:
    """W4: a node that waits ``delay`` seconds on the event loop, then increments."""

    async def sleeper(state: ChainState) -> Update:
        await asyncio.sleep(delay)
        return {"x": state["x"] + 1}

    return sleeper


def make_branch(i: int) -> AsyncNode:
    """W2: branch ``i`` contributes ``[10 * x + i]`` to the ``results`` reducer key."""

    async def branch(state: FanState) -> Update:
        return {"results": [state["x"] * 10 + i]}

    return branch


async def join(state: FanState) -> Update:
    """W2: runs once after all eight branches (``add_edge([...], "join")``)."""
    return {"total": sum(state["results"])}


class Parking:
    """W7: a node that parks every run on one :class:`asyncio.Event` until released.

    ``all_parked`` is set when ``expected`` runs are inside the node, so the measurement is taken
    at the moment every run is suspended in the middle of a graph.
    """

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.parked = 0
        self.all_parked = asyncio.Event()
        self.release = asyncio.Event()

        async def park(state: ChainState) -> Update:
            self.parked += 1
            if self.parked >= self.expected:
                self.all_parked.set()
            await self.release.wait()
            return {"x": state["x"] + 1}

        self.node: AsyncNode = park


# --------------------------------------------------------------------------------------------
# Graph builders (library-agnostic)
# --------------------------------------------------------------------------------------------


def chain_names(n: int) -> list[str]:
    """``n0 … n{n-1}`` — the node names of an ``n``-node chain."""
    return [f"n{i}" for i in range(n)]


def build_chain(
    api: GraphAPI, nodes: Sequence[AsyncNode | SyncNode], names: Sequence[str] | None = None
) -> Any:
    """``START → n0 → n1 → … → END`` over :class:`ChainState`; returns the compiled graph."""
    names = list(names) if names is not None else chain_names(len(nodes))
    builder = api.StateGraph(ChainState)
    for name, fn in zip(names, nodes, strict=True):
        builder.add_node(name, fn)
    builder.add_edge(api.START, names[0])
    for a, b in itertools.pairwise(names):
        builder.add_edge(a, b)
    builder.add_edge(names[-1], api.END)
    return builder.compile()


BRANCHES = [f"b{i}" for i in range(8)]


def build_fan_join(api: GraphAPI) -> Any:
    """``START → b0…b7`` (one superstep, concurrent), then ``add_edge([b0…b7], "join") → END``."""
    builder = api.StateGraph(FanState)
    for i, name in enumerate(BRANCHES):
        builder.add_node(name, make_branch(i))
        builder.add_edge(api.START, name)
    builder.add_node("join", join)
    builder.add_edge(BRANCHES, "join")
    builder.add_edge("join", api.END)
    return builder.compile()


def fan_join_expected(x: int) -> dict[str, Any]:
    """The final state of W2 for input ``{"x": x}`` (reducer merges follow node-name order)."""
    results = [x * 10 + i for i in range(len(BRANCHES))]
    return {"x": x, "results": results, "total": sum(results)}
