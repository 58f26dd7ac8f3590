"""A sequential reference interpreter of LangGraph's superstep semantics.

It runs one task at a time, in the order LangGraph merges their writes, so there is nothing
concurrent to reason about: the property tests compare asyncgraph (and, where it is installed,
LangGraph itself) against it. It is meant to be read. Every rule below was checked against
langgraph 1.2.22 by running the same properties on it.

The graphs are plain descriptions (the dataclasses below), not user code: a node's behaviour is a
pure function of the state it sees (``node_update``, ``node_goto``, ``route``), shared by this
interpreter and by the builder in ``graphs.py`` that turns a description into a real graph. What
is under test is the scheduling and merging around those functions, not the functions.

The state schema is fixed (see ``graphs.State``)::

    log:    Annotated[list[str], operator.add]   reducer, default [] (list() works)
    n:      Annotated[int, operator.add]         reducer, default 0
    trail:  Annotated[str | None, concat]        reducer with no default (typ() fails): the first
                                                 write is stored as is, later ones are concatenated
    shared: str                                  plain key; nodes with ``shared=True`` write it
    p_<node>: str                                plain key written only by that node
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

START = "__start__"
END = "__end__"


def concat(a: str, b: str) -> str:
    """The reducer of ``trail``: order-sensitive, so merge order shows."""
    return f"{a}|{b}"


#: Keys with a reducer, and the value they start with (``None``: no default, the key is absent
#: until first written and the first write is stored without calling the reducer).
REDUCERS: dict[str, tuple[Callable[[Any, Any], Any], Any]] = {
    "log": (operator.add, []),
    "n": (operator.add, 0),
    "trail": (concat, None),
}


# --------------------------------------------------------------------------------------------
# The description of a graph
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendTo:
    """``Send(node, {"item": item})`` in a router's or a Command's destinations."""

    node: str
    item: str


#: A router's (or Command goto's) answer: a bare node name or END, or a list of node names, END
#: and Sends (the empty list ends the branch).
Choice = str | tuple[str | SendTo, ...]


@dataclass(frozen=True)
class Router:
    """A conditional edge. It picks ``choices[measure(state) % len(choices)]``.

    ``back``, when set, is a loop: while ``len(log) < limit`` the router returns ``back``. The
    router's node always appends to ``log`` and a router sees its node's own writes, so every
    pass makes ``log`` longer and the loop ends.
    """

    choices: tuple[Choice, ...]
    back: str | None = None
    limit: int = 0


@dataclass(frozen=True)
class Node:
    name: str
    log: bool = True  # append one tag to `log`
    add: int = 0  # add this to `n` (0: no write)
    trail: bool = False  # write the tag to `trail`
    plain: bool = False  # write the tag to `p_<name>` (never on a Send target)
    shared: bool = False  # write the tag to `shared` (two writers in one step must fail)
    none: bool = False  # return None rather than {} when there is nothing to write
    goto: Router | None = None  # return Command(update=..., goto=<choice>) instead of a dict
    sync: bool = False  # a `def` node rather than an `async def` one


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    edges: tuple[tuple[str, str], ...] = ()  # add_edge(a, b); a may be START, b may be END
    joins: tuple[tuple[tuple[str, ...], str], ...] = ()  # add_edge([a, b, ...], c)
    routers: tuple[tuple[str, Router], ...] = ()  # add_conditional_edges(a, router); a may be START
    input: Mapping[str, Any] = field(default_factory=dict)

    def node(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)


# --------------------------------------------------------------------------------------------
# What the user code computes (shared with the builder)
# --------------------------------------------------------------------------------------------


def measure(state: Mapping[str, Any]) -> int:
    """A number that changes as the state grows; routers and gotos pick with it."""
    return len(state.get("log", ())) + len(str(state.get("item", "")))


def tag(node: Node, seen: Mapping[str, Any]) -> str:
    """What the node writes: its name and what it saw (so visibility mistakes change the tag)."""
    if "item" in seen:  # a Send task: it sees the Send's argument, not the state
        return f"{node.name}<{seen['item']}>"
    log = seen.get("log")
    return f"{node.name}@{'-' if log is None else len(log)}/{seen.get('n')}/{len(seen)}"


def node_update(node: Node, seen: Mapping[str, Any]) -> dict[str, Any]:
    t = tag(node, seen)
    update: dict[str, Any] = {}
    if node.log:
        update["log"] = [t]
    if node.add:
        update["n"] = node.add
    if node.trail:
        update["trail"] = t
    if node.plain:
        update[f"p_{node.name}"] = t
    if node.shared:
        update["shared"] = t
    return update


def pick(router: Router, state: Mapping[str, Any]) -> Choice:
    if router.back is not None and len(state.get("log", ())) < router.limit:
        return router.back
    choice = router.choices[measure(state) % len(router.choices)]
    if isinstance(choice, str):
        return choice
    # a Send carries a little of the state its router saw
    return tuple(
        SendTo(d.node, f"{d.item}.{measure(state)}") if isinstance(d, SendTo) else d for d in choice
    )


def node_goto(node: Node, seen: Mapping[str, Any]) -> Choice | None:
    """A Command's goto is computed by the node, from its input."""
    return None if node.goto is None else pick(node.goto, seen)


def route(router: Router, fresh: Mapping[str, Any]) -> Choice:
    """A router is called after its node, on the state as that node's own writes left it."""
    return pick(router, fresh)


# --------------------------------------------------------------------------------------------
# The superstep semantics
# --------------------------------------------------------------------------------------------


