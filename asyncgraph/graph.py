"""Build a state graph with ``StateGraph`` and run it as a ``CompiledStateGraph``.

The builder checks each call as it is made and the whole graph at ``compile()``, so a
malformed graph fails before any node runs, with a message that names the node or edge
at fault and how to fix it.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import itertools
import warnings
from collections.abc import AsyncIterator, Callable, Hashable, Iterable, Iterator, Sequence
from typing import Any, Literal, get_args, get_origin, get_type_hints

from asyncgraph._draw import GraphView
from asyncgraph._plan import END, START, Branch, Join, Node, Topology, build_topology
from asyncgraph._run import DONE, Observer, Run, Sink, wait_all, wait_cancelled
from asyncgraph._state import Schema
from asyncgraph.errors import EmptyInputError, GraphValidationError, GraphValidationWarning
from asyncgraph.types import Command, RetryPolicy, RunnableConfig, StreamMode

__all__ = ["END", "START", "CompiledStateGraph", "GraphView", "StateGraph"]

_STREAM_MODES = ("values", "updates", "custom", "debug")
_CONFIG_KEYS = frozenset(RunnableConfig.__annotations__) | {"run_id"}


class StateGraph:
    """A graph whose nodes read a shared state and return updates to it.

    Args:
        state_schema: A ``TypedDict`` (or dataclass) declaring the state's keys. A key
            annotated ``Annotated[T, reducer]`` merges writes with ``reducer(old, new)``;
            any other key keeps the last value and accepts one write per superstep.

    Examples:
        ```python
        import operator
        from typing import Annotated, TypedDict

        from asyncgraph.graph import END, START, StateGraph


        class State(TypedDict):
            topic: str
            notes: Annotated[list[str], operator.add]


        async def research(state: State) -> dict:
            return {"notes": [f"facts about {state['topic']}"]}


        def write(state: State) -> dict:
            return {"notes": ["draft"]}


        builder = StateGraph(State)
        builder.add_node(research)
        builder.add_node(write)
        builder.add_edge(START, "research")
        builder.add_edge("research", "write")
        builder.add_edge("write", END)
        graph = builder.compile()

        assert graph.invoke({"topic": "asyncio"}) == {
            "topic": "asyncio",
            "notes": ["facts about asyncio", "draft"],
        }
        ```
    """

    def __init__(self, state_schema: type) -> None:
        self.schema = Schema(state_schema)
        self.nodes: dict[str, Node] = {}
        self.edges: list[tuple[str, str]] = []
        self.joins: list[Join] = []
        self.branches: list[Branch] = []

    # -- nodes -----------------------------------------------------------------------

    def add_node(
        self,
        node: str | Callable[..., Any],
        action: Callable[..., Any] | None = None,
        *,
        retry_policy: RetryPolicy | None = None,
        timeout: float | None = None,
        destinations: Sequence[str] | None = None,
    ) -> StateGraph:
        """Add a node: a function (sync or async) from the state to an update.

        The node receives the state (or a ``Send``'s argument) and returns a dict of
        updates, a ``Command``, or ``None``. A parameter named ``config`` receives the
        run config; one named ``writer`` receives the custom stream writer.

        Args:
            node: The node's name, or the function itself (named after ``__name__``).
            action: The function, when ``node`` is a name.
            retry_policy: Retry the node when an attempt raises (see ``RetryPolicy``).
            timeout: Seconds an attempt of an *async* node may take before
                ``NodeTimeoutError``. Sync nodes cannot be interrupted, so they refuse it.
            destinations: Nodes this node may reach with ``Command(goto=...)``; declares
                them for drawing and for the reachability check of ``compile()``.

        Returns:
            The builder, so calls can be chained.

        Raises:
            GraphValidationError: For a duplicate or reserved name, a function that is
                not callable, a bad retry policy, or a timeout on a sync node.

        Examples:
            >>> from typing import TypedDict
            >>> from asyncgraph.graph import StateGraph
            >>> class State(TypedDict):
            ...     n: int
            >>> async def double(state: State) -> dict:
            ...     return {"n": state["n"] * 2}
            >>> builder = StateGraph(State).add_node(double, timeout=5.0)
            >>> list(builder.nodes)
            ['double']
        """
        if action is None:
            if isinstance(node, str):
                raise GraphValidationError(
                    f"add_node({node!r}) needs a function: add_node({node!r}, my_function)."
                )
            action, name = node, _callable_name(node)
        elif isinstance(node, str):
            name = node
        else:
            raise GraphValidationError(
                f"add_node(name, action) takes the name first as a str; got {node!r}."
            )
        if name in (START, END):
            raise GraphValidationError(
                f"Node name {name!r} is reserved for the graph's entry/exit; choose another name."
            )
        if not name or any(ch in name for ch in "|:\n"):
            raise GraphValidationError(
                f"Node name {name!r} is empty or contains '|', ':' or a newline; use a plain name."
            )
        if name in self.nodes:
            raise GraphValidationError(
                f"Node {name!r} is already in the graph; each node needs a unique name, e.g. "
                f"add_node('{name}_2', ...)."
            )
        if not callable(action):
            raise GraphValidationError(
                f"Node {name!r} must be a function (sync or async) taking the state; got "
                f"{type(action).__name__} {action!r}."
            )
        is_async = _is_async(action)
        if timeout is not None:
            if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
                raise GraphValidationError(
                    f"Node {name!r}: timeout must be a positive number of seconds; got {timeout!r}."
                )
            if not is_async:
                raise GraphValidationError(
                    f"Node {name!r} is a sync function and cannot have a timeout: a thread "
                    "cannot be interrupted. Make it `async def`, or drop timeout=."
                )
        if retry_policy is not None:
            _check_retry_policy(name, retry_policy)
        params = _parameters(action)
        self.nodes[name] = Node(
            name=name,
            fn=action,
            is_async=is_async,
            wants_config="config" in params,
            wants_writer="writer" in params,
            retry=retry_policy,
            timeout=None if timeout is None else float(timeout),
            destinations=_command_targets(action) if destinations is None else tuple(destinations),
        )
        return self

    def add_sequence(
        self, nodes: Sequence[Callable[..., Any] | tuple[str, Callable[..., Any]]]
    ) -> StateGraph:
        """Add nodes and chain them with edges, in order.

        Args:
            nodes: Functions, or ``(name, function)`` pairs.

        Returns:
            The builder.

        Examples:
            >>> from typing import TypedDict
            >>> from asyncgraph.graph import START, StateGraph
            >>> class State(TypedDict):
            ...     text: str
            >>> def strip(s: State) -> dict:
            ...     return {"text": s["text"].strip()}
            >>> def upper(s: State) -> dict:
            ...     return {"text": s["text"].upper()}
            >>> builder = StateGraph(State).add_sequence([strip, upper])
            >>> graph = builder.add_edge(START, "strip").compile()
            >>> graph.invoke({"text": "  hi "})
            {'text': 'HI'}
        """
        if not nodes:
            raise GraphValidationError("add_sequence() needs at least one node.")
        names = []
        for item in nodes:
            if isinstance(item, tuple):
                self.add_node(*item)
                names.append(item[0])
            else:
                self.add_node(item)
                names.append(_callable_name(item))
        for source, target in itertools.pairwise(names):
            self.add_edge(source, target)
        return self

    # -- edges -----------------------------------------------------------------------

    def add_edge(self, start_key: str | Sequence[str], end_key: str) -> StateGraph:
        """Run ``end_key`` after ``start_key``; with a list of sources, after all of them.

        ``add_edge("a", "c")`` and ``add_edge("b", "c")`` run ``c`` once per step in
        which ``a`` or ``b`` finished; the join ``add_edge(["a", "b"], "c")`` runs it
        once, after both (possibly finished in different steps).

        Args:
            start_key: A node name, ``START``, or a list of node names (a join).
            end_key: A node name or ``END``.

        Returns:
            The builder.

        Examples:
            >>> from typing import TypedDict
            >>> from asyncgraph.graph import END, START, StateGraph
            >>> class State(TypedDict):
            ...     n: int
            >>> def inc(s: State) -> dict:
            ...     return {"n": s["n"] + 1}
            >>> builder = StateGraph(State).add_node("inc", inc)
            >>> graph = builder.add_edge(START, "inc").add_edge("inc", END).compile()
            >>> graph.invoke({"n": 1})
            {'n': 2}
        """
        if end_key == START:
            raise GraphValidationError("START cannot be the target of an edge; edges leave START.")
        if not isinstance(end_key, str):
            raise GraphValidationError(f"add_edge() target must be a node name; got {end_key!r}.")
        if isinstance(start_key, str):
            if start_key == END:
                raise GraphValidationError("END cannot be the source of an edge; edges end there.")
            self.edges.append((start_key, end_key))
            return self
        sources = list(start_key)
        if not sources or not all(isinstance(s, str) for s in sources):
            raise GraphValidationError(
                f"add_edge() takes a node name or a non-empty list of names; got {start_key!r}."
            )
        if START in sources or END in sources:
            raise GraphValidationError("A join's sources must be nodes, not START or END.")
        if len(sources) == 1:
            self.edges.append((sources[0], end_key))
        else:
            self.joins.append(Join(frozenset(sources), end_key))
        return self

    def add_conditional_edges(
        self,
        source: str,
        path: Callable[..., Any],
        path_map: dict[Hashable, str] | list[str] | None = None,
    ) -> StateGraph:
        """After ``source``, call ``path`` to choose the next node(s).

        ``path`` (sync or async) receives the state with ``source``'s own update applied
        and returns a node name, ``END``, a ``Send``, or a list of them (all run in the
        next step; ``[]`` ends this branch).

        Args:
            source: The node (or ``START``) the router follows.
            path: The router.
            path_map: Maps the router's return values to node names (a dict), or lists
                the names it may return. Without it, a ``Literal[...]`` return annotation
                of ``path`` is used for drawing and checks.

        Returns:
            The builder.

        Examples:
            >>> from typing import TypedDict
            >>> from asyncgraph.graph import END, START, StateGraph
            >>> class State(TypedDict):
            ...     n: int
            >>> def inc(s: State) -> dict:
            ...     return {"n": s["n"] + 1}
            >>> def again(s: State) -> str:
            ...     return "inc" if s["n"] < 3 else END
            >>> builder = StateGraph(State).add_node("inc", inc).add_edge(START, "inc")
            >>> graph = builder.add_conditional_edges("inc", again, ["inc", END]).compile()
            >>> graph.invoke({"n": 0})
            {'n': 3}
        """
        if source == END:
            raise GraphValidationError("END has no outgoing edges; route from a node or START.")
        if not callable(path):
            raise GraphValidationError(
                f"add_conditional_edges({source!r}, path): path must be a function; got {path!r}."
            )
        mapping: dict[Hashable, str] | None
        if path_map is None:
            mapping = _literal_targets(path)
        elif isinstance(path_map, dict):
            mapping = dict(path_map)
        else:
            mapping = {name: name for name in path_map}
        name = getattr(path, "__name__", "router").replace("<lambda>", "router")
        self.branches.append(Branch(source, path, mapping, _is_async(path), name))
        return self

    def set_entry_point(self, key: str) -> StateGraph:
        """Same as ``add_edge(START, key)``."""
        return self.add_edge(START, key)

    def set_conditional_entry_point(
        self,
        path: Callable[..., Any],
        path_map: dict[Hashable, str] | list[str] | None = None,
    ) -> StateGraph:
        """Same as ``add_conditional_edges(START, path, path_map)``."""
        return self.add_conditional_edges(START, path, path_map)

    def set_finish_point(self, key: str) -> StateGraph:
        """Same as ``add_edge(key, END)``."""
        return self.add_edge(key, END)

    # -- compiling -------------------------------------------------------------------

    def compile(self) -> CompiledStateGraph:
        """Check the whole graph and return a runnable ``CompiledStateGraph``.

        Raises:
            GraphValidationError: An edge names an unknown node, nothing leaves START, a
                path_map names an unknown node, or a node cannot be reached from START.

        Warns:
            GraphValidationWarning: A node from which no route ever ends (a cycle with
                no exit); such a run stops only at ``recursion_limit``.

        Examples:
            >>> from typing import TypedDict
            >>> from asyncgraph.graph import StateGraph
            >>> class State(TypedDict):
            ...     n: int
            >>> StateGraph(State).add_node("a", lambda s: None).compile()
            Traceback (most recent call last):
            ...
            asyncgraph.errors.GraphValidationError: The graph has no entry point: ...
        """
        _validate(self)
        topology = build_topology(dict(self.nodes), self.edges, self.branches, self.joins)
        return CompiledStateGraph(topology, self.schema)


class CompiledStateGraph:
    """A validated graph, ready to run. Create it with ``StateGraph.compile()``.

    Every entry point has a sync and an async twin: ``invoke``/``ainvoke``,
    ``stream``/``astream``, ``batch``/``abatch``. The sync ones drive the async ones on
    a private event loop, so they refuse to run inside a running loop (that would block
    it); use the async twin there.

    Examples:
        >>> from typing import TypedDict
        >>> from asyncgraph.graph import START, StateGraph
        >>> class State(TypedDict):
        ...     n: int
        >>> graph = StateGraph(State).add_node("inc", lambda s: {"n": s["n"] + 1})
        >>> compiled = graph.add_edge(START, "inc").compile()
        >>> compiled.nodes, compiled.invoke({"n": 1})
        (('inc',), {'n': 2})
    """

    def __init__(self, topology: Topology, schema: Schema) -> None:
        self._topology = topology
        self._schema = schema

    @property
    def nodes(self) -> tuple[str, ...]:
        """The names of the graph's nodes, in the order they were added."""
        return tuple(self._topology.nodes)

    # -- single runs -----------------------------------------------------------------

    async def ainvoke(
        self, input: Any, config: RunnableConfig | None = None
    ) -> dict[str, Any] | None:
        """Run the graph to completion on the running event loop and return the state.

        Args:
            input: A dict of state keys (reducers apply to it too).
            config: The run config (``recursion_limit``, ``max_concurrency``,
                ``configurable``, ``tags``, ``metadata``, ``executor``).

        Returns:
            A new dict of every key ever written, in schema order (``None`` if none).

        Raises:
            Exception: A node's own exception, unwrapped, with a note naming node, step
                and attempt. Cancelling the caller cancels every running node first.

        Examples:
            ```python
            import asyncio
            from typing import TypedDict

            from asyncgraph.graph import START, StateGraph


            class State(TypedDict):
                question: str
                answer: str


            async def answer(state: State) -> dict:
                await asyncio.sleep(0.01)  # an I/O wait: the loop runs other work meanwhile
                return {"answer": state["question"].upper()}


            builder = StateGraph(State)
            builder.add_node(answer)
            builder.add_edge(START, "answer")
            graph = builder.compile()

            result = asyncio.run(graph.ainvoke({"question": "why async?"}))
            assert result == {"question": "why async?", "answer": "WHY ASYNC?"}
            ```
        """
        config = _check_input_and_config(input, config)
        return await Run(self._topology, self._schema, config).execute(input)

    def invoke(self, input: Any, config: RunnableConfig | None = None) -> dict[str, Any] | None:
        """Run the graph to completion from synchronous code and return the state.

        Works for graphs with async nodes too: it runs them on a private event loop.
        Single sync nodes run in the calling thread; parallel ones in worker threads.

        Raises:
            RuntimeError: When called inside a running event loop, where it would block
                the loop; use ``await graph.ainvoke(...)`` there.

        Examples:
            >>> from typing import TypedDict
            >>> from asyncgraph.graph import START, StateGraph
            >>> class State(TypedDict):
            ...     n: int
            >>> async def double(s: State) -> dict:
            ...     return {"n": s["n"] * 2}
            >>> graph = StateGraph(State).add_node(double).add_edge(START, "double").compile()
            >>> graph.invoke({"n": 21})
            {'n': 42}
        """
        _refuse_running_loop("invoke", "await graph.ainvoke(...)")
        config = _check_input_and_config(input, config)
        run = Run(self._topology, self._schema, config, inline_sync=True)
        return asyncio.run(run.execute(input))

    # -- streaming -------------------------------------------------------------------

    def astream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stream_mode: StreamMode | Sequence[StreamMode] = "updates",
    ) -> AsyncIterator[Any]:
        """Run the graph and yield its progress as it happens.

        Leaving the ``async for`` early (``break``, an exception, ``aclose()``) cancels
        the nodes still running, promptly; wrap it in ``contextlib.aclosing`` to make
        that deterministic.

        Args:
            input: A dict of state keys.
            config: The run config.
            stream_mode: ``"updates"`` (``{node: update}`` per finished task, in
                completion order), ``"values"`` (the input, then the state after each
                step that wrote something), ``"custom"`` (what nodes sent with the stream
                writer), ``"debug"`` (task start/result events), or a list of them, which
                yields ``(mode, chunk)`` pairs.

        Raises:
            ValueError: For an unknown stream mode, at the call.

        Examples:
            ```python
            import asyncio
            from typing import TypedDict

            from asyncgraph.graph import START, StateGraph


            class State(TypedDict):
                n: int


            async def inc(state: State) -> dict:
                return {"n": state["n"] + 1}


            builder = StateGraph(State).add_sequence([("one", inc), ("two", inc)])
            graph = builder.add_edge(START, "one").compile()


            async def main() -> list[dict]:
                return [chunk async for chunk in graph.astream({"n": 0})]


            assert asyncio.run(main()) == [{"one": {"n": 1}}, {"two": {"n": 2}}]
            ```
        """
        modes = _check_stream_mode(stream_mode)
        config = _check_input_and_config(input, config)
        return self._astream(input, config, modes)

    async def _astream(
        self,
        input: Any,
        config: RunnableConfig,
        modes: str | tuple[str, ...],
        *,
        inline_sync: bool = False,
    ) -> AsyncIterator[Any]:
        sink = Sink(modes)
        run = Run(self._topology, self._schema, config, sink, inline_sync=inline_sync)
        runner = asyncio.get_running_loop().create_task(run.execute(input))
        runner.add_done_callback(lambda _: sink.close())
        try:
            while (item := await sink.get()) is not DONE:
                yield item
            runner.result()  # re-raise the run's error, if any
        finally:
            if not runner.done():  # the consumer left early: stop the run and its nodes
                runner.cancel()
                await wait_cancelled([runner])
            if not runner.cancelled():
                runner.exception()  # retrieved: an abandoned run's error is not "lost"

    def stream(
        self,
        input: Any,
        config: RunnableConfig | None = None,
        *,
        stream_mode: StreamMode | Sequence[StreamMode] = "updates",
    ) -> Iterator[Any]:
        """The synchronous twin of ``astream``: a generator of the same chunks.

        Raises:
            RuntimeError: When called inside a running event loop; use
                ``async for chunk in graph.astream(...)`` there.
            ValueError: For an unknown stream mode.

        Examples:
            >>> from typing import TypedDict
            >>> from asyncgraph.graph import START, StateGraph
            >>> class State(TypedDict):
            ...     n: int
            >>> def inc(s: State) -> dict:
            ...     return {"n": s["n"] + 1}
            >>> graph = StateGraph(State).add_node(inc).add_edge(START, "inc").compile()
            >>> list(graph.stream({"n": 0}, stream_mode="values"))
            [{'n': 0}, {'n': 1}]
        """
        _refuse_running_loop("stream", "async for chunk in graph.astream(...)")
        modes = _check_stream_mode(stream_mode)
        config = _check_input_and_config(input, config)
        return self._stream(input, config, modes)

    def _stream(
        self, input: Any, config: RunnableConfig, modes: str | tuple[str, ...]
    ) -> Iterator[Any]:
        with asyncio.Runner() as runner:
            chunks = self._astream(input, config, modes, inline_sync=True)
            try:
                while True:
                    try:
                        item = runner.run(_anext(chunks))
                    except StopAsyncIteration:
                        return
                    yield item
            finally:
                runner.run(_aclose(chunks))

    # -- many runs -------------------------------------------------------------------

    async def abatch(
        self,
        inputs: Iterable[Any],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """Run the graph once per input, concurrently; results keep the inputs' order.

        Args:
            inputs: One input dict per run.
            config: One config for all runs, or a list with one per input.
                ``max_concurrency`` caps how many runs are in flight at once.
            return_exceptions: Put a failed run's exception in its place instead of
                raising it (and cancelling the other runs).

        Examples:
            ```python
            import asyncio
            from typing import TypedDict

            from asyncgraph.graph import START, StateGraph


            class State(TypedDict):
                n: int


            async def check(state: State) -> dict:
                if state["n"] < 0:
                    raise ValueError("negative")
                return {"n": state["n"] * 10}


            graph = StateGraph(State).add_node(check).add_edge(START, "check").compile()
            results = asyncio.run(
                graph.abatch([{"n": 1}, {"n": -1}], {"max_concurrency": 2}, return_exceptions=True)
            )
            assert results[0] == {"n": 10}
            assert isinstance(results[1], ValueError)
            ```
        """
        inputs = list(inputs)
        configs = _batch_configs(config, len(inputs))
        for item, one in zip(inputs, configs, strict=True):
            _check_input_and_config(item, one)
        limit = configs[0].get("max_concurrency") if configs else None
        semaphore = asyncio.Semaphore(limit) if limit else None

        async def one_run(item: Any, one: RunnableConfig) -> dict[str, Any] | None:
            if semaphore is None:
                return await self.ainvoke(item, one)
            async with semaphore:
                return await self.ainvoke(item, one)

        coros = [one_run(i, c) for i, c in zip(inputs, configs, strict=True)]
        if return_exceptions:
            return list(await asyncio.gather(*coros, return_exceptions=True))
        loop = asyncio.get_running_loop()
        tasks = [loop.create_task(c) for c in coros]
        await wait_all(tasks, lambda i: f"run #{i} of the batch")
        return [t.result() for t in tasks]

    def batch(
        self,
        inputs: Iterable[Any],
        config: RunnableConfig | Sequence[RunnableConfig] | None = None,
        *,
        return_exceptions: bool = False,
    ) -> list[Any]:
        """The synchronous twin of ``abatch``.

        Examples:
            >>> from typing import TypedDict
            >>> from asyncgraph.graph import START, StateGraph
            >>> class State(TypedDict):
            ...     n: int
            >>> def inc(s: State) -> dict:
            ...     return {"n": s["n"] + 1}
            >>> graph = StateGraph(State).add_node(inc).add_edge(START, "inc").compile()
            >>> graph.batch([{"n": 1}, {"n": 2}])
            [{'n': 2}, {'n': 3}]
        """
        _refuse_running_loop("batch", "await graph.abatch(...)")
        return asyncio.run(self.abatch(inputs, config, return_exceptions=return_exceptions))

    # -- introspection -----------------------------------------------------------------

    def get_graph(self) -> GraphView:
        """The graph's structure, for drawing with ``draw_mermaid()``.

        Examples:
            >>> from typing import TypedDict
            >>> from asyncgraph.graph import END, START, StateGraph
            >>> class State(TypedDict):
            ...     n: int
            >>> builder = StateGraph(State).add_node("a", lambda s: None)
            >>> graph = builder.add_edge(START, "a").add_edge("a", END).compile()
            >>> print(graph.get_graph().draw_mermaid())
            graph TD;
                __start__([__start__]):::terminal
                a(a)
                __end__([__end__]):::terminal
                __start__ --> a;
                a --> __end__;
                classDef terminal fill:#eee,stroke:#999
        """
        return GraphView(self._topology)


# -- checks shared by the entry points ---------------------------------------------------


def _check_input_and_config(input: Any, config: RunnableConfig | None) -> RunnableConfig:
    if input is None:
        raise EmptyInputError(
            "Received no input (None). Pass a dict of state keys, "
            "e.g. graph.invoke({'key': value})."
        )
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise TypeError(f"config must be a dict (a RunnableConfig); got {type(config).__name__}.")
    for key in config:
        if key not in _CONFIG_KEYS:
            close = difflib.get_close_matches(str(key), _CONFIG_KEYS, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"Unknown config key {key!r}.{hint} Known keys: {', '.join(sorted(_CONFIG_KEYS))}; "
                "put your own values under config['configurable']."
            )
    limit = config.get("recursion_limit")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(
            f"config['recursion_limit'] must be an int >= 1; got {limit!r}. A chain of k nodes "
            "needs recursion_limit >= k + 1."
        )
    cap = config.get("max_concurrency")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise ValueError(
            f"config['max_concurrency'] must be an int >= 1 (or None for no limit); got {cap!r}."
        )
    tracer = config.get("tracer")
    if tracer is not None and not isinstance(tracer, Observer):
        hint = ""
        if isinstance(tracer, type) and issubclass(tracer, Observer):
            hint = f" Pass an instance, {tracer.__name__}(), not the class."
        raise TypeError(
            "config['tracer'] must be an observer: an asyncgraph.profiling.Tracer, an "
            "asyncgraph.debug.BlockingDetector or LoggingObserver, or combine(...) of them; "
            f"got {tracer!r}.{hint}"
        )
    return config


def _check_stream_mode(stream_mode: Any) -> str | tuple[str, ...]:
    """One mode stays a str (bare chunks); a list becomes a tuple ((mode, chunk) pairs)."""
    modes = (stream_mode,) if isinstance(stream_mode, str) else tuple(stream_mode)
    if not modes:
        raise ValueError(f"stream_mode must name at least one of {', '.join(_STREAM_MODES)}.")
    for mode in modes:
        if mode not in _STREAM_MODES:
            raise ValueError(
                f"Unknown stream_mode {mode!r}; choose from {', '.join(map(repr, _STREAM_MODES))} "
                "or a list of them."
            )
    return stream_mode if isinstance(stream_mode, str) else tuple(dict.fromkeys(modes))


def _batch_configs(
    config: RunnableConfig | Sequence[RunnableConfig] | None, count: int
) -> list[RunnableConfig]:
    if config is None or isinstance(config, dict):
        return [config or {}] * count
    configs = list(config)
    if len(configs) != count:
        raise ValueError(
            f"abatch() got {count} inputs but {len(configs)} configs; pass one per input."
        )
    return configs


def _refuse_running_loop(method: str, instead: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"graph.{method}() was called inside a running event loop, where it would block the "
        f"loop until the graph finished. Use `{instead}` instead."
    )


async def _anext(chunks: AsyncIterator[Any]) -> Any:
    return await chunks.__anext__()


async def _aclose(chunks: AsyncIterator[Any]) -> None:
    await chunks.aclose()  # type: ignore[attr-defined]


# -- builder helpers ---------------------------------------------------------------------


def _callable_name(fn: Any) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    if name == "<lambda>":
        raise GraphValidationError(
            "A lambda has no usable name; give one: add_node('my_name', lambda state: ...)."
        )
    return str(name)


def _is_async(fn: Any) -> bool:
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(type(fn), "__call__", None)  # noqa: B004 - objects with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


def _parameters(fn: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        return set()


def _literal_targets(path: Callable[..., Any]) -> dict[Hashable, str] | None:
    try:
        hint = get_type_hints(path).get("return")
    except Exception:
        return None
    if get_origin(hint) is Literal:
        return {value: value for value in get_args(hint)}
    return None


def _command_targets(fn: Callable[..., Any]) -> tuple[str, ...] | Literal["*"] | None:
    """Read ``-> Command[Literal["a", "b"]]``: where a node may go with Command.goto."""
    try:
        hint = get_type_hints(fn).get("return")
    except Exception:
        return None
    if hint is Command:
        return "*"
    if get_origin(hint) is not Command:
        return None
    (target,) = get_args(hint)
    if get_origin(target) is Literal:
        return tuple(get_args(target))
    return "*"


def _check_retry_policy(name: str, policy: Any) -> None:
    if not isinstance(policy, RetryPolicy):
        raise GraphValidationError(
            f"Node {name!r}: retry_policy must be a RetryPolicy(...); got {policy!r}."
        )
    if policy.max_attempts < 1:
        raise GraphValidationError(
            f"Node {name!r}: RetryPolicy.max_attempts counts the first attempt and must be >= 1; "
            f"got {policy.max_attempts}."
        )
    if policy.initial_interval < 0 or policy.max_interval < 0 or policy.backoff_factor < 1:
        raise GraphValidationError(
            f"Node {name!r}: RetryPolicy needs initial_interval >= 0, max_interval >= 0 and "
            f"backoff_factor >= 1; got {policy!r}."
        )


def _validate(builder: StateGraph) -> None:
    """The compile-time checks, in the order a reader would fix them."""
    nodes = builder.nodes
    if not nodes:
        raise GraphValidationError("The graph has no nodes. Add one with add_node(name, function).")

    def known(name: str, role: str, allow: tuple[str, ...]) -> None:
        if name in nodes or name in allow:
            return
        close = difflib.get_close_matches(name, list(nodes), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else " Add it with add_node() first."
        raise GraphValidationError(f"{role} names unknown node {name!r}.{hint}")

    for source, target in builder.edges:
        known(source, f"Edge {source!r} -> {target!r}", (START,))
        known(target, f"Edge {source!r} -> {target!r}", (END,))
    for join in builder.joins:
        label = f"Join {sorted(join.sources)} -> {join.target!r}"
        for source in sorted(join.sources):
            known(source, label, ())
        known(join.target, label, (END,))
    for branch in builder.branches:
        known(branch.source, f"Conditional edges from {branch.source!r}", (START,))
        for target in (branch.path_map or {}).values():
            known(
                target, f"The path_map of router {branch.name!r} (after {branch.source!r})", (END,)
            )
    for node in nodes.values():
        if isinstance(node.destinations, tuple):  # "*" means anywhere: nothing to check
            for target in node.destinations:
                known(target, f"destinations of node {node.name!r}", (END,))

    successors = _successor_map(builder)
    if not successors.get(START):
        first = next(iter(nodes))
        raise GraphValidationError(
            f"The graph has no entry point: nothing leaves START. Add add_edge(START, {first!r}) "
            "(or set_entry_point / add_conditional_edges(START, ...))."
        )
    reachable = _reach(successors, START)
    unreachable = [name for name in nodes if name not in reachable]
    if unreachable:
        raise GraphValidationError(
            f"Node(s) {', '.join(map(repr, unreachable))} cannot be reached from START, so they "
            "would never run. Add an edge to them or remove them. If a node reaches them with "
            "Command(goto=...), say so in its return annotation, `-> Command[Literal[...]]`, "
            "or with add_node(..., destinations=(...))."
        )
    can_end = {name for name in nodes if END in _reach(successors, name)}
    stuck = [name for name in nodes if name not in can_end]
    if stuck:
        warnings.warn(
            f"No route from node(s) {', '.join(map(repr, stuck))} ever reaches END: the run can "
            "only stop at recursion_limit. Add a conditional edge that can return END.",
            GraphValidationWarning,
            stacklevel=3,
        )


def _successor_map(builder: StateGraph) -> dict[str, set[str]]:
    """Where control may go from each node; a node with no way out implicitly ends."""
    everywhere = {*builder.nodes, END}
    out: dict[str, set[str]] = {name: set() for name in (START, *builder.nodes)}
    for source, target in builder.edges:
        out[source].add(target)
    for join in builder.joins:
        for source in join.sources:
            out[source].add(join.target)
    for branch in builder.branches:
        out[branch.source].update(
            everywhere if branch.path_map is None else branch.path_map.values()
        )
    for node in builder.nodes.values():
        if node.destinations == "*":
            out[node.name].update(everywhere)
        elif node.destinations is not None:
            out[node.name].update(node.destinations)
    for name in builder.nodes:
        if not out[name]:
            out[name].add(END)
    return out


def _reach(successors: dict[str, set[str]], origin: str) -> set[str]:
    seen: set[str] = set()
    todo = list(successors.get(origin, ()))
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(successors.get(name, ()))
    return seen
