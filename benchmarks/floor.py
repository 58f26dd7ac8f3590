"""The floor: the same workloads in plain asyncio, with no graph runner at all.

Each function only calls the node functions of :mod:`benchmarks.workloads` in the graph's order
and merges their dict updates into a fresh copy of the input. Nothing is validated, nothing is
scheduled that the graph's shape does not force (the W2 branches must run concurrently, so they
are gathered; a chain is a plain ``for`` loop of awaits). It is therefore a lower bound for any
Python runner of the same graph, and the reference every ratio in the table is taken against.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from benchmarks.workloads import AsyncNode, SyncNode, Update


async def chain(nodes: Sequence[AsyncNode], inp: Mapping[str, Any]) -> dict[str, Any]:
    """W1, W3, W4, W7: await each node in turn, merging its update."""
    state = dict(inp)
    for node in nodes:
        state.update(await node(state))
    return state


async def chain_stream(
    names: Sequence[str], nodes: Sequence[AsyncNode], inp: Mapping[str, Any]
) -> AsyncIterator[dict[str, Update]]:
    """W5: the chain as an async generator of ``{node: update}``, like ``stream_mode="updates"``."""
    state = dict(inp)
    for name, node in zip(names, nodes, strict=True):
        update = await node(state)
        state.update(update)
        yield {name: update}


async def chain_in_executor(nodes: Sequence[SyncNode], inp: Mapping[str, Any]) -> dict[str, Any]:
    """W6: each sync node is one bare ``loop.run_in_executor(None, node, state)`` round trip."""
    loop = asyncio.get_running_loop()
    state = dict(inp)
    for node in nodes:
        state.update(await loop.run_in_executor(None, node, state))
    return state


async def fan_join(
    branches: Sequence[AsyncNode], join: AsyncNode, inp: Mapping[str, Any]
) -> dict[str, Any]:
    """W2: gather the branches on one snapshot, merge ``results`` in branch order, then join."""
    state = dict(inp)
    updates = await asyncio.gather(*[branch(state) for branch in branches])
    results: list[int] = state.get("results", [])
    for update in updates:
        results = results + update["results"]
    state["results"] = results
    state.update(await join(state))
    return state
