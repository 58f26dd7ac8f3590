"""Debugging runs: catch nodes that block the event loop, and log what a run does.

``BlockingDetector`` names the async node that held the event loop too long. How it
works: it wraps each async node's coroutine in an awaitable that drives the coroutine
itself, one ``send``/``throw`` at a time, and times every resume with
``time.perf_counter()``. A resume is the node's own code running from one ``await``
that suspended to the next; while it runs, nothing else on the loop can. A resume
longer than the threshold blocked the loop: ``time.sleep()``, a CPU-bound loop, a
blocking client library. Awaiting ``asyncio.sleep()`` or real I/O suspends, so it is
never reported, and sync nodes run in worker threads, so they cannot block the loop.

What it cannot see: blocking outside a node's coroutine (routers, reducers, other
callbacks and tasks on the same loop, libraries' own callbacks), and sync nodes run
inline by the sync API (``invoke`` runs a lone sync node in the caller's thread).
asyncio's debug mode (``PYTHONASYNCIODEBUG=1``, ``loop.slow_callback_duration``) sees
every callback but names the asyncio task, not the node: use both.

``LoggingObserver`` logs runs, steps and tasks through the standard ``logging`` logger
``"asyncgraph"`` (silent unless the application configures logging). Combine observers
with ``asyncgraph.profiling.combine``.
"""

from __future__ import annotations

import itertools
import logging
import math
import warnings
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from time import perf_counter
from typing import Any

from asyncgraph._run import Observer, Run, Task

__all__ = [
    "BlockReport",
    "BlockingDetector",
    "LoggingObserver",
    "LoopBlockedError",
    "LoopBlockedWarning",
    "logger",
]

logger = logging.getLogger("asyncgraph")
"""The library's logger. It has a ``NullHandler``: silent unless the app configures logging.

Examples:
    >>> from asyncgraph.debug import logger
    >>> logger.name
    'asyncgraph'
"""
_LOGGER = logger


class LoopBlockedWarning(RuntimeWarning):
    """An async node held the event loop longer than the detector's threshold.

    Examples:
        >>> from asyncgraph.debug import LoopBlockedWarning
        >>> issubclass(LoopBlockedWarning, RuntimeWarning)
        True
    """


class LoopBlockedError(RuntimeError):
    """Raised instead of ``LoopBlockedWarning`` by a strict ``BlockingDetector``.

    Attributes:
        report: The ``BlockReport`` of the blocking resume.

    Examples:
        >>> from asyncgraph.debug import BlockReport, LoopBlockedError
        >>> report = BlockReport("run-1", "parse", 2, 1, 0.25, 0.1)
        >>> LoopBlockedError(report).report.node
        'parse'
    """

    def __init__(self, report: BlockReport) -> None:
        super().__init__(report.message())
        self.report = report


@dataclass(frozen=True, slots=True)
class BlockReport:
    """One resume of a node's coroutine that held the loop longer than the threshold.

    Attributes:
        run_id: ``str(config["run_id"])``, else ``"run-<n>"`` (runs numbered in the order
            they start, as ``Tracer`` numbers them).
        node: The node's name.
        step: The superstep.
        attempt: The attempt (1 unless retried).
        duration: How long the loop was held, in seconds.
        threshold: The detector's threshold, in seconds.

    Examples:
        >>> from asyncgraph.debug import BlockReport
        >>> print(BlockReport("run-1", "parse", 2, 1, 0.25, 0.1).message())
        Node 'parse' (step 2, attempt 1) blocked the event loop for 0.250 s without awaiting (threshold 0.100 s). Await non-blocking calls instead (asyncio.sleep, an async client), or move blocking or CPU-bound work off the loop: make the node a plain `def` (it then runs in a worker thread) or call `await asyncio.to_thread(...)`.
    """  # noqa: E501

    run_id: str
    node: str
    step: int
    attempt: int
    duration: float
    threshold: float

    def message(self) -> str:
        """The warning text: node, step, attempt, duration, threshold and the fix.

        Examples:
            >>> from asyncgraph.debug import BlockReport
            >>> BlockReport("run-1", "parse", 2, 1, 0.25, 0.1).message().split(" without")[0]
            "Node 'parse' (step 2, attempt 1) blocked the event loop for 0.250 s"
        """
        return (
            f"Node {self.node!r} (step {self.step}, attempt {self.attempt}) blocked the event "
            f"loop for {self.duration:.3f} s without awaiting (threshold {self.threshold:.3f} s)."
            " Await non-blocking calls instead (asyncio.sleep, an async client), or move "
            "blocking or CPU-bound work off the loop: make the node a plain `def` (it then runs "
            "in a worker thread) or call `await asyncio.to_thread(...)`."
        )


