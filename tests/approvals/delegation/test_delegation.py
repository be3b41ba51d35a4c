"""Delegation (out of office) through the views and the database, with real
users and permissions and a fake Temporal boundary: the page's rules, the
separation of duties through a delegation, the identity check the workflow
asks (identity.actor_verify), the substitute's inbox, reminders, and the records."""
from __future__ import annotations

import re
from dataclasses import asdict
from datetime import timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction
from django.utils import timezone

from approvals import approver_mail, identity, services
from approvals.delegation import services as delegations
from approvals.models import ApprovalDecision, Delegation
from orders import roles
from temporal_bridge.approvals.messages import ApproverNoticeInput
from temporal_bridge.contract.intents import ActorCheckInput, ActorCheckResult
from temporal_bridge.order import messages as m
from temporal_bridge.order.records import DecisionInput
from tests.approvals.test_decisions import LARGE, approved_by
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
PAGE = "/approvals/out-of-office/"


def delegate(delegator, substitute, *, starts=-1, ends=3, ended=False) -> Delegation:
    """A delegation from `starts` to `ends` days from now (ended early if asked)."""
    now = timezone.now()
    return Delegation.objects.create(
        delegator=delegator, substitute=substitute, starts_at=now + timedelta(days=starts), ends_at=now + timedelta(days=ends),
        ended_at=now if ended else None, created_by=delegator,
    )


def decide(client, user, order, action="approve", **data):
    client.force_login(user)
    body = {"request_id": f"rq-{action}-{user.username}-0001", **data}
    return client.post(f"/orders/{order.pk}/{action}/", body, headers=HTMX)


@pytest.fixture
def large_order(make_order, server):
    def make(**fields):
        return make_order(product=server, quantity=12, approval_rule=asdict(LARGE), approvals_required=2, requires_senior=True, **fields)

    return make


# --- The out-of-office page ----------------------------------------------------------------


def test_a_manager_names_a_substitute_for_a_date_range_and_ends_it_early(client, manager, manager2):
    client.force_login(manager)
    today = timezone.localdate()
    page = client.get(PAGE)
    assert page.status_code == 200 and 'name="csrfmiddlewaretoken"' in page.content.decode()
    response = client.post(PAGE, {"substitute": "manager2", "first_day": today, "last_day": today + timedelta(days=4)}, headers=HTMX)
    assert response.status_code == 200
    assert f"manager2 holds your approvals from {today} to {today + timedelta(days=4)}." in response.content.decode()
    delegation = Delegation.objects.get()
    assert (delegation.delegator, delegation.substitute, delegation.created_by) == (manager, manager2, manager)
    assert delegation.status == "standing"
    assert delegations.standing_delegation(delegator_username="manager", substitute=manager2) == delegation

    again = client.post(PAGE, {"substitute": "manager2", "first_day": today, "last_day": today + timedelta(days=4)})
    assert again.status_code == 302 and Delegation.objects.count() == 1  # a double submit is the same delegation

    ended = client.post(f"{PAGE}{delegation.pk}/end/", headers=HTMX)
    assert ended.status_code == 200 and "has ended" in ended.content.decode()
    delegation.refresh_from_db()
    assert delegation.status == "ended early"
    assert delegations.standing_delegation(delegator_username="manager", substitute=manager2) is None
    twice = client.post(f"{PAGE}{delegation.pk}/end/", headers=HTMX)
    assert twice.status_code == 409 and "ended early already" in twice.content.decode()


