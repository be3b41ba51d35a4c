"""Recorded intents: every person's action writes its intent, committed before its signal is sent.

Each path a person acts through (the order page's actions and discussion, a
bulk decision, the admin, the intake API) writes exactly one row with who,
for whom, which signal and the digest of what the workflow will read; a
double POST reuses it; a request id reused for another request, and a
message the workflow would refuse as malformed, are refused with nothing
written or sent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.utils import timezone

from approvals.models import Delegation
from approvals.services import APPROVE, approval_decide, bulk_send_one
from orders import roles, services
from orders.exceptions import OrderError
from orders.intents.models import RecordedIntent
from orders.intents.services import IntentConflict, intent_record
from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.messages import BulkOrderRequest
from temporal_bridge.order import discussion, holds, intents, states
from temporal_bridge.order import messages as m
from tests.conftest import make_user
from tests.fakes import FakeTemporal
from tests.orders.api.test_api import ApiClient, issue_key
from tests.orders.pages import HTMX, logged_in, url
from tests.orders.test_admin import CHANGELIST, change_url, edit_form_data

pytestmark = pytest.mark.django_db

RID = "intent-0123456789"


def committed_intents(order_id: int, request_id: str) -> list[tuple]:
    """What another connection (another process: the worker) sees of an intent: only what is committed."""
    fresh = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with fresh.cursor() as cursor:
            cursor.execute(
                f"SELECT actor, on_behalf_of, signal, digest FROM {RecordedIntent._meta.db_table} "  # noqa: S608 - our own table name
                "WHERE order_id = %s AND request_id = %s", [order_id, request_id],
            )
            return list(cursor.fetchall())
    finally:
        fresh.close()


@dataclass
class AtSend:
    in_transaction: bool
    committed: list[tuple]


@dataclass
class WatchingTemporal(FakeTemporal):
    """A FakeTemporal that notes, as each signal goes out, whether its intent is committed."""

    at_send: list[AtSend] = field(default_factory=list)

    def signal_order(self, order_id: int, signal: str, payload: Any) -> None:
        self.at_send.append(AtSend(connection.in_atomic_block, committed_intents(order_id, payload.request_id)))
        super().signal_order(order_id, signal, payload)


@pytest.fixture
def watching(monkeypatch) -> WatchingTemporal:
    return WatchingTemporal().install(monkeypatch)


# --- Each path a person acts through ------------------------------------------------------------
# Each returns (order, signal, actor, on_behalf_of) after acting once through its path.


def page_approve(w):
    order = w.make_order()
    response = logged_in(w.client, w.manager).post(url("approve", order), {"request_id": RID, "comment": "Fine"}, headers=HTMX)
    assert response.status_code == 200, response.content[:300]
    return order, m.SIGNAL_APPROVE, "manager", ""


def page_approve_on_behalf(w):
    order = w.make_order()
    now = timezone.now()
    Delegation.objects.create(delegator=w.manager2, substitute=w.manager, starts_at=now - timedelta(days=1),
                              ends_at=now + timedelta(days=1), created_by=w.manager2)
    data = {"request_id": RID, "on_behalf_of": "manager2"}
    assert logged_in(w.client, w.manager).post(url("approve", order), data, headers=HTMX).status_code == 200
    return order, m.SIGNAL_APPROVE, "manager", "manager2"


def page_reject(w):
    order = w.make_order()
    data = {"reject-request_id": RID, "reject-reason": "Too dear"}
    assert logged_in(w.client, w.manager).post(url("reject", order), data, headers=HTMX).status_code == 200
    return order, m.SIGNAL_REJECT, "manager", ""


def page_cancel(w):
    order = w.make_order()
    data = {"cancel-request_id": RID, "cancel-reason": "The customer left"}
    assert logged_in(w.client, w.manager).post(url("cancel", order), data, headers=HTMX).status_code == 200
    return order, m.SIGNAL_CANCEL, "manager", ""


def page_update(w):
    order = w.make_order()
    data = {"request_id": RID, "priority": "high", "shipping_address": "2 Side Street", "note": "Ring twice"}
    assert logged_in(w.client, w.clerk).post(url("update", order), data, headers=HTMX).status_code == 200
    return order, m.SIGNAL_UPDATE, "clerk", ""


def page_release_hold(w):
    order = w.make_order(status=states.ON_HOLD)
    data = {"release-request_id": RID, "release-comment": "Checked with the bank"}
    assert logged_in(w.client, w.manager).post(url("release_hold", order), data, headers=HTMX).status_code == 200
    return order, holds.SIGNAL_RELEASE_HOLD, "manager", ""


def page_comment(w):
    order = w.make_order()
    data = {"comment-request_id": RID, "comment-text": "Why so many?"}
    assert logged_in(w.client, w.manager).post(url("comment", order), data, headers=HTMX).status_code == 200
    return order, discussion.SIGNAL_COMMENT, "manager", ""


def page_ask(w):
    order = w.make_order()
    data = {"ask-request_id": RID, "ask-question": "Which site is it for?"}
    assert logged_in(w.client, w.manager).post(url("ask", order), data, headers=HTMX).status_code == 200
    return order, discussion.SIGNAL_ASK_REQUESTER, "manager", ""


def page_answer(w):
    order = w.make_order(awaiting_answer=True)
    data = {"answer-request_id": RID, "answer-answer": "Site B", "answer-note": "For site B"}
    assert logged_in(w.client, w.clerk).post(url("answer", order), data, headers=HTMX).status_code == 200
    return order, discussion.SIGNAL_ANSWER, "clerk", ""


def bulk_decision(w):
    order = w.make_order()
    result = bulk_send_one(BulkOrderRequest(batch_id="batch-1", order_id=order.pk, actor="manager", decision=APPROVE,
                                              comment="Batch", request_id=f"bulk-{RID}"))
    assert result.outcome == approval.BULK_SENT, result
    return order, m.SIGNAL_APPROVE, "manager", ""


def admin_approve_action(w):
    order = w.make_order()
    w.client.force_login(w.manager)
    w.client.post(CHANGELIST, {"action": "approve_orders", "_selected_action": [order.pk], "index": 0, "reason": ""})
    return order, m.SIGNAL_APPROVE, "manager", ""


def admin_cancel_action(w):
    order = w.make_order()
    w.client.force_login(w.manager)
    w.client.post(CHANGELIST, {"action": "cancel_orders", "_selected_action": [order.pk], "index": 0, "reason": "Duplicate"})
    return order, m.SIGNAL_CANCEL, "manager", ""


def admin_edit(w):
    order = w.make_order()
    w.client.force_login(w.manager)
    response = w.client.post(change_url(order), edit_form_data(w.client, order, priority="urgent"))
    assert response.status_code == 302
    return order, m.SIGNAL_UPDATE, "manager", ""


def api_cancel(w):
    shop = make_user("shop-bot", roles.STOREFRONTS)
    order = w.make_order(created_by=shop)
    response = ApiClient(issue_key(shop)).post(f"/orders/{order.number}/cancel", {"reason": "Changed my mind"},
                                              headers={"Idempotency-Key": "cancel-1"})
    assert response.status_code == 202, response.content
    return order, m.SIGNAL_CANCEL, "shop-bot", ""


PATHS = [page_approve, page_approve_on_behalf, page_reject, page_cancel, page_update, page_release_hold, page_comment, page_ask,
         page_answer, bulk_decision, admin_approve_action, admin_cancel_action, admin_edit, api_cancel]


@dataclass
class World:
    client: Any
    clerk: Any
    manager: Any
    manager2: Any
    make_order: Any


@pytest.fixture
def world(client, clerk, manager, manager2, make_order) -> World:
    return World(client, clerk, manager, manager2, make_order)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("act", PATHS, ids=[path.__name__ for path in PATHS])
def test_each_persons_action_commits_exactly_one_intent_before_its_signal_is_sent(act, world, watching):
    order, signal, actor, on_behalf_of = act(world)

    [sent] = watching.signals
    assert (sent.order_id, sent.name) == (order.pk, signal)
    [row] = RecordedIntent.objects.all()
    assert (row.order_id, row.request_id, row.actor, row.on_behalf_of, row.signal) == (
        order.pk, sent.payload.request_id, actor, on_behalf_of, signal)
    # The digest of what the workflow will decode from the very message sent.
    assert row.digest == intents.sent_digest(signal, sent.payload)
    # As it went out, the row was committed: another connection (the worker's) already saw it.
    [seen] = watching.at_send
    assert seen.in_transaction is False
    assert seen.committed == [(actor, on_behalf_of, signal, row.digest)]


# --- Once per request id and order ------------------------------------------------------------


def test_a_double_post_reuses_the_intent_and_sends_again(client, manager, fake_temporal, make_order):
    order = make_order()
    for _ in range(2):
        response = logged_in(client, manager).post(url("approve", order), {"request_id": RID, "comment": "Fine"}, headers=HTMX)
        assert response.status_code == 200
    assert RecordedIntent.objects.count() == 1
    # The workflow ignores a request id it has seen; sending again costs nothing and survives a lost first send.
    assert [s.payload.request_id for s in fake_temporal.signals] == [RID, RID]


@pytest.mark.parametrize(("second", "differs"), [
    (("manager", "approve", {"request_id": RID, "comment": "Changed my mind"}), "digest"),
    (("manager", "reject", {"reject-request_id": RID, "reject-reason": "No"}), "signal"),
    (("manager2", "approve", {"request_id": RID, "comment": "Fine"}), "actor"),
])
def test_a_request_id_reused_for_another_request_on_the_order_is_refused_and_nothing_is_sent(
        client, manager, manager2, fake_temporal, make_order, second, differs):
    order = make_order()
    logged_in(client, manager).post(url("approve", order), {"request_id": RID, "comment": "Fine"}, headers=HTMX)
    first = RecordedIntent.objects.get()

    user, action, data = second
    response = logged_in(client, {"manager": manager, "manager2": manager2}[user]).post(url(action, order), data, headers=HTMX)

    assert response.status_code == 409
    body = response.content.decode()
    assert f"Request {RID} was already used on order {order.number} for a different request" in body
    assert differs in body and "nothing was sent" in body
    assert len(fake_temporal.signals) == 1
    assert list(RecordedIntent.objects.values_list("pk", "actor", "signal", "digest")) == [
        (first.pk, first.actor, first.signal, first.digest)]


def test_the_same_request_id_on_another_order_is_another_intent(client, manager, fake_temporal, make_order):
    first, second = make_order(), make_order()
    for order in (first, second):
        assert logged_in(client, manager).post(url("approve", order), {"request_id": RID}, headers=HTMX).status_code == 200
    assert sorted(RecordedIntent.objects.values_list("order_id", "request_id")) == [(first.pk, RID), (second.pk, RID)]
    assert len(fake_temporal.signals) == 2


def test_the_database_keeps_one_intent_per_order_and_request_id(make_order):
    order = make_order()
    fields = {"request_id": RID, "actor": "manager", "signal": m.SIGNAL_APPROVE, "digest": "0" * 64}
    RecordedIntent.objects.create(order=order, **fields)
    with pytest.raises(IntegrityError), transaction.atomic():
        RecordedIntent.objects.create(order=order, **{**fields, "actor": "manager2"})


def test_an_api_cancel_retried_with_its_key_but_another_reason_is_422_and_sends_nothing(fake_temporal, make_order):
    shop = make_user("shop-bot", roles.STOREFRONTS)
    order = make_order(created_by=shop)
    api = ApiClient(issue_key(shop))
    headers = {"Idempotency-Key": "cancel-1"}
    assert api.post(f"/orders/{order.number}/cancel", {"reason": "Changed my mind"}, headers=headers).status_code == 202
    response = api.post(f"/orders/{order.number}/cancel", {"reason": "Found it cheaper"}, headers=headers)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert len(fake_temporal.signals) == 1 and RecordedIntent.objects.count() == 1


# --- Refused before anything is written ---------------------------------------------------------


@pytest.mark.parametrize(("request_id", "reason", "refusal"), [
    (RID, "x" * (m.MAX_COMMENT + 1), "field 'reason' is longer than 500 characters"),
    ("r" * (m.MAX_REQUEST_ID + 1), "Duplicate", "field 'request_id' is longer than 64 characters"),
])
def test_a_request_the_workflow_would_refuse_as_malformed_is_refused_before_anything_is_written(
        manager, fake_temporal, make_order, request_id, reason, refusal):
    order = make_order()
    with pytest.raises(OrderError) as refused:
        services.order_request_cancel(order=order, user=manager, reason=reason, request_id=request_id)
    assert refused.value.status_code == 400
    assert refusal in refused.value.message and "Nothing was sent" in refused.value.message
    assert not RecordedIntent.objects.exists()
    assert fake_temporal.signals == []


def test_a_refused_permission_writes_no_intent(client, clerk, fake_temporal, make_order):
    order = make_order()
    response = logged_in(client, clerk).post(url("approve", order), {"request_id": RID}, headers=HTMX)
    assert response.status_code == 403
    assert not RecordedIntent.objects.exists() and fake_temporal.signals == []


def test_an_order_whose_workflow_has_not_started_gets_no_intent(client, manager, fake_temporal, make_order):
    order = make_order(started=False)
    response = logged_in(client, manager).post(url("approve", order), {"request_id": RID}, headers=HTMX)
    assert response.status_code == 503
    assert not RecordedIntent.objects.exists() and fake_temporal.signals == []


def test_an_intent_kept_while_temporal_was_down_is_reused_when_the_page_is_sent_again(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.unavailable = True
    assert logged_in(client, manager).post(url("approve", order), {"request_id": RID}, headers=HTMX).status_code == 503
    fake_temporal.unavailable = False
    assert client.post(url("approve", order), {"request_id": RID}, headers=HTMX).status_code == 200
    assert RecordedIntent.objects.count() == 1 and len(fake_temporal.signals) == 1


def test_an_intent_cannot_be_written_inside_a_callers_transaction(manager, fake_temporal, make_order):
    # Nested, the row would commit only after the signal: the workflow could refuse a genuine request.
    order = make_order()
    with pytest.raises(RuntimeError, match="durable"), transaction.atomic():
        approval_decide(order=order, user=manager, decision=APPROVE, comment="", request_id=RID)
    assert fake_temporal.signals == []


def test_the_permission_is_checked_in_the_transaction_that_writes_the_intent(manager, make_order):
    order = make_order()
    seen = []

    def authorise() -> None:
        seen.append(connection.in_atomic_block)
        raise OrderError("refused by the check")

    payload = m.CancelSignal(actor="manager", request_id=RID, reason="Duplicate")
    with pytest.raises(OrderError):
        intent_record(order=order, signal=m.SIGNAL_CANCEL, payload=payload, authorise=authorise)
    assert seen == [True]
    assert not RecordedIntent.objects.exists()


def test_intent_conflict_is_a_409_order_error():
    assert issubclass(IntentConflict, OrderError) and IntentConflict.status_code == 409


# --- The admin: read-only evidence ---------------------------------------------------------------


def test_staff_managers_and_auditors_read_intents_in_the_admin_and_nobody_edits_them(client, manager, fake_temporal, make_order):
    order = make_order()
    approval_decide(order=order, user=manager, decision=APPROVE, comment="", request_id=RID)
    row = RecordedIntent.objects.get()
    auditor = make_user("staff-auditor", roles.AUDITORS, is_staff=True)
    for user in (manager, auditor):
        client.force_login(user)
        listing = client.get("/admin/orders/recordedintent/")
        assert listing.status_code == 200 and RID in listing.content.decode()
        assert client.get(f"/admin/orders/recordedintent/{row.pk}/change/").status_code == 200
        assert client.get("/admin/orders/recordedintent/add/").status_code == 403
        assert client.post(f"/admin/orders/recordedintent/{row.pk}/delete/", {"post": "yes"}).status_code == 403
        client.post(f"/admin/orders/recordedintent/{row.pk}/change/", {"actor": "someone"})
    assert RecordedIntent.objects.get().actor == "manager"
