"""Policy what-if: what a draft policy would have done to recent orders (caught
per policy, approvals required, load per approver, expiries at the current
pace), computed with the matching code submission uses, and the admin's
"Preview", which saves, logs and sends nothing."""
from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin.models import LogEntry
from django.core import mail
from django.utils import timezone

from approvals import whatif
from approvals.models import ApprovalDecision, ApprovalPolicy
from approvals.selectors import matching_policy, policy_for, rule_for
from orders.models import Order
from temporal_bridge.order import states
from tests.conftest import make_user

pytestmark = pytest.mark.django_db

HOUR = 3600.0


def draft_of(policy: ApprovalPolicy, **changes) -> ApprovalPolicy:
    """An unsaved copy of `policy` with `changes`, as the admin form leaves its instance."""
    draft = ApprovalPolicy.objects.get(pk=policy.pk)
    for name, value in changes.items():
        setattr(draft, name, value)
    return draft


def place(customer, requester, total, *, days_ago: float = 1, status=states.PENDING_APPROVAL, required=1, senior=False) -> Order:
    order = Order.objects.create(
        customer=customer, created_by=requester, status=status, total=Decimal(total), shipping_address="1 Main St",
        requires_approval=True, approvals_required=required, requires_senior=senior,
    )
    Order.objects.filter(pk=order.pk).update(created_at=timezone.now() - timedelta(days=days_ago))
    order.refresh_from_db()
    return order


def decide(order, user, *, hours_after: float, decision=ApprovalDecision.Decision.APPROVED, senior=False) -> ApprovalDecision:
    record = ApprovalDecision.objects.create(
        order=order, approver=user, approver_username=user.username, decision=decision, senior=senior, request_id=f"r-{order.pk}-{user.pk}",
    )
    ApprovalDecision.objects.filter(pk=record.pk).update(created_at=order.created_at + timedelta(hours=hours_after))
    return record


# --- The matching submission uses, on a draft set ----------------------------------------


def test_submission_and_the_what_if_match_with_the_same_function(policies, customer):
    for total in ("0", "499.99", "500", "9999.99", "10000", "75000"):
        assert policy_for(total=Decimal(total), customer=customer) == matching_policy(
            ApprovalPolicy.objects.all(), total=Decimal(total), customer_id=customer.pk)


def test_an_unsaved_draft_matches_like_a_saved_policy_and_overlaps_resolve_as_at_submission(policies, customer):
    lower = draft_of(policies["large"], min_total=Decimal("5000"))
    drafts = whatif.draft_policy_set(lower, list(ApprovalPolicy.objects.filter(active=True)))
    assert matching_policy(drafts, total=Decimal("6000"), customer_id=None) is lower  # the higher "from total" wins
    assert matching_policy(drafts, total=Decimal("4999.99"), customer_id=None) == policies["standard"]
    own = ApprovalPolicy(name="Acme own", customer=customer, min_total=Decimal("0"), approvals_required=3)
    assert matching_policy([*drafts, own], total=Decimal("6000"), customer_id=customer.pk) is own
    assert matching_policy([*drafts, own], total=Decimal("6000"), customer_id=customer.pk + 1) is lower


def test_matching_once_per_stretch_of_totals_agrees_with_matching_each_order(policies, customer, settings):
    settings.ORDER_AUTO_APPROVE_BELOW = Decimal("300")
    ApprovalPolicy.objects.create(
        name="Acme mid", customer=customer, min_total=Decimal("2000"), max_total=Decimal("3000"), approvals_required=2,
    )
    draft = draft_of(policies["small"], active=False)  # below 500: the settings' fallback, which depends on the total itself
    drafts = whatif.draft_policy_set(draft, list(ApprovalPolicy.objects.filter(active=True)))
    matcher = whatif.PolicyMatcher(drafts)
    totals = ["0", "299.99", "300", "499.99", "500", "1999.99", "2000", "2999.99", "3000", "9999.99", "10000", "99999"]
    for customer_id in (customer.pk, None, customer.pk + 1):
        for total in [*reversed(totals), *totals]:
            policy = matching_policy(drafts, total=Decimal(total), customer_id=customer_id)
            rule = rule_for(policy, total=Decimal(total))
            assert matcher(Decimal(total), customer_id) == (whatif.policy_key(policy), whatif.rule_signature(rule)), (customer_id, total)


