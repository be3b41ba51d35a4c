"""Every SQL statement a process sends while a real worker runs orders, by the activity that sent it.

Counts what PostgreSQL receives from Django in every thread: statements (savepoints included), commits,
the health checks Django runs on a kept connection, and new connections. A statement sent outside any
activity (the codec's key lookups, a workflow task's payloads) counts under OUTSIDE.
"""
from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from temporalio import activity

OUTSIDE = "(outside an activity)"


@dataclass
class SqlTrace:
    statements: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    events: Counter = field(default_factory=Counter)  # ("commit" | "health check" | "connect", activity) -> n
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add_statement(self, sql: str) -> None:
        with self._lock:
            self.statements[_where()].append(" ".join(sql.split()))

    def add_event(self, what: str) -> None:
        with self._lock:
            self.events[(what, _where())] += 1

    def count(self, where: str | None = None) -> int:
        """Statements sent, in one activity or in all (health checks included: each is a round trip)."""
        places = [where] if where else list(self.statements)
        checks = sum(n for (what, at), n in self.events.items() if what == "health check" and (where is None or at == where))
        return sum(len(self.statements[place]) for place in places) + checks

    def table(self, *, full: bool = False) -> str:
        """One line per place: statements, commits, health checks, connections; then the statements' shapes
        (`full`: every statement, in the order sent)."""
        rows = []
        for place in sorted(set(self.statements) | {at for _, at in self.events}):
            shapes = Counter(_shape(sql) for sql in self.statements.get(place, []))
            rows.append(f"{place}: {len(self.statements.get(place, []))} statements, {self.events[('commit', place)]} commits, "
                        f"{self.events[('health check', place)]} health checks, {self.events[('connect', place)]} new connections")
            if full:
                rows += [f"    {sql[:300]}" for sql in self.statements.get(place, [])]
            else:
                rows += [f"    {n} x {shape}" for shape, n in shapes.most_common()]
        return "\n".join(rows)


SUBMITTER = "(the test's own thread: submitting, reading)"


def _where() -> str:
    if activity.in_activity():
        return activity.info().activity_type
    return SUBMITTER if threading.current_thread() is threading.main_thread() else OUTSIDE


def _shape(sql: str) -> str:
    """A statement's kind and table, short enough to list: "SELECT orders_order ... FOR UPDATE"."""
    words = sql.split()
    verb = words[0].upper() if words else ""
    if verb in ("SAVEPOINT", "RELEASE", "ROLLBACK"):
        return verb
    table = next((w.strip('"(') for i, w in enumerate(words) if i and words[i - 1].upper() in ("FROM", "INTO", "UPDATE")), "")
    return f"{verb} {table}{' FOR UPDATE' if 'FOR UPDATE' in sql.upper() else ''}"


@contextmanager
def sql_trace() -> Iterator[SqlTrace]:
    """Record every statement sent through Django, from every thread, until the block ends."""
    trace = SqlTrace()
    opened: list = []  # the worker threads' connections, closed at the end (their threads are gone by then)
    originals = (CursorWrapper._execute_with_wrappers, BaseDatabaseWrapper.commit, BaseDatabaseWrapper.connect)
    execute, commit, connect = originals

    def traced_execute(self, sql, params, many, executor):
        trace.add_statement(sql)
        return execute(self, sql, params, many, executor)

    def traced_commit(self):
        if self.connection is not None and not self.get_autocommit():
            trace.add_event("commit")
        return commit(self)

    def traced_connect(self):
        trace.add_event("connect")
        connect(self)
        if threading.current_thread() is not threading.main_thread():
            opened.append(self.connection)

    backend = type(connections["default"])  # the engine's own class: its is_usable runs the health check
    usable = backend.is_usable

    def traced_usable(self):
        trace.add_event("health check")
        return usable(self)

    CursorWrapper._execute_with_wrappers = traced_execute  # type: ignore[method-assign]
    BaseDatabaseWrapper.commit = traced_commit  # type: ignore[method-assign]
    BaseDatabaseWrapper.connect = traced_connect  # type: ignore[method-assign]
    backend.is_usable = traced_usable  # type: ignore[method-assign]
    try:
        yield trace
    finally:
        CursorWrapper._execute_with_wrappers, BaseDatabaseWrapper.commit, BaseDatabaseWrapper.connect = originals  # type: ignore[method-assign]
        backend.is_usable = usable  # type: ignore[method-assign]
        for raw in opened:
            raw.close()
