"""The async superstep loop: running tasks, streaming, cancellation, retries, timeouts.

One run of a compiled graph is a ``Run``. ``Run._execute`` is the whole algorithm and
reads top to bottom:

1. apply the input to a fresh state (reducers included) and plan the first step;
2. for each superstep: start its tasks, wait until all finish or one fails, apply
   their writes in task-path order, plan the next step from what they chose;
3. stop when no task is planned, or raise ``GraphRecursionError`` at the limit.

Why it is shaped this way:

* A step with a single task (the common case in chains) is awaited inline: no
  ``asyncio.Task`` is created, which keeps a node-step to a few microseconds. The node
  still gets its own copy of the contextvars, as a Task would give it.
* A step with several tasks wraps each in an ``asyncio.Task`` so they run
  concurrently, and waits on one future resolved by done-callbacks: the first failure
  wakes the step at once, its siblings are cancelled and awaited (their ``finally``
  blocks run), and nothing the run started outlives it.
* Sync nodes run in a worker thread under the async API so they never block the event
  loop. A thread cannot be interrupted: on cancellation the run stops waiting for it,
  says so with ``UninterruptibleNodeWarning`` and discards its result.
* Cancellation is never swallowed: ``CancelledError`` passes through the retry loop and
  the step barrier untouched, after the run's own tasks have been cancelled.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import random
import threading
import warnings
from collections import deque
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import partial
from time import perf_counter
from typing import TYPE_CHECKING, Any
from uuid import uuid4

from asyncgraph._plan import (
    END,
    NO_SENDS,
    START,
    Branch,
    Join,
    Node,
    Topology,
    plan_next,
    resolve_route,
)
from asyncgraph.config import _noop_writer, current_task
from asyncgraph.errors import (
    GraphRecursionError,
    NodeTimeoutError,
    UninterruptibleNodeWarning,
)
from asyncgraph.types import Command, RetryPolicy, RunnableConfig, Send

if TYPE_CHECKING:
    from concurrent.futures import Executor

    from asyncgraph._state import Schema

logger = logging.getLogger("asyncgraph")
logger.addHandler(logging.NullHandler())  # a library is silent until the app configures logging
DEFAULT_RECURSION_LIMIT = 10007
_NO_TARGETS: list[Any] = []  # shared and never mutated: most tasks choose no target
_NO_DEBUG_IDS: dict[Any, str] = {}  # shared and never mutated: runs without a debug stream
_DONE_NOTHING = object()  # _InContext: the coroutine has not been sent anything yet
DONE = object()


class Task:
    """One execution of one node in one superstep."""

    __slots__ = (
        "_config",
        "alone",
        "attempt",
        "goto",
        "input",
        "node",
        "run",
        "send_index",
        "started_at",
        "step",
        "thread",
        "update",
    )

    def __init__(self, run: Run, node: Node, input: Any, step: int, send_index: int) -> None:
        self.run = run
        self.node = node
        self.input = input
        self.step = step
        self.send_index = send_index  # -1 for edge-triggered tasks
        self.attempt = 1
        self.alone = False  # the only task of its step
        self.update: dict[str, Any] | None = None
        self.goto: list[str | Send] = _NO_TARGETS  # replaced by a list when a target is added
        self.started_at = 0.0  # when the attempt began: in its worker thread, for sync nodes
        # The worker thread's name; None on the event loop's thread; "" while waiting.
        self.thread: str | None = None
        self._config: RunnableConfig | None = None

    @property
    def config(self) -> RunnableConfig:
        """The run config with this task's metadata, built on first use."""
        if self._config is None:
            base = self.run.config
            config: RunnableConfig = {**base}
            config["metadata"] = {
                **base.get("metadata", {}),
                "langgraph_step": self.step,
                "langgraph_node": self.node.name,
                "asyncgraph_attempt": self.attempt,
            }
            self._config = config
        return self._config

    @property
    def writer(self) -> Callable[[Any], None]:
        return self.run.writer

    def describe(self) -> str:
        return f"node {self.node.name!r} (step {self.step}, attempt {self.attempt})"


