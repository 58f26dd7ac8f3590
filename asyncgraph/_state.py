"""The state schema: which keys exist, which have reducers, and applying updates.

A key declared as ``Annotated[T, reducer]`` folds every write into its value with
``reducer(old, new)`` — including the input's value, folded into ``T()`` when ``T`` has
an empty value (``list``, ``int`` ...). Any other key holds the last value written and
accepts at most one write per superstep, because two concurrent writers would otherwise
race and one value would be lost silently.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, get_args, get_origin, get_type_hints

from asyncgraph.errors import GraphValidationError, InvalidUpdateError

Reducer = Callable[[Any, Any], Any]
_MISSING = object()


class Schema:
    """What the runner needs to know about a state schema, computed once per graph."""

    __slots__ = ("defaults", "is_dataclass", "keys", "keyset", "name", "reducers", "type")

    def __init__(self, schema: type) -> None:
        self.type = schema
        self.is_dataclass = dataclasses.is_dataclass(schema)
        self.name = getattr(schema, "__name__", repr(schema))
        hints = _type_hints(schema)
        self.keys: tuple[str, ...] = tuple(hints)
        self.keyset = frozenset(hints)
        self.reducers: dict[str, Reducer] = {}
        self.defaults: dict[str, Any] = {}
        for key, hint in hints.items():
            reducer = _reducer_of(key, hint, self.name)
            if reducer is not None:
                self.reducers[key] = reducer
                empty = _empty_value(hint)
                if empty is not _MISSING:
                    self.defaults[key] = empty

    # -- building values -------------------------------------------------------------

    def initial(self) -> dict[str, Any]:
        """A fresh state: reducer keys start at their type's empty value."""
        return {key: _copy_empty(value) for key, value in self.defaults.items()}

    def snapshot(self, state: dict[str, Any]) -> dict[str, Any]:
        """A new dict of the state's keys in schema order (what callers receive)."""
        return {key: state[key] for key in self.keys if key in state}

    def node_input(self, state: dict[str, Any]) -> Any:
        """What an edge-triggered node receives: a copy it may mutate freely."""
        if self.is_dataclass:
            return self.type(**state)
        return state.copy()

    # -- checking updates ------------------------------------------------------------

    def check_update(self, update: Any, source: str) -> dict[str, Any] | None:
        """Validate one task's update (``{}`` counts as none); ``source`` names the node."""
        if not update and isinstance(update, dict | None):
            return None
        if not isinstance(update, dict):
            if isinstance(update, Mapping):
                update = dict(update)
            else:
                raise InvalidUpdateError(
                    f"Node {source!r} returned {type(update).__name__} {_short(update)}; a node "
                    "must return a dict of state updates (e.g. {'key': value}), a Command, or None."
                )
        if self.keyset.issuperset(update):
            return typing.cast(dict[str, Any], update)
        for key in update:
            if key not in self.keyset:
                raise InvalidUpdateError(
                    f"Node {source!r} wrote key {key!r}, which is not in the state schema "
                    f"{self.name} (keys: {', '.join(self.keys)}). Add {key!r} to {self.name} "
                    "or fix the key's spelling."
                )
        return typing.cast(dict[str, Any], update)

    def coerce_input(self, value: Any) -> dict[str, Any]:
        """Turn the caller's input into an update dict, refusing anything ambiguous."""
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        if not isinstance(value, Mapping):
            raise TypeError(
                f"Graph input must be a dict of state keys (schema {self.name}: "
                f"{', '.join(self.keys)}); got {type(value).__name__} {_short(value)}. "
                f"Pass e.g. {{{self.keys[0]!r}: ...}}."
            )
        for key in value:
            if key not in self.keyset:
                raise InvalidUpdateError(
                    f"Input key {key!r} is not in the state schema {self.name} "
                    f"(keys: {', '.join(self.keys)}). Add it to {self.name} or remove it from "
                    "the input; asyncgraph refuses it rather than drop it silently."
                )
        return dict(value)

    # -- applying updates ------------------------------------------------------------

    def apply(self, state: dict[str, Any], writes: list[tuple[str, dict[str, Any]]]) -> bool:
        """Apply one superstep's writes, given in task-path order; True if any key was written.

        Plain keys take their single write; a second write in the same step raises
        ``InvalidUpdateError`` naming both writers, even when the values are equal.
        """
        if len(writes) == 1:  # the common case: no conflicts are possible
            return self.apply_one(state, *writes[0])
        plain_writer: dict[str, str] = {}
        written = False
        for source, update in writes:
            for key, value in update.items():
                if key not in self.reducers:
                    if key in plain_writer:
                        raise InvalidUpdateError(
                            f"At key {key!r}: nodes {plain_writer[key]!r} and {source!r} both "
                            "wrote it in the same step; a key can receive only one value per "
                            f"step. Give it a reducer, e.g. {key}: Annotated[T, operator.add], "
                            "or let one node write it."
                        )
                    plain_writer[key] = source
                self._write(state, key, value, source)
                written = True
        return written

    def apply_one(self, state: dict[str, Any], source: str, update: dict[str, Any]) -> bool:
        """Apply the writes of a step that had a single writer; True if any key was written."""
        reducers = self.reducers
        if not reducers:
            state.update(update)
        else:
            for key, value in update.items():
                if key in reducers:
                    self._write(state, key, value, source)
                else:
                    state[key] = value
        return bool(update)

    def _write(self, state: dict[str, Any], key: str, value: Any, source: str) -> None:
        reducer = self.reducers.get(key)
        if reducer is None:
            state[key] = value
            return
        old = state.get(key, _MISSING)
        if old is _MISSING:
            state[key] = value
            return
        try:
            state[key] = reducer(old, value)
        except Exception as exc:
            exc.add_note(
                f"asyncgraph: raised by the reducer of key {key!r} "
                f"({getattr(reducer, '__qualname__', reducer)!r}) while applying the update of "
                f"{source!r}."
            )
            raise


