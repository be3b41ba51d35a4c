"""Segregation of duties and quorum through the views, the inbox for each
kind of approver, and bulk decisions, with real users and permissions and a
fake Temporal boundary."""
from __future__ import annotations

import re
from dataclasses import asdict
from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import identity, services
from approvals.models import ApprovalDecision
from orders import roles
from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.messages import ApprovalRule, BulkDecisionInput, BulkDecisionProgress, BulkOrderResult
from temporal_bridge.contract.intents import ActorCheckInput
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.order.records import DecisionInput
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
LARGE = ApprovalRule(policy_id=3, policy_name="Large orders", approvals_required=2, requires_senior=True,
                       remind_after_seconds=86400, escalate_after_seconds=129600, expire_after_seconds=172800)
BADGE = '<span class="badge" title="Orders awaiting your decision">{}</span>'


@pytest.fixture
def large_order(make_order, server):
    """A pending order under "Large orders": two approvals, one of them senior."""

    def make(**fields):
        return make_order(product=server, quantity=12, approval_rule=asdict(LARGE), approvals_required=2, requires_senior=True, **fields)

    return make


def approved_by(order, username: str, *, senior: bool = False) -> ApprovalDecision:
    """A decision the workflow accepted and mirrored."""
    return ApprovalDecision.objects.create(order=order, approver_username=username, decision="approved", senior=senior,
                                           request_id=f"req-{order.pk}-{username}")


def post(client, user, order, action: str, data: dict | None = None):
    client.force_login(user)
    return client.post(f"/orders/{order.pk}/{action}/", {"request_id": f"rq-{action}-12345678", **(data or {})}, headers=HTMX)


# --- One person, once; requester never; senior slot for seniors only ----------------------------


def test_a_manager_who_submitted_an_order_cannot_approve_it(client, fake_temporal, make_order):
    submitter = make_user("manager3", roles.MANAGERS, roles.CLERKS)
    order = make_order(created_by=submitter)
    response = post(client, submitter, order, "approve")
    assert response.status_code == 403
    assert "You cannot decide on an order you created." in response.content.decode()
    assert fake_temporal.signals == []


def test_a_manager_who_already_approved_gets_403_the_second_time(client, manager, fake_temporal, large_order):
    order = large_order()
    approved_by(order, "manager")
    response = post(client, manager, order, "approve")
    assert response.status_code == 403
    assert "You have already decided on this order; one person counts once." in response.content.decode()
    assert post(client, manager, order, "reject", {"reject-reason": "Changed my mind"}).status_code == 403
    assert fake_temporal.signals == []
    html = client.get(order.get_absolute_url()).content.decode()
    assert ">Approve</button>" not in html and ">Reject</button>" not in html


def test_when_only_a_senior_can_still_count_a_manager_may_reject_but_not_approve(client, manager, manager2, fake_temporal, large_order):
    order = large_order()
    approved_by(order, "manager2")
    response = post(client, manager, order, "approve")
    assert response.status_code == 403
    assert "The remaining approval must come from a senior approver." in response.content.decode()
    assert fake_temporal.signals == []

    html = client.get(order.get_absolute_url()).content.decode()
    assert ">Approve</button>" not in html and ">Reject</button>" in html
    assert post(client, manager, order, "reject", {"reject-reason": "Over budget"}).status_code == 200
    [sent] = fake_temporal.signals
    assert (sent.name, sent.payload.actor, sent.payload.comment) == (m.SIGNAL_REJECT, "manager", "Over budget")


def test_the_signal_claims_no_seniority_the_workflow_asks_the_database(client, manager, senior, fake_temporal, large_order):
    first, second = large_order(), large_order()
    assert post(client, manager, first, "approve").status_code == 200
    approved_by(second, "manager")
    assert post(client, senior, second, "approve", {"comment": "Signed off"}).status_code == 200
    assert [(s.order_id, s.payload.actor, s.payload.senior) for s in fake_temporal.signals] == [
        (first.pk, "manager", False), (second.pk, "senior", False),
    ]
    check = identity.actor_verify(ActorCheckInput(second.pk, "senior", m.SIGNAL_APPROVE))
    assert (check.allowed, check.senior) == (True, True)


