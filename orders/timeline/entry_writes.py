"""Writing an order's new timeline entries and the order's fields they change, in one round trip on PostgreSQL.

Every business step of every order writes here, so its cost is paid on every
order: on PostgreSQL the entries' INSERT (a key already written is skipped by
the unique constraint, ON CONFLICT DO NOTHING) and the order's UPDATE go as
one statement. The UPDATE applies only when every entry that changes the
order was new (the usual case); otherwise the caller applies the changes of
the new entries alone, as it would row by row. Other databases take the ORM's way (mirror.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from orders.models import Order
from orders.timeline.models import OrderEvent


@dataclass(frozen=True)
class NewEntry:
    key: str
    kind: str
    message: str
    actor: str
    status: str
    created_at: datetime


@dataclass(frozen=True)
class Written:
    # The keys the statement inserted, in the entries' order.
    keys: list[str]
    # Whether the order's fields were updated (every entry that changes them was new).
    order_updated: bool
    # The order's (created_at, requires_approval), read back by the update: the approval-time metric needs them.
    order_row: tuple[datetime, bool] | None


def one_statement() -> bool:
    return connection.vendor == "postgresql"


def entries_and_order_write(order_id: int, entries: list[NewEntry], changed: dict[str, object], changing: list[str]) -> Written:
    """INSERT the entries (skipping keys already held) and UPDATE the order with `changed` when the entries keyed
    `changing` (those whose values `changed` carries) were all new. An entry written before whose values a later
    one overrides, such as the submission a first step sends again, does not stop it."""
    event = OrderEvent._meta
    column = {name: event.get_field(name).column for name in ("order", "kind", "message", "actor", "idempotency_key", "status",
                                                               "created_at")}
    insert = (
        f'INSERT INTO {_q(event.db_table)} ({_q(column["order"])}, {_q(column["idempotency_key"])}, {_q(column["kind"])}, '
        f'{_q(column["message"])}, {_q(column["actor"])}, {_q(column["status"])}, {_q(column["created_at"])}) '
        "SELECT %s, k, kind, message, actor, status, at FROM UNNEST(%s::varchar[], %s::varchar[], %s::varchar[], %s::varchar[], "
        "%s::varchar[], %s::timestamptz[]) WITH ORDINALITY AS e(k, kind, message, actor, status, at, n) ORDER BY n "
        "ON CONFLICT ON CONSTRAINT orderevent_once_per_key DO NOTHING "
        f'RETURNING {_q(column["idempotency_key"])} AS key'
    )
    params: list[object] = [order_id, [e.key for e in entries], [e.kind for e in entries], [e.message for e in entries],
                            [e.actor for e in entries], [e.status for e in entries], [e.created_at for e in entries]]
    if changed:
        order = Order._meta
        sets = ", ".join(f"{_q(order.get_field(name).column)} = %s" for name in changed)
        update = (f"UPDATE {_q(order.db_table)} SET {sets} WHERE {_q(order.pk.column)} = %s "
                  "AND (SELECT count(*) FROM new WHERE key = ANY(%s)) = %s "
                  f"RETURNING {_q(order.get_field('created_at').column)} AS created_at, "
                  f"{_q(order.get_field('requires_approval').column)} AS requires_approval")
        params += [*changed.values(), order_id, changing, len(set(changing))]
    else:
        update = "SELECT NULL::timestamptz AS created_at, NULL::boolean AS requires_approval WHERE false"
    sql = (f"WITH new AS ({insert}), changed AS ({update}) "
           "SELECT ARRAY(SELECT key FROM new), (SELECT count(*) FROM changed), "
           "(SELECT created_at FROM changed), (SELECT requires_approval FROM changed)")
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        keys, updated, created_at, requires_approval = cursor.fetchone()
    inserted = set(keys)
    return Written(keys=[e.key for e in entries if e.key in inserted], order_updated=bool(updated),
                   order_row=(created_at, requires_approval) if updated else None)


def _q(name: str) -> str:
    return connection.ops.quote_name(name)