class BlockingDetector(Observer):
    """Report async nodes that block the event loop; pass it as ``config["tracer"]``.

    Every report is kept in ``reports`` and, by default, warned as a
    ``LoopBlockedWarning``. With ``strict=True`` the node fails instead with
    ``LoopBlockedError`` (its coroutine is closed, so its ``finally`` blocks run) and
    the run raises it like any node error. See the module docstring for what it can and
    cannot see.

    Args:
        threshold: Seconds a single resume may hold the loop (default 0.1, asyncio's own
            ``slow_callback_duration``). A positive, finite number.
        strict: Raise ``LoopBlockedError`` instead of warning.

    Raises:
        ValueError: For a threshold that is not a positive, finite number of seconds.

    Examples:
        ```python
        import asyncio
        import time
        import warnings
        from typing import TypedDict

        from asyncgraph.debug import BlockingDetector, LoopBlockedWarning
        from asyncgraph.graph import START, StateGraph


        class State(TypedDict):
            n: int


        async def parse(state: State) -> dict:
            time.sleep(0.15)  # blocks the loop: nothing else runs meanwhile
            return {"n": state["n"] + 1}


        graph = StateGraph(State).add_node(parse).add_edge(START, "parse").compile()
        detector = BlockingDetector(threshold=0.1)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            asyncio.run(graph.ainvoke({"n": 0}, {"tracer": detector}))
        [report] = detector.reports
        assert (report.node, report.step) == ("parse", 1) and report.duration >= 0.15
        assert caught[0].category is LoopBlockedWarning and "'parse'" in str(caught[0].message)
        ```
    """

    def __init__(self, threshold: float = 0.1, *, strict: bool = False) -> None:
        if (
            isinstance(threshold, bool)
            or not isinstance(threshold, int | float)
            or not math.isfinite(threshold)
            or threshold <= 0
        ):
            raise ValueError(
                f"BlockingDetector threshold must be a positive, finite number of seconds; "
                f"got {threshold!r}. Pass e.g. threshold=0.1 for 100 ms (asyncio's own "
                "slow_callback_duration)."
            )
        self.threshold = float(threshold)
        self.strict = strict
        self.reports: list[BlockReport] = []
        self._ids: dict[Run, str] = {}
        self._count = itertools.count(1)

    def run_started(self, run: Run) -> None:
        self._ids[run] = _run_id(run, self._count)

    def wrap_coroutine(self, task: Task, coro: Any) -> Any:
        return _Timed(self, task, coro)

    def run_finished(self, run: Run, outcome: str, error: BaseException | None) -> None:
        self._ids.pop(run, None)

    def _blocked(self, task: Task, duration: float) -> BlockReport:
        report = BlockReport(
            self._ids.get(task.run, "?"),
            task.node.name,
            task.step,
            task.attempt,
            duration,
            self.threshold,
        )
        self.reports.append(report)
        return report


class _Timed:
    """An async node's coroutine, driven one resume at a time so each can be timed.

    asyncio's Task resumes the outermost coroutine; through ``await`` chains the resume
    reaches this generator, which resumes the node's coroutine (``send`` or ``throw``)
    and passes what it yields (a future to wait for) back out unchanged.
    """

    __slots__ = ("_awaitable", "_detector", "_task")

    def __init__(self, detector: BlockingDetector, task: Task, awaitable: Any) -> None:
        self._detector = detector
        self._task = task
        self._awaitable = awaitable

    def __await__(self) -> Generator[Any, Any, Any]:
        inner = self._awaitable.__await__()
        threshold = self._detector.threshold
        value: Any = None
        error: BaseException | None = None
        while True:
            began = perf_counter()
            try:
                yielded = inner.send(value) if error is None else inner.throw(error)
            except StopIteration as stop:
                if (took := perf_counter() - began) > threshold:
                    self._report(took, inner)
                return stop.value
            except BaseException as exc:  # the node's own error wins; the report is a note
                if (took := perf_counter() - began) > threshold:
                    self._report(took, None, exc)
                raise
            if (took := perf_counter() - began) > threshold:
                self._report(took, inner)
            try:
                value, error = (yield yielded), None
            except GeneratorExit:
                inner.close()
                raise
            except BaseException as exc:  # cancellation or a future's error: pass it in
                value, error = None, exc

    def _report(self, took: float, inner: Any, raised: BaseException | None = None) -> None:
        detector = self._detector
        report = detector._blocked(self._task, took)
        if detector.strict and raised is not None:
            raised.add_note(f"asyncgraph: {report.message()}")
        elif detector.strict:
            inner.close()  # the node stops here; its finally blocks run
            raise LoopBlockedError(report)
        else:
            # Point the warning at the node's code, not at the runner's frames.
            fn = self._task.node.fn
            code = getattr(fn, "__code__", None) or getattr(self._awaitable, "cr_code", None)
            filename = code.co_filename if code is not None else __file__
            lineno = code.co_firstlineno if code is not None else 1
            try:
                warnings.warn_explicit(
                    LoopBlockedWarning(report.message()), LoopBlockedWarning, filename, lineno
                )
            except BaseException:  # warnings are errors here: the node stops, cleanly
                if inner is not None:
                    inner.close()
                raise


