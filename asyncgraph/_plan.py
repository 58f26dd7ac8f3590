"""Pure planning: the compiled topology and which tasks run in the next superstep.

Nothing here touches an event loop, so the rules of the superstep model can be read
and tested on their own:

* a node runs in step *n + 1* if a static edge, a router, or a ``Command.goto`` of a
  task that finished in step *n* points at it — once, however many predecessors did;
* a join ``add_edge([a, b], c)`` runs ``c`` once all of its sources have finished,
  possibly in different steps, and then waits for all of them again;
* each ``Send`` is its own task, after the edge-triggered tasks, in the order sent;
* tasks are ordered by this *task path* (edge-triggered by node name, then ``Send``s in
  order), and their writes are applied in that order, never in completion order, so
  results do not depend on timing.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from asyncgraph.errors import GraphValidationError
from asyncgraph.types import RetryPolicy, Send

START = "__start__"
END = "__end__"
NO_SENDS: list[Send] = []  # shared and never mutated


@dataclass(frozen=True, slots=True)
class Node:
    """A node as the runner sees it, with everything it needs precomputed."""

    name: str
    fn: Callable[..., Any]
    is_async: bool
    wants_config: bool
    wants_writer: bool
    retry: RetryPolicy | None
    timeout: float | None
    # Where Command(goto=...) may lead: declared names, "*" for anywhere, None if never.
    destinations: tuple[str, ...] | Literal["*"] | None
    # Derived, for the hot path: extra keyword arguments; one untimed attempt.
    wants_kwargs: bool = field(init=False)
    plain: bool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wants_kwargs", self.wants_config or self.wants_writer)
        object.__setattr__(self, "plain", self.retry is None and self.timeout is None)


@dataclass(frozen=True, slots=True)
class Branch:
    """A router attached to ``source`` by ``add_conditional_edges``."""

    source: str
    path: Callable[..., Any]
    path_map: dict[Hashable, str] | None
    is_async: bool
    name: str


@dataclass(frozen=True, slots=True)
class Join:
    """``add_edge(sources, target)`` with several sources: wait for all of them."""

    sources: frozenset[str]
    target: str


@dataclass(frozen=True, slots=True)
class Topology:
    """The compiled graph's structure, indexed by source node for the hot path."""

    nodes: dict[str, Node]
    edges: tuple[tuple[str, str], ...]
    successors: dict[str, tuple[str, ...]]
    branches: dict[str, tuple[Branch, ...]]
    joins: dict[str, tuple[Join, ...]]
    # For a node that is no join's source: the sorted nodes its static edges trigger.
    # Shared lists, never mutated by their users.
    simple_next: dict[str, list[str]]


def build_topology(
    nodes: dict[str, Node],
    edges: Iterable[tuple[str, str]],
    branches: Iterable[Branch],
    joins: Iterable[Join],
) -> Topology:
    edges = tuple(dict.fromkeys(edges))  # drop duplicates, keep order
    successors: dict[str, list[str]] = {}
    for source, target in edges:
        if target != END:
            successors.setdefault(source, []).append(target)
    by_source: dict[str, list[Branch]] = {}
    for branch in branches:
        by_source.setdefault(branch.source, []).append(branch)
    joins_by_source: dict[str, list[Join]] = {}
    for join in joins:
        for source in sorted(join.sources):
            joins_by_source.setdefault(source, []).append(join)
    return Topology(
        nodes=nodes,
        edges=edges,
        successors={k: tuple(v) for k, v in successors.items()},
        branches={k: tuple(v) for k, v in by_source.items()},
        joins={k: tuple(v) for k, v in joins_by_source.items()},
        simple_next={
            name: sorted(set(successors.get(name, ())))
            for name in (START, *nodes)
            if name not in joins_by_source
        },
    )


def resolve_route(
    topology: Topology, value: Any, *, origin: str, path_map: dict[Hashable, str] | None = None
) -> list[str | Send]:
    """Turn a router's (or ``Command.goto``'s) value into validated targets.

    ``origin`` describes who produced the value, for the error message.
    """
    if value is None:
        raise GraphValidationError(
            f"{origin} returned None, which is not a destination. Return a node name, END, "
            "a Send, or a list of them ([] ends this branch)."
        )
    single = isinstance(value, str | Send) or (
        path_map is not None and not isinstance(value, list | tuple)  # e.g. True -> "yes"
    )
    items: Sequence[Any] = [value] if single else value
    if not isinstance(items, list | tuple):
        raise GraphValidationError(
            f"{origin} returned {type(value).__name__} {value!r}; return a node name, END, a "
            "Send, or a list of them."
        )
    targets: list[str | Send] = []
    for item in items:
        if isinstance(item, Send):
            _check_target(topology, item.node, origin, allow_end=False)
            targets.append(item)
            continue
        if path_map is not None:
            if item not in path_map:
                raise GraphValidationError(
                    f"{origin} returned {item!r}, which is not in its path_map "
                    f"({', '.join(map(repr, path_map))}). Add it to the path_map or return one "
                    "of its keys."
                )
            item = path_map[item]
        if not isinstance(item, str):
            raise GraphValidationError(
                f"{origin} returned {item!r}; destinations are node names (str), END or Send."
            )
        _check_target(topology, item, origin, allow_end=True)
        targets.append(item)
    return targets


def _check_target(topology: Topology, name: str, origin: str, *, allow_end: bool) -> None:
    if name in topology.nodes or (allow_end and name == END):
        return
    known = ", ".join(sorted(topology.nodes))
    raise GraphValidationError(
        f"{origin} routed to {name!r}, which is not a node of this graph (nodes: {known}"
        f"{', END' if allow_end else ''}). Fix the name, or add the node with add_node()."
    )


def plan_next(
    topology: Topology,
    finished: Sequence[tuple[str, Sequence[str | Send]]],
    barriers: dict[Join, set[str]],
) -> tuple[list[str], list[Send]]:
    """The next superstep's tasks from this step's finished tasks, in task-path order.

    ``finished`` holds ``(node, targets)`` per task, in task-path order, where targets
    are what its routers and ``Command.goto`` chose. ``barriers`` records which sources
    of each join have finished so far; it is updated in place.
    """
    if len(finished) == 1:  # a lone task that chose no target: the common case
        node, targets = finished[0]
        if not targets:
            simple = topology.simple_next.get(node)
            if simple is not None:
                return simple, NO_SENDS
    triggered: set[str] = set()
    sends: list[Send] = []
    for node, targets in finished:
        triggered.update(topology.successors.get(node, ()))
        for target in targets:
            if isinstance(target, Send):
                sends.append(target)
            else:
                triggered.add(target)
        for join in topology.joins.get(node, ()):
            barriers.setdefault(join, set()).add(node)
    # A full barrier fires once and resets only after the whole step was counted: a source
    # that finished twice in this step is one arrival, not the start of the next round.
    for join in [j for j in barriers if barriers[j] == j.sources]:
        del barriers[join]
        triggered.add(join.target)
    triggered.discard(END)
    return sorted(triggered), sends
