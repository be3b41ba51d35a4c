"""The manager inbox and the nav badge, with real users and permissions."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from approvals import selectors
from temporal_bridge.order import states

pytestmark = pytest.mark.django_db

BADGE = '<span class="badge" title="Orders awaiting your decision">{}</span>'


def test_inbox_lists_pending_orders_created_by_others_and_not_my_own(client, manager, manager2, clerk, fake_temporal, make_order):
    by_clerk = make_order(created_by=clerk)
    by_colleague = make_order(created_by=manager2)
    mine = make_order(created_by=manager)
    client.force_login(manager)

    response = client.get("/approvals/")
    assert response.status_code == 200
    listed = [o.pk for o in response.context["page"]]
    assert set(listed) == {by_clerk.pk, by_colleague.pk}
    html = response.content.decode()
    assert by_clerk.number in html and by_colleague.number in html
    assert mine.number not in html


def test_inbox_leaves_out_orders_no_longer_pending_or_auto_approved(client, manager, fake_temporal, make_order):
    waiting = make_order()
    for status in (states.APPROVED, states.PROCESSING, states.FULFILLED, states.REJECTED, states.CANCELLED, states.EXPIRED):
        make_order(status=status)
    make_order(requires_approval=False)  # passes the gate without a decision
    client.force_login(manager)
    assert [o.pk for o in client.get("/approvals/").context["page"]] == [waiting.pk]


def test_inbox_shows_the_soonest_due_first_and_undated_orders_last(client, manager, fake_temporal, make_order):
    now = timezone.now()
    later = make_order(approval_deadline=now + timedelta(hours=40))
    undated = make_order()  # its workflow has not recorded a deadline yet
    sooner = make_order(approval_deadline=now + timedelta(hours=2))
    client.force_login(manager)
    assert [o.pk for o in client.get("/approvals/").context["page"]] == [sooner.pk, later.pk, undated.pk]


def test_inbox_is_empty_when_nothing_waits(client, manager, fake_temporal):
    client.force_login(manager)
    response = client.get("/approvals/")
    assert response.status_code == 200
    assert "Nothing is waiting for you." in response.content.decode()


def test_inbox_pages_by_fifty(client, manager, fake_temporal, make_order):
    for _ in range(51):
        make_order()
    client.force_login(manager)
    first = client.get("/approvals/")
    assert len(first.context["page"]) == 50
    assert "Page 1 of 2" in first.content.decode()
    assert len(client.get("/approvals/", {"page": 2}).context["page"]) == 1


def test_inbox_reads_the_database_only(client, manager, fake_temporal, make_order):
    for _ in range(3):
        make_order()
    client.force_login(manager)
    client.get("/approvals/")
    assert fake_temporal.calls == 0


def test_clerk_and_outsider_cannot_open_the_inbox(client, clerk, outsider, fake_temporal):
    client.force_login(clerk)
    assert client.get("/approvals/").status_code == 403
    client.force_login(outsider)
    assert client.get("/approvals/").status_code == 403


def test_anonymous_inbox_visit_is_sent_to_login(client, fake_temporal):
    response = client.get("/approvals/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")


def test_inbox_is_read_only(client, manager, fake_temporal):
    client.force_login(manager)
    assert client.post("/approvals/").status_code == 405


def test_nav_badge_counts_the_orders_awaiting_my_decision(client, manager, manager2, fake_temporal, make_order):
    make_order()
    make_order(created_by=manager2)
    make_order(created_by=manager)  # mine: not mine to decide
    make_order(status=states.APPROVED)
    client.force_login(manager)
    html = client.get("/orders/").content.decode()
    assert BADGE.format(2) in html

    client.force_login(manager2)
    assert BADGE.format(2) in client.get("/orders/").content.decode()


def test_nav_badge_stops_counting_at_99(client, manager, fake_temporal, make_order, monkeypatch):
    monkeypatch.setattr(selectors, "BADGE_CAP", 2)  # 100 orders would make the test slow, not truer
    for _ in range(3):
        make_order()
    client.force_login(manager)
    assert BADGE.format("2+") in client.get("/orders/").content.decode()


def test_nav_has_no_badge_when_nothing_waits(client, manager, fake_temporal):
    client.force_login(manager)
    html = client.get("/orders/").content.decode()
    assert 'href="/approvals/"' in html
    assert 'class="badge"' not in html


def test_clerk_has_no_approvals_link_nor_badge(client, clerk, fake_temporal, make_order):
    make_order()
    client.force_login(clerk)
    html = client.get("/orders/").content.decode()
    assert 'href="/approvals/"' not in html
    assert 'class="badge"' not in html
