"""Read the current run's config and stream writer from inside a node or router.

Both work in async nodes, in sync nodes running in a worker thread (the thread gets a
copy of the context) and in routers. They are backed by one ``ContextVar`` that the
runner sets for each task, so concurrent runs and tasks never see each other's values.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asyncgraph._run import Task
    from asyncgraph.types import RunnableConfig, StreamWriter

__all__ = ["get_config", "get_stream_writer"]

current_task: ContextVar[Task] = ContextVar("asyncgraph_current_task")


def _task(caller: str) -> Task:
    try:
        return current_task.get()
    except LookupError:
        raise RuntimeError(
            f"{caller}() was called outside a running graph. Call it from inside a node "
            "or router while the graph runs, or take the value as a node parameter "
            "(`config` / `writer`). In a thread that a node starts itself, run the code with "
            "contextvars.copy_context().run(...) so the thread inherits the node's context."
        ) from None


def get_config() -> RunnableConfig:
    """Return the config of the task that is running.

    It is the same object a node receives through a parameter named ``config``:
    the caller's config plus ``metadata["langgraph_step"]``, ``["langgraph_node"]``
    and ``["asyncgraph_attempt"]``.

    Raises:
        RuntimeError: When called outside a running node or router.

    Examples:
        ```python
        from typing import TypedDict

        from asyncgraph.config import get_config
        from asyncgraph.graph import START, StateGraph


        class State(TypedDict):
            user: str


        def greet(state: State) -> State:
            return {"user": get_config()["configurable"]["name"]}


        builder = StateGraph(State)
        builder.add_node(greet)
        builder.add_edge(START, "greet")
        graph = builder.compile()
        result = graph.invoke({"user": "?"}, {"configurable": {"name": "Ada"}})
        assert result == {"user": "Ada"}
        ```
    """
    return _task("get_config").config


def get_stream_writer() -> StreamWriter:
    """Return the function that sends data to the ``"custom"`` stream.

    Calling it is a cheap no-op unless the caller asked for ``stream_mode="custom"``
    (alone or in a list), so nodes can always report progress.

    Raises:
        RuntimeError: When called outside a running node or router.

    Examples:
        ```python
        import asyncio
        from typing import TypedDict

        from asyncgraph.config import get_stream_writer
        from asyncgraph.graph import START, StateGraph


        class State(TypedDict):
            n: int


        async def count(state: State) -> State:
            write = get_stream_writer()
            for i in range(state["n"]):
                write({"progress": i})
            return {"n": 0}


        builder = StateGraph(State)
        builder.add_node(count)
        builder.add_edge(START, "count")
        graph = builder.compile()


        async def main() -> list[object]:
            return [c async for c in graph.astream({"n": 2}, stream_mode="custom")]


        assert asyncio.run(main()) == [{"progress": 0}, {"progress": 1}]
        ```
    """
    return _task("get_stream_writer").writer


def _noop_writer(_: Any) -> None:
    """The writer given to nodes when nobody listens to the custom stream."""
