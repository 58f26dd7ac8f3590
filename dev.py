#!/usr/bin/env python3
"""One entry point for everything a contributor does: ``serve``, ``test``, ``bench``.

Needs only ``python3`` (3.11+). It creates ``.venv`` beside this file, installs the
project with the extras a command needs, and reinstalls only when ``pyproject.toml``
changes, so every command is safe to run on a fresh clone and cheap to run again.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
CHROMIUM = Path("/usr/bin/chromium")


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> int:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    return subprocess.call([str(c) for c in cmd], cwd=ROOT, env=env)


def must(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    code = run(*cmd, env=env)
    if code:
        sys.exit(code)


def ensure_venv(extras: str) -> None:
    """Create the virtualenv and install ``.[extras]`` unless already up to date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py may be run by an older python3
        sys.exit(f"asyncgraph needs Python >= 3.11; this is {sys.version.split()[0]}.")
    if not PY.exists():
        print(f"Creating virtualenv in {VENV.name}/", flush=True)
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + extras.encode()).hexdigest()
    stamp = VENV / f".installed-{extras.replace(',', '-')}"
    if stamp.exists() and stamp.read_text() == digest:
        return
    must(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    must(PY, "-m", "pip", "install", "--quiet", "-e", f".[{extras}]")
    stamp.write_text(digest)


def ensure_chromium() -> None:
    """CI installs Debian's Chromium for the browser test; locally the test skips without it."""
    if CHROMIUM.exists() or os.environ.get("CI") != "true":
        return
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        sys.exit(
            "CI needs /usr/bin/chromium for the browser test but has no root apt-get."
        )
    must("apt-get", "update", "-qq")
    must("apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium")


def serve(args: list[str]) -> int:
    ensure_venv("docs")
    return run(BIN / "mkdocs", "serve", "--dev-addr", "127.0.0.1:8000", *args)


def test(args: list[str]) -> int:
    ensure_venv("docs,test")
    ensure_chromium()
    env = dict(os.environ, PYTHONASYNCIODEBUG="1", PYTHONDEVMODE="1")
    for step in (
        (BIN / "ruff", "check", "asyncgraph", "tests", "benchmarks", "dev.py", "conftest.py"),
        (BIN / "mypy",),
    ):
        code = run(*step, env=env)
        if code:
            return code
    return run(PY, "-m", "pytest", *args, env=env)


def bench(args: list[str]) -> int:
    ensure_venv("test,bench")
    return run(PY, "-m", "benchmarks", *args)


COMMANDS = {"serve": serve, "test": test, "bench": bench}


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python3 dev.py {{{'|'.join(COMMANDS)}}} [args passed through]")
        return 2
    return COMMANDS[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
