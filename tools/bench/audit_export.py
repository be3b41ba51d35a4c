"""The audit export at a year of a busy desk: rows per second and peak memory of the stream.

Measured in-process through the real view (Django's test client, as the
list-page figures are), so the figures are Django's and the database's, with
no network in between.
"""
from __future__ import annotations

import time
import tracemalloc
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from approvals.models import ApprovalDecision
from orders import roles
from orders.timeline.models import OrderEvent
from tests.approvals.trail_data import generate_trail

EXPORT = "/approvals/audit/export/"
# An order's trail as the desk writes it: about 18 timeline entries (submitted,
# policy, status changes, stock, payment, fulfilment steps, shipment, notice)
# and 2 decisions. A million rows is then 50,000 orders: a year at ~140 a day.
ENTRIES_PER_ORDER = 18
DECISIONS_PER_ORDER = 2


@dataclass
class Streamed:
    rows: int
    bytes: int
    seconds: float
    first_block: float  # seconds until the first block left the view
    peak: int | None  # traced Python memory, bytes (None when not traced)


def generate(rows: int, *, customer, created_by) -> int:
    orders = max(1, rows // (ENTRIES_PER_ORDER + DECISIONS_PER_ORDER))
    return generate_trail(orders=orders, events_per_order=ENTRIES_PER_ORDER, decisions_per_order=DECISIONS_PER_ORDER,
                          customer=customer, created_by=created_by)


def trail_rows() -> int:
    """Every decision and timeline entry in the database: what an unfiltered export holds."""
    return ApprovalDecision.objects.count() + OrderEvent.objects.count()


def auditor():
    user, _ = get_user_model().objects.get_or_create(username="bench-auditor")
    user.groups.set([Group.objects.get(name=roles.AUDITORS)])
    return get_user_model().objects.get(pk=user.pk)


def stream(client: Client, fmt: str, *, trace: bool) -> Streamed:
    """One whole export, its blocks counted and dropped as a browser's download would."""
    if trace:
        tracemalloc.start()
    try:
        started = time.perf_counter()
        response = client.get(EXPORT, {"format": fmt})
        if response.status_code != 200:
            raise RuntimeError(f"export answered {response.status_code}")
        size, lines, first = 0, 0, None
        for block in response.streaming_content:
            if first is None:
                first = time.perf_counter() - started
            size += len(block)
            lines += block.count(b"\n")
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if trace else None
    finally:
        if trace:
            tracemalloc.stop()
    header = 1 if fmt == "csv" else 0
    return Streamed(rows=lines - header, bytes=size, seconds=seconds, first_block=first or seconds, peak=peak)
