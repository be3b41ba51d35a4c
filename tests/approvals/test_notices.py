"""What the approval activities do on the database: reminder and escalation
emails to the right people, the daily digest, and one order of a bulk batch.
Each is safe to retry."""
from __future__ import annotations

from dataclasses import asdict
from datetime import date, timedelta

import pytest
from django.core import mail
from django.utils import timezone

from approvals import approver_mail, services
from approvals.models import ApprovalDecision, ApprovalNotice
from orders import roles
from orders.exceptions import WorkflowUnavailable
from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.messages import ApprovalRule, ApproverNoticeInput, BulkOrderRequest
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def people(db, clerk, manager, manager2, senior, outsider):
    for user in (clerk, manager, manager2, senior, outsider):
        user.email = f"{user.username}@desk.example"
        user.save()
    make_user("retired", roles.MANAGERS, email="retired@desk.example", is_active=False)
    make_user("noemail", roles.MANAGERS)
    return {u.username: u for u in (clerk, manager, manager2, senior, outsider)}


def notice(order, kind: str, **changes) -> ApproverNoticeInput:
    fields = {"order_id": order.pk, "kind": kind, "idempotency_key": f"{kind}-{order.pk}", "requested_by": "clerk",
              "still_needed": "needs 1 more approval", "due": (timezone.now() + timedelta(hours=24)).isoformat()}
    return ApproverNoticeInput(**{**fields, **changes})


def test_reminder_goes_once_to_each_eligible_approver_and_not_to_the_requester_or_who_decided(people, make_order):
    order = make_order()
    sent = approver_mail.approvers_notify(notice(order, "reminder", already_decided=["manager2"]))
    assert sent == ["manager", "senior"]
    assert sorted(email.to[0] for email in mail.outbox) == ["manager@desk.example", "senior@desk.example"]
    email = mail.outbox[0]
    assert email.subject == f"Reminder: order {order.number} awaits your approval"
    assert "needs 1 more approval" in email.body and f"/orders/{order.pk}/" in email.body

    again = approver_mail.approvers_notify(notice(order, "reminder", already_decided=["manager2"]))  # a retried activity
    assert again == sent
    assert len(mail.outbox) == 2
    assert ApprovalNotice.objects.get(idempotency_key=f"reminder-{order.pk}").recipients == "manager,senior"


def test_escalation_goes_to_the_senior_approvers_only(people, make_order):
    order = make_order(escalated=True)
    assert approver_mail.approvers_notify(notice(order, "escalation", senior_only=True)) == ["senior"]
    [email] = mail.outbox
    assert email.to == ["senior@desk.example"]
    assert email.subject == f"Escalated: order {order.number} is still undecided"


def test_a_failed_send_leaves_no_marker_so_the_retry_sends(people, make_order, monkeypatch):
    order = make_order()

    def broken(*args, **kwargs):
        raise ConnectionRefusedError("SMTP down")

    monkeypatch.setattr("django.core.mail.backends.locmem.EmailBackend.send_messages", broken)
    with pytest.raises(ConnectionRefusedError):
        approver_mail.approvers_notify(notice(order, "reminder"))
    assert not ApprovalNotice.objects.exists()
    monkeypatch.undo()
    assert approver_mail.approvers_notify(notice(order, "reminder")) == ["manager", "manager2", "senior"]


def test_daily_digest_lists_each_approvers_own_pending_orders_once_a_day(people, make_order, server):
    soon = make_order(approval_deadline=timezone.now() + timedelta(hours=3), escalated=True)
    later = make_order(approval_deadline=timezone.now() + timedelta(hours=30))
    by_manager = make_order(created_by=people["manager"])
    make_order(status=states.APPROVED)

    emailed = approver_mail.digests_send(digest_date=date(2026, 3, 2))
    assert emailed == ["manager", "manager2", "senior"]
    bodies = {email.to[0]: email for email in mail.outbox}
    manager_digest = bodies["manager@desk.example"]
    assert manager_digest.subject == "2 orders awaiting your approval"
    assert manager_digest.body.index(soon.number) < manager_digest.body.index(later.number)
    assert by_manager.number not in manager_digest.body
    assert "ESCALATED" in manager_digest.body
    assert bodies["manager2@desk.example"].subject == "3 orders awaiting your approval"

    assert approver_mail.digests_send(digest_date=date(2026, 3, 2)) == emailed  # the schedule's retry, same day
    assert len(mail.outbox) == 3
    approver_mail.digests_send(digest_date=date(2026, 3, 3))
    assert len(mail.outbox) == 6