def _type_hints(schema: type) -> dict[str, Any]:
    if not isinstance(schema, type):
        raise GraphValidationError(
            f"StateGraph needs a state schema class (a TypedDict or a dataclass); got {schema!r}."
        )
    try:
        hints = get_type_hints(schema, include_extras=True)
    except Exception as exc:
        raise GraphValidationError(
            f"Cannot read the annotations of state schema {schema.__name__}: {exc}. Define the "
            "schema at module level and import every type its annotations use."
        ) from exc
    if not hints:
        raise GraphValidationError(
            f"State schema {schema.__name__} declares no keys. Annotate its keys, e.g. "
            "`class State(TypedDict): messages: list[str]`."
        )
    return hints


def _reducer_of(key: str, hint: Any, schema_name: str) -> Reducer | None:
    if get_origin(hint) is not typing.Annotated:
        return None
    for meta in reversed(get_args(hint)[1:]):
        if callable(meta):
            _check_reducer_arity(key, meta, schema_name)
            return typing.cast(Reducer, meta)
    return None


def _check_reducer_arity(key: str, reducer: Callable[..., Any], schema_name: str) -> None:
    try:
        sig = inspect.signature(reducer)
    except (TypeError, ValueError):  # builtins like operator.add have no signature in 3.11
        return
    positional = [
        p
        for p in sig.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
    ]
    if len(positional) < 2 and not any(p.kind is p.VAR_POSITIONAL for p in positional):
        raise GraphValidationError(
            f"The reducer of {schema_name}.{key} must take two arguments (current, update); "
            f"{getattr(reducer, '__qualname__', reducer)} takes {len(positional)}."
        )


def _empty_value(hint: Any) -> Any:
    base = get_args(hint)[0]
    base = get_origin(base) or base
    if not isinstance(base, type):
        return _MISSING
    try:
        return base()
    except Exception:
        return _MISSING


def _copy_empty(value: Any) -> Any:
    # Empty containers are mutable: every run needs its own.
    return type(value)() if isinstance(value, list | dict | set) else value


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
