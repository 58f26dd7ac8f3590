"""Random graph descriptions (a hypothesis strategy) and a builder that turns one into a real
compiled graph of ``asyncgraph`` or ``langgraph`` — the same code, only the import differs.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import operator
import time
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, TypedDict

from hypothesis import strategies as st

from .reference import (
    END,
    START,
    Choice,
    Graph,
    Node,
    Router,
    SendTo,
    concat,
    node_goto,
    node_update,
    route,
)

#: Node names. Shuffled before use, so that name order (which decides merge order) has nothing
#: to do with the topology; "a10" < "a9" and "B" < "a" keep string order honest.
NAMES = ("a", "b", "c", "x", "y", "z", "B", "a10", "a9", "node")

State = TypedDict(  # the p_<name> keys are computed, hence the functional form
    "State",
    {
        "log": Annotated[list[str], operator.add],
        "n": Annotated[int, operator.add],
        "trail": Annotated[str | None, concat],
        "shared": str,
        **{f"p_{name}": str for name in NAMES},
    },
    total=False,
)

#: Per node, the delays of its successive calls (cycled): None = no await at all,
#: 0 = ``asyncio.sleep(0)``, else a sleep of that many seconds (``time.sleep`` in a sync node).
Delays = Mapping[str, tuple[float | None, ...]]


# --------------------------------------------------------------------------------------------
# Strategy
# --------------------------------------------------------------------------------------------

delays_of_one_node = st.lists(
    st.sampled_from([None, None, 0, 0, 0.001, 0.002, 0.003]), min_size=1, max_size=3
).map(tuple)


def delays_for(graph: Graph) -> st.SearchStrategy[Delays]:
    return st.fixed_dictionaries({node.name: delays_of_one_node for node in graph.nodes})


@st.composite
def graphs(draw: st.DrawFn, max_nodes: int = 6, conflicts: bool = False) -> Graph:
    """Small graphs mixing chains, fan-outs, joins, routers (names, lists, END, [], Sends),
    Command(update, goto), bounded loops and reducers.

    Nodes are in a topological order (index); every edge, Send and goto goes forward except a
    router's ``back`` loop, which is bounded (see ``Router``), so every run ends. Plain keys are
    written by one node per step (``p_<name>`` is never written by a Send target), so only
    ``conflicts=True`` (nodes writing ``shared``) can make an ``InvalidUpdateError``.
    """
    n = draw(st.integers(1, max_nodes))
    names = draw(st.permutations(NAMES))[:n]
    send_targets = [name for name in names if draw(st.booleans())]

    def choices(i: int) -> st.SearchStrategy[Choice]:
        forward = list(names[i + 1 :])
        sends = [t for t in send_targets if t in forward]
        name = st.sampled_from([*forward, END])
        dest = st.one_of(name, st.builds(SendTo, st.sampled_from(sends), st.sampled_from("pq")))
        return st.one_of(name, st.lists(dest if sends else name, max_size=3).map(tuple))

    def router(i: int, loops: bool) -> Router:
        back = None
        if loops and i >= 0 and draw(st.integers(0, 3)) == 0:
            back = draw(st.sampled_from(names[: i + 1]))
        return Router(
            choices=tuple(draw(st.lists(choices(i), min_size=1, max_size=3))),
            back=back,
            limit=draw(st.integers(1, 6)) if back else 0,
        )

    routers: list[tuple[str, Router]] = []
    if draw(st.integers(0, 3)) == 0:
        routers.append((START, router(-1, loops=False)))
    nodes = []
    for i, name in enumerate(names):
        own = [router(i, loops=True) for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2])))]
        routers += [(name, r) for r in own]
        nodes.append(
            Node(
                name=name,
                log=any(r.back for r in own) or draw(st.integers(0, 3)) > 0,
                add=draw(st.sampled_from([0, 0, 1, 2])),
                trail=draw(st.booleans()),
                plain=name not in send_targets and draw(st.booleans()),
                shared=conflicts and draw(st.integers(0, 3)) == 0,
                none=draw(st.booleans()),
                goto=router(i, loops=False) if draw(st.integers(0, 2)) == 0 else None,
                sync=draw(st.integers(0, 4)) == 0,
            )
        )

    forward_pairs = [(a, b) for i, a in enumerate(names) for b in [*names[i + 1 :], END]]
    edges = draw(st.lists(st.sampled_from(forward_pairs), max_size=n + 1, unique=True))
    entries = draw(st.lists(st.sampled_from(names), min_size=0 if routers else 1, unique=True))
    if not entries and not any(src == START for src, _ in routers):
        entries = [names[0]]
    joins = []
    for j in range(2, n):
        if draw(st.integers(0, 3)) == 0:
            sources = draw(st.lists(st.sampled_from(names[:j]), min_size=2, unique=True))
            joins.append((tuple(sources), names[j]))

    # asyncgraph refuses nodes that cannot be reached from START (LangGraph lets them be): give
    # each such node an edge from START or from an earlier, reachable node.
    edges = [(START, e) for e in entries] + edges
    reachable = {START}
    for name in names:
        if name not in possible_targets(reachable, edges, joins, routers, nodes):
            edges.append((draw(st.sampled_from([START, *sorted(reachable - {START})])), name))
        reachable.add(name)

    inputs: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "log": st.lists(st.sampled_from(["in0", "in1"]), max_size=2),
                "n": st.integers(0, 3),
                "trail": st.just("in"),
                "shared": st.just("in"),
                f"p_{names[0]}": st.just("in"),
            },
        )
    )
    return Graph(
        nodes=tuple(nodes),
        edges=tuple(edges),
        joins=tuple(joins),
        routers=tuple(routers),
        input=inputs,
    )


def destinations(choices: Iterable[Choice]) -> set[str]:
    """Every node a router or a goto with these choices can name."""
    out: set[str] = set()
    for choice in choices:
        for dest in (choice,) if isinstance(choice, str) else choice:
            out.add(dest.node if isinstance(dest, SendTo) else dest)
    return out - {END}


def possible_targets(
    sources: set[str],
    edges: list[tuple[str, str]],
    joins: list[tuple[tuple[str, ...], str]],
    routers: list[tuple[str, Router]],
    nodes: list[Node],
) -> set[str]:
    out = {dst for src, dst in edges if src in sources}
    out |= {target for srcs, target in joins if set(srcs) <= sources}
    for src, r in routers:
        if src in sources:
            out |= destinations(r.choices) | ({r.back} if r.back else set())
    for node in nodes:
        if node.name in sources and node.goto:
            out |= destinations(node.goto.choices)
    return out


# --------------------------------------------------------------------------------------------
# Builder
# --------------------------------------------------------------------------------------------


def build(graph: Graph, lib: str, delays: Delays | None = None) -> Any:
    """Compile ``graph`` with ``lib`` ("asyncgraph" or "langgraph"). Build one per run: the
    delay cycle of each node is counted from the first call."""
    g = importlib.import_module(f"{lib}.graph")
    types = importlib.import_module(f"{lib}.types")

    def to_lib(choice: Choice) -> Any:
        if isinstance(choice, str):
            return choice
        return [
            types.Send(d.node, {"item": d.item}) if isinstance(d, SendTo) else d for d in choice
        ]

    def make_node(node: Node) -> Any:
        cycle = itertools.cycle((delays or {}).get(node.name, (None,)))

        def behave(state: Mapping[str, Any]) -> Any:
            update = node_update(node, state)
            goto = node_goto(node, state)
            if goto is not None:
                return types.Command(update=update, goto=to_lib(goto))
            return None if not update and node.none else update

        if node.sync:

            def sync_node(state: dict[str, Any]) -> Any:
                delay = next(cycle)
                if delay:
                    time.sleep(delay)
                return behave(state)

            return sync_node

        async def async_node(state: dict[str, Any]) -> Any:
            delay = next(cycle)
            if delay is not None:
                await asyncio.sleep(delay)
            return behave(state)

        return async_node

    def make_router(r: Router, index: int) -> Any:
        def router(state: dict[str, Any]) -> Any:
            return to_lib(route(r, state))

        # LangGraph names a branch after its function; two branches of a node need two names
        router.__name__ = router.__qualname__ = f"route_{index}"
        return router

    builder = g.StateGraph(State)
    for node in graph.nodes:
        if node.goto is None:
            builder.add_node(node.name, make_node(node))
        else:  # declare where its Command may go (asyncgraph checks reachability with it)
            targets = tuple(sorted(destinations(node.goto.choices)))
            builder.add_node(node.name, make_node(node), destinations=targets)
    for src, dst in graph.edges:
        builder.add_edge(src, dst)
    for sources, target in graph.joins:
        builder.add_edge(list(sources), target)
    for index, (src, r) in enumerate(graph.routers):
        builder.add_conditional_edges(src, make_router(r, index))
    return builder.compile()