def test_approvers_with_nothing_waiting_get_no_digest(people):
    assert approver_mail.digests_send(digest_date=date(2026, 3, 2)) == []
    assert mail.outbox == []


# --- One order of a bulk batch ------------------------------------------------------------------


def request(order, actor="manager", decision="approved", comment="") -> BulkOrderRequest:
    return BulkOrderRequest(batch_id="b1", order_id=order.pk, actor=actor, decision=decision, comment=comment,
                              request_id=f"bulk-b1-{order.pk}")


def test_bulk_send_signals_the_order_with_the_same_checks_as_a_click(people, make_order, fake_temporal):
    order = make_order()
    result = services.bulk_send_one(request(order, actor="senior", comment="ok"))
    assert (result.outcome, result.number) == (approval.BULK_SENT, order.number)
    [sent] = fake_temporal.signals
    # No seniority claim travels: the workflow asks the database who is senior.
    assert (sent.name, sent.payload) == (m.SIGNAL_APPROVE, m.DecisionSignal("senior", f"bulk-b1-{order.pk}", "ok"))


@pytest.mark.parametrize(("verdict", "outcome"), [
    (m.VERDICT_REFUSED, approval.BULK_REFUSED), (m.VERDICT_UNKNOWN, approval.BULK_QUEUED), (m.VERDICT_CHECKING, approval.BULK_QUEUED),
])
def test_a_batch_shows_sent_only_for_what_the_workflow_accepted(people, make_order, fake_temporal, verdict, outcome):
    order = make_order()
    fake_temporal.verdict = verdict
    result = services.bulk_send_one(request(order, actor="senior", comment="ok"))
    assert result.outcome == outcome


@pytest.mark.parametrize(("case", "expected"), [
    ("own order", "You cannot decide on an order you created."),
    ("already approved", "You have already decided on this order; one person counts once."),
    ("no longer pending", "it is no longer awaiting approval"),
    ("needs a senior", "The remaining approval must come from a senior approver."),
    ("reject without reason", "A reason is required to reject an order."),
])
def test_bulk_send_refuses_an_order_and_says_why(people, make_order, fake_temporal, case, expected):
    rule = ApprovalRule(approvals_required=2, requires_senior=True)
    order = {
        "own order": lambda: make_order(created_by=people["manager"]),
        "already approved": lambda: make_order(),
        "no longer pending": lambda: make_order(status=states.APPROVED),
        "needs a senior": lambda: make_order(approval_rule=asdict(rule), approvals_required=2, requires_senior=True),
        "reject without reason": lambda: make_order(),
    }[case]()
    if case == "already approved":
        ApprovalDecision.objects.create(order=order, approver_username="manager", decision="approved", request_id="earlier")
    if case == "needs a senior":
        ApprovalDecision.objects.create(order=order, approver_username="manager2", decision="approved", request_id="earlier")
    result = services.bulk_send_one(request(order, decision="rejected" if case == "reject without reason" else "approved"))
    assert result.outcome == approval.BULK_REFUSED
    assert expected in result.message
    assert fake_temporal.signals == []


def test_bulk_send_retried_after_the_workflow_recorded_it_reports_sent_without_a_second_signal(people, make_order, fake_temporal):
    order = make_order()
    ApprovalDecision.objects.create(order=order, approver_username="manager", decision="approved", request_id=f"bulk-b1-{order.pk}")
    assert services.bulk_send_one(request(order)).outcome == approval.BULK_SENT
    assert fake_temporal.signals == []


def test_bulk_send_while_temporal_is_down_raises_so_the_activity_retries(people, make_order, fake_temporal):
    fake_temporal.unavailable = True
    with pytest.raises(WorkflowUnavailable):
        services.bulk_send_one(request(make_order()))
