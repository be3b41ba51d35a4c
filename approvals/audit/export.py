"""The audit export: decisions and timeline entries as CSV or JSON lines, streamed.

A year of a busy desk is a million rows, so nothing here holds more than a
chunk of them: each table is read in (time, id) order through a server-side
cursor (PostgreSQL) or chunked reads (SQLite), the two streams are merged in
order, and the encoded text leaves in blocks of about 64 KiB.

Views call `stream()`; everything else is the query and the encoders, which
know nothing of requests.
"""
from __future__ import annotations

import csv
import heapq
import json
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import Q

from approvals.models import ApprovalDecision, AuditExport
from orders.timeline.models import OrderEvent

# Rows fetched from the database per round trip, per table: a million rows
# cost ~1,000 round trips (milliseconds each), and a chunk of both tables is
# ~2 MiB of Python objects, the bulk of the export's memory.
CHUNK_ROWS = 1000
# Encoded text handed to the web server at a time (one write per block, not per row).
BLOCK_CHARS = 64 * 1024

COLUMNS = [
    "record", "record_id", "at", "order_id", "order_number", "customer", "order_state",
    "actor", "action", "text", "senior", "superseded", "request_id", "entry_key",
    # Last, so readers of the earlier columns by position keep working: whom
    # the actor stood in for under a delegation (decisions only).
    "on_behalf_of",
    # When and why an approver took the approval back (decisions only; empty: not withdrawn).
    "withdrawn_at", "withdrawal_reason",
]
# Which record comes first when a decision and a timeline entry share a timestamp.
_DECISION, _TIMELINE = 0, 1

# ASCII digits only: str.isdigit() also accepts "²" (which int() refuses) and
# other scripts' digits (which no form bound would have checked).
CUSTOMER_ID = re.compile(r"[0-9]+")

# A spreadsheet runs a cell that starts with one of these as a formula
# (OWASP "CSV injection"; tab and CR too, and the full-width forms some
# spreadsheet applications also accept).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


@dataclass(frozen=True)
class AuditFilters:
    """What to export. `since` is inclusive, `until` exclusive; empty means no limit."""

    records: str = AuditExport.Records.ALL
    since: datetime | None = None
    until: datetime | None = None
    actor: str = ""
    customer: str = ""
    state: str = ""


def _common(filters: AuditFilters, actor_field: str, *also_actor: str) -> Q:
    """The filters as a query; `also_actor`: more fields that name the filtered actor."""
    q = Q()
    if filters.since is not None:
        q &= Q(created_at__gte=filters.since)
    if filters.until is not None:
        q &= Q(created_at__lt=filters.until)
    if filters.actor:
        named = Q(**{actor_field: filters.actor})
        for field in also_actor:
            named |= Q(**{field: filters.actor})
        q &= named
    if filters.state:
        q &= Q(order__status=filters.state)
    if filters.customer:
        q &= _customer_q(filters.customer)
    return q


def _customer_q(text: str) -> Q:
    """A customer by id (digits), by e-mail (contains @), or by part of the name."""
    if CUSTOMER_ID.fullmatch(text):
        return Q(order__customer_id=int(text))
    if "@" in text:
        return Q(order__customer__email__iexact=text)
    return Q(order__customer__name__icontains=text)


def decision_rows(filters: AuditFilters, chunk_size: int = CHUNK_ROWS) -> Iterator[tuple]:
    rows = (
        # A person's decisions include those taken on their behalf.
        ApprovalDecision.objects.filter(_common(filters, "approver_username", "on_behalf_of_username"))
        .order_by("created_at", "id")
        .values_list("created_at", "id", "order_id", "order__number", "order__customer__name", "order__status",
                     "approver_username", "decision", "comment", "senior", "superseded", "request_id", "on_behalf_of_username",
                     "withdrawn_at", "withdrawal_reason")
        .iterator(chunk_size=chunk_size)
    )
    for (at, pk, order_id, number, customer, state, actor, action, text, senior, superseded, request_id, on_behalf_of, withdrawn_at,
         withdrawal_reason) in rows:
        yield (at, _DECISION, pk, "decision", order_id, number, customer, state, actor, action, text, senior, superseded,
               request_id, None, on_behalf_of, withdrawn_at.isoformat(timespec="microseconds") if withdrawn_at else None,
               withdrawal_reason if withdrawn_at else None)


def timeline_rows(filters: AuditFilters, chunk_size: int = CHUNK_ROWS) -> Iterator[tuple]:
    rows = (
        OrderEvent.objects.filter(_common(filters, "actor"))
        .order_by("created_at", "id")
        .values_list("created_at", "id", "order_id", "order__number", "order__customer__name", "order__status",
                     "actor", "kind", "message", "idempotency_key")
        .iterator(chunk_size=chunk_size)
    )
    for at, pk, order_id, number, customer, state, actor, kind, message, key in rows:
        yield (at, _TIMELINE, pk, "timeline", order_id, number, customer, state, actor, kind, message, None, None, None, key,
               None, None, None)


