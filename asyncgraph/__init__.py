"""asyncgraph: a small, fast state-graph runner with LangGraph's API and asyncio at its core.

The public names live in ``asyncgraph.graph``, ``asyncgraph.types``,
``asyncgraph.errors`` and ``asyncgraph.config`` (the same paths as LangGraph's), plus
``asyncgraph.profiling`` and ``asyncgraph.debug``, and are re-exported here.
"""

from asyncgraph.config import get_config, get_stream_writer
from asyncgraph.debug import (
    BlockingDetector,
    BlockReport,
    LoggingObserver,
    LoopBlockedError,
    LoopBlockedWarning,
)
from asyncgraph.errors import (
    EmptyInputError,
    GraphRecursionError,
    GraphValidationError,
    GraphValidationWarning,
    InvalidUpdateError,
    NodeTimeoutError,
    UninterruptibleNodeWarning,
)
from asyncgraph.graph import END, START, CompiledStateGraph, GraphView, StateGraph
from asyncgraph.profiling import NodeStats, RunTrace, Span, StepSpan, Summary, Tracer, combine
from asyncgraph.types import (
    Command,
    RetryPolicy,
    RunnableConfig,
    Send,
    StreamMode,
    StreamWriter,
    default_retry_on,
)

__version__ = "0.1.0"

__all__ = [
    "END",
    "START",
    "BlockReport",
    "BlockingDetector",
    "Command",
    "CompiledStateGraph",
    "EmptyInputError",
    "GraphRecursionError",
    "GraphValidationError",
    "GraphValidationWarning",
    "GraphView",
    "InvalidUpdateError",
    "LoggingObserver",
    "LoopBlockedError",
    "LoopBlockedWarning",
    "NodeStats",
    "NodeTimeoutError",
    "RetryPolicy",
    "RunTrace",
    "RunnableConfig",
    "Send",
    "Span",
    "StateGraph",
    "StepSpan",
    "StreamMode",
    "StreamWriter",
    "Summary",
    "Tracer",
    "UninterruptibleNodeWarning",
    "__version__",
    "combine",
    "default_retry_on",
    "get_config",
    "get_stream_writer",
]
