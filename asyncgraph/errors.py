"""The exceptions and warnings asyncgraph raises.

Each class says when it is raised; every message names the node, key or value at fault
and how to fix it. Built-in bases are chosen so that ``except ValueError`` or
``except TimeoutError`` written against LangGraph keeps working.
"""

from __future__ import annotations

__all__ = [
    "EmptyInputError",
    "GraphRecursionError",
    "GraphValidationError",
    "GraphValidationWarning",
    "InvalidUpdateError",
    "NodeTimeoutError",
    "UninterruptibleNodeWarning",
]


class GraphRecursionError(RecursionError):
    """The run needed more supersteps than its ``recursion_limit`` allows.

    A chain of *k* nodes needs ``recursion_limit >= k + 1``. The message names the
    nodes of the last supersteps, which usually shows the loop that never ends.

    Examples:
        >>> from asyncgraph.errors import GraphRecursionError
        >>> issubclass(GraphRecursionError, RecursionError)
        True
    """


class InvalidUpdateError(ValueError):
    """A node's update cannot be applied to the state.

    Raised when two tasks of one superstep write a key that has no reducer, when a node
    returns something other than a ``dict``, a ``Command`` or ``None``, or when an
    update (or the input) names a key that the state schema does not have.

    Examples:
        >>> from asyncgraph.errors import InvalidUpdateError
        >>> issubclass(InvalidUpdateError, ValueError)
        True
    """


class EmptyInputError(ValueError):
    """The graph was invoked with ``None`` as its input.

    Examples:
        >>> from asyncgraph.errors import EmptyInputError
        >>> str(EmptyInputError("Received no input"))
        'Received no input'
    """


class GraphValidationError(ValueError):
    """``StateGraph.compile()`` (or a builder method) found a malformed graph.

    The message names the node or edge at fault and the fix; it is raised before any
    node runs. Routing at run time to a node that does not exist raises it too.

    Examples:
        >>> from asyncgraph.errors import GraphValidationError
        >>> issubclass(GraphValidationError, ValueError)
        True
    """


class GraphValidationWarning(UserWarning):
    """``compile()`` found something that runs but is probably a mistake.

    Today: a node from which no route ever reaches END (a cycle with no exit), so the
    run can only stop at ``recursion_limit``.

    Examples:
        >>> from asyncgraph.errors import GraphValidationWarning
        >>> issubclass(GraphValidationWarning, UserWarning)
        True
    """


class NodeTimeoutError(TimeoutError):
    """An async node ran longer than the ``timeout=`` given to ``add_node``.

    Attributes:
        node: The node's name.
        timeout: The limit, in seconds.
        elapsed: How long the attempt ran before it was cancelled, in seconds.

    Examples:
        >>> from asyncgraph.errors import NodeTimeoutError
        >>> err = NodeTimeoutError("fetch", 0.5, 0.51)
        >>> (err.node, err.timeout, isinstance(err, TimeoutError))
        ('fetch', 0.5, True)
    """

    def __init__(self, node: str, timeout: float, elapsed: float) -> None:
        super().__init__(
            f"Node {node!r} timed out after {elapsed:.3f}s (limit {timeout}s). "
            f"Raise the limit with add_node({node!r}, ..., timeout=...) or make the node faster."
        )
        self.node = node
        self.timeout = timeout
        self.elapsed = elapsed

    def __reduce__(self) -> tuple[type[NodeTimeoutError], tuple[str, float, float]]:
        return (type(self), (self.node, self.timeout, self.elapsed))


class UninterruptibleNodeWarning(RuntimeWarning):
    """A cancelled run left a sync node running in its worker thread.

    Python cannot interrupt a thread, so the run stops waiting for the node and
    discards its result; the thread finishes on its own. Make long-running nodes
    ``async def`` if they must stop promptly on cancellation.

    Examples:
        >>> from asyncgraph.errors import UninterruptibleNodeWarning
        >>> issubclass(UninterruptibleNodeWarning, RuntimeWarning)
        True
    """