@pytest.mark.parametrize(("actor", "action", "reason"), [
    ("nobody", m.SIGNAL_APPROVE, "nobody is not a user of the desk"),
    ("gone", m.SIGNAL_APPROVE, "gone's account is inactive"),
    ("clerk", m.SIGNAL_APPROVE, "clerk is not allowed to approve or reject orders"),
    ("clerk", m.SIGNAL_CANCEL, "clerk is not allowed to cancel orders"),
    ("manager", "erase", "'erase' is not an action a person can take"),
])
def test_the_database_refuses_unknown_inactive_or_unauthorised_actors(db, clerk, manager, large_order, actor, action, reason):
    make_user("gone", roles.MANAGERS, is_active=False)
    check = identity.actor_verify(ActorCheckInput(large_order().pk, actor, action))
    assert (check.allowed, check.reason, check.senior) == (False, reason, False)


def test_the_requester_is_refused_even_holding_the_approve_permission(db, large_order):
    order = large_order()
    order.created_by.groups.add(*__import__("django.contrib.auth.models", fromlist=["Group"]).Group.objects.filter(name=roles.MANAGERS))
    check = identity.actor_verify(ActorCheckInput(order.pk, order.created_by.username, m.SIGNAL_APPROVE))
    assert (check.allowed, check.reason) == (False, "the requester cannot decide on their own order")


def test_a_request_id_is_scoped_to_its_order(db, manager, large_order):
    """Order B's approval sent with order A's request id used to leave B without a record."""
    a, b = large_order(), large_order()
    for order in (a, b):
        assert services.decision_record(DecisionInput(order.pk, "manager", "approved", "", "same-id")) is True
    assert services.decision_record(DecisionInput(b.pk, "manager", "approved", "", "same-id")) is False
    assert sorted(ApprovalDecision.objects.filter(request_id="same-id").values_list("order_id", flat=True)) == sorted([a.pk, b.pk])


def test_panel_shows_k_of_n_who_approved_and_what_is_still_needed(client, manager, fake_temporal, large_order):
    order = large_order()
    approved_by(order, "manager2")
    fake_temporal.unavailable = True  # from the mirror, shaped like the query
    client.force_login(manager)
    html = client.get(order.get_absolute_url()).content.decode()
    progress = re.search(r'<div class="approval-progress" id="approval-progress">(.*?)</div>', html, re.S).group(1)
    assert "1 of 2 approvals" in progress
    assert "approved by manager2" in progress
    assert "Needs a senior approver (1 more approval)" in progress


# --- Inbox --------------------------------------------------------------------------------


def test_inbox_leaves_out_orders_i_approved_and_for_non_seniors_those_only_a_senior_can_move(
    client, manager, manager2, senior, fake_temporal, large_order, make_order,
):
    fresh_large = large_order()  # anyone's approval counts
    needs_senior = large_order()
    approved_by(needs_senior, "manager2")
    i_approved = make_order()
    approved_by(i_approved, "manager")
    standard = make_order()

    def inbox(user):
        client.force_login(user)
        return [o.pk for o in client.get("/approvals/").context["page"]]

    assert set(inbox(manager)) == {fresh_large.pk, standard.pk}
    assert set(inbox(manager2)) == {fresh_large.pk, i_approved.pk, standard.pk}
    assert set(inbox(senior)) == {fresh_large.pk, needs_senior.pk, i_approved.pk, standard.pk}
    client.force_login(manager)
    assert BADGE.format(2) in client.get("/orders/").content.decode()


def test_inbox_shows_approvals_so_far_escalation_and_a_live_countdown(client, manager, fake_temporal, large_order):
    due = timezone.now() + timedelta(hours=5)
    order = large_order(approval_deadline=due, escalated=True)
    approved_by(order, "senior", senior=True)
    client.force_login(manager)
    html = client.get("/approvals/").content.decode()
    row = re.search(rf'<tr class="escalated">(.*?{order.number}.*?)</tr>', html, re.S).group(1)
    assert "Escalated" in row
    assert "1 of 2" in row
    assert f'<time datetime="{due.isoformat()}" data-countdown' in row
    assert "4\xa0hours" in row or "4 hours" in row  # server-rendered until the script takes over
    assert 'src="/static/js/approvals.js"' in html


# --- Bulk decisions -----------------------------------------------------------------------------


def bulk(client, user, orders, decision="approve", **extra):
    client.force_login(user)
    data = {"orders": [o.pk for o in orders], "decision": decision, "request_id": "batch-0001-abcdef", **extra}
    return client.post("/approvals/bulk/", data)


