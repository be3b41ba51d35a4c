"""The bench's environment: its own database and settings, chosen before Django starts.

PostgreSQL is preferred: DATABASE_URL's server if it names one, else the
local cluster that .ci/run sets up (orderdesk/orderdesk on 127.0.0.1:5432).
The bench never touches that database itself: it creates (and at the end
drops) its own, `orderdesk_bench` (or `$ORDER_DESK_BENCH_DB`), on the same
server. With no PostgreSQL reachable it falls back to SQLite under
var/bench/ and skips the parts that need 100k rows on PostgreSQL, saying so
in the table.
"""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from temporal_bridge.client.codec import new_key_entry

DEFAULT_PG = "postgres://orderdesk:orderdesk@127.0.0.1:5432/orderdesk"
# Another name when two checkouts share the server: the bench drops its database
# WITH (FORCE) at start and end, which would cut another run's connections.
BENCH_DB_NAME = os.environ.get("ORDER_DESK_BENCH_DB", "orderdesk_bench")
if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", BENCH_DB_NAME):
    raise SystemExit(f"ORDER_DESK_BENCH_DB must be a plain lower-case identifier, not {BENCH_DB_NAME!r}")


@dataclass
class BenchDatabase:
    engine: str  # "postgresql" or "sqlite"
    url: str  # DATABASE_URL for the bench processes ("" = SQLite default under ORDER_DESK_VAR_DIR)
    admin_url: str = ""  # a database on the same server to create/drop the bench one from
    why_not_pg: str = ""

    @property
    def label(self) -> str:
        if self.engine == "postgresql":
            parts = urlsplit(self.url)
            return f"PostgreSQL ({parts.hostname}:{parts.port or 5432}/{parts.path.lstrip('/')})"
        return "SQLite (no PostgreSQL reachable: " + self.why_not_pg + ")"


def _with_db(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def choose_database() -> BenchDatabase:
    url = os.environ.get("DATABASE_URL", "")
    candidate = url if url.startswith(("postgres://", "postgresql://")) else DEFAULT_PG
    try:
        import psycopg

        with psycopg.connect(_libpq(candidate), connect_timeout=3, autocommit=True) as conn:
            conn.execute("SELECT 1")
    except Exception as err:  # noqa: BLE001 - any failure means: no PostgreSQL for the bench
        where = urlsplit(candidate)
        return BenchDatabase("sqlite", "", why_not_pg=f"{where.hostname}:{where.port or 5432}: {type(err).__name__}")
    return BenchDatabase("postgresql", _with_db(candidate, BENCH_DB_NAME), admin_url=candidate)


def _libpq(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def create_database(db: BenchDatabase, var_dir: Path) -> None:
    """A fresh, empty bench database."""
    if db.engine == "postgresql":
        import psycopg

        with psycopg.connect(_libpq(db.admin_url), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB_NAME} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {BENCH_DB_NAME}")
    else:
        for suffix in ("", "-wal", "-shm"):
            (var_dir / f"db.sqlite3{suffix}").unlink(missing_ok=True)


def drop_database(db: BenchDatabase) -> None:
    if db.engine == "postgresql":
        import psycopg

        with psycopg.connect(_libpq(db.admin_url), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {BENCH_DB_NAME} WITH (FORCE)")


def configure(db: BenchDatabase, var_dir: Path, *, steps: int, step_seconds: float) -> None:
    """Environment for this process and every child: production-like settings, short fulfilment."""
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # DEBUG off, as in production: no query log, no debug pages.
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": os.environ.get("DJANGO_SECRET_KEY") or "bench-" + secrets.token_hex(24),
        # Production encrypts every payload (temporal_bridge/client/codec.py): so does the bench, with a key of its own.
        "ORDER_DESK_PAYLOAD_KEYS": os.environ.get("ORDER_DESK_PAYLOAD_KEYS") or new_key_entry("bench"),
        # Plain HTTP on loopback: no secure-only cookies, no redirect to https.
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        "ORDER_DESK_VAR_DIR": str(var_dir),
        # Production-like static files (hashed manifest): collected once per run, see __main__.
        "DJANGO_STATIC_ROOT": str(var_dir / "static"),
        "ORDER_FULFILMENT_STEPS": str(steps),
        "ORDER_FULFILMENT_STEP_SECONDS": str(step_seconds),
        "LOG_LEVEL": "WARNING",
        # The templates are rendered, nothing is sent: there is no SMTP server here.
        "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
        "PYTHONUNBUFFERED": "1",
    }
    if db.url:
        env["DATABASE_URL"] = db.url
    else:
        os.environ.pop("DATABASE_URL", None)
    os.environ.update(env)