@pytest.mark.parametrize("data, message", [
    ({"substitute": "manager"}, "Choose an active approver other than yourself."),
    ({"substitute": "clerk"}, "Choose an active approver other than yourself."),
    ({"substitute": "nobody"}, "Choose an active approver other than yourself."),
    ({"last_day": "-1"}, "The last day cannot come before the first."),
    ({"first_day": "-3", "last_day": "-1"}, "The first day cannot be in the past."),
    ({"last_day": "400"}, "A delegation can last at most 366 days."),
    ({"first_day": "9999-12-31", "last_day": "9999-12-31"}, "A delegation can start at most 366 days ahead."),
    ({"first_day": "yesterday"}, "Enter a valid date."),
])
def test_bad_input_on_the_page_is_a_400_with_the_reason(client, manager, manager2, clerk, data, message):
    today = timezone.localdate()

    def day(value):
        return str(today + timedelta(days=int(value))) if value.lstrip("-").isdigit() else value

    body = {"substitute": "manager2", "first_day": str(today), "last_day": str(today + timedelta(days=2))}
    body.update({key: day(value) if key != "substitute" else value for key, value in data.items()})
    client.force_login(manager)
    response = client.post(PAGE, body, headers=HTMX)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Delegation.objects.exists()


def test_one_standing_delegation_per_delegator_and_no_chains(client, manager, manager2, senior):
    delegate(manager, manager2)
    manager4 = make_user("manager4", roles.MANAGERS)
    delegate(senior, manager4)
    today = str(timezone.localdate())

    def name(user, substitute):
        client.force_login(user)
        return client.post(PAGE, {"substitute": substitute, "first_day": today, "last_day": today}, headers=HTMX)

    clash = name(manager, "manager4")
    assert clash.status_code == 400 and "manager already has a delegation to manager2" in clash.content.decode()
    holding = name(manager2, "manager4")
    assert holding.status_code == 400 and "manager2 stands in for manager" in holding.content.decode()
    away = name(manager4, "senior")
    assert away.status_code == 400 and "senior is out of office themselves" in away.content.decode()
    assert Delegation.objects.count() == 2


def test_only_the_delegator_can_end_it_and_others_learn_nothing(client, manager, manager2, senior, clerk):
    delegation = delegate(manager, manager2)
    client.force_login(senior)
    assert client.post(f"{PAGE}{delegation.pk}/end/").status_code == 404
    assert client.post(f"{PAGE}99999999999999999999999/end/").status_code == 404
    client.force_login(manager2)
    assert client.post(f"{PAGE}{delegation.pk}/end/").status_code == 404
    client.force_login(clerk)
    assert client.get(PAGE).status_code == 403 and client.post(PAGE, {}).status_code == 403
    delegation.refresh_from_db()
    assert delegation.ended_at is None


def test_the_database_refuses_a_delegation_to_oneself(manager):
    with pytest.raises(IntegrityError), transaction.atomic():
        delegate(manager, manager)


# --- Deciding on behalf of someone ------------------------------------------------------------


def test_a_substitute_decides_on_behalf_of_the_delegator_while_the_delegation_stands(client, manager, manager2, fake_temporal, make_order):
    order = make_order()
    delegate(manager, manager2)
    response = decide(client, manager2, order, on_behalf_of="manager")
    assert response.status_code == 200
    [signal] = fake_temporal.signals
    assert (signal.name, signal.payload.actor, signal.payload.on_behalf_of) == (m.SIGNAL_APPROVE, "manager2", "manager")


@pytest.mark.parametrize("when", ["none", "ended", "future", "past", "someone else's"])
def test_without_a_delegation_standing_now_a_decision_on_behalf_is_403(client, manager, manager2, senior, fake_temporal, make_order, when):
    order = make_order()
    if when == "ended":
        delegate(manager, manager2, ended=True)
    elif when == "future":
        delegate(manager, manager2, starts=1, ends=3)
    elif when == "past":
        delegate(manager, manager2, starts=-5, ends=-1)
    elif when == "someone else's":
        delegate(manager, senior)
    response = decide(client, manager2, order, on_behalf_of="manager")
    assert response.status_code == 403
    assert "No delegation to you from that person stands now" in response.content.decode()
    rejected = decide(client, manager2, order, "reject", **{"reject-reason": "no", "reject-on_behalf_of": "manager"})
    assert rejected.status_code == 403
    assert fake_temporal.signals == []


