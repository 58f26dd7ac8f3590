"""tests/_services.py: the PostgreSQL the docs examples run against.

These tests use the real server (pgserver's PostgreSQL 16, or the one ASYNCGRAPH_PG_DSN
points at) and a real client (asyncpg); nothing is mocked. They need the plugin loaded by
the root conftest.py (``pytest_plugins = [..., "tests._services"]``).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import asyncpg
import pytest

from tests._services import ENV_VAR, PostgresService, PostgresUnavailableError, start_pgserver

ROOT = Path(__file__).resolve().parents[1]


def test_fixture_gives_a_running_server_and_exports_it(postgres_dsn: str) -> None:
    async def query() -> tuple[int, str]:
        conn = await asyncpg.connect(postgres_dsn)
        try:
            return await conn.fetchval("SELECT 6 * 7"), await conn.fetchval("SHOW server_version")
        finally:
            await conn.close()

    answer, version = asyncio.run(query())
    assert answer == 42
    assert int(version.split(".")[0]) >= 12  # pgserver ships 16; a preset server may differ
    assert os.environ[ENV_VAR] == postgres_dsn  # what the docs pages read


def test_preset_dsn_is_used_as_is(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV_VAR, "postgresql://someone@db.example/elsewhere")
    service = PostgresService()
    try:
        assert service.ensure() == "postgresql://someone@db.example/elsewhere"
        assert not service.started_here  # nothing was started
    finally:
        service.close()
    assert os.environ[ENV_VAR] == "postgresql://someone@db.example/elsewhere"  # left alone


def test_start_failure_is_an_error_with_the_fix_not_a_skip(tmp_path: Path) -> None:
    missing_parent = tmp_path / "does-not-exist" / "pgdata"
    with pytest.raises(PostgresUnavailableError) as info:
        start_pgserver(missing_parent)
    message = str(info.value)
    assert "Could not start PostgreSQL with pgserver" in message
    assert ENV_VAR in message  # tells the reader how to use their own server instead


def test_a_failed_start_is_remembered_and_raised_again(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    service = PostgresService(base_dir=tmp_path / "no-such-dir")
    with pytest.raises(PostgresUnavailableError, match="Could not create a directory"):
        service.ensure()
    with pytest.raises(PostgresUnavailableError, match="could not be started earlier"):
        service.ensure()  # one failed attempt per session, not one per test
    assert ENV_VAR not in os.environ


def test_tests_that_need_postgres_fail_when_it_cannot_start(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the plugin: the fixture and a page naming ASYNCGRAPH_PG_DSN error, never skip."""
    pytester.makeconftest(
        """
        import pytest

        pytest_plugins = ["tests._services"]


        class Page(pytest.File):
            def collect(self):
                yield Example.from_parent(self, name="example")


        class Example(pytest.Item):
            def runtest(self):
                pass


        def pytest_collect_file(file_path, parent):
            if file_path.suffix == ".md":
                return Page.from_parent(parent, path=file_path)
        """
    )
    pytester.makefile(".md", needs_pg="dsn = os.environ.get('ASYNCGRAPH_PG_DSN', '...')")
    pytester.makefile(".md", plain="no database on this page")
    pytester.makepyfile(test_db="def test_db(postgres_dsn):\n    pass\n")
    monkeypatch.delenv(ENV_VAR, raising=False)
    with monkeypatch.context() as patch:
        # A temporary directory that does not exist: the service cannot create its folder.
        # (-s: the inner session's output capture would need a temporary file too.)
        patch.setattr(tempfile, "tempdir", str(pytester.path / "no-such-tmp"))
        result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:asyncio", "-s")
    result.assert_outcomes(passed=1, errors=2)  # plain.md passes; nothing is skipped
    result.stdout.fnmatch_lines(["*PostgresUnavailableError: Could not create a directory*"])
    assert ENV_VAR not in os.environ


def test_service_starts_its_own_server_and_cleans_up(tmp_path: Path) -> None:
    """In a child process with no ASYNCGRAPH_PG_DSN: start, query, close, nothing left."""
    script = textwrap.dedent(
        f"""
        import asyncio, os, sys
        sys.path.insert(0, {str(ROOT)!r})
        import asyncpg
        from tests._services import ENV_VAR, PostgresService

        assert ENV_VAR not in os.environ
        with PostgresService() as service:
            dsn = service.ensure()
            assert service.started_here and os.environ[ENV_VAR] == dsn
            assert service.ensure() == dsn  # idempotent: one server per session

            async def query():
                conn = await asyncpg.connect(dsn)
                try:
                    return await conn.fetchval("SELECT 1")
                finally:
                    await conn.close()

            assert asyncio.run(query()) == 1
            workdir = service._workdir
        assert ENV_VAR not in os.environ  # restored
        assert not workdir.exists()  # data directory deleted
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "ok"