class Observer:
    """Hooks into a run, for tracers and debuggers; pass one as ``config["tracer"]``.

    Every method is a no-op here; subclasses override what they need. ``outcome`` is
    ``"ok"``, ``"error"``, ``"cancelled"`` or ``"timeout"``.

    The per-step and per-task hooks cost a call each per node-step, so the runner calls
    them only for an observer whose class overrides one of them (``watches_tasks``). An
    observer that only needs timings sets ``records = True`` instead: the runner then
    appends a few values per attempt to ``run.recording`` (a ``Recording``), which
    ``run_finished`` reads. That is how a ``Tracer`` stays cheap.
    """

    records = False  # True: the runner keeps a Recording of the run for run_finished
    watches_tasks = False  # set per subclass: does it override a per-step or per-task hook?

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.watches_tasks = any(getattr(cls, h) is not getattr(Observer, h) for h in _TASK_HOOKS)

    def run_started(self, run: Run) -> None:
        """Before the input is applied."""

    def step_started(self, run: Run, step: int, tasks: list[Task]) -> None:
        """When a superstep's tasks are planned, before any of them starts."""

    def task_started(self, task: Task) -> None:
        """When an attempt of a node begins, in the thread that runs it."""

    def wrap_coroutine(self, task: Task, coro: Any) -> Any:
        """Return an awaitable to run instead of an async node's coroutine."""
        return coro

    def task_finished(self, task: Task, outcome: str, error: BaseException | None) -> None:
        """When an attempt ends (a retried attempt ends with its error)."""

    def step_finished(self, run: Run, step: int) -> None:
        """After the step's writes were applied."""

    def run_finished(self, run: Run, outcome: str, error: BaseException | None) -> None:
        """When the run returns, raises or is cancelled."""


_TASK_HOOKS = ("step_started", "task_started", "wrap_coroutine", "task_finished", "step_finished")


class Recording:
    """The timings a run records for an observer with ``records = True`` (a ``Tracer``).

    The runner appends them itself: calling a hook, or building a span object, would
    cost more than the rest of a node-step. ``asyncgraph.profiling`` turns them into
    spans when a trace is read. Times are ``time.perf_counter()`` seconds.

    * ``lone``: ``LONE_FIELDS`` values per step of a single task that ran once, on
      the event loop's thread, and succeeded (most steps of most graphs): step, node,
      start, end. Nothing else runs between the step's start and its task's (no
      ``await`` separates them), so one time serves as step start, queued and start.
    * ``spans``: ``SPAN_FIELDS`` values per other attempt: step, node, attempt,
      queued, start, end, thread (``None`` for the event loop's own thread), outcome,
      error (``"Type: message"`` or ``None``).
    * ``steps``: ``STEP_FIELDS`` values per step of several tasks: step, start, end,
      number of tasks. A step the run ended in ends with the run (``end``). A step of
      one task has no entry: its bounds are its attempts'.

    All three are flat lists of numbers and strings rather than lists of tuples: a
    tuple per attempt would be one more object for the garbage collector to scan
    while the trace is kept, which costs more than recording it.
    """

    __slots__ = ("end", "lone", "spans", "start", "step", "step_start", "steps")
    LONE_FIELDS = 4
    SPAN_FIELDS = 9
    STEP_FIELDS = 4

    def __init__(self) -> None:
        self.lone: list[Any] = []
        self.spans: list[Any] = []
        self.steps: list[Any] = []
        self.step = 0  # the step in progress, 0 between steps
        self.step_start = 0.0
        self.start = self.end = 0.0  # when the run started; returned, raised or was cancelled


class Sink:
    """Where a streamed run delivers its chunks: a queue drained by ``astream``.

    A deque plus a single waiter future is much cheaper than ``asyncio.Queue`` and is
    enough here: there is exactly one producer loop and one consumer.
    """

    __slots__ = ("_items", "_loop", "_thread", "_waiter", "modes", "single")

    def __init__(self, modes: str | tuple[str, ...]) -> None:
        # One mode (a str) yields bare chunks; a list, even of one, yields (mode, chunk).
        self.single = isinstance(modes, str)
        self.modes = frozenset((modes,) if isinstance(modes, str) else modes)
        self._items: deque[Any] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()

    def emit(self, mode: str, payload: Any) -> None:
        if mode not in self.modes:
            return
        self._items.append(payload if self.single else (mode, payload))
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def emit_custom(self, payload: Any) -> None:
        """The stream writer: callable from the loop or from a sync node's thread."""
        if threading.get_ident() == self._thread:
            self.emit("custom", payload)
        else:
            self._loop.call_soon_threadsafe(self.emit, "custom", payload)

    def close(self) -> None:
        self._items.append(DONE)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    async def get(self) -> Any:
        while not self._items:
            self._waiter = self._loop.create_future()
            await self._waiter
        return self._items.popleft()