def test_a_substitute_without_senior_permission_cannot_fill_a_senior_slot(client, manager, manager2, senior, fake_temporal, large_order):
    order = large_order()
    approved_by(order, "manager2")
    delegate(senior, manager)  # the senior is away; manager is not senior
    response = decide(client, manager, order, on_behalf_of="senior")
    assert response.status_code == 403
    assert "The remaining approval must come from a senior approver." in response.content.decode()
    assert fake_temporal.signals == []
    html = client.get(order.get_absolute_url()).content.decode()
    assert "Approve on behalf of senior" not in html and "Reject on behalf of senior" in html


def test_the_delegator_and_the_substitute_count_once(client, manager, manager2, senior, fake_temporal, large_order):
    order = large_order()
    delegate(manager, manager2)
    ApprovalDecision.objects.create(order=order, approver_username="manager2", on_behalf_of_username="manager", decision="approved",
                                    request_id="by-sub")
    assert decide(client, manager, order).status_code == 403  # counted through the substitute
    assert decide(client, manager2, order).status_code == 403  # the substitute counted too
    assert decide(client, manager2, order, on_behalf_of="manager").status_code == 403

    other = large_order()
    approved_by(other, "manager")  # back early and approved, then the substitute tries for them
    response = decide(client, manager2, other, on_behalf_of="manager")
    assert response.status_code == 403 and "manager has already decided on this order" in response.content.decode()
    assert fake_temporal.signals == []


def test_neither_decides_on_their_own_order(client, manager, manager2, fake_temporal, make_order):
    delegate(manager, manager2)
    by_delegator = make_order(created_by=manager)
    response = decide(client, manager2, by_delegator, on_behalf_of="manager")
    assert response.status_code == 403 and "manager created this order" in response.content.decode()
    by_substitute = make_order(created_by=manager2)
    assert decide(client, manager2, by_substitute, on_behalf_of="manager").status_code == 403
    assert fake_temporal.signals == []


def test_a_hostile_on_behalf_of_is_a_403_never_a_500(client, manager2, fake_temporal, make_order):
    order = make_order()
    for value in ("x" * 10_000, "manager\x00", "' OR 1=1 --", "manager2"):
        assert decide(client, manager2, order, on_behalf_of=value).status_code == 403
    assert fake_temporal.signals == []


# --- The identity check the workflow asks ----------------------------------------------------------


def test_actor_verify_honours_on_behalf_of_only_while_a_delegation_stands_now(manager, manager2, senior, make_order):
    order = make_order()

    def check(actor="manager2", on_behalf_of="manager", action=m.SIGNAL_APPROVE):
        return identity.actor_verify(ActorCheckInput(order.pk, actor, action, on_behalf_of))

    assert check() == ActorCheckResult(False, "no delegation from manager to manager2 stands now")
    delegation = delegate(manager, manager2)
    assert check() == ActorCheckResult(True, senior=False)
    assert check(on_behalf_of="senior").allowed is False
    assert check(action=m.SIGNAL_CANCEL).reason == "only approvals and rejections can be made on behalf of someone"
    assert check(on_behalf_of="manager\x00").allowed is False  # answered, not an endlessly retried database error
    delegation.ended_at = timezone.now()
    delegation.save()
    assert check().allowed is False
    # The substitute's own seniority, never the delegator's.
    delegate(senior, manager)
    assert check(actor="manager", on_behalf_of="senior") == ActorCheckResult(True, senior=False)
    own = make_order(created_by=senior)
    assert identity.actor_verify(ActorCheckInput(own.pk, "manager", m.SIGNAL_APPROVE, "senior")).reason == (
        "senior is the requester, and nobody decides on their own order")


def test_a_decision_on_behalf_is_recorded_and_shown_as_by_x_on_behalf_of_y(client, manager, manager2, auditor, fake_temporal, make_order):
    order = make_order()
    services.decision_record(DecisionInput(order.pk, "manager2", "approved", "ok", "rq-1", on_behalf_of="manager"))
    decision = ApprovalDecision.objects.get()
    assert decision.decided_by == "manager2 on behalf of manager"
    client.force_login(manager2)
    assert "by manager2 on behalf of manager" in client.get(order.get_absolute_url()).content.decode()
    client.force_login(auditor)
    export = b"".join(client.get("/approvals/audit/export/", {"records": "decisions", "approver": "manager"}).streaming_content)
    assert export.decode("utf-8-sig").splitlines()[1].endswith(",manager,,")  # on_behalf_of, then the empty withdrawal columns