# --- The computation on hand-built orders ---------------------------------------------------

A, B, S = whatif.Approver(11, "ann", False), whatif.Approver(12, "bob", False), whatif.Approver(13, "sue", True)
CLERK_ID = 99


def run(policies, draft, orders, *, approvers=(A, B, S), observed=None, pace=None, method=whatif.OBSERVED):
    today = list(ApprovalPolicy.objects.filter(active=True))
    return whatif.compute(
        today_policies=today, draft_policies=whatif.draft_policy_set(draft, today), orders=orders, approvers=list(approvers),
        observed=observed or {}, pace=pace or whatif.Pace(delays=[]), method=method, edited=draft,
    )


def test_counts_per_policy_and_approvals_required_today_and_in_the_draft(policies):
    # Lower the senior threshold from 10,000 to 5,000 (overlapping "Standard" above 5,000).
    draft = draft_of(policies["large"], min_total=Decimal("5000"))
    orders = [(Decimal(t), None, CLERK_ID) for t in ("100", "200", "800", "6000", "7000", "9999.99", "12000")]
    count, changed, rows, today, after = run(policies, draft, orders)
    by_name = {row.name: row for row in rows}
    assert count == 7 and changed == 3
    assert (by_name["Small orders"].today_orders, by_name["Small orders"].draft_orders) == (2, 2)
    assert (by_name["Standard orders"].today_orders, by_name["Standard orders"].draft_orders) == (4, 1)
    large = by_name["Large orders"]
    assert (large.today_orders, large.draft_orders, large.moved_in, large.edited) == (1, 4, 3, True)
    assert (large.today_approvals, large.draft_approvals) == (2, 8)
    assert large.today_rule.startswith("Orders of 10,000.00 and above: 2 approvals from different people, at least one senior")
    assert large.draft_rule.startswith("Orders of 5,000.00 and above: 2 approvals")
    assert (today.needing_approval, today.approvals, today.senior_orders) == (5, 6, 1)
    assert (after.needing_approval, after.approvals, after.senior_orders) == (5, 9, 4)


def test_a_new_draft_policy_for_one_customer_takes_that_customers_orders(policies, customer):
    draft = ApprovalPolicy(name="Acme: always one", customer=customer, min_total=Decimal("0"), approvals_required=1)
    orders = [(Decimal("100"), customer.pk, CLERK_ID), (Decimal("100"), customer.pk + 1, CLERK_ID)]
    _, changed, rows, today, after = run(policies, draft, orders)
    new = next(row for row in rows if row.key == whatif.NEW)
    assert new.draft_rule == "Orders from Acme Corporation of 0.00 and above: 1 approval; expires after 48 h"
    assert (new.edited, new.today_orders, new.draft_orders, new.moved_in, new.draft_approvals) == (True, 0, 1, 1, 1)
    assert changed == 1 and (today.approvals, after.approvals) == (0, 1)


def test_deactivating_a_policy_sends_its_orders_to_the_settings_fallback(policies, settings):
    settings.ORDER_AUTO_APPROVE_BELOW = Decimal("500")
    draft = draft_of(policies["large"], active=False)
    _, changed, rows, today, after = run(policies, draft, [(Decimal("20000"), None, CLERK_ID)])
    fallback = next(row for row in rows if row.key is whatif.FALLBACK)
    assert (fallback.today_orders, fallback.draft_orders, fallback.draft_approvals) == (0, 1, 1)
    assert next(row for row in rows if row.name == "Large orders").draft_rule == ""
    assert (today.senior_orders, after.senior_orders, changed) == (1, 0, 1)