class Run:
    """The state of one graph run and the loop that advances it."""

    __slots__ = (
        "barriers",
        "config",
        "debug",
        "debug_ids",
        "executor",
        "inline_sync",
        "max_concurrency",
        "observer",
        "plain",
        "recent_steps",
        "recording",
        "recursion_limit",
        "schema",
        "sink",
        "state",
        "topology",
        "wants_values",
        "watcher",
        "writer",
    )

    def __init__(
        self,
        topology: Topology,
        schema: Schema,
        config: RunnableConfig,
        sink: Sink | None = None,
        *,
        inline_sync: bool = False,
    ) -> None:
        self.topology = topology
        self.schema = schema
        self.config = config
        self.sink = sink
        self.inline_sync = inline_sync  # sync API: a lone sync node runs in the caller's thread
        self.recursion_limit = config.get("recursion_limit", DEFAULT_RECURSION_LIMIT)
        self.max_concurrency = config.get("max_concurrency")
        self.executor: Executor | None = config.get("executor")
        observer: Observer | None = config.get("tracer")
        self.observer = observer
        self.watcher = observer if observer is not None and observer.watches_tasks else None
        self.recording = Recording() if observer is not None and observer.records else None
        self.state: dict[str, Any] = schema.initial()
        self.barriers: dict[Join, set[str]] = {}
        # The last three steps' (step, node names, sends), for GraphRecursionError.
        self.recent_steps: list[tuple[int, list[str], list[Send]] | None] = [None, None, None]
        modes = sink.modes if sink is not None else frozenset()
        self.wants_values = "values" in modes
        self.writer = sink.emit_custom if sink is not None and "custom" in modes else _noop_writer
        self.debug = "debug" in modes
        # The debug stream's task ids, one for all the events of a task. Shared and never
        # written without that stream: an empty dict per run would cost parked runs memory.
        self.debug_ids: dict[Task, str] = {} if self.debug else _NO_DEBUG_IDS
        # No retries to stream per attempt: _run_task may take its short path.
        self.plain = not self.debug

    # -- the loop ----------------------------------------------------------------------

    def execute(self, input: Any) -> Coroutine[Any, Any, dict[str, Any] | None]:
        """Run the graph on ``input``; await the result for the final state."""
        if self.observer is None:
            return self._execute(input)
        return self._execute_observed(input, self.observer)

    async def _execute_observed(self, input: Any, observer: Observer) -> dict[str, Any] | None:
        recording = self.recording
        if recording is not None:
            recording.start = perf_counter()
        observer.run_started(self)
        try:
            result = await self._execute(input)
        except BaseException as exc:
            if recording is not None:
                recording.end = perf_counter()
                if recording.step:  # the run ended inside this step: so does the step
                    _, names, sends = self.recent_steps[recording.step % 3]  # type: ignore[misc]
                    count = len(names) + len(sends)
                    recording.steps += (recording.step, recording.step_start, recording.end, count)
            observer.run_finished(self, _outcome(exc), exc)
            raise
        if recording is not None:
            recording.end = perf_counter()
        observer.run_finished(self, "ok", None)
        return result

    async def _execute(self, input: Any) -> dict[str, Any] | None:
        schema, state, sink, watcher = self.schema, self.state, self.sink, self.watcher
        recording = self.recording
        nodes, topology, barriers = self.topology.nodes, self.topology, self.barriers
        simple_next = topology.simple_next
        # As in LangGraph, a run that never wrote a key returns None, and emits no values.
        ever_written = schema.apply_one(state, START, schema.coerce_input(input))
        if ever_written and self.wants_values:
            sink.emit("values", schema.snapshot(state))  # type: ignore[union-attr]
        names, sends = await self._plan_start()
        step = 1
        while names or sends:
            self.recent_steps[step % 3] = (step, names, sends)
            if recording is not None:
                recording.step_start = perf_counter()
            if len(names) == 1 and not sends:  # most steps of most graphs: one task, inline
                task = Task(self, nodes[names[0]], schema.node_input(state), step, -1)
                task.alone = True
                if watcher is not None:
                    watcher.step_started(self, step, [task])
                await self._run_task(task)
                update = task.update
                written = update is not None and schema.apply_one(state, task.node.name, update)
                # plan_next's first case, without building its argument: most node-steps.
                planned = None if task.goto else simple_next.get(task.node.name)
                if planned is None:
                    finished: list[tuple[str, list[str | Send]]] = [(task.node.name, task.goto)]
            else:
                tasks = self._make_tasks(step, names, sends)
                if watcher is not None:
                    watcher.step_started(self, step, tasks)
                if recording is not None:
                    recording.step = step
                await self._run_concurrently(tasks)
                if recording is not None:  # a lone step's bounds are its task's: no record
                    recording.steps += (step, recording.step_start, perf_counter(), len(tasks))
                    recording.step = 0
                writes = [(t.node.name, t.update) for t in tasks if t.update]
                written = bool(writes) and schema.apply(state, writes)
                finished = [(t.node.name, t.goto) for t in tasks]
                planned = None
            if written:
                ever_written = True
                if self.wants_values:
                    sink.emit("values", schema.snapshot(state))  # type: ignore[union-attr]
            if watcher is not None:
                watcher.step_finished(self, step)
            if planned is not None:
                names, sends = planned, NO_SENDS
            else:
                names, sends = plan_next(topology, finished, barriers)
            if step >= self.recursion_limit:  # a run of k steps needs a limit of k + 1
                raise self._recursion_error(step, names, sends)
            step += 1
        return schema.snapshot(state) if ever_written else None

    async def _plan_start(self) -> tuple[list[str], list[Send]]:
        """The first step: START's edges, and its routers run on the input state."""
        start = Task(self, _START_NODE, None, 0, -1)
        if START in self.topology.branches:
            token = current_task.set(start)  # entry-point routers may call get_config() too
            try:
                await self._route(start, None)
            finally:
                current_task.reset(token)
        return plan_next(self.topology, [(START, start.goto)], self.barriers)

    def _make_tasks(self, step: int, names: list[str], sends: list[Send]) -> list[Task]:
        nodes, node_input, state = self.topology.nodes, self.schema.node_input, self.state
        tasks = [Task(self, nodes[n], node_input(state), step, -1) for n in names]
        if sends:
            tasks.extend(Task(self, nodes[s.node], s.arg, step, i) for i, s in enumerate(sends))
        return tasks

    def _recursion_error(
        self, step: int, names: list[str], sends: list[Send]
    ) -> GraphRecursionError:
        pending = names + [f"Send({s.node!r})" for s in sends]
        visited = sorted(entry for entry in self.recent_steps if entry and entry[0] <= step)
        recent = "; ".join(
            f"step {n}: {', '.join([*ns, *(f'Send({s.node!r})' for s in ss)])}"
            for n, ns, ss in visited
        )
        next_step = f" Step {step + 1} would run {', '.join(pending)}." if pending else ""
        return GraphRecursionError(
            f"Recursion limit of {self.recursion_limit} reached without hitting a stop "
            f"condition: {step} supersteps ran, and a run of k supersteps needs "
            f"recursion_limit >= k + 1.{next_step} Last nodes visited: {recent}. If the graph "
            "really needs more steps, raise config['recursion_limit']; otherwise add a "
            "condition that routes to END."
        )

    # -- running several tasks at once ---------------------------------------------------

    async def _run_concurrently(self, tasks: list[Task]) -> None:
        loop = asyncio.get_running_loop()
        limit = self.max_concurrency
        # Named after their node, so asyncio.all_tasks() and debug-mode logs say what runs.
        if limit is not None and limit < len(tasks):
            semaphore = asyncio.Semaphore(limit)
            children = [
                loop.create_task(self._run_limited(t, semaphore), name=_task_name(t)) for t in tasks
            ]
        else:
            children = [loop.create_task(self._run_task(t), name=_task_name(t)) for t in tasks]
        await wait_all(children, lambda i: tasks[i].describe())

    async def _run_limited(self, task: Task, semaphore: asyncio.Semaphore) -> None:
        async with semaphore:
            await self._run_task(task)

    # -- running one task ----------------------------------------------------------------

    async def _run_task(self, task: Task) -> None:
        """Run a node once, then interpret its result and route.

        Nodes with a retry policy or a timeout, and runs that stream ``debug`` events,
        take ``_run_attempts``: kept apart so this coroutine's frame, which every node
        of every run in flight holds, stays small.
        """
        node, recording = task.node, self.recording
        if not (self.plain and node.plain):
            return await self._run_attempts(task)
        token = current_task.set(task)
        try:
            if node.is_async and not node.wants_kwargs and self.watcher is None:
                if recording is not None:  # a lone task starts with its step, inline
                    task.started_at = recording.step_start if task.alone else perf_counter()
                coro = node.fn(task.input)
                if task.alone:  # its own context, as a Task would have
                    context = contextvars.copy_context()
                    try:  # most nodes finish without suspending: no wrapper needed
                        pending = context.run(coro.send, None)
                    except StopIteration as done:
                        result = done.value
                    else:
                        result = await _InContext(coro, context, pending)
                else:
                    result = await coro
            else:
                task.started_at = perf_counter()
                result = await self._attempt(task)
            if type(result) is dict and result and self.schema.keyset.issuperset(result):
                task.update = result  # _interpret's common case, without the call
            else:
                self._interpret(task, result)
            if node.name in self.topology.branches:
                await self._route(task, task.update)
            if self.sink is not None:
                self.sink.emit("updates", {node.name: task.update})
        except Exception as exc:
            self._attempt_ended(task, _outcome(exc), exc)
            exc.add_note(f"asyncgraph: raised by {task.describe()}")
            raise
        except asyncio.CancelledError as exc:
            self._attempt_ended(task, "cancelled", exc)
            raise
        finally:
            current_task.reset(token)
        if recording is not None:
            if task.alone and task.thread is None:  # most node-steps: recorded inline
                recording.lone += (task.step, node.name, recording.step_start, perf_counter())
                if self.watcher is not None:
                    self.watcher.task_finished(task, "ok", None)
            else:
                self._attempt_ended(task, "ok", None)
        elif self.watcher is not None:
            self.watcher.task_finished(task, "ok", None)

    async def _run_attempts(self, task: Task) -> None:
        """``_run_task`` with the node's retry policy, timeout and debug events."""
        node, recording = task.node, self.recording
        queued = recording.step_start if recording is not None else 0.0
        token = current_task.set(task)
        try:
            while True:
                if self.debug:
                    self._emit_debug_start(task)
                task.started_at = perf_counter()
                try:
                    self._interpret(task, await self._attempt(task))
                    if node.name in self.topology.branches:
                        await self._route(task, task.update)
                    if self.sink is not None:
                        self.sink.emit("updates", {node.name: task.update})
                except Exception as exc:
                    ended = self._attempt_ended(task, _outcome(exc), exc, queued)
                    if self.debug:  # every attempt has a result, retried ones too
                        self._emit_debug_result(task, exc)
                    if _should_retry(node.retry, exc, task.attempt):
                        await asyncio.sleep(_backoff(node.retry, task.attempt))  # type: ignore[arg-type]
                        queued = ended  # the retry became runnable when this attempt failed
                        task.attempt += 1
                        task._config = None  # the metadata now names the new attempt
                        task.goto = _NO_TARGETS
                        continue
                    exc.add_note(f"asyncgraph: raised by {task.describe()}")
                    raise
                except asyncio.CancelledError as exc:  # never retried, never annotated
                    self._attempt_ended(task, "cancelled", exc, queued)
                    raise
                break
            self._attempt_ended(task, "ok", None, queued)
            if self.debug:
                self._emit_debug_result(task, None)
        finally:
            current_task.reset(token)

    def _attempt_ended(
        self, task: Task, outcome: str, error: BaseException | None, queued: float | None = None
    ) -> float:
        """Record an attempt's end for the tracer and tell the watcher; returns the time.

        ``queued`` is when the attempt became runnable: by default, when its step began.
        """
        end = perf_counter()
        recording = self.recording
        if recording is not None:
            start, thread = task.started_at, task.thread
            if thread == "":  # cancelled while waiting for a worker thread: it never ran
                start, thread = end, None
            recording.spans += (
                task.step,
                task.node.name,
                task.attempt,
                recording.step_start if queued is None else queued,
                start,
                end,
                thread,
                outcome,
                None if error is None else _describe(error),
            )
        if self.watcher is not None:
            self.watcher.task_finished(task, outcome, error)
        return end

    async def _attempt(self, task: Task) -> Any:
        node = task.node
        if not node.is_async:
            return await self._call_sync(task)
        coro = self._call(task)
        if task.alone:
            coro = _InContext(coro)
        if self.watcher is not None:
            self.watcher.task_started(task)
            coro = self.watcher.wrap_coroutine(task, coro)
        if node.timeout is None:
            return await coro
        try:
            async with asyncio.timeout(node.timeout) as scope:
                return await coro
        except TimeoutError as exc:
            if not scope.expired():
                raise  # the node's own TimeoutError, not our limit
            elapsed = perf_counter() - task.started_at
            raise NodeTimeoutError(node.name, node.timeout, elapsed) from exc

    def _call(self, task: Task) -> Any:
        node = task.node
        if node.wants_config or node.wants_writer:
            kwargs: dict[str, Any] = {}
            if node.wants_config:
                kwargs["config"] = task.config
            if node.wants_writer:
                kwargs["writer"] = self.writer
            return node.fn(task.input, **kwargs)
        return node.fn(task.input)

    async def _call_sync(self, task: Task) -> Any:
        watcher = self.watcher
        if self.inline_sync and task.alone:
            if watcher is not None:
                watcher.task_started(task)
            # The caller's thread is running our private loop: hide it, so that the node
            # may itself call asyncio.run() or another graph's invoke(), as sync code can.
            loop = asyncio.get_running_loop()
            asyncio.events._set_running_loop(None)
            try:
                result = contextvars.copy_context().run(self._call, task)
            finally:
                asyncio.events._set_running_loop(loop)
            return self._check_not_coroutine(task, result)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()  # carries current_task into the thread
        finished: list[bool] = []
        task.thread = ""  # not started: waiting for a worker thread

        def call_in_thread() -> Any:
            try:
                task.started_at = perf_counter()
                task.thread = threading.current_thread().name
                if watcher is not None:
                    watcher.task_started(task)  # here: the worker thread is the one to record
                return context.run(self._call, task)
            finally:
                finished.append(True)

        try:
            result = await loop.run_in_executor(self.executor, call_in_thread)
        except asyncio.CancelledError as cancelled:
            try:
                if not finished:
                    warnings.warn(
                        f"Run cancelled while sync {task.describe()} was running in a worker "
                        "thread; threads cannot be interrupted, so it is left to finish on its "
                        "own and its result will be discarded. Make the node `async def` to "
                        "let it stop promptly.",
                        UninterruptibleNodeWarning,
                        stacklevel=1,
                    )
            finally:
                raise cancelled  # even when warnings are errors: cancellation comes first
        return self._check_not_coroutine(task, result)

    @staticmethod
    def _check_not_coroutine(task: Task, result: Any) -> Any:
        if inspect.isawaitable(result):
            _close(result)
            raise TypeError(
                f"Node {task.node.name!r} returned an awaitable ({type(result).__name__}) "
                "instead of an update: it calls an async function without awaiting it. Make "
                "the node `async def` and `await` the call."
            )
        return result

    def _interpret(self, task: Task, result: Any) -> None:
        """Check a node's return value; record its update and ``Command.goto``."""
        name = task.node.name
        if type(result) is dict:
            if result and self.schema.keyset.issuperset(result):  # the common case, inline
                task.update = result
            else:
                task.update = self.schema.check_update(result, name)
        elif isinstance(result, Command):
            task.update = self.schema.check_update(result.update, name)
            if result.goto:
                task.goto = task.goto + (
                    resolve_route(
                        self.topology, result.goto, origin=f"Command(goto=...) of node {name!r}"
                    )
                )
        else:
            if task.node.is_async:
                self._check_not_coroutine(task, result)
            task.update = self.schema.check_update(result, name)

    async def _route(self, task: Task, update: dict[str, Any] | None) -> None:
        """Evaluate the routers of ``task``'s node on the state plus its own update."""
        branches = self.topology.branches.get(task.node.name)
        if not branches:
            return
        view = self.state
        if update:  # routers see the node's own writes, not those of its siblings
            view = dict(view)
            self.schema.apply(view, [(task.node.name, update)])
        arg = self.schema.node_input(view)
        for branch in branches:
            try:
                value = branch.path(arg)
                if branch.is_async:
                    value = await value
                elif inspect.isawaitable(value):
                    _close(value)
                    raise TypeError(
                        f"{_router_origin(branch)} returned an awaitable instead of a "
                        "destination: pass the async function itself to "
                        "add_conditional_edges (not a lambda that calls it), or make the "
                        "router a plain function."
                    )
            except Exception as exc:
                exc.add_note(f"asyncgraph: raised by {_router_origin(branch)}")
                raise
            task.goto = task.goto + (
                resolve_route(
                    self.topology, value, origin=_router_origin(branch), path_map=branch.path_map
                )
            )

    # -- the debug stream ----------------------------------------------------------------

    def _emit_debug_start(self, task: Task) -> None:
        assert self.sink is not None
        self.sink.emit(
            "debug",
            {
                "type": "task",
                "step": task.step,
                "timestamp": datetime.now(UTC).isoformat(),
                "payload": {
                    "id": self.debug_ids.setdefault(task, str(uuid4())),
                    "name": task.node.name,
                    "input": task.input,
                    "attempt": task.attempt,
                    "triggers": ("send",) if task.send_index >= 0 else ("edge",),
                },
            },
        )

    def _emit_debug_result(self, task: Task, error: BaseException | None) -> None:
        assert self.sink is not None
        self.sink.emit(
            "debug",
            {
                "type": "task_result",
                "step": task.step,
                "timestamp": datetime.now(UTC).isoformat(),
                "payload": {
                    "id": self.debug_ids[task],
                    "name": task.node.name,
                    "attempt": task.attempt,
                    "duration": perf_counter() - task.started_at,
                    "error": None if error is None else repr(error),
                    "result": task.update if error is None else None,
                },
            },
        )