# --- Inbox and reminders -----------------------------------------------------------------------


def test_the_substitutes_inbox_shows_the_delegators_orders_until_the_delegation_ends(client, manager, manager2, fake_temporal, make_order):
    order = make_order()
    own_by_delegator = make_order(created_by=manager)
    client.force_login(manager2)
    assert "On behalf of manager" not in client.get("/approvals/").content.decode()
    delegation = delegate(manager, manager2)
    html = client.get("/approvals/").content.decode()
    assert "On behalf of manager" in html and "Approve on behalf of manager" in html
    section = html.split('class="on-behalf-inbox"', 1)[1]
    assert order.number in section and own_by_delegator.number not in section
    assert 'name="on_behalf_of" value="manager"' in section
    client.force_login(manager)
    assert "manager2 holds your approvals" in client.get("/approvals/").content.decode()
    delegation.ended_at = timezone.now()
    delegation.save()
    client.force_login(manager2)
    assert "On behalf of manager" not in client.get("/approvals/").content.decode()


def test_every_inbox_table_has_as_many_cells_per_row_as_column_headings(client, manager, manager2, fake_temporal, make_order):
    """A screen reader reads each cell under its heading: an extra cell puts the expiry under "Decide"."""
    make_order()
    make_order(created_by=manager2)
    delegate(manager, manager2)
    client.force_login(manager2)
    html = client.get("/approvals/").content.decode()
    tables = re.findall(r"<table.*?</table>", html, flags=re.S)
    assert len(tables) >= 2  # the own inbox and the on-behalf one
    for table in tables:
        headings = len(re.findall(r"<th[ >]", table.split("</thead>", 1)[0]))
        for row in re.findall(r"<tr[ >](.*?)</tr>", table.split("<tbody>", 1)[1], flags=re.S):
            spans = [re.search(r'colspan="(\d+)"', attrs) for attrs in re.findall(r"<td\b([^>]*)>", row)]
            assert sum(int(span.group(1)) if span else 1 for span in spans) == headings, row


def test_reminders_and_escalations_go_to_whoever_holds_the_work(manager, manager2, senior, make_order):
    for user in (manager, manager2, senior):
        user.email = f"{user.username}@desk.example"
        user.save()
    delegate(manager, manager2)
    order = make_order()
    fields = {"order_id": order.pk, "requested_by": "clerk", "still_needed": "needs 1 more approval"}
    assert approver_mail.approvers_notify(ApproverNoticeInput(kind="reminder", idempotency_key="r-1", **fields)) == ["manager2", "senior"]
    assert sorted(e.to[0] for e in mail.outbox) == ["manager2@desk.example", "senior@desk.example"]

    # The senior is away with a non-senior substitute, who cannot act on an
    # escalation: it stays with the senior rather than reach nobody who can.
    delegate(senior, make_user("manager4", roles.MANAGERS, email="m4@desk.example"))
    escalation = ApproverNoticeInput(kind="escalation", idempotency_key="e-1", senior_only=True, **fields)
    assert approver_mail.approvers_notify(escalation) == ["senior"]
    # Once the substitute approved for the delegator, neither of them is reminded.
    ApprovalDecision.objects.create(order=order, approver_username="manager2", on_behalf_of_username="manager", decision="approved",
                                    request_id="by-sub")
    reminder = ApproverNoticeInput(kind="reminder", idempotency_key="r-2", already_decided=["manager2"], **fields)
    reminded = approver_mail.approvers_notify(reminder)
    assert reminded == ["manager4"]  # the senior's substitute holds the senior's (non-senior) reminder