def test_load_follows_who_actually_decided_never_the_requester_and_the_senior_slot_goes_to_seniors(policies):
    orders = [(Decimal("800"), None, CLERK_ID)] * 10 + [(Decimal("800"), None, A.user_id)] * 2
    _, _, _, today, _ = run(policies, policies["standard"], orders, observed={"ann": 3, "bob": 1, "sue": 0})
    assert today.asked == {"ann": 10, "bob": 12, "sue": 12}
    # Ann took 3 of 4 decisions: 7.5 of the clerk's 10 orders; her own 2 go to Bob, who took the rest.
    assert today.decisions["ann"] == pytest.approx(7.5)
    assert today.decisions["bob"] == pytest.approx(2.5 + 2)
    assert today.decisions["sue"] == pytest.approx(0)

    _, _, _, large, _ = run(policies, policies["large"], [(Decimal("20000"), None, CLERK_ID)] * 4, observed={"ann": 3, "bob": 1})
    # Sue is the only senior: she fills the senior slot of each (though she decided nothing); one person counts once.
    assert large.decisions["sue"] == pytest.approx(4)
    assert large.decisions["ann"] + large.decisions["bob"] == pytest.approx(4)
    assert large.decisions["ann"] == pytest.approx(3)


def test_an_even_spread_and_nobody_above_one_approval_per_order(policies):
    draft = draft_of(policies["standard"], approvals_required=3)
    _, _, _, _, after = run(policies, draft, [(Decimal("800"), None, CLERK_ID)] * 6, observed={"ann": 100}, method=whatif.OBSERVED)
    assert {name: round(v, 6) for name, v in after.decisions.items()} == {"ann": 6, "bob": 6, "sue": 6}
    _, _, _, _, even = run(policies, policies["standard"], [(Decimal("800"), None, CLERK_ID)] * 6, method=whatif.EVEN)
    assert all(v == pytest.approx(2) for v in even.decisions.values())


def test_a_rule_no_eligible_approvers_can_meet_is_counted_and_expires(policies):
    draft = draft_of(policies["standard"], approvals_required=3)
    # The requester is one of the three approvers: two are left for three approvals.
    _, _, _, today, after = run(policies, draft, [(Decimal("800"), None, A.user_id)], pace=whatif.Pace(delays=[HOUR]))
    assert (today.unmeetable, after.unmeetable) == (0, 1)
    assert (today.expected_expiries, after.expected_expiries) == (0, 1)
    _, _, _, no_senior, _ = run(policies, policies["large"], [(Decimal("20000"), None, CLERK_ID)], approvers=(A, B))
    assert no_senior.unmeetable == 1


def test_expiries_at_the_current_pace_use_the_observed_delays_and_the_draft_deadline(policies):
    # Delays of 1, 10, 30 and 60 h, and one approval an expired order never got: F(48 h) = 3/5, F(24 h) = 2/5.
    pace = whatif.Pace(delays=[HOUR, 10 * HOUR, 30 * HOUR, 60 * HOUR], never=1)
    assert pace.share_within(48 * HOUR) == pytest.approx(0.6)
    orders = [(Decimal("800"), None, CLERK_ID)] * 10 + [(Decimal("20000"), None, CLERK_ID)] * 10
    draft = draft_of(policies["large"], expire_after_hours=Decimal("24"))
    _, _, _, today, after = run(policies, draft, orders, pace=pace)
    # 10 × (1 − 0.6) + 10 × (1 − 0.6²) today; the large ones at 24 h: 10 × (1 − 0.4²).
    assert today.expected_expiries == pytest.approx(4 + 6.4)
    assert after.expected_expiries == pytest.approx(4 + 8.4)


def test_without_any_observed_decision_the_expiries_are_not_estimated(policies):
    _, _, _, today, _ = run(policies, policies["standard"], [(Decimal("800"), None, CLERK_ID)])
    assert today.expected_expiries is None
    _, _, _, auto_only, _ = run(policies, policies["standard"], [(Decimal("5"), None, CLERK_ID)])
    assert auto_only.expected_expiries == 0


# --- From the database ----------------------------------------------------------------------


@pytest.fixture
def window(policies, customer, clerk, manager, manager2, senior):
    """Orders of the last days (one from long ago), their decisions, one expired."""
    a = place(customer, clerk, "800", days_ago=2, status=states.FULFILLED)
    decide(a, manager, hours_after=2)
    b = place(customer, clerk, "900", days_ago=3, status=states.REJECTED)
    decide(b, manager, hours_after=20, decision=ApprovalDecision.Decision.REJECTED)
    c = place(customer, clerk, "20000", days_ago=4, status=states.FULFILLED, required=2, senior=True)
    decide(c, manager2, hours_after=5)
    decide(c, senior, hours_after=30, senior=True)
    place(customer, clerk, "15000", days_ago=5, status=states.EXPIRED, required=2, senior=True)
    place(customer, clerk, "100", days_ago=1, status=states.FULFILLED)
    place(customer, clerk, "7000", days_ago=1)
    old = place(customer, clerk, "20000", days_ago=90, status=states.FULFILLED, required=2, senior=True)
    decide(old, manager, hours_after=1)
    return {"a": a, "c": c}


