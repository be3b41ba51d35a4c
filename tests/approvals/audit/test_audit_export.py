"""The audit export: who may take it, what its filters select, what the files
hold, that each export is recorded, that bad input is a 400, and that a
100,000-row export streams in bounded memory."""
from __future__ import annotations

import csv
import gc
import io
import json
import time
import tracemalloc
from datetime import UTC, datetime

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from approvals.audit import export as audit
from approvals.models import ApprovalDecision, AuditExport
from orders.models import Customer
from orders.timeline.models import OrderEvent
from temporal_bridge.order import states
from tests.approvals.trail_data import generate_trail
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

EXPORT = "/approvals/audit/export/"
PAGE = "/approvals/audit/"


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


@pytest.fixture
def admin_user(db):
    return make_user("admin", is_staff=True, is_superuser=True)


def decide(order, approver, when, *, decision=ApprovalDecision.Decision.APPROVED, comment="", request_id=None):
    row = ApprovalDecision.objects.create(
        order=order, approver=approver, approver_username=approver.username, decision=decision, comment=comment,
        request_id=request_id or f"req-{ApprovalDecision.objects.count():08d}",
    )
    ApprovalDecision.objects.filter(pk=row.pk).update(created_at=when)
    return row


def note(order, when, *, kind=OrderEvent.Kind.NOTE, message="noted", actor="", key=None):
    row = OrderEvent.objects.create(order=order, kind=kind, message=message, actor=actor,
                                    idempotency_key=key or f"{OrderEvent.objects.filter(order=order).count():04d}-{kind}")
    OrderEvent.objects.filter(pk=row.pk).update(created_at=when)
    return row


@pytest.fixture
def trail(make_order, customer, clerk, manager, manager2, senior):
    """Two customers' orders with decisions and timeline entries on known days."""
    globex = Customer.objects.create(name="Globex Ltd", email="orders@globex.example")
    acme_order = make_order(status=states.APPROVED)
    globex_order = make_order(status=states.REJECTED, customer=globex)
    rows = {
        "acme_submitted": note(acme_order, at(1, 9), kind=OrderEvent.Kind.SUBMITTED, message="Submitted", actor="clerk"),
        "acme_by_manager": decide(acme_order, manager, at(1, 10), comment="fine"),
        "acme_by_senior": decide(acme_order, senior, at(2, 8), comment="also fine"),
        "acme_status": note(acme_order, at(2, 9), kind=OrderEvent.Kind.STATUS, message="Approved"),
        "globex_submitted": note(globex_order, at(3, 9), kind=OrderEvent.Kind.SUBMITTED, message="Submitted", actor="clerk"),
        "globex_by_manager2": decide(globex_order, manager2, at(5, 16), decision=ApprovalDecision.Decision.REJECTED,
                                     comment="over budget"),
    }
    return {"acme": acme_order, "globex": globex_order, "globex_customer": globex, **rows}


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def csv_rows(response) -> list[dict]:
    return list(csv.DictReader(io.StringIO(body_of(response).decode("utf-8-sig"))))


def exported(client, user, **params) -> list[dict]:
    client.force_login(user)
    response = client.get(EXPORT, params)
    assert response.status_code == 200, response.content[:500]
    return csv_rows(response)


def keys(rows) -> list[tuple[str, int]]:
    return [(r["record"], int(r["record_id"])) for r in rows]


def key(row) -> tuple[str, int]:
    return ("decision" if isinstance(row, ApprovalDecision) else "timeline", row.pk)


# --- Who may export ----------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PAGE, EXPORT])
def test_clerks_and_managers_may_not_export(client, clerk, manager, senior, outsider, path):
    for user in (clerk, manager, senior, outsider):
        client.force_login(user)
        assert client.get(path).status_code == 403, user.username
    assert not AuditExport.objects.exists()


@pytest.mark.parametrize("path", [PAGE, EXPORT])
def test_auditors_and_superusers_may_export(client, auditor, admin_user, path):
    for user in (auditor, admin_user):
        client.force_login(user)
        response = client.get(path)
        assert response.status_code == 200
        if path == EXPORT:
            body_of(response)


