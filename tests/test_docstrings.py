"""Every public name documents itself with an example, and every fenced example runs.

``>>>`` examples run through pytest's ``--doctest-modules``; fenced ```python blocks in
docstrings (used where an example needs a whole script) run here.
"""

from __future__ import annotations

import inspect
import re
import sys
import textwrap
from types import ModuleType
from typing import Any

import pytest

import asyncgraph
from asyncgraph import config, debug, errors, graph, profiling, types

MODULES = (graph, types, errors, config, profiling, debug)
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def public_members(module: Any) -> list[tuple[str, Any]]:
    found = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            found.append((f"{module.__name__}.{name}", obj))
        if inspect.isclass(obj) and obj.__module__ == module.__name__:
            found += [
                (f"{module.__name__}.{name}.{attr}", member)
                for attr, member in vars(obj).items()
                if not attr.startswith("_")
                and (inspect.isfunction(member) or isinstance(member, property))
            ]
    return found


MEMBERS = [m for module in MODULES for m in public_members(module)]
FENCED = [
    (name, textwrap.dedent(code))
    for name, obj in MEMBERS
    for code in FENCE.findall(inspect.getdoc(obj) or "")
]


def test_the_package_re_exports_every_public_name() -> None:
    for module in MODULES:
        for name in module.__all__:
            if name not in ("START", "END", "logger"):
                assert getattr(asyncgraph, name, None) is getattr(module, name), name


@pytest.mark.parametrize(("name", "obj"), [m for m in MEMBERS if "." not in m[0].split(".", 2)[-1]])
def test_every_public_name_has_an_example(name: str, obj: Any) -> None:
    assert "Examples:" in (inspect.getdoc(obj) or ""), f"{name} has no Examples: section"


@pytest.mark.parametrize(("name", "code"), FENCED, ids=[n for n, _ in FENCED])
def test_fenced_docstring_examples_run(
    name: str, code: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A real module, as when the example is saved and run as a script: typing resolves
    # annotations through sys.modules[cls.__module__].
    module = ModuleType("docstring_example")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    exec(compile(code, f"<docstring of {name}>", "exec"), module.__dict__)
