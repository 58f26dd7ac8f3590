"""Real services for the tests and the docs examples: a PostgreSQL server, started on demand.

Docs pages that talk to PostgreSQL read its address from the environment, so a reader can
point an example at their own server::

    dsn = os.environ.get("ASYNCGRAPH_PG_DSN", "postgresql://postgres@localhost/postgres")

In a test session this module makes that variable point at a real server:

* If ``ASYNCGRAPH_PG_DSN`` is already set when a test needs it, that server is used as is.
* Otherwise the first test that needs PostgreSQL starts a throwaway PostgreSQL 16 from the
  ``pgserver`` wheel (about a second: ``initdb`` and ``pg_ctl start``; no system service,
  no TCP port: it listens on a Unix socket in a temporary directory), sets
  ``ASYNCGRAPH_PG_DSN`` to it, and the end of the session stops it and deletes its data.
  Later tests reuse it.

A test *needs PostgreSQL* when it requests the ``postgres_dsn`` fixture, or when it is a
docs example from a Markdown file that mentions ``ASYNCGRAPH_PG_DSN``. Sessions that run
neither never start a server.

If the server cannot start, every test that needs it **fails** with the reason (the first
error is kept and re-raised, so a broken install costs one attempt, not one per test). It
never skips: a silently skipped database example would let a broken page ship.

Wiring: this module is a pytest plugin; the root ``conftest.py`` loads it with
``pytest_plugins = [..., "tests._services"]``. Outside pytest, use :class:`PostgresService`
directly (``with PostgresService() as service: dsn = service.ensure()``).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

ENV_VAR = "ASYNCGRAPH_PG_DSN"
DEFAULT_DSN = "postgresql://postgres@localhost/postgres"  # what the pages fall back to

__all__ = [
    "DEFAULT_DSN",
    "ENV_VAR",
    "PostgresService",
    "PostgresUnavailableError",
    "postgres_dsn",
    "start_pgserver",
]


class PostgresUnavailableError(RuntimeError):
    """PostgreSQL was needed but could not be started; the message says why and what to do."""


def start_pgserver(pgdata: Path) -> Any:
    """Start a PostgreSQL server whose data directory is ``pgdata`` and return its handle.

    ``pgdata``'s parent must exist. The handle's ``get_uri()`` is an asyncpg/libpq URI of
    the form ``postgresql://postgres:@/postgres?host=<socket dir>``; ``cleanup()`` stops the
    server and deletes ``pgdata``.

    Raises:
        PostgresUnavailableError: pgserver is missing or the server did not start.
    """
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers) and falls
            # back to a directory under /tmp, which is what we want.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            import pgserver

            return pgserver.get_server(pgdata, cleanup_mode="delete")
    except Exception as exc:
        raise PostgresUnavailableError(
            f"Could not start PostgreSQL with pgserver in {pgdata}: {type(exc).__name__}: "
            f"{exc}. Install the test extra (pip install -e '.[test]'), or start a server "
            f"yourself and set {ENV_VAR} to its DSN, e.g. {DEFAULT_DSN}."
        ) from exc


class PostgresService:
    """One PostgreSQL for a whole session: an existing ``ASYNCGRAPH_PG_DSN``, or pgserver's.

    ``ensure()`` is idempotent and cheap after the first call. ``close()`` stops a server
    this object started, removes its files and restores ``ASYNCGRAPH_PG_DSN``; it leaves a
    server it did not start alone.
    """

    def __init__(self, base_dir: Path | None = None) -> None:
        self._base_dir = base_dir  # where to create the server's directory (default: TMPDIR)
        self._server: Any = None
        self._workdir: Path | None = None
        self._error: PostgresUnavailableError | None = None
        self._previous: str | None = None

    @property
    def started_here(self) -> bool:
        """Whether this object started the server (rather than using a preset DSN)."""
        return self._server is not None

    def ensure(self) -> str:
        """Return the DSN, starting a server first if needed, and export it as the env var.

        Raises:
            PostgresUnavailableError: The server could not start (now or on an earlier call).
        """
        if self._server is not None:
            return str(os.environ[ENV_VAR])
        preset = os.environ.get(ENV_VAR)
        if preset:
            return preset
        if self._error is not None:
            raise PostgresUnavailableError(
                f"PostgreSQL could not be started earlier in this session: {self._error}"
            ) from self._error
        try:
            workdir = Path(tempfile.mkdtemp(prefix="asyncgraph-pg-", dir=self._base_dir))
        except OSError as exc:
            self._error = PostgresUnavailableError(
                f"Could not create a directory for PostgreSQL: {exc}. Check TMPDIR, or start a "
                f"server yourself and set {ENV_VAR} to its DSN, e.g. {DEFAULT_DSN}."
            )
            raise self._error from exc
        try:
            self._server = start_pgserver(workdir / "pgdata")
        except PostgresUnavailableError as exc:
            shutil.rmtree(workdir, ignore_errors=True)
            self._error = exc
            raise
        self._workdir = workdir
        self._previous = preset
        dsn = str(self._server.get_uri())
        os.environ[ENV_VAR] = dsn
        return dsn

    def close(self) -> None:
        server, workdir, self._server, self._workdir = self._server, self._workdir, None, None
        if server is None:
            return
        try:
            server.cleanup()
        finally:
            if self._previous is None:
                os.environ.pop(ENV_VAR, None)
            else:
                os.environ[ENV_VAR] = self._previous
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)

    def __enter__(self) -> PostgresService:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# -- the pytest plugin ------------------------------------------------------------------

_SERVICE = pytest.StashKey[PostgresService]()
_MENTIONS = pytest.StashKey[dict[Path, bool]]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SERVICE] = PostgresService()
    config.stash[_MENTIONS] = {}


def pytest_unconfigure(config: pytest.Config) -> None:
    service = config.stash.get(_SERVICE, None)
    if service is not None:
        service.close()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Start PostgreSQL before the first docs example of a page that reads ASYNCGRAPH_PG_DSN."""
    if _page_mentions_env_var(item):
        item.config.stash[_SERVICE].ensure()


def _page_mentions_env_var(item: pytest.Item) -> bool:
    path = Path(item.path)
    if path.suffix != ".md":
        return False
    cache = item.config.stash[_MENTIONS]
    if path not in cache:
        cache[path] = ENV_VAR in path.read_text(encoding="utf-8")
    return cache[path]


@pytest.fixture(scope="session")
def postgres_dsn(pytestconfig: pytest.Config) -> str:
    """The DSN of a running PostgreSQL (also exported as ``ASYNCGRAPH_PG_DSN``)."""
    return pytestconfig.stash[_SERVICE].ensure()