@pytest.mark.parametrize("path", [PAGE, EXPORT])
def test_anonymous_visitors_are_sent_to_the_login_page(client, path):
    response = client.get(path)
    assert response.status_code == 302 and response["Location"].startswith("/login/")


def test_the_audit_link_shows_only_for_those_who_may_export(client, auditor, admin_user, manager):
    link = 'href="/approvals/audit/"'
    for user, shown in ((auditor, True), (admin_user, True), (manager, False)):
        client.force_login(user)
        assert (link in client.get("/orders/").content.decode()) is shown, user.username


def test_on_the_audit_page_only_the_audit_link_is_marked_current(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/approvals/audit/").content.decode()
    assert 'href="/approvals/audit/" aria-current="page"' in page
    assert 'href="/approvals/" aria-current="page"' not in page


def test_migrate_gives_the_auditors_the_export_permission_and_nothing_to_decide(auditor):
    assert auditor.has_perm("approvals.export_audit")
    assert auditor.has_perm("orders.view_order")  # the orders an export names; where a login lands
    for decides_or_changes in ("orders.approve_order", "orders.add_order", "orders.change_order", "orders.cancel_order"):
        assert not auditor.has_perm(decides_or_changes)


def test_export_is_a_get_only(client, auditor):
    client.force_login(auditor)
    assert client.post(EXPORT, {}).status_code == 405


# --- Filters ------------------------------------------------------------------------------------


def test_no_filter_exports_every_decision_and_entry_oldest_first(client, auditor, trail):
    rows = exported(client, auditor)
    assert keys(rows) == [key(trail[name]) for name in (
        "acme_submitted", "acme_by_manager", "acme_by_senior", "acme_status", "globex_submitted", "globex_by_manager2")]


def test_date_range_includes_both_days_whole(client, auditor, trail):
    rows = exported(client, auditor, date_from="2026-03-02", date_to="2026-03-03")
    assert keys(rows) == [key(trail["acme_by_senior"]), key(trail["acme_status"]), key(trail["globex_submitted"])]
    assert keys(exported(client, auditor, date_from="2026-03-05")) == [key(trail["globex_by_manager2"])]
    assert keys(exported(client, auditor, date_to="2026-03-01")) == [key(trail["acme_submitted"]), key(trail["acme_by_manager"])]


def test_approver_filter_selects_their_decisions_and_the_entries_they_made(client, auditor, trail):
    assert keys(exported(client, auditor, approver="manager")) == [key(trail["acme_by_manager"])]
    assert keys(exported(client, auditor, approver="clerk")) == [key(trail["acme_submitted"]), key(trail["globex_submitted"])]
    assert exported(client, auditor, approver="nobody") == []


def test_customer_filter_by_name_part_email_or_id(client, auditor, trail):
    globex = [key(trail["globex_submitted"]), key(trail["globex_by_manager2"])]
    assert keys(exported(client, auditor, customer="globex")) == globex
    assert keys(exported(client, auditor, customer="ORDERS@globex.example")) == globex
    assert keys(exported(client, auditor, customer=str(trail["globex_customer"].pk))) == globex
    assert {r["customer"] for r in exported(client, auditor, customer="Acme")} == {"Acme Corporation"}


@pytest.mark.parametrize("text", ["²", "١٢٣", "９" * 30, "12a"])
def test_customer_text_that_only_looks_numeric_is_a_name_search(client, auditor, trail, text):
    assert exported(client, auditor, customer=text) == []


def test_state_filter_selects_by_the_orders_state_now(client, auditor, trail):
    rows = exported(client, auditor, state=states.REJECTED)
    assert keys(rows) == [key(trail["globex_submitted"]), key(trail["globex_by_manager2"])]
    assert exported(client, auditor, state=states.FULFILLED) == []


def test_records_filter_exports_decisions_or_timeline_only(client, auditor, trail):
    assert {r["record"] for r in exported(client, auditor, records="decisions")} == {"decision"}
    assert {r["record"] for r in exported(client, auditor, records="timeline")} == {"timeline"}


def test_filters_combine(client, auditor, trail):
    rows = exported(client, auditor, records="decisions", customer="acme", approver="senior", date_from="2026-03-02", state=states.APPROVED)
    assert keys(rows) == [key(trail["acme_by_senior"])]


# --- What the files hold ------------------------------------------------------------------------


def test_csv_is_an_attachment_with_every_column(client, auditor, trail):
    client.force_login(auditor)
    response = client.get(EXPORT)
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    disposition = response["Content-Disposition"]
    assert disposition.startswith('attachment; filename="audit-all-') and disposition.endswith('.csv"')
    assert response["Cache-Control"] == "no-store"
    rows = csv_rows(response)
    assert list(rows[0]) == audit.COLUMNS
    decision = next(r for r in rows if r["record"] == "decision")
    assert decision == {
        "record": "decision", "record_id": str(trail["acme_by_manager"].pk), "at": "2026-03-01T10:00:00.000000+00:00",
        "order_id": str(trail["acme"].pk), "order_number": trail["acme"].number, "customer": "Acme Corporation",
        "order_state": states.APPROVED, "actor": "manager", "action": "approved", "text": "fine", "senior": "false",
        "superseded": "false", "request_id": trail["acme_by_manager"].request_id, "entry_key": "", "on_behalf_of": "",
        "withdrawn_at": "", "withdrawal_reason": "",
    }
    entry = rows[0]
    fields = ("record", "action", "text", "actor", "senior")
    assert tuple(entry[f] for f in fields) == ("timeline", "submitted", "Submitted", "clerk", "")
    assert entry["entry_key"] == trail["acme_submitted"].idempotency_key


def test_jsonl_has_one_object_per_line_with_typed_values(client, auditor, trail):
    client.force_login(auditor)
    response = client.get(EXPORT, {"format": "jsonl", "records": "decisions", "approver": "manager2"})
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    assert response["Content-Disposition"].endswith('.jsonl"')
    lines = body_of(response).decode().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert list(row) == audit.COLUMNS
    assert row["action"] == "rejected" and row["text"] == "over budget" and row["senior"] is False and row["entry_key"] is None
    assert row["record_id"] == trail["globex_by_manager2"].pk and row["order_id"] == trail["globex"].pk


def test_csv_cells_a_spreadsheet_would_run_start_with_an_apostrophe(client, auditor, make_order, manager):
    order = make_order()
    hostile = ["=HYPERLINK(\"http://evil.example\",\"x\")", "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd", "\uff1d1+1"]
    for i, text in enumerate(hostile):
        decide(order, manager, at(1, i + 1), comment=text)
    decide(order, manager, at(2), comment="plain, with = inside and a - dash")
    client.force_login(auditor)

    rows = csv_rows(client.get(EXPORT, {"records": "decisions"}))
    assert [r["text"] for r in rows] == ["'" + text for text in hostile] + ["plain, with = inside and a - dash"]
    # JSON lines are for programs: the text exactly as stored.
    lines = body_of(client.get(EXPORT, {"records": "decisions", "format": "jsonl"})).decode().splitlines()
    assert [json.loads(line)["text"] for line in lines][: len(hostile)] == hostile


def test_an_empty_export_is_the_header_alone(client, auditor):
    client.force_login(auditor)
    response = client.get(EXPORT)
    assert body_of(response).decode("utf-8-sig") == ",".join(audit.COLUMNS) + "\r\n"


# --- Each export is recorded -------------------------------------------------------------------


def test_the_export_is_recorded_before_streaming_and_completed_after(client, auditor, trail):
    client.force_login(auditor)
    response = client.get(EXPORT, {"format": "jsonl", "customer": "globex", "date_from": "2026-03-01", "date_to": "2026-03-31",
                                   "approver": "", "unexpected": "ignored"})
    export = AuditExport.objects.get()
    assert (export.user, export.username, export.format, export.records) == (auditor, "auditor", "jsonl", "all")
    assert export.filters == {"date_from": "2026-03-01", "date_to": "2026-03-31", "customer": "globex"}
    assert export.row_count is None and export.completed_at is None  # nothing sent yet
    assert response["X-Audit-Export"] == str(export.pk)

    body_of(response)
    export.refresh_from_db()
    assert export.row_count == 2 and export.completed_at is not None


def test_the_export_page_lists_recent_exports(client, auditor, trail):
    client.force_login(auditor)
    body_of(client.get(EXPORT, {"state": states.REJECTED}))
    html = client.get(PAGE).content.decode()
    assert "state rejected" in html and "auditor" in html


# --- Bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize("params, message", [
    ({"date_from": "yesterday"}, "Enter a date as YYYY-MM-DD."),
    ({"date_from": "2026-02-30"}, "Enter a date as YYYY-MM-DD."),
    ({"date_to": "9999-12-31"}, "Enter a date from 1900-01-01 to 9998-12-31."),
    ({"date_from": "0001-01-01"}, "Enter a date from 1900-01-01 to 9998-12-31."),
    ({"date_from": "2026-03-05", "date_to": "2026-03-01"}, "The last day comes before the first."),
    ({"state": "on_fire"}, "Select a valid choice."),
    ({"format": "xlsx"}, "Select a valid choice."),
    ({"records": "passwords"}, "Select a valid choice."),
    ({"approver": "x" * 151}, "Ensure this value has at most 150 characters"),
    ({"customer": "99999999999999999999"}, "No customer has that id."),
    ({"customer": "0"}, "No customer has that id."),
    ({"approver": "nul\x00byte"}, "Null characters are not allowed."),
])
def test_malformed_filters_are_a_400_with_a_message_and_export_nothing(client, auditor, params, message):
    client.force_login(auditor)
    response = client.get(EXPORT, params)
    assert response.status_code == 400
    assert message in response.content.decode().replace("&quot;", '"')
    assert not AuditExport.objects.exists()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(params=st.dictionaries(
    st.sampled_from(["date_from", "date_to", "approver", "customer", "state", "format", "records", "other"]),
    st.one_of(st.text(max_size=30), st.sampled_from(["", "²", "١٢٣", "1e309", "-1", "2026-13-01", "\x00", "9" * 30, "%00", "' OR 1=1 --"])),
    max_size=6,
), role=st.sampled_from(["anonymous", "manager", "auditor"]))
def test_random_filters_never_answer_5xx(auditor, manager, params, role):
    client = Client()
    if role != "anonymous":
        client.force_login({"auditor": auditor, "manager": manager}[role])
    response = client.get(EXPORT, params)
    assert response.status_code < 500
    if response.status_code == 200:
        body_of(response)