def test_bulk_approve_starts_one_durable_batch_and_follows_it_on_its_page(client, manager, fake_temporal, make_order):
    orders = [make_order() for _ in range(3)]
    response = bulk(client, manager, orders, comment=" Quarter end ")
    assert response.status_code == 302
    assert response["Location"] == "/approvals/batches/batch-0001-abcdef/"
    assert fake_temporal.batches == [BulkDecisionInput(
        batch_id="batch-0001-abcdef", actor="manager", decision="approved", comment="Quarter end", order_ids=[o.pk for o in orders],
    )]
    assert fake_temporal.signals == [], "the batch sends the signals, not the web request"

    page = client.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert "Approving 3 orders as manager" in html and "0 of 3" in html
    assert "hx-trigger=" in html  # polls until the batch is finished


def test_the_same_bulk_form_submitted_twice_starts_one_batch(client, manager, fake_temporal, make_order):
    orders = [make_order(), make_order()]
    first, second = bulk(client, manager, orders), bulk(client, manager, orders)
    assert first["Location"] == second["Location"]
    assert len(fake_temporal.batches) == 1


def test_bulk_reject_needs_a_reason_and_starts_nothing_without_one(client, manager, fake_temporal, make_order):
    response = bulk(client, manager, [make_order()], decision="reject", reason="  ")
    assert response.status_code == 400
    assert "A reason is required to reject orders." in response.content.decode()
    assert fake_temporal.batches == []
    assert bulk(client, manager, [make_order()], decision="reject", reason="Duplicate orders").status_code == 302
    assert fake_temporal.batches[0].decision == "rejected" and fake_temporal.batches[0].comment == "Duplicate orders"


def test_bulk_without_a_selection_is_400(client, manager, fake_temporal):
    response = bulk(client, manager, [])
    assert response.status_code == 400
    assert "Select at least one order." in response.content.decode()
    assert fake_temporal.batches == []


def test_bulk_decision_needs_the_approve_permission(client, clerk, fake_temporal, make_order):
    assert bulk(client, clerk, [make_order()]).status_code == 403
    assert fake_temporal.batches == []


def test_bulk_while_temporal_is_down_is_503_and_nothing_is_sent(client, manager, fake_temporal, make_order):
    fake_temporal.unavailable = True
    response = bulk(client, manager, [make_order()])
    assert response.status_code == 503
    assert "no decision was sent" in response.content.decode()


def test_batch_page_shows_each_orders_result_and_explains_a_partial_failure(client, manager, fake_temporal, make_order):
    sent, mine, gone = make_order(), make_order(created_by=manager), make_order(status=states.APPROVED)
    fake_temporal.batch_progress["batch-0002-abcdef"] = BulkDecisionProgress(
        batch_id="batch-0002-abcdef", actor="manager", decision="approved", total=3, finished=True, results=[
            BulkOrderResult(sent.pk, sent.number, approval.BULK_SENT, "Approval sent to the order's workflow."),
            BulkOrderResult(mine.pk, mine.number, approval.BULK_REFUSED, "You cannot decide on an order you created."),
            BulkOrderResult(gone.pk, gone.number, approval.BULK_FAILED, "Not sent after several attempts: unavailable"),
        ],
    )
    client.force_login(manager)
    html = client.get("/approvals/batches/batch-0002-abcdef/").content.decode()
    assert "1 sent" in html and "1 refused" in html and "1 failed" in html
    assert 'id="partial-failure"' in html
    assert re.search(rf"{mine.number}.*?Refused.*?You cannot decide on an order you created\.", html, re.S)
    assert re.search(rf"{gone.number}.*?Failed.*?Not sent after several attempts.*?Approved", html, re.S)
    assert "hx-trigger=" not in html, "a finished batch is not polled"

    partial = client.get("/approvals/batches/batch-0002-abcdef/", headers=HTMX).content.decode()
    assert partial.lstrip().startswith('<section id="batch"')


def test_another_managers_batch_and_an_unknown_batch_are_404(client, manager, manager2, fake_temporal, make_order):
    bulk(client, manager, [make_order()])
    client.force_login(manager2)
    assert client.get("/approvals/batches/batch-0001-abcdef/").status_code == 404
    assert client.get("/approvals/batches/no-such-batch-1234/").status_code == 404
    assert client.get("/approvals/batches/x/").status_code == 404
