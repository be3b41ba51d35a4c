"""Withdrawing one's approval at the desk: the button, the POST (recorded intent, then the signal),
the refusals, the mirror's record (kept, marked withdrawn) and the audit export."""
from __future__ import annotations

import csv
import io
from dataclasses import asdict

import pytest

from approvals import identity, selectors, services
from approvals.models import ApprovalDecision
from orders.intents.models import RecordedIntent
from temporal_bridge.approvals.messages import ApprovalRule
from temporal_bridge.contract.intents import IntentCheck
from temporal_bridge.order import intents, states, withdrawal
from temporal_bridge.order import messages as m
from temporal_bridge.order.records import DecisionInput
from tests.orders.pages import HTMX, REQUEST_ID, logged_in, url

pytestmark = pytest.mark.django_db

TWO = ApprovalRule(policy_name="Two managers", approvals_required=2)


@pytest.fixture
def approved_once(make_order, manager):
    """An order that needs two approvals and has manager's."""
    order = make_order(approval_rule=asdict(TWO), approvals_required=2)
    ApprovalDecision.objects.create(order=order, approver=manager, approver_username="manager", decision="approved",
                                    comment="ok", request_id="a-1")
    return order


def test_the_approver_sees_withdraw_and_others_do_not(client, approved_once, manager, manager2, fake_temporal):
    assert 'id="withdraw-box"' in logged_in(client, manager).get(url("detail", approved_once)).content.decode()
    assert 'id="withdraw-box"' not in logged_in(client, manager2).get(url("detail", approved_once)).content.decode()


def test_withdraw_records_the_intent_then_signals_with_the_reason(client, approved_once, manager, fake_temporal):
    response = logged_in(client, manager).post(url("withdraw_approval", approved_once),
                                               {"withdraw-request_id": REQUEST_ID, "withdraw-reason": "Wrong order"}, headers=HTMX)
    assert response.status_code == 200 and 'id="live-panel"' in response.content.decode()
    [sent] = fake_temporal.signals
    assert (sent.name, sent.payload) == (withdrawal.SIGNAL_WITHDRAW_APPROVAL,
                                         m.DecisionSignal(actor="manager", request_id=REQUEST_ID, comment="Wrong order"))
    intent = RecordedIntent.objects.get()
    assert (intent.signal, intent.actor) == (withdrawal.SIGNAL_WITHDRAW_APPROVAL, "manager")
    # The workflow's identity check confirms it: recorded, same content, the actor still an approver.
    check = IntentCheck(order_id=approved_once.pk, signal=intent.signal, request_id=REQUEST_ID, actor="manager",
                        digest=intents.sent_digest(intent.signal, sent.payload))
    assert identity.intents_confirm([check])[0].allowed


def test_withdraw_needs_a_reason_and_sends_nothing_without_one(client, approved_once, manager, fake_temporal):
    response = logged_in(client, manager).post(url("withdraw_approval", approved_once),
                                               {"withdraw-request_id": REQUEST_ID, "withdraw-reason": "  "}, headers=HTMX)
    assert response.status_code == 400 and "A reason is required" in response.content.decode()
    assert fake_temporal.signals == [] and not RecordedIntent.objects.exists()


@pytest.mark.parametrize("who", ["manager2", "clerk"])
def test_only_the_approver_can_withdraw(client, approved_once, who, request, fake_temporal):
    user = request.getfixturevalue(who)
    response = logged_in(client, user).post(url("withdraw_approval", approved_once),
                                            {"withdraw-request_id": REQUEST_ID, "withdraw-reason": "mine?"}, headers=HTMX)
    assert response.status_code == 403
    assert fake_temporal.signals == [] and not RecordedIntent.objects.exists()


def test_withdraw_is_refused_with_the_reason_once_the_order_moved_on(client, approved_once, manager, fake_temporal):
    approved_once.status = states.PROCESSING
    approved_once.save()
    response = logged_in(client, manager).post(url("withdraw_approval", approved_once),
                                               {"withdraw-request_id": REQUEST_ID, "withdraw-reason": "late"}, headers=HTMX)
    assert response.status_code == 409 and "the quorum was met and the order has moved on" in response.content.decode()
    assert fake_temporal.signals == []


def test_the_mirror_keeps_the_approval_marked_withdrawn_and_it_no_longer_counts(approved_once, manager):
    services.decision_record(DecisionInput(approved_once.pk, "manager", withdrawal.WITHDRAWN, "Wrong order", "w-1", withdraws="a-1"))
    services.decision_record(DecisionInput(approved_once.pk, "manager", withdrawal.WITHDRAWN, "Wrong order", "w-1", withdraws="a-1"))
    decision = ApprovalDecision.objects.get()
    assert decision.withdrawn_at is not None and decision.withdrawal_reason == "Wrong order" and decision.decision == "approved"
    assert selectors.recorded_approvals(approved_once) == []
    assert [d.withdrawn for d in selectors.decision_records(approved_once)] == [True]
    assert approved_once in selectors.awaiting_decision(manager)  # back in the inbox: they may approve again


def test_the_audit_export_shows_the_withdrawal(client, approved_once, auditor):
    services.decision_record(DecisionInput(approved_once.pk, "manager", withdrawal.WITHDRAWN, "=Wrong order", "w-1", withdraws="a-1"))
    client.force_login(auditor)
    body = b"".join(client.get("/approvals/audit/export/?records=decisions").streaming_content).decode("utf-8-sig")
    [row] = list(csv.DictReader(io.StringIO(body)))
    assert row["action"] == "approved" and row["withdrawn_at"] and row["withdrawal_reason"] == "'=Wrong order"
