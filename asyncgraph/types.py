"""Values that nodes return and that callers pass: ``Send``, ``Command``, ``RetryPolicy``,
``RunnableConfig``, and the names of the stream modes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any, Generic, Literal, NamedTuple, TypedDict, TypeVar

__all__ = [
    "Command",
    "RetryPolicy",
    "RunnableConfig",
    "Send",
    "StreamMode",
    "StreamWriter",
    "default_retry_on",
]

StreamMode = Literal["values", "updates", "custom", "debug"]
"""What ``stream``/``astream`` yield: the full state after each step (``"values"``), each
task's update as it finishes (``"updates"``, the default), what nodes wrote with
the stream writer (``"custom"``), or task start/result events (``"debug"``)."""

StreamWriter = Callable[[Any], None]
"""The type of ``get_stream_writer()`` and of a node's ``writer`` parameter."""


class Send:
    """Run ``node`` in the next superstep with ``arg`` as its input instead of the state.

    Return a list of ``Send`` from a router (``add_conditional_edges``) to fan out one
    task per item — map-reduce. Their updates merge in the order of the list.

    Args:
        node: The name of the node to run.
        arg: The input that node receives.

    Examples:
        >>> from asyncgraph.types import Send
        >>> [Send("summarize", {"doc": d}) for d in ("a", "b")]
        [Send(node='summarize', arg={'doc': 'a'}), Send(node='summarize', arg={'doc': 'b'})]
    """

    __slots__ = ("arg", "node")

    def __init__(self, node: str, arg: Any) -> None:
        self.node = node
        self.arg = arg

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Send) and (self.node, self.arg) == (other.node, other.arg)

    def __hash__(self) -> int:
        return hash(self.node)

    def __repr__(self) -> str:
        return f"Send(node={self.node!r}, arg={self.arg!r})"


N = TypeVar("N")


@dataclass(frozen=True, slots=True)
class Command(Generic[N]):
    """A node's return value that updates the state *and* chooses where to go next.

    ``goto`` adds targets for the next superstep; it does not suppress the node's static
    edges. It takes a node name, a ``Send``, or a sequence of them. Annotate the node's
    return type as ``Command[Literal["a", "b"]]`` so that ``compile()`` and
    ``draw_mermaid()`` know where it may go.

    Args:
        update: The state update, as a node would return it.
        goto: Node name(s) or ``Send``(s) to run next.

    Examples:
        >>> from asyncgraph.types import Command
        >>> Command(update={"status": "retry"}, goto="fetch")
        Command(update={'status': 'retry'}, goto='fetch')
    """

    update: dict[str, Any] | None = None
    goto: str | Send | Sequence[str | Send] = ()


def default_retry_on(exc: BaseException) -> bool:
    """The default ``RetryPolicy.retry_on``: retry errors that may be transient.

    Connection errors are retried; programming errors (``ValueError``, ``TypeError``,
    ``LookupError``, ``RuntimeError``, other ``OSError``s ...) are not; any other
    ``Exception`` is.

    Examples:
        >>> from asyncgraph.types import default_retry_on
        >>> default_retry_on(ConnectionResetError()), default_retry_on(KeyError("k"))
        (True, False)
    """
    if isinstance(exc, ConnectionError):
        return True
    return isinstance(exc, Exception) and not isinstance(exc, _NOT_RETRIED)


_NOT_RETRIED = (
    ValueError,
    TypeError,
    ArithmeticError,
    ImportError,
    LookupError,
    NameError,
    SyntaxError,
    RuntimeError,
    ReferenceError,
    StopIteration,
    StopAsyncIteration,
    OSError,
)


class RetryPolicy(NamedTuple):
    """How to retry a node whose attempt raised, given to ``add_node(retry_policy=...)``.

    The first attempt counts toward ``max_attempts``. Before attempt *n + 1* the run
    sleeps ``min(max_interval, initial_interval * backoff_factor ** (n - 1))`` seconds,
    plus up to one second of random jitter. Cancelling the run stops retrying at once.
    The attempt number is in ``get_config()["metadata"]["asyncgraph_attempt"]``.

    Attributes:
        initial_interval: Seconds to wait before the second attempt.
        backoff_factor: Multiplier of the wait after each attempt.
        max_interval: Upper bound of the wait, before jitter.
        max_attempts: Attempts in all, the first included.
        jitter: Add ``random.uniform(0, 1)`` seconds to each wait.
        retry_on: Exception classes to retry, or a predicate on the exception.

    Examples:
        >>> from asyncgraph.types import RetryPolicy
        >>> RetryPolicy(max_attempts=5, retry_on=ConnectionError).initial_interval
        0.5
    """

    initial_interval: float = 0.5
    backoff_factor: float = 2.0
    max_interval: float = 128.0
    max_attempts: int = 3
    jitter: bool = True
    retry_on: (
        type[BaseException] | Sequence[type[BaseException]] | Callable[[BaseException], bool]
    ) = default_retry_on


class RunnableConfig(TypedDict, total=False):
    """The run configuration: pass it as ``config=`` to any entry point.

    Nodes receive it through a parameter named ``config`` or ``get_config()``; during a
    task, ``metadata`` also holds ``langgraph_step``, ``langgraph_node`` and
    ``asyncgraph_attempt``.

    Attributes:
        recursion_limit: Maximum supersteps plus one (default 10007).
        max_concurrency: Maximum node tasks running at once in a run; in ``abatch``,
            maximum concurrent runs.
        configurable: Your own run parameters (a user id, a client, ...).
        tags: Labels for the run.
        metadata: Key-value data for the run.
        run_name: A name for the run, used in logs and traces.
        executor: The ``concurrent.futures.Executor`` that runs sync nodes under the
            async API (default: the event loop's default executor, which is bounded).
        tracer: An observer of the run: a ``asyncgraph.profiling.Tracer``, a
            ``asyncgraph.debug.BlockingDetector`` or ``LoggingObserver``, or
            ``combine(...)`` of them.
        callbacks: Accepted for compatibility with LangChain configs; unused.

    Examples:
        >>> from asyncgraph.types import RunnableConfig
        >>> config: RunnableConfig = {"recursion_limit": 50, "configurable": {"user": "ada"}}
    """

    recursion_limit: int
    max_concurrency: int | None
    configurable: dict[str, Any]
    tags: list[str]
    metadata: dict[str, Any]
    run_name: str
    executor: Executor
    tracer: Any
    callbacks: Any
