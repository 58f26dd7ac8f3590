"""Mermaid flowcharts of a compiled graph: ``graph.get_graph().draw_mermaid()``."""

from __future__ import annotations

import re
import zlib
from typing import NamedTuple

from asyncgraph._plan import END, START, Topology

_SAFE_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MERMAID_KEYWORDS = {"end", "graph", "subgraph", "flowchart", "style", "class", "click"}


class Edge(NamedTuple):
    """One arrow of the drawing.

    Attributes:
        source: Where it starts (a node name or ``"__start__"``).
        target: Where it ends (a node name or ``"__end__"``).
        kind: ``"edge"`` (static), ``"join"`` (waits for all sources),
            ``"conditional"`` (a router's choice) or ``"command"`` (``Command.goto``).
        label: The router's return value (or name) for conditional edges, else ``None``.
    """

    source: str
    target: str
    kind: str
    label: str | None = None


class GraphView:
    """The drawable structure of a compiled graph, returned by ``get_graph()``.

    Attributes:
        nodes: Node names, with ``"__start__"`` first and ``"__end__"`` last.
        edges: Every arrow, as ``Edge`` tuples.

    Examples:
        >>> from typing import TypedDict
        >>> from asyncgraph.graph import END, START, StateGraph
        >>> class State(TypedDict):
        ...     n: int
        >>> graph = StateGraph(State).add_node("a", lambda s: None).add_edge(START, "a").compile()
        >>> [(e.source, e.target, e.kind) for e in graph.get_graph().edges]
        [('__start__', 'a', 'edge'), ('a', '__end__', 'edge')]
    """

    def __init__(self, topology: Topology) -> None:
        names = list(topology.nodes)
        edges: list[Edge] = []
        has_exit = set()
        for source, target in topology.edges:
            edges.append(Edge(source, target, "edge"))
            has_exit.add(source)
        for joins in topology.joins.values():
            for join in joins:
                for source in sorted(join.sources):
                    edge = Edge(source, join.target, "join", None)
                    if edge not in edges:
                        edges.append(edge)
                    has_exit.add(source)
        for source, branches in topology.branches.items():
            has_exit.add(source)
            for branch in branches:
                mapping = branch.path_map or {name: name for name in [*names, END]}
                for key, target in mapping.items():
                    label = branch.name if branch.path_map is None or key == target else str(key)
                    edges.append(Edge(source, target, "conditional", label))
        for node in topology.nodes.values():
            if node.destinations is not None:
                has_exit.add(node.name)
                targets = [*names, END] if node.destinations == "*" else node.destinations
                edges.extend(Edge(node.name, t, "command", "Command") for t in targets)
        # A node with no way out ends the run: show that as an edge to END.
        edges.extend(Edge(name, END, "edge") for name in names if name not in has_exit)
        self.nodes = [START, *names, END]
        self.edges = edges

    def draw_mermaid(self) -> str:
        """The graph as Mermaid flowchart text (``graph TD;``).

        Static edges are solid arrows, joins thick arrows (the target waits for all of
        its sources), router and ``Command`` choices labelled dotted arrows.

        Examples:
            >>> from typing import TypedDict
            >>> from asyncgraph.graph import END, START, StateGraph
            >>> class State(TypedDict):
            ...     n: int
            >>> def route(s: State) -> str:
            ...     return "a"
            >>> builder = StateGraph(State).add_node("a", lambda s: None)
            >>> builder.add_conditional_edges(START, route, {"go": "a", "stop": END})
            <asyncgraph.graph.StateGraph object at ...>
            >>> print(builder.compile().get_graph().draw_mermaid())
            graph TD;
                __start__([__start__]):::terminal
                a(a)
                __end__([__end__]):::terminal
                a --> __end__;
                __start__ -.->|go| a;
                __start__ -.->|stop| __end__;
                classDef terminal fill:#eee,stroke:#999
        """
        lines = ["graph TD;"]
        for name in self.nodes:
            if name in (START, END):
                lines.append(f"    {_id(name)}([{name}]):::terminal")
            else:
                lines.append(f"    {_id(name)}({_label(name)})")
        ordered = [e for e in self.edges if e.kind == "edge"] + [
            e for e in self.edges if e.kind != "edge"
        ]
        joins: dict[str, list[str]] = {}
        for edge in ordered:
            source, target = _id(edge.source), _id(edge.target)
            if edge.kind == "edge":
                lines.append(f"    {source} --> {target};")
            elif edge.kind == "join":
                lines.append(f"    {source} ==> {target};")
                joins.setdefault(edge.target, []).append(edge.source)
            else:
                lines.append(f"    {source} -.->|{_label(edge.label or '')}| {target};")
        for target, sources in joins.items():
            lines.append(f"    %% join: {target} runs once after all of {', '.join(sources)}")
        lines.append("    classDef terminal fill:#eee,stroke:#999")
        return "\n".join(lines)


def _id(name: str) -> str:
    """A Mermaid-safe node id (names with spaces or keywords like ``end`` break it)."""
    if _SAFE_ID.fullmatch(name) and name.lower() not in _MERMAID_KEYWORDS:
        return name
    # crc32, not hash(): the text must be the same in every process (docs compare it).
    return "n_" + re.sub(r"\W", "_", name) + f"_{zlib.crc32(name.encode()) % 10_000}"


def _label(text: str) -> str:
    if _SAFE_ID.fullmatch(text) and text.lower() not in _MERMAID_KEYWORDS:
        return text
    return '"' + text.replace('"', "#quot;").replace("|", "#124;") + '"'