class LoggingObserver(Observer):
    """Log a run's progress to the ``"asyncgraph"`` logger; pass it as ``config["tracer"]``.

    Every record carries the attributes ``asyncgraph_run_id``, ``asyncgraph_step``,
    ``asyncgraph_node``, ``asyncgraph_attempt``, ``asyncgraph_outcome`` and
    ``asyncgraph_duration`` (seconds, on "finished" records), ``None`` where they do not
    apply: use them in a format string or a filter. Messages hold no timings, so logs of
    the same run compare equal. Runs, steps and tasks log at ``level`` (``DEBUG`` by
    default); failed attempts and failed runs at ``WARNING``. Nothing is printed unless
    the application configures logging, e.g. ``logging.basicConfig(level=logging.DEBUG)``.

    Args:
        logger: Where to log (default: the ``"asyncgraph"`` logger).
        level: The level of the progress records.

    Examples:
        ```python
        import asyncio
        import logging
        from typing import TypedDict

        from asyncgraph.debug import LoggingObserver
        from asyncgraph.graph import START, StateGraph


        class State(TypedDict):
            n: int


        async def inc(state: State) -> dict:
            return {"n": state["n"] + 1}


        class Keep(logging.Handler):
            def __init__(self) -> None:
                super().__init__()
                self.lines: list[str] = []

            def emit(self, record: logging.LogRecord) -> None:
                self.lines.append(f"{record.asyncgraph_node} {record.getMessage()}")


        log = logging.getLogger("asyncgraph.example")
        log.setLevel(logging.DEBUG)
        keep = Keep()
        log.addHandler(keep)
        graph = StateGraph(State).add_node(inc).add_edge(START, "inc").compile()
        config = {"tracer": LoggingObserver(log), "run_id": "r1"}
        asyncio.run(graph.ainvoke({"n": 0}, config))
        log.removeHandler(keep)
        assert "inc node 'inc' (step 1, attempt 1) started" in keep.lines
        assert keep.lines[-1] == "None run r1 finished: ok"
        ```
    """

    def __init__(self, logger: logging.Logger | None = None, level: int = logging.DEBUG) -> None:
        self.logger = logger if logger is not None else _LOGGER
        self.level = level
        self._ids: dict[Run, str] = {}
        self._count = itertools.count(1)
        self._started: dict[Task | Run, float] = {}

    def _log(
        self,
        level: int,
        message: str,
        run: Run,
        step: int | None = None,
        task: Task | None = None,
        outcome: str | None = None,
        duration: float | None = None,
    ) -> None:
        extra = {
            "asyncgraph_run_id": self._ids.get(run),
            "asyncgraph_step": step,
            "asyncgraph_node": None if task is None else task.node.name,
            "asyncgraph_attempt": None if task is None else task.attempt,
            "asyncgraph_outcome": outcome,
            "asyncgraph_duration": duration,
        }
        self.logger.log(level, message, extra=extra)

    def run_started(self, run: Run) -> None:
        self._ids[run] = run_id = _run_id(run, self._count)
        self._started[run] = perf_counter()
        if self.logger.isEnabledFor(self.level):
            self._log(self.level, f"run {run_id} started", run)

    def step_started(self, run: Run, step: int, tasks: list[Task]) -> None:
        if self.logger.isEnabledFor(self.level):
            names = ", ".join(t.node.name for t in tasks)
            self._log(self.level, f"step {step} started: {names}", run, step)

    def task_started(self, task: Task) -> None:
        self._started[task] = perf_counter()
        if self.logger.isEnabledFor(self.level):
            self._log(self.level, f"{task.describe()} started", task.run, task.step, task)

    def task_finished(self, task: Task, outcome: str, error: BaseException | None) -> None:
        began = self._started.pop(task, None)
        level = self.level if outcome in ("ok", "cancelled") else logging.WARNING
        if self.logger.isEnabledFor(level):
            took = None if began is None else perf_counter() - began
            why = "" if error is None else f": {type(error).__name__}: {error}"
            self._log(
                level,
                f"{task.describe()} finished: {outcome}{why}",
                task.run,
                task.step,
                task,
                outcome,
                took,
            )

    def step_finished(self, run: Run, step: int) -> None:
        if self.logger.isEnabledFor(self.level):
            self._log(self.level, f"step {step} finished", run, step)

    def run_finished(self, run: Run, outcome: str, error: BaseException | None) -> None:
        began = self._started.pop(run, None)
        level = self.level if outcome == "ok" else logging.WARNING
        if self.logger.isEnabledFor(level):
            took = None if began is None else perf_counter() - began
            why = "" if error is None else f": {type(error).__name__}: {error}"
            self._log(
                level,
                f"run {self._ids.get(run)} finished: {outcome}{why}",
                run,
                outcome=outcome,
                duration=took,
            )
        self._ids.pop(run, None)


def _run_id(run: Run, count: Iterator[int]) -> str:
    given = run.config.get("run_id")
    return f"run-{next(count)}" if given is None else str(given)
