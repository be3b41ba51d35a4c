"""Whether another connection could take a row lock now (PostgreSQL): what a concurrent step would meet."""
from __future__ import annotations

import threading

from django.db import DatabaseError, connection, connections, transaction


def lock_from_elsewhere(sql: str, params: list) -> str:
    """Run `sql` (a NOWAIT lock) on another thread's connection: "went on", or "blocked" if the row is held."""
    outcome: list[str] = []

    def attempt() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(sql, params)
            outcome.append("went on")
        except DatabaseError:
            outcome.append("blocked")
        finally:
            connections.close_all()

    other = threading.Thread(target=attempt)
    other.start()
    other.join()
    return outcome[0]