class _InContext:
    """Await a coroutine in its own copy of the contextvars, without creating a Task.

    A lone node is awaited inline, because a Task per step would cost more than the rest
    of the step. Driving the coroutine here, one ``send``/``throw`` at a time inside a
    copied context, gives it what a Task would: values it sets in contextvars stay its
    own and never leak into the caller or the next nodes.
    """

    __slots__ = ("_context", "_coro", "_pending")

    def __init__(
        self, coro: Any, context: contextvars.Context | None = None, pending: Any = _DONE_NOTHING
    ) -> None:
        self._coro = coro
        self._context = context if context is not None else contextvars.copy_context()
        self._pending = pending  # what the coroutine yielded, if already started

    def __await__(self) -> Any:
        run, coro, pending = self._context.run, self._coro, self._pending
        value: Any = None
        error: BaseException | None = None
        while True:
            if pending is _DONE_NOTHING:
                try:
                    pending = run(coro.send, value) if error is None else run(coro.throw, error)
                except StopIteration as stop:
                    return stop.value
            try:
                value, error = (yield pending), None
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation, or the awaited future's error
                value, error = None, exc
            pending = _DONE_NOTHING


# A stand-in node for START, so that its routers run through the same code path.
_START_NODE = Node(START, lambda _: None, False, False, False, None, None, None)