# --- Bounded memory at 100,000 rows -----------------------------------------------------------


BIG_ORDERS = 200
EVENTS_PER_ORDER = 450  # 90,000 timeline entries
DECISIONS_PER_ORDER = 50  # 10,000 decisions


def test_a_100k_row_export_streams_in_bounded_memory(client, auditor, customer, manager):
    rows = generate_trail(orders=BIG_ORDERS, events_per_order=EVENTS_PER_ORDER, decisions_per_order=DECISIONS_PER_ORDER,
                          customer=customer, created_by=manager)
    assert rows >= 100_000
    client.force_login(auditor)
    # Warm: the first request of a process imports and caches modules, templates
    # and permissions (~2 MiB), which is no part of the export's own cost.
    body_of(client.get(EXPORT, {"approver": "nobody"}))
    gc.collect()

    tracemalloc.start()
    try:
        started = time.perf_counter()
        response = client.get(EXPORT)
        size, lines, largest_block = 0, 0, 0
        for block in response.streaming_content:
            size += len(block)
            lines += block.count(b"\n")
            largest_block = max(largest_block, len(block))
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert lines == rows + 1  # the header
    assert AuditExport.objects.get(pk=response["X-Audit-Export"]).row_count == rows
    print(f"\naudit export: {rows:,} rows, {size / 2**20:.1f} MiB of CSV in {seconds:.2f} s under tracemalloc "
          f"({rows / seconds:,.0f} rows/s); peak traced Python memory {peak / 2**20:.2f} MiB; largest block {largest_block / 1024:.0f} KiB")
    # The whole file held at once would be at least `size`; streaming holds a
    # chunk of rows from each table and one block of text.
    assert peak < size / 5, f"peak {peak:,} B for {size:,} B of output"
    assert largest_block < 2 * audit.BLOCK_CHARS
