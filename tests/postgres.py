"""A real PostgreSQL server for the tests: the one named by ``NAS_TEST_POSTGRES``, or a private one.

Without ``NAS_TEST_POSTGRES`` (a server URL such as ``postgresql://user:pw@host/postgres``),
the session starts its own throwaway server with the installed PostgreSQL binaries
(Debian's ``postgresql`` package puts them in ``/usr/lib/postgresql/N/bin``): ``initdb``
into a temporary directory, a Unix socket there, trust authentication, no TCP port. As
root it runs them as the ``postgres`` user (the server refuses to run as root).

Each test gets a database of its own. Where no server can be had, the tests skip and say
why, unless ``NAS_REQUIRE_POSTGRES=1`` (CI sets it): then that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "postgres", "postgres_server", "private_server", "unavailable"]


@dataclass
class PostgresServer:
    """A running server: ``url(db)`` is the SQLAlchemy URL of database ``db`` on it."""

    base: str  # URL without the database name: "postgresql://user:pw@host" (query kept apart)
    query: str = ""  # "?host=/socket/dir" for a private server
    trust: bool = False  # any password is accepted (a private server)

    def url(self, database: str, password: str | None = None) -> str:
        """The URL of ``database``; ``password`` replaces the URL's own (only a trusting server accepts any)."""
        base = self.base
        if password is not None:
            scheme, rest = base.split("://", 1)
            user = rest.split("@", 1)[0].split(":", 1)[0]
            base = f"{scheme}://{user}:{password}@{rest.split('@', 1)[1] if '@' in rest else ''}"
        return f"{base}/{database}{self.query}"

    def create_database(self) -> str:
        """A new empty database's name."""
        import psycopg

        name = f"nas_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as con:
            con.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as con:
            con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def unavailable(reason: str) -> None:
    """Skip (or, when ``NAS_REQUIRE_POSTGRES=1``, fail) with ``reason``."""
    if os.environ.get("NAS_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here (NAS_REQUIRE_POSTGRES=1) but {reason}")
    pytest.skip(f"no PostgreSQL server: {reason}")


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    runuser = shutil.which("runuser")
    if runuser is None:
        raise RuntimeError("running as root and runuser is missing, so initdb cannot run as user postgres")
    return [runuser, "-u", "postgres", "--", *cmd]


def private_server() -> Iterator[PostgresServer]:
    """Start a throwaway server in a new temporary directory; stop it and delete everything when resumed."""
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = shutil.which("initdb") or (bins[-1] if bins else None)
    if initdb is None:
        raise RuntimeError("no initdb found (install the Debian package postgresql)")
    pg_ctl = str(Path(initdb).with_name("pg_ctl"))
    top = Path(tempfile.mkdtemp(prefix="nas-pg-"))
    try:
        os.chmod(top, 0o755)  # the server's user must reach its directory
        root = top / "pg"
        root.mkdir()
        if os.geteuid() == 0:
            shutil.chown(root, "postgres")
        data = root / "data"
        subprocess.run(_as_server_user([initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"]),
                       check=True, capture_output=True, text=True)
        options = f"-k {root} -c listen_addresses='' -c fsync=off -c max_connections=200"
        subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w",
                                        "start"]), check=True, capture_output=True, text=True)
        try:
            yield PostgresServer("postgresql://postgres@", f"?host={root}", trust=True)
        finally:
            subprocess.run(_as_server_user([pg_ctl, "-D", str(data), "-m", "immediate", "stop"]),
                           capture_output=True, check=False)
    finally:
        shutil.rmtree(top, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer | str]:
    """The session's server, or a string saying why there is none."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        yield "the driver psycopg is not installed (pip install 'psycopg[binary]')"
        return
    url = os.environ.get("NAS_TEST_POSTGRES")
    if url:
        base, _, _db = url.rpartition("/")
        yield PostgresServer(base)
        return
    servers = private_server()
    try:
        server = next(servers)
    except (RuntimeError, OSError, subprocess.CalledProcessError) as err:
        detail = (getattr(err, "stderr", "") or str(err)).strip()
        yield f"could not start a private server ({detail.splitlines()[-1] if detail else type(err).__name__})"
        return
    yield server
    next(servers, None)

@pytest.fixture
def postgres(postgres_server: PostgresServer | str) -> Iterator[tuple[PostgresServer, str]]:
    """A fresh database on the session's PostgreSQL server: ``(server, database name)``; skips without one."""
    if isinstance(postgres_server, str):
        unavailable(postgres_server)
    name = postgres_server.create_database()
    yield postgres_server, name
    postgres_server.drop_database(name)