def test_the_what_if_reads_the_window_decisions_and_expiries_from_the_database(window, policies):
    result = whatif.policy_whatif(draft=draft_of(policies["large"], min_total=Decimal("5000")), days=30)
    assert result.orders == 6 and result.changed == 1  # the 7,000 order becomes large
    assert result.observed_expired == 1
    assert sorted(result.pace.delays) == [2 * HOUR, 5 * HOUR, 20 * HOUR, 30 * HOUR]
    assert result.pace.never == 2  # the expired order got neither of its two approvals
    loads = {a.username: a for a in result.approvers}
    assert set(loads) == {"manager", "manager2", "senior"}  # by permission; the clerk may not approve
    assert (loads["manager"].observed, loads["manager2"].observed, loads["senior"].observed) == (2, 1, 1)
    assert (result.today.approvals, result.draft.approvals) == (2 + 4 + 1, 2 + 4 + 2)
    # Every large order's senior slot, and a quarter (1 of 4 decisions) of the two standard ones.
    assert loads["senior"].decisions_draft == pytest.approx(3 + 0.5)
    # F(48 h) = 4 of 6 observations (two never came).
    assert result.draft_expire_share == pytest.approx(4 / 6)
    f = 4 / 6
    assert result.today.expected_expiries == pytest.approx(3 * (1 - f) + 2 * (1 - f ** 2))
    assert result.draft.expected_expiries == pytest.approx(2 * (1 - f) + 3 * (1 - f ** 2))


def test_the_what_if_costs_the_same_queries_for_more_orders(policies, customer, clerk, manager, django_assert_max_num_queries):
    draft = draft_of(policies["large"], min_total=Decimal("5000"))
    for i in range(3):
        decide(place(customer, clerk, "800"), manager, hours_after=i + 1)
    with django_assert_max_num_queries(12) as few:
        whatif.policy_whatif(draft=draft, days=30)
    for i in range(60):
        place(customer, clerk, str(600 + i * 300))
    with django_assert_max_num_queries(len(few.captured_queries)):
        result = whatif.policy_whatif(draft=draft, days=30)
    assert result.orders == 63


@pytest.mark.parametrize("days", [0, 366])
def test_the_window_is_bounded(policies, days):
    with pytest.raises(ValueError):
        whatif.policy_whatif(draft=policies["large"], days=days)


# --- The admin's Preview ------------------------------------------------------------------


def form_data(policy: ApprovalPolicy, **changes) -> dict:
    data = {
        "name": policy.name, "active": "on" if policy.active else "", "min_total": str(policy.min_total),
        "max_total": "" if policy.max_total is None else str(policy.max_total), "customer": "",
        "approvals_required": str(policy.approvals_required), "requires_senior": "on" if policy.requires_senior else "",
        "remind_after_hours": "24", "escalate_after_hours": "36", "expire_after_hours": "48",
        "whatif-days": "30", "whatif-method": whatif.OBSERVED, "_preview": "Preview",
    }
    if policy.auto_approve:
        data["auto_approve"] = "on"
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def change_url(policy) -> str:
    return f"/admin/approvals/approvalpolicy/{policy.pk}/change/"


def snapshot():
    return list(ApprovalPolicy.objects.order_by("pk").values()), LogEntry.objects.count()


def test_preview_shows_the_drafts_numbers_and_saves_logs_and_sends_nothing(client, window, policies, senior, fake_temporal):
    client.force_login(senior)
    page = client.get(change_url(policies["large"])).content.decode()
    assert 'name="_preview"' in page and 'name="whatif-days"' in page
    before = snapshot()

    response = client.post(change_url(policies["large"]), form_data(policies["large"], min_total="5000"))
    html = response.content.decode()
    assert response.status_code == 200
    assert 'id="whatif-result"' in html
    assert "6 orders since" in html and "<strong>1</strong> of them would have met a different policy" in html
    assert "<th scope=\"row\">Approvals required</th><td>7</td><td>8</td>" in html
    assert "Large orders (this draft)" in html and "Orders of 5,000.00 and above: 2 approvals" in html
    assert "overlaps another active policy and cannot be saved" in html  # Standard still covers 5,000 to 10,000
    assert "1 − F(T)<sup>k</sup>" in html
    assert snapshot() == before
    assert (fake_temporal.starts, fake_temporal.signals, fake_temporal.queries, mail.outbox) == ([], [], [], [])