def _close(awaitable: Any) -> None:
    """Close a coroutine that will never run, so Python does not warn a second, vaguer time."""
    if inspect.iscoroutine(awaitable):
        awaitable.close()


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _outcome(exc: BaseException) -> str:
    if isinstance(exc, asyncio.CancelledError):
        return "cancelled"
    return "timeout" if isinstance(exc, NodeTimeoutError) else "error"


def _task_name(task: Task) -> str:
    return f"asyncgraph: {task.node.name} (step {task.step})"


def _router_origin(branch: Branch) -> str:
    where = "the entry point" if branch.source == START else f"node {branch.source!r}"
    return f"Router {branch.name!r} after {where}"


def _should_retry(policy: RetryPolicy | None, exc: Exception, attempt: int) -> bool:
    if policy is None or attempt >= policy.max_attempts:
        return False
    retry_on = policy.retry_on
    if isinstance(retry_on, type):
        return isinstance(exc, retry_on)
    if isinstance(retry_on, list | tuple):
        return isinstance(exc, tuple(retry_on))
    return bool(retry_on(exc))  # type: ignore[operator]


def _backoff(policy: RetryPolicy, attempt: int) -> float:
    interval = min(
        policy.max_interval, policy.initial_interval * policy.backoff_factor ** (attempt - 1)
    )
    return interval + (random.uniform(0, 1) if policy.jitter else 0.0)


