"""The benchmark's PostgreSQL databases: dropped and re-created, so their names must contain "bench"."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg

from .cpu import cpu_seconds
from .servers import BenchError


class BenchDatabase:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = url
        self.name = parts.path.strip("/")
        if "bench" not in self.name:
            raise BenchError(f"the benchmark drops and re-creates its database: give it a name containing "
                             f"'bench' (BENCH_DATABASE_URL names {self.name!r})")
        self._admin_url = urlunsplit(parts._replace(path="/postgres"))
        self._conn: psycopg.Connection | None = None

    @contextlib.contextmanager
    def _admin(self) -> Iterator[psycopg.Connection]:
        """One connection to the server's `postgres` database, kept for the run: the benchmark asks
        around every replay (backend_cpu), and on a shared server a connection refused for "too many
        clients" must not end a half-hour run — it is tried again for a minute."""
        if self._conn is None or self._conn.closed:
            self._conn = _connect(self._admin_url, self.url)
        try:
            yield self._conn
        except psycopg.OperationalError:
            self._conn.close()
            self._conn = None
            raise

    def version(self) -> str:
        with self._admin() as conn:
            return conn.execute("SHOW server_version").fetchone()[0]

    def recreate(self) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{self.name}"')

    def clone(self, suffix: str) -> BenchDatabase:
        """A copy of this (migrated, unused) database, named <name><suffix>."""
        copy = BenchDatabase(urlunsplit(urlsplit(self.url)._replace(path=f"/{self.name}{suffix}")))
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{copy.name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{copy.name}" TEMPLATE "{self.name}"')
        return copy

    def drop(self) -> None:
        with self._admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')

    def backend_cpu(self) -> dict[int, float]:
        """CPU seconds so far of each PostgreSQL backend connected to this database ({} when the
        server's processes are not visible here, e.g. in a container)."""
        with self._admin() as conn:
            pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [self.name])]
        return {pid: cpu_seconds([pid]) for pid in pids if Path(f"/proc/{pid}/stat").exists()}

    def truncate(self) -> None:
        """Empty every application table, so each run starts from the same state — but the record of
        the Redis datasets already checked for lost invalidations (caching_replayeddataset): it
        describes the Redis server, which the run flushes but does not replace. Emptied, the first new
        process after the flush (the run's `cache_stats --reset`) would replay the cold start's
        invalidations into the warm cache, as for a Redis that lost writes: a run's first turn of each
        user would miss (steady-state hit rate 78 % instead of 99 %)."""
        with _connect(self.url, self.url) as conn:
            tables = [row[0] for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename ~ "
                "'^(memory|conversations|nutrition|caching)_' AND tablename <> 'caching_replayeddataset'")]
            if tables:
                conn.execute("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE")
            conn.execute("VACUUM ANALYZE")




def _connect(url: str, named: str) -> psycopg.Connection:
    deadline = time.monotonic() + 60
    while True:
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=3)
        except psycopg.OperationalError as error:
            if "too many clients" in str(error) and time.monotonic() < deadline:
                time.sleep(1)
                continue
            host = urlsplit(named).netloc.rpartition("@")[2]
            raise BenchError(f"PostgreSQL does not answer at {host} ({str(error).strip()}). Start it "
                             "(e.g. `bash -c 'source .ci/run && ensure_postgres'`) or set BENCH_DATABASE_URL.") from None