def test_preview_of_a_new_policy_from_the_add_form_saves_nothing(client, window, policies, senior, fake_temporal):
    client.force_login(senior)
    before = snapshot()
    data = form_data(policies["large"], name="Very large", min_total="50000", approvals_required="3")
    response = client.post("/admin/approvals/approvalpolicy/add/", data)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Very large (this draft)" in html and 'id="whatif-summary"' in html
    assert snapshot() == before and not fake_temporal.starts and not mail.outbox


def test_a_valid_draft_previews_without_the_overlap_note_and_save_still_saves(client, window, policies, senior):
    client.force_login(senior)
    data = form_data(policies["standard"], expire_after_hours="40")
    html = client.post(change_url(policies["standard"]), data).content.decode()
    assert 'id="whatif-result"' in html and "cannot be saved" not in html
    assert ApprovalPolicy.objects.get(pk=policies["standard"].pk).expire_after_hours == Decimal("48")
    del data["_preview"]
    assert client.post(change_url(policies["standard"]), {**data, "_save": "Save"}).status_code == 302
    assert ApprovalPolicy.objects.get(pk=policies["standard"].pk).expire_after_hours == Decimal("40")


def test_only_those_who_may_change_policies_may_preview(client, policies, manager, outsider, fake_temporal):
    data = form_data(policies["large"], min_total="5000")
    client.force_login(manager)  # may view policies, not change them
    assert 'name="_preview"' not in client.get(change_url(policies["large"])).content.decode()
    assert client.post(change_url(policies["large"]), data).status_code == 403
    assert client.post("/admin/approvals/approvalpolicy/add/", data).status_code == 403
    client.force_login(outsider)
    assert client.post(change_url(policies["large"]), data).status_code in (302, 403)
    client.logout()
    assert client.post(change_url(policies["large"]), data).status_code == 302
    assert ApprovalPolicy.objects.get(pk=policies["large"].pk).min_total == Decimal("10000")


def test_an_admin_may_preview_too(client, policies, fake_temporal):
    admin_user = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin_user)
    response = client.post(change_url(policies["large"]), form_data(policies["large"], min_total="5000"))
    assert response.status_code == 200 and 'id="whatif-result"' in response.content.decode()


@pytest.mark.parametrize(("changes", "message"), [
    ({"whatif-days": "abc"}, "Enter a whole number."),
    ({"whatif-days": "0"}, "greater than or equal to 1"),
    ({"whatif-days": "366"}, "less than or equal to 365"),
    ({"whatif-days": "9" * 40}, "less than or equal to 365"),
    ({"whatif-method": "guess"}, "Select a valid choice"),
    ({"min_total": "lots"}, "Enter a number."),
    ({"min_total": "1e400"}, "no more than 12 digits"),
    ({"max_total": "100"}, "Must be above"),
    ({"approvals_required": "0"}, "greater than or equal to 1"),
    ({"remind_after_hours": "60"}, "The reminder must come before the expiry"),
    ({"name": "Standard orders"}, "already exists"),
])
def test_malformed_input_shows_the_forms_errors_and_no_preview(client, policies, senior, changes, message):
    client.force_login(senior)
    before = snapshot()
    response = client.post(change_url(policies["large"]), form_data(policies["large"], **changes))
    html = response.content.decode()
    assert response.status_code == 200
    assert message in html
    assert 'id="whatif-result"' not in html
    assert snapshot() == before


def test_preview_of_a_policy_that_does_not_exist_redirects(client, policies, senior):
    client.force_login(senior)
    for pk in ("999999", "abc"):
        response = client.post(f"/admin/approvals/approvalpolicy/{pk}/change/", form_data(policies["large"]))
        assert response.status_code == 302
