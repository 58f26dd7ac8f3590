"""Run traces: what every task of a run did, when, and where; exported three ways.

Pass a ``Tracer`` in the run config (``config={"tracer": tracer}``) and it records, for
every attempt of every node, the run id, step, node, attempt, when the task was queued,
started and ended (``time.perf_counter()``, a monotonic clock), the thread it ran in and
its outcome (``"ok"``, ``"error"``, ``"cancelled"``, ``"timeout"``), plus the boundaries
of every superstep. A finished trace exports as

* Chrome Trace Event JSON (``to_chrome_trace``), which Perfetto and chrome://tracing
  open: one process per run, one track per concurrent lane;
* a per-node summary (``summary``): calls, total, mean, p95, max, errors and peak
  concurrency, as data and as a text table;
* a Mermaid ``gantt`` chart of one run (``to_mermaid_gantt``).

Why it is shaped this way: a call into the tracer per node-step would cost more than
the rest of the step, so a traced run records its own timings, a few plain values per
attempt (``asyncgraph._run.Recording``), and the tracer is called only when a run starts
and ends. ``Span`` objects, lanes and statistics are built when a trace is read.
A run that was never given a tracer pays nothing at all. One tracer may be shared by any
number of concurrent runs: each run records into its own lists, so their spans never mix.
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from threading import current_thread
from typing import Any

from asyncgraph._run import Observer, Recording, Run, Task, _describe

__all__ = ["NodeStats", "RunTrace", "Span", "StepSpan", "Summary", "Tracer", "combine"]


@dataclass(frozen=True, slots=True)
class Span:
    """One attempt of one node. Times are ``time.perf_counter()`` seconds.

    Attributes:
        run_id: The run it belongs to (``config["run_id"]`` if given, else a UUID).
        step: The superstep (1 for the first nodes after ``START``).
        node: The node's name.
        attempt: 1, or more when a ``RetryPolicy`` retried it.
        queued: When it became runnable: its step began, or its previous attempt ended.
        start: When the attempt began (after any ``max_concurrency`` or thread-pool wait).
            A task alone in its step starts with the step: nothing else runs in between.
        end: When it ended (its routers included).
        thread: The name of the thread that ran it (the event loop's, for async nodes).
        outcome: ``"ok"``, ``"error"``, ``"cancelled"`` or ``"timeout"``.
        error: ``"Type: message"`` of its exception, or ``None``.

    Examples:
        >>> from asyncgraph.profiling import Span
        >>> span = Span("r1", 1, "fetch", 1, 0.0, 0.25, 1.25, "MainThread", "ok", None)
        >>> span.duration, span.wait
        (1.0, 0.25)
    """

    run_id: str
    step: int
    node: str
    attempt: int
    queued: float
    start: float
    end: float
    thread: str
    outcome: str
    error: str | None

    @property
    def duration(self) -> float:
        """Seconds from start to end."""
        return self.end - self.start

    @property
    def wait(self) -> float:
        """Seconds from queued to start: time spent waiting for a slot or a thread."""
        return self.start - self.queued


@dataclass(frozen=True, slots=True)
class StepSpan:
    """One superstep: from planning its tasks to applying their writes.

    A step of one task (most steps of a chain) is not recorded separately: nothing else
    runs between its start and its task's, or between its task's end and its writes, so
    its bounds are its task's attempts'.

    Attributes:
        run_id: The run it belongs to.
        step: Its number.
        start: When its tasks were planned.
        end: When its writes were applied (or when the run ended, if it ended inside it).
        tasks: How many tasks were planned (``Span.step`` tells which ran).

    Examples:
        >>> from asyncgraph.profiling import StepSpan
        >>> StepSpan("r1", 1, 0.0, 0.5, 2).duration
        0.5
    """

    run_id: str
    step: int
    start: float
    end: float
    tasks: int

    @property
    def duration(self) -> float:
        """Seconds from start to end."""
        return self.end - self.start


class RunTrace:
    """Everything one finished run recorded. Get them from ``Tracer.runs``.

    Attributes:
        run_id: ``str(config["run_id"])`` if the run had one, else ``"run-<n>"``.
        outcome: ``"ok"``, ``"error"``, ``"cancelled"`` or ``"timeout"`` (a node's
            ``NodeTimeoutError`` ended the run).
        error: ``"Type: message"`` of the exception that ended the run, or ``None``.
        start: When the run started (``time.perf_counter()`` seconds).
        end: When it returned, raised or was cancelled.
        thread: The name of the thread its event loop ran in.

    Examples:
        ```python
        import asyncio
        from typing import TypedDict

        from asyncgraph.graph import START, StateGraph
        from asyncgraph.profiling import Tracer


        class State(TypedDict):
            n: int


        async def inc(state: State) -> dict:
            return {"n": state["n"] + 1}


        graph = StateGraph(State).add_node(inc).add_edge(START, "inc").compile()
        tracer = Tracer()
        asyncio.run(graph.ainvoke({"n": 0}, {"tracer": tracer, "run_id": "run-1"}))
        run = tracer.runs[0]
        assert (run.run_id, run.outcome, [s.node for s in run.spans]) == ("run-1", "ok", ["inc"])
        assert run.spans[0].thread == run.thread == "MainThread"  # async nodes run on the loop
        assert run.start <= run.spans[0].start <= run.spans[0].end <= run.end
        ```
    """

    __slots__ = (
        "_lone",
        "_others",
        "_spans",
        "_steps",
        "end",
        "error",
        "outcome",
        "run_id",
        "start",
        "thread",
    )

    def __init__(
        self,
        run_id: str,
        outcome: str,
        error: str | None,
        start: float,
        end: float,
        lone: Sequence[Any],
        others: Sequence[Any],
        steps: Sequence[Any],
        thread: str,
    ) -> None:
        self.run_id = run_id
        self.outcome = outcome
        self.error = error
        self.start = start
        self.end = end
        self._lone = lone  # a Recording's lists (see asyncgraph._run.Recording)
        self._others = others
        self._steps = steps
        self.thread = thread
        self._spans: tuple[Span, ...] | None = None

    @property
    def duration(self) -> float:
        """The run's latency in seconds."""
        return self.end - self.start

    @property
    def spans(self) -> tuple[Span, ...]:
        """One ``Span`` per attempt, in the order they ended."""
        if self._spans is None:
            loop_thread, run_id = self.thread, self.run_id
            spans = [
                Span(run_id, step, node, 1, start, start, end, loop_thread, "ok", None)
                for step, node, start, end in _rows(self._lone, Recording.LONE_FIELDS)
            ]
            spans += (
                Span(run_id, step, node, attempt, queued, start, end, thread, outcome, error)
                for step, node, attempt, queued, start, end, thread, outcome, error in (
                    (*row[:6], row[6] or loop_thread, *row[7:])
                    for row in _rows(self._others, Recording.SPAN_FIELDS)
                )
            )
            spans.sort(key=lambda span: span.end)  # stable: ties keep the recorded order
            self._spans = tuple(spans)
        return self._spans

    @property
    def steps(self) -> tuple[StepSpan, ...]:
        """One ``StepSpan`` per superstep that started."""
        rows = _rows(self._steps, Recording.STEP_FIELDS)
        bounds = {step: (start, end, tasks) for step, start, end, tasks in rows}
        lone: dict[int, tuple[float, float, int]] = {}
        for span in self.spans:  # a step of one task has no record: it spans its attempts
            if span.step not in bounds:
                first, last, _ = lone.get(span.step, (span.queued, span.end, 1))
                lone[span.step] = (min(first, span.queued), max(last, span.end), 1)
        bounds |= lone
        return tuple(StepSpan(self.run_id, step, *bounds[step]) for step in sorted(bounds))

    @property
    def peak_concurrency(self) -> int:
        """The most attempts that were running at the same moment."""
        return _peak(self.spans)

    def __repr__(self) -> str:
        return (
            f"<RunTrace {self.run_id} {self.outcome}: {len(self.spans)} spans, "
            f"{len(self.steps)} steps, {self.duration:.6f} s>"
        )


# What a run leaves in a Tracer when it ends: RunTrace's arguments, but the run id is an
# int n for "run-n" (formatted when read).
_FinishedRun = tuple[Any, ...]


class Tracer(Observer):
    """Records runs; pass it as ``config={"tracer": tracer}``, share it freely.

    A traced run records its own timings, a few numbers per node attempt, and hands
    them to the tracer when it ends; you read them through ``runs``, ``summary()`` and
    the exports. On a chain of nodes that do nothing, the worst case, that adds about
    20% to each node-step (the benchmark suite measures it); on nodes that do real work
    it is lost in the noise.
    Only finished runs appear in ``runs`` and in the exports, whatever their outcome:
    a run that raised or was cancelled exports like any other, with that outcome.
    A run without ``config["run_id"]`` gets ``"run-1"``, ``"run-2"``, ... in the order
    runs start. A tracer keeps every run until ``clear()``; for a long-lived service,
    export and clear periodically.

    Examples:
        ```python
        import asyncio
        from typing import TypedDict

        from asyncgraph.graph import START, StateGraph
        from asyncgraph.profiling import Tracer


        class State(TypedDict):
            n: int


        async def slow(state: State) -> dict:
            await asyncio.sleep(0.02)
            return {"n": state["n"] + 1}


        graph = StateGraph(State).add_node(slow).add_edge(START, "slow").compile()
        tracer = Tracer()


        async def main() -> None:
            await asyncio.gather(*(graph.ainvoke({"n": i}, {"tracer": tracer}) for i in range(3)))


        asyncio.run(main())
        assert sorted(run.run_id for run in tracer.runs) == ["run-1", "run-2", "run-3"]
        assert tracer.summary()["slow"].peak_concurrency == 3  # the three runs overlapped
        ```
    """

    def __init__(self) -> None:
        self._live: dict[Run, str | int] = {}  # run -> its id (or number), start to end
        # Finished runs: a RunTrace, or the raw tuple a run appends when it ends, turned
        # into a RunTrace on first read (that work is then off the run's critical path).
        self._runs: list[RunTrace | _FinishedRun] = []
        self._built = 0  # how many leading entries of _runs are RunTrace objects
        self._count = itertools.count(1)

    # -- the hooks: once per run; the runner records every attempt and step itself ------

    records = True  # the runner keeps run.recording: no call per node-step

    def run_started(self, run: Run) -> None:
        run_id = run.config.get("run_id")
        self._live[run] = next(self._count) if run_id is None else str(run_id)

    def run_finished(self, run: Run, outcome: str, error: BaseException | None) -> None:
        run_id, recording = self._live.pop(run, None), run.recording
        if run_id is None or recording is None:  # not a run this tracer saw start
            return
        message = None if error is None else _describe(error)
        self._runs.append(
            (
                run_id,
                outcome,
                message,
                recording.start,
                recording.end,
                recording.lone,
                # Not the empty lists: a trace may be kept long, and each object it keeps
                # is one more for the garbage collector to walk.
                recording.spans or (),
                recording.steps or (),
                current_thread().name,
            )
        )

    def _finished(self) -> list[RunTrace]:
        """The finished runs so far, each built into a RunTrace once."""
        runs, count = self._runs, len(self._runs)  # runs may finish meanwhile, in threads
        for index in range(self._built, count):
            entry = runs[index]
            if isinstance(entry, tuple):
                run_id, *rest = entry
                name = f"run-{run_id}" if isinstance(run_id, int) else run_id
                runs[index] = RunTrace(name, *rest)
        self._built = count
        return runs[:count]  # type: ignore[return-value]

    # -- reading the trace -------------------------------------------------------------

    @property
    def runs(self) -> list[RunTrace]:
        """The finished runs, in the order they finished."""
        return self._finished()

    @property
    def spans(self) -> list[Span]:
        """The spans of every finished run, run after run."""
        return [span for run in self._finished() for span in run.spans]

    def run(self, run_id: str | None = None) -> RunTrace:
        """The finished run with this id; by default the one that finished last.

        Raises:
            LookupError: If no run has finished yet, or none has that id.

        Examples:
            >>> from asyncgraph.profiling import Tracer
            >>> Tracer().run()
            Traceback (most recent call last):
            ...
            LookupError: The tracer has no finished run yet: ...
        """
        runs = self._finished()
        if not runs:
            raise LookupError(
                "The tracer has no finished run yet: pass it to a run as "
                'config={"tracer": tracer} and let the run finish first.'
            )
        if run_id is None:
            return runs[-1]
        for run in runs:
            if run.run_id == run_id:
                return run
        known = ", ".join(repr(r.run_id) for r in runs[-5:])
        raise LookupError(f"No finished run has run_id {run_id!r}; the last ones are {known}.")

    def clear(self) -> None:
        """Forget the finished runs (runs in flight are still recorded).

        Examples:
            >>> from asyncgraph.profiling import Tracer
            >>> tracer = Tracer()
            >>> tracer.clear()
            >>> tracer.runs
            []
        """
        self._runs.clear()
        self._built = 0

    def summary(self, run_id: str | None = None) -> Summary:
        """Per-node statistics over every finished run, or over one run.

        Examples:
            ```python
            import asyncio
            from typing import TypedDict

            from asyncgraph.graph import START, StateGraph
            from asyncgraph.profiling import Tracer


            class State(TypedDict):
                n: int


            async def nap(state: State) -> dict:
                await asyncio.sleep(0.01)
                return {"n": state["n"] + 1}


            graph = StateGraph(State).add_node(nap).add_edge(START, "nap").compile()
            tracer = Tracer()
            for i in range(3):
                asyncio.run(graph.ainvoke({"n": i}, {"tracer": tracer}))
            stats = tracer.summary()["nap"]
            assert (stats.calls, stats.errors, stats.peak_concurrency) == (3, 0, 1)
            assert stats.max >= stats.p95 >= stats.mean * 0.5 and stats.total >= 0.03
            ```
        """
        spans = self.spans if run_id is None else list(self.run(run_id).spans)
        return Summary(spans)

    def to_chrome_trace(self) -> dict[str, Any]:
        """The finished runs as a Chrome Trace Event document (a JSON-ready dict).

        Each run is a process named after its id and outcome. Its first track holds the
        run and its supersteps; then one track per lane: every span goes to the lowest
        lane free when it starts, so spans that overlap never share a track and the
        number of lanes is the run's peak concurrency. Times are microseconds from the
        first run's start. Open the written file in https://ui.perfetto.dev or
        chrome://tracing.

        Examples:
            >>> from asyncgraph.profiling import Tracer
            >>> Tracer().to_chrome_trace()
            {'traceEvents': [], 'displayTimeUnit': 'ms'}
        """
        events: list[dict[str, Any]] = []
        runs = self._finished()
        origin = min((run.start for run in runs), default=0.0)

        def us(t: float) -> float:
            return round((t - origin) * 1e6, 3)

        def complete(name: str, start: float, end: float, pid: int, tid: int) -> dict[str, Any]:
            return {
                "name": name,
                "ph": "X",
                "ts": us(start),
                "dur": round(us(end) - us(start), 3),
                "pid": pid,
                "tid": tid,
            }

        def meta(name: str, pid: int, tid: int, value: Any) -> dict[str, Any]:
            return {"name": name, "ph": "M", "pid": pid, "tid": tid, "args": {"name": value}}

        for pid, run in enumerate(runs, start=1):
            events.append(meta("process_name", pid, 0, f"run {run.run_id} ({run.outcome})"))
            events.append(
                {
                    "name": "process_sort_index",
                    "ph": "M",
                    "pid": pid,
                    "tid": 0,
                    "args": {"sort_index": pid},
                }
            )
            events.append(meta("thread_name", pid, 0, "run and supersteps"))
            event = complete(f"run ({run.outcome})", run.start, run.end, pid, 0)
            event["args"] = {"run_id": run.run_id, "outcome": run.outcome, "error": run.error}
            events.append(event)
            for step in run.steps:
                event = complete(f"step {step.step}", step.start, step.end, pid, 0)
                event["args"] = {"tasks": step.tasks}
                events.append(event)
            lanes = _lanes(run.spans)
            for lane in sorted(set(lanes)):
                events.append(meta("thread_name", pid, lane + 1, f"lane {lane}"))
            for span, lane in zip(run.spans, lanes, strict=True):
                event = complete(span.node, span.start, span.end, pid, lane + 1)
                event["cat"] = span.outcome
                event["args"] = {
                    "run_id": span.run_id,
                    "step": span.step,
                    "attempt": span.attempt,
                    "outcome": span.outcome,
                    "error": span.error,
                    "thread": span.thread,
                    "queued_us": round(span.wait * 1e6, 3),
                }
                if span.outcome != "ok":
                    event["cname"] = "terrible"  # red in chrome://tracing
                events.append(event)
        return {"traceEvents": events, "displayTimeUnit": "ms"}

    def write_chrome_trace(self, path: str | Path) -> Path:
        """Write ``to_chrome_trace()`` as JSON to ``path`` and return the path.

        Examples:
            >>> import json, tempfile, pathlib
            >>> from asyncgraph.profiling import Tracer
            >>> with tempfile.TemporaryDirectory() as folder:
            ...     path = Tracer().write_chrome_trace(pathlib.Path(folder) / "trace.json")
            ...     document = json.loads(path.read_text())
            >>> document == {"traceEvents": [], "displayTimeUnit": "ms"}
            True
        """
        path = Path(path)
        path.write_text(json.dumps(self.to_chrome_trace(), indent=None), encoding="utf-8")
        return path

    def to_mermaid_gantt(
        self, run_id: str | None = None, *, resolution_ms: int | None = None, title: str = ""
    ) -> str:
        """A Mermaid ``gantt`` chart of one run: a section per superstep, a bar per span.

        Times are milliseconds from the run's start. ``resolution_ms`` truncates every
        time to a multiple of it (a grid): delays only ever make things later, so a grid
        as coarse as the shortest node absorbs scheduling noise, and the chart of a run
        whose nodes sleep whole grid steps comes out the same every time (docs and tests
        compare it).
        Bars of failed attempts are marked ``crit`` and labelled with their outcome.

        Args:
            run_id: Which finished run; by default the last one.
            resolution_ms: The grid in whole milliseconds (``None``: 1 ms).
            title: An optional chart title.

        Raises:
            ValueError: If ``resolution_ms`` is not a whole number >= 1.
            LookupError: If there is no such finished run.

        Examples:
            ```python
            import asyncio
            from typing import TypedDict

            from asyncgraph.graph import START, StateGraph
            from asyncgraph.profiling import Tracer


            class State(TypedDict):
                n: int


            async def nap(state: State) -> dict:
                await asyncio.sleep(0.1)
                return {"n": 1}


            graph = StateGraph(State).add_node(nap).add_edge(START, "nap").compile()
            tracer = Tracer()
            asyncio.run(graph.ainvoke({"n": 0}, {"tracer": tracer}))
            assert tracer.to_mermaid_gantt(resolution_ms=100).splitlines()[-2:] == [
                "    section step 1",
                "    nap :0, 100",
            ]
            ```
        """
        grid = _check_resolution(resolution_ms, "resolution_ms")
        run = self.run(run_id)
        lines = ["gantt"]
        if title:
            lines.append(f"    title {_label(title)}")
        lines.append("    dateFormat x")
        long = (run.end - run.start) * 1000 >= 1000
        lines.append("    axisFormat " + ("%M:%S.%L" if long else "%L ms"))
        lines.append("    todayMarker off")
        by_step: dict[int, list[tuple[int, str, int, str]]] = {}
        for span in run.spans:
            start = _grid_ms(span.start - run.start, grid)
            end = max(_grid_ms(span.end - run.start, grid), start + 1)
            label = _label(span.node)
            if span.attempt > 1:
                label += f" (attempt {span.attempt})"
            tag = ""
            if span.outcome != "ok":
                label += f" ({span.outcome})"
                tag = "crit, "
            by_step.setdefault(span.step, []).append((start, label, end, tag))
        for step in sorted(by_step):
            lines.append(f"    section step {step}")
            for start, label, end, tag in sorted(by_step[step]):
                lines.append(f"    {label} :{tag}{start}, {end}")
        return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class NodeStats:
    """One row of a ``Summary``: how one node's attempts went. Times in seconds.

    Attributes:
        node: The node's name.
        calls: Attempts recorded (a retried node counts each attempt).
        total: Sum of their durations.
        mean: ``total / calls``.
        p95: 95th percentile of durations (nearest rank).
        max: The longest duration.
        errors: Attempts that ended with ``"error"`` or ``"timeout"``.
        peak_concurrency: The most attempts of this node running at the same moment.

    Examples:
        >>> from asyncgraph.profiling import NodeStats
        >>> NodeStats("fetch", 2, 0.3, 0.15, 0.2, 0.2, 0, 2).mean
        0.15
    """

    node: str
    calls: int
    total: float
    mean: float
    p95: float
    max: float
    errors: int
    peak_concurrency: int


class Summary:
    """Per-node statistics of traced runs: ``rows`` as data, ``str()`` as a table.

    Rows are sorted by total time, largest first (ties by name): the top row is
    where optimizing pays most. ``summary["node"]`` returns that node's row.

    Examples:
        >>> from asyncgraph.profiling import Span, Summary
        >>> spans = [Span("r", 1, "a", 1, 0.0, 0.0, 0.2, "MainThread", "ok", None),
        ...          Span("r", 1, "b", 1, 0.0, 0.0, 0.1, "MainThread", "error", "E: x")]
        >>> print(Summary(spans))
        node  calls  total ms  mean ms  p95 ms  max ms  errors  peak
        a         1     200.0    200.0   200.0   200.0       0     1
        b         1     100.0    100.0   100.0   100.0       1     1
    """

    def __init__(self, spans: Iterable[Span]) -> None:
        self._by_node: dict[str, list[Span]] = {}
        for span in spans:
            self._by_node.setdefault(span.node, []).append(span)
        rows = [_stats(node, group) for node, group in self._by_node.items()]
        rows.sort(key=lambda row: (-row.total, row.node))
        self.rows: tuple[NodeStats, ...] = tuple(rows)

    def __getitem__(self, node: str) -> NodeStats:
        for row in self.rows:
            if row.node == node:
                return row
        raise KeyError(
            f"No span of node {node!r} was recorded; nodes: "
            f"{', '.join(r.node for r in self.rows) or 'none'}."
        )

    def __iter__(self) -> Iterator[NodeStats]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    def to_text(self, *, resolution_ms: int | None = None) -> str:
        """The table as text, times in milliseconds.

        Args:
            resolution_ms: Truncate every span's duration to a multiple of this many
                milliseconds before computing the statistics (whole numbers, rows sorted
                by that total). Scheduling noise below the grid then never changes the
                table, which makes it comparable in docs and tests. By default times
                are shown to 0.1 ms.

        Raises:
            ValueError: If ``resolution_ms`` is not a whole number >= 1.

        Examples:
            >>> from asyncgraph.profiling import Span, Summary
            >>> spans = [Span("r", 1, "a", 1, t, t, t + d, "MainThread", "ok", None)
            ...          for t, d in [(0, 0.2031), (1, 0.1042), (2, 0.1097)]]
            >>> print(Summary(spans).to_text(resolution_ms=50))
            node  calls  total ms  mean ms  p95 ms  max ms  errors  peak
            a         3       400      133     200     200       0     1
        """
        grid = _check_resolution(resolution_ms, "resolution_ms")
        header = ("node", "calls", "total ms", "mean ms", "p95 ms", "max ms", "errors", "peak")
        table: list[tuple[str, ...]] = [header]
        if grid is None:
            for r in self.rows:
                shown = (f"{t * 1000:.1f}" for t in (r.total, r.mean, r.p95, r.max))
                table.append((r.node, str(r.calls), *shown, str(r.errors), str(r.peak_concurrency)))
        else:
            gridded = []
            for r in self.rows:
                ms = sorted(_grid_ms(s.duration, grid) for s in self._by_node[r.node])
                total = sum(ms)
                times = (total, total // len(ms), ms[_p95_index(len(ms))], ms[-1])
                gridded.append((-total, r.node, r, times))
            for _, node, r, times in sorted(gridded):
                table.append(
                    (node, str(r.calls), *map(str, times), str(r.errors), str(r.peak_concurrency))
                )
        widths = [max(len(row[i]) for row in table) for i in range(len(header))]
        return "\n".join(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in table
        )

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<Summary of {len(self.rows)} nodes>"


def combine(*observers: Observer) -> Observer:
    """One observer that calls several, in order; ``wrap_coroutine`` wraps in turn.

    A run takes one ``config["tracer"]``; combine a ``Tracer`` with a
    ``asyncgraph.debug.BlockingDetector`` or a ``LoggingObserver`` to use them together.

    Raises:
        TypeError: If an argument is not an observer.

    Examples:
        ```python
        import asyncio
        from typing import TypedDict

        from asyncgraph.debug import BlockingDetector
        from asyncgraph.graph import START, StateGraph
        from asyncgraph.profiling import Tracer, combine


        class State(TypedDict):
            n: int


        async def inc(state: State) -> dict:
            return {"n": state["n"] + 1}


        graph = StateGraph(State).add_node(inc).add_edge(START, "inc").compile()
        tracer, detector = Tracer(), BlockingDetector(threshold=0.1)
        asyncio.run(graph.ainvoke({"n": 0}, {"tracer": combine(tracer, detector)}))
        assert [span.node for span in tracer.spans] == ["inc"] and detector.reports == []
        ```
    """
    for observer in observers:
        if not isinstance(observer, Observer):
            raise TypeError(
                "combine() takes observers: a Tracer, a BlockingDetector, a LoggingObserver "
                f"or combine(...) of them; got {observer!r}."
            )
    return _Combined(observers)


class _Combined(Observer):
    def __init__(self, observers: tuple[Observer, ...]) -> None:
        self.observers = observers
        self.records = any(observer.records for observer in observers)
        self.watches_tasks = any(observer.watches_tasks for observer in observers)

    def run_started(self, run: Run) -> None:
        for observer in self.observers:
            observer.run_started(run)

    def step_started(self, run: Run, step: int, tasks: list[Task]) -> None:
        for observer in self.observers:
            observer.step_started(run, step, tasks)

    def task_started(self, task: Task) -> None:
        for observer in self.observers:
            observer.task_started(task)

    def wrap_coroutine(self, task: Task, coro: Any) -> Any:
        for observer in self.observers:
            coro = observer.wrap_coroutine(task, coro)
        return coro

    def task_finished(self, task: Task, outcome: str, error: BaseException | None) -> None:
        for observer in self.observers:
            observer.task_finished(task, outcome, error)

    def step_finished(self, run: Run, step: int) -> None:
        for observer in self.observers:
            observer.step_finished(run, step)

    def run_finished(self, run: Run, outcome: str, error: BaseException | None) -> None:
        for observer in self.observers:
            observer.run_finished(run, outcome, error)


# -- helpers ---------------------------------------------------------------------------


def _rows(flat: Sequence[Any], width: int) -> Iterator[Sequence[Any]]:
    """A flat list as consecutive rows of ``width`` values."""
    return (flat[i : i + width] for i in range(0, len(flat), width))


def _check_resolution(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"{name} must be a whole number of milliseconds >= 1 (e.g. {name}=50), or None "
            f"for 1 ms; got {value!r}."
        )
    return value


def _grid_ms(seconds: float, grid: int | None) -> int:
    ms = seconds * 1000
    if grid is None:
        return round(ms)
    return int((ms + 1e-6) // grid) * grid  # 1 ns of slack: 0.7 - 0.6 is 99.999... ms


def _label(text: str) -> str:
    """Text safe in a Mermaid gantt line (':' starts the bar's data, '#' and ';' too)."""
    return " ".join(text.replace(":", " ").replace(";", " ").replace("#", " ").split())


def _stats(node: str, spans: list[Span]) -> NodeStats:
    durations = sorted(span.duration for span in spans)
    total = math.fsum(durations)
    p95 = durations[_p95_index(len(durations))]
    errors = sum(span.outcome in ("error", "timeout") for span in spans)
    return NodeStats(
        node,
        len(durations),
        total,
        total / len(durations),
        p95,
        durations[-1],
        errors,
        _peak(spans),
    )


def _p95_index(count: int) -> int:
    """The nearest-rank 95th percentile's index in a sorted list of ``count`` values."""
    return max(0, math.ceil(0.95 * count) - 1)


def _peak(spans: Sequence[Span]) -> int:
    """The most spans open at once; a span ending when another starts does not overlap."""
    edges = sorted([(s.start, 1) for s in spans] + [(s.end, -1) for s in spans])
    # (t, -1) sorts before (t, 1): ends are counted before starts at the same instant.
    peak = running = 0
    for _, delta in edges:
        running += delta
        peak = max(peak, running)
    return peak


def _lanes(spans: tuple[Span, ...]) -> list[int]:
    """Give each span the lowest lane that is free when it starts."""
    lanes = [0] * len(spans)
    busy: list[tuple[float, int]] = []  # (end, lane) of spans still running
    free: list[int] = []  # lanes released, lowest first
    count = 0
    for index in sorted(range(len(spans)), key=lambda i: (spans[i].start, spans[i].end)):
        span = spans[index]
        while busy and busy[0][0] <= span.start:
            heapq.heappush(free, heapq.heappop(busy)[1])
        if free:
            lane = heapq.heappop(free)
        else:
            lane, count = count, count + 1
        lanes[index] = lane
        heapq.heappush(busy, (span.end, lane))
    return lanes