async def wait_cancelled(tasks: list[asyncio.Task[Any]]) -> None:
    """Wait until cancelled ``tasks`` have finished their cleanup, even if we are cancelled
    again meanwhile (as ``asyncio.TaskGroup`` does); then re-raise that cancellation."""
    again: asyncio.CancelledError | None = None
    while not all(task.done() for task in tasks):
        try:
            await asyncio.wait(tasks)
        except asyncio.CancelledError as exc:
            again = exc
    if again is not None:
        raise again


async def wait_all(children: list[asyncio.Task[Any]], describe: Callable[[int], str]) -> None:
    """Wait until every child finished, or the first one failed.

    On a failure, or when the caller is cancelled, the other children are cancelled and
    awaited, so their ``finally`` blocks have run when this returns. The first failure
    is raised unwrapped; every other failure is listed in its notes, so none is lost.
    ``describe(i)`` names child ``i`` in those notes.
    """
    loop = asyncio.get_running_loop()
    failed: list[int] = []  # children that raised, or were cancelled by someone else
    remaining = len(children)
    wake: asyncio.Future[None] = loop.create_future()

    def on_done(index: int, child: asyncio.Task[Any]) -> None:
        nonlocal remaining
        remaining -= 1
        if child.cancelled():
            if not wake.done():  # not cancelled by us: the child cancelled itself
                failed.append(index)
        elif child.exception() is not None:
            failed.append(index)  # recorded even while stopping the rest: none is lost
        if (failed or remaining == 0) and not wake.done():
            wake.set_result(None)

    for index, child in enumerate(children):
        child.add_done_callback(partial(on_done, index))
    try:
        await wake
    except asyncio.CancelledError:  # we are cancelled: stop the children, then go
        for child in children:
            child.cancel()
        await wait_cancelled(children)
        for index in failed:  # nobody will see these errors: at least log them
            if not children[index].cancelled():
                logger.warning(
                    "%s raised while its run was being cancelled",
                    describe(index),
                    exc_info=children[index].exception(),
                )
        raise
    if remaining:  # a failure: stop the rest and await their cleanup
        for child in children:
            child.cancel()
        await wait_cancelled(children)
    errors = [i for i in failed if not children[i].cancelled()]
    if failed and not errors:
        # A child was cancelled from inside (it raised CancelledError itself, or something
        # it awaited was cancelled): the step cannot complete without its result.
        raise asyncio.CancelledError(f"{describe(failed[0])} was cancelled")
    if errors:
        first = children[errors[0]].exception()
        assert first is not None
        for index in errors[1:]:
            other = children[index].exception()
            first.add_note(
                f"asyncgraph: {describe(index)} failed too: {type(other).__name__}: {other}"
            )
        raise first


__all__ = [
    "DEFAULT_RECURSION_LIMIT",
    "END",
    "START",
    "Observer",
    "Recording",
    "Run",
    "Sink",
    "Task",
    "wait_all",
    "wait_cancelled",
]