def audit_rows(filters: AuditFilters, chunk_size: int = CHUNK_ROWS) -> Iterator[tuple]:
    """The selected records in (time, record, id) order.

    The tuples lead with that key, so the merge compares them as they are;
    both inputs arrive sorted from the database, so the merge holds one row of
    each at a time.
    """
    if filters.records == AuditExport.Records.DECISIONS:
        return decision_rows(filters, chunk_size)
    if filters.records == AuditExport.Records.TIMELINE:
        return timeline_rows(filters, chunk_size)
    return heapq.merge(decision_rows(filters, chunk_size), timeline_rows(filters, chunk_size))


def _record(row: tuple) -> list:
    """A merged row as the exported columns (the merge key's rank dropped)."""
    at, _rank, pk, record, *rest = row
    return [record, pk, at.isoformat(timespec="microseconds"), *rest]


def spreadsheet_safe(value: str | None) -> str | None:
    """Text a spreadsheet would run as a formula, made inert with a leading apostrophe."""
    if value and value[0] in _FORMULA_FIRST:
        return "'" + value
    return value


_FORMULA_FIRST = frozenset(FORMULA_STARTS)
_CSV_BOOL = {True: "true", False: "false", None: ""}


def _csv_row(row: tuple) -> tuple:
    """A merged row as CSV cells: booleans as words, every free text made
    spreadsheet-safe (states and actions are our own words). Unrolled: it
    runs once per row of a million-row file."""
    (at, _rank, pk, record, order_id, number, customer, state, actor, action, text, senior, superseded, request_id, key, on_behalf_of,
     withdrawn_at, withdrawal_reason) = row
    return (record, pk, at.isoformat(timespec="microseconds"), order_id, spreadsheet_safe(number), spreadsheet_safe(customer),
            state, spreadsheet_safe(actor), action, spreadsheet_safe(text), _CSV_BOOL[senior], _CSV_BOOL[superseded],
            spreadsheet_safe(request_id), spreadsheet_safe(key), spreadsheet_safe(on_behalf_of), withdrawn_at,
            spreadsheet_safe(withdrawal_reason))


class _Blocks:
    """A file-like sink for csv.writer that hands back what it gathered in blocks."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0

    def write(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def take(self) -> bytes:
        block = "".join(self.parts).encode()
        self.parts, self.size = [], 0
        return block


def csv_blocks(rows: Iterable[tuple]) -> Iterator[bytes]:
    sink = _Blocks()
    # A byte-order mark, so spreadsheet applications read the file as UTF-8.
    sink.write("\ufeff")
    writer = csv.writer(sink, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow(_csv_row(row))
        if sink.size >= BLOCK_CHARS:
            yield sink.take()
    yield sink.take()


def jsonl_blocks(rows: Iterable[tuple]) -> Iterator[bytes]:
    """One JSON object per line, the same keys as the CSV's columns; booleans
    and absent values (null) as JSON has them. Not spreadsheet-escaped: a
    program reads this, and gets the text exactly as stored."""
    sink = _Blocks()
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    for row in rows:
        sink.write(dumps(dict(zip(COLUMNS, _record(row), strict=True))))
        sink.write("\n")
        if sink.size >= BLOCK_CHARS:
            yield sink.take()
    if sink.size:
        yield sink.take()


ENCODERS: dict[str, Callable[[Iterable[tuple]], Iterator[bytes]]] = {
    AuditExport.Format.CSV: csv_blocks,
    AuditExport.Format.JSONL: jsonl_blocks,
}
CONTENT_TYPES = {AuditExport.Format.CSV: "text/csv; charset=utf-8", AuditExport.Format.JSONL: "application/x-ndjson; charset=utf-8"}


class _Tally:
    def __init__(self, rows: Iterable[tuple]) -> None:
        self.rows, self.count = rows, 0

    def __iter__(self) -> Iterator[tuple]:
        for row in self.rows:
            self.count += 1
            yield row


def stream(filters: AuditFilters, fmt: str, *, on_complete: Callable[[int], None] | None = None,
           chunk_size: int = CHUNK_ROWS) -> Iterator[bytes]:
    """The export as blocks of bytes; `on_complete(rows)` once the last block is out.

    On PostgreSQL the reads run in one transaction: outside one, Django
    declares its cursors WITH HOLD, and the server then copies the whole
    result before sending the first row. On SQLite a transaction would take
    the write lock (IMMEDIATE mode) for the whole download, and chunked reads
    stream without one.
    """
    tally = _Tally(audit_rows(filters, chunk_size))
    reading = transaction.atomic() if connection.vendor == "postgresql" else nullcontext()
    with reading:
        yield from ENCODERS[fmt](tally)
    if on_complete is not None:
        on_complete(tally.count)