class InvalidUpdate(Exception):
    """Two writes to a plain key in one step."""


@dataclass
class Step:
    updates: list[dict[str, Any]]  # one {node: update-or-None} per task, in merge order
    values: dict[str, Any] | None  # the state after the step, if any task wrote a state key


@dataclass
class Trace:
    input_values: dict[str, Any] | None  # the first "values" chunk: the input, if it wrote a key
    steps: list[Step]
    error: str | None = None  # "InvalidUpdateError" or "GraphRecursionError"

    @property
    def values(self) -> list[dict[str, Any]]:
        """The "values" stream: the input, then the state after each step that wrote a key."""
        first = [] if self.input_values is None else [self.input_values]
        return first + [s.values for s in self.steps if s.values is not None]

    @property
    def final(self) -> dict[str, Any] | None:
        """What ``ainvoke`` returns: the last "values" chunk, or None if no key was ever written
        (reducer defaults such as ``log: []`` alone do not count)."""
        values = self.values
        return values[-1] if values else None


def merge(state: Mapping[str, Any], updates: list[Mapping[str, Any]]) -> tuple[dict, bool]:
    """Apply the updates in order; return the new state and whether any key was written.

    A reducer key folds every write in (the input included); a key without a default takes its
    first write as is. A plain key takes one write per step: a second one is an error, even if
    the values are equal.
    """
    new = dict(state)
    plain_written: set[str] = set()
    wrote = False
    for update in updates:
        for key, value in update.items():
            wrote = True
            if key in REDUCERS:
                reducer = REDUCERS[key][0]
                new[key] = reducer(new[key], value) if key in new else value
            else:
                if key in plain_written:
                    raise InvalidUpdate(key)
                plain_written.add(key)
                new[key] = value
    return new, wrote


@dataclass
class _Next:
    """What the finished tasks of one step trigger in the next."""

    pull: set[str] = field(default_factory=set)  # nodes triggered by edges: one task each
    sends: list[SendTo] = field(default_factory=list)  # one task per Send, in this order

    def add(self, choice: Choice) -> None:
        for dest in (choice,) if isinstance(choice, str) else choice:
            if isinstance(dest, SendTo):
                self.sends.append(dest)
            elif dest != END:
                self.pull.add(dest)


def run(graph: Graph, recursion_limit: int = 10007) -> Trace:
    def follow(source: str, fresh: Mapping[str, Any], goto: Choice | None, nxt: _Next) -> None:
        # Order matters only for Sends: a Command's goto first, then the routers in the order
        # they were added. Static edges just trigger their target (a goto does not replace them).
        if goto is not None:
            nxt.add(goto)
        for src, dst in graph.edges:
            if src == source:
                nxt.add(dst)
        for src, router in graph.routers:
            if src == source:
                nxt.add(route(router, fresh))

    # Reducer keys with a default exist from the start (a node sees `log: []`), but they do not
    # make a "values" chunk on their own.
    state: dict[str, Any] = {k: d for k, (_, d) in REDUCERS.items() if d is not None}

    # The input is written like an update, by the START pseudo-node; START's edges fire even
    # when the input is {} (then there is no first "values" chunk).
    state, wrote = merge(state, [dict(graph.input)])
    trace = Trace(input_values=dict(state) if wrote else None, steps=[])
    nxt = _Next()
    follow(START, state, None, nxt)

    # A join `add_edge([a, b], c)` is a barrier: it remembers which sources have finished, in any
    # steps; once all have, c runs in the next step, and that run resets the barrier.
    barriers: list[set[str]] = [set() for _ in graph.joins]

    step = 0
    while True:
        # recursion_limit counts supersteps; LangGraph checks it before looking for more tasks,
        # so a run of S steps needs recursion_limit > S (at == S all S steps run, then it raises)
        if step >= recursion_limit:
            trace.error = "GraphRecursionError"
            return trace
        if not nxt.pull and not nxt.sends:
            return trace

        # The tasks of this step, in merge order: edge-triggered tasks by node name, then one
        # task per Send in the order the Sends were made. All of them see the same state.
        tasks: list[tuple[str, Mapping[str, Any]]] = [(name, state) for name in sorted(nxt.pull)]
        tasks += [(s.node, {"item": s.item}) for s in nxt.sends]
        pulled = nxt.pull

        # Run them (sequentially here; concurrently for real, which must not matter).
        results = []
        for name, seen in tasks:
            node = graph.node(name)
            results.append((name, seen, node_update(node, seen), node_goto(node, seen)))
        done = Step(updates=[{name: update or None} for name, _, update, _ in results], values=None)
        trace.steps.append(done)

        # Only now do the writes become visible, all together, in task order.
        try:
            new_state, wrote = merge(state, [update for _, _, update, _ in results])
        except InvalidUpdate as exc:
            trace.error = f"InvalidUpdateError: {exc}"
            return trace
        if wrote:
            done.values = dict(new_state)

        # What runs next. A router sees the state as it was at the start of the step plus its
        # own task's writes (a Send task's router too: it sees the state, not the Send's arg).
        nxt = _Next()
        for name, _seen, update, goto in results:
            fresh, _ = merge(state, [update])
            follow(name, fresh, goto, nxt)
        for barrier, (sources, target) in zip(barriers, graph.joins, strict=True):
            if target in pulled and barrier == set(sources):
                barrier.clear()  # consumed by the run of `target` in this step
            barrier.update(name for name, _, _, _ in results if name in sources)
            if barrier == set(sources):
                nxt.pull.add(target)

        state = new_state
        step += 1
