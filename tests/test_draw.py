"""get_graph().draw_mermaid(): nodes, edges, joins and conditional paths."""

from __future__ import annotations

from typing import Literal, TypedDict

from asyncgraph import Command
from asyncgraph.graph import END, START, StateGraph


class State(TypedDict):
    n: int


def noop(state: State) -> None:
    return None


def test_static_edges_joins_and_labelled_conditional_paths() -> None:
    def route(state: State) -> Literal["left", "right"]:
        return "left"

    builder = StateGraph(State)
    for name in ("split", "left", "right", "merge"):
        builder.add_node(name, noop)
    builder.add_edge(START, "split").add_conditional_edges("split", route)
    builder.add_edge(["left", "right"], "merge").add_edge("merge", END)
    assert builder.compile().get_graph().draw_mermaid() == "\n".join(
        [
            "graph TD;",
            "    __start__([__start__]):::terminal",
            "    split(split)",
            "    left(left)",
            "    right(right)",
            "    merge(merge)",
            "    __end__([__end__]):::terminal",
            "    __start__ --> split;",
            "    merge --> __end__;",
            "    left ==> merge;",
            "    right ==> merge;",
            "    split -.->|route| left;",
            "    split -.->|route| right;",
            "    %% join: merge runs once after all of left, right",
            "    classDef terminal fill:#eee,stroke:#999",
        ]
    )


def test_path_map_keys_label_the_edges_and_commands_are_dotted() -> None:
    def hop(state: State) -> Command[Literal["b"]]:
        return Command(goto="b")

    builder = StateGraph(State).add_node(hop).add_node("b", noop)
    builder.add_edge(START, "hop").add_conditional_edges("b", lambda s: True, {True: END})
    edges = {(e.source, e.target, e.kind, e.label) for e in builder.compile().get_graph().edges}
    assert edges == {
        (START, "hop", "edge", None),
        ("hop", "b", "command", "Command"),
        ("b", END, "conditional", "True"),
    }


def test_names_that_break_mermaid_are_quoted_with_stable_ids() -> None:
    builder = StateGraph(State).add_node("end", noop).add_node("two words", noop)
    builder.add_edge(START, "end").add_edge("end", "two words")
    text = builder.compile().get_graph().draw_mermaid()
    assert '(end)' not in text and '"two words"' in text
    assert text == builder.compile().get_graph().draw_mermaid()  # deterministic
