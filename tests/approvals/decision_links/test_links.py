"""Deciding from the e-mail: the links in reminders and digests, their confirmation page and its POST.

A link acts without a password, so each test checks what a person or an
attacker would see: GET changes nothing, a link works once, and an altered,
foreign, expired or no-longer-valid link is a clear 4xx page that sends nothing.
"""
from __future__ import annotations

import hashlib
import re
from datetime import date, timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core import mail
from django.test import Client
from django.utils import timezone

from approvals import approver_mail
from approvals.decision_links.models import DecisionLink
from approvals.decision_links.services import link_issue
from approvals.models import ApprovalDecision, Delegation
from orders.intents.models import RecordedIntent
from temporal_bridge.approvals.messages import ApproverNoticeInput
from temporal_bridge.order import messages as m
from temporal_bridge.order import states

pytestmark = pytest.mark.django_db

LINK = re.compile(r"(?P<word>Approve|Reject)[^:]*: (?P<url>http\S+/approvals/mail/\S+)")


@pytest.fixture
def emailed(manager, manager2, senior, clerk):
    for user in (manager, manager2, senior, clerk):
        user.email = f"{user.username}@desk.example"
        user.save()


def path_of(url: str) -> str:
    return url[url.index("/approvals/"):]


def links_in(body: str) -> dict[str, str]:
    return {match["word"].lower(): path_of(match["url"]) for match in LINK.finditer(body)}


def reminder(order) -> ApproverNoticeInput:
    return ApproverNoticeInput(order_id=order.pk, kind="reminder", idempotency_key=f"reminder-{order.pk}", requested_by="clerk",
                               still_needed="needs 1 more approval", due=(timezone.now() + timedelta(hours=24)).isoformat())


def test_the_reminder_carries_an_approve_and_a_reject_link_per_approver_and_stores_only_their_hash(emailed, make_order, fake_temporal):
    order = make_order()
    approver_mail.approvers_notify(reminder(order))
    by_person = {email.to[0]: links_in(email.body) for email in mail.outbox}
    assert set(by_person["manager@desk.example"]) == {"approve", "reject"}
    assert by_person["manager@desk.example"] != by_person["manager2@desk.example"]
    stored = set(DecisionLink.objects.values_list("token_hash", flat=True))
    for links in by_person.values():
        for path in links.values():
            secret = path.rstrip("/").rsplit("/", 1)[1].rsplit(":", 1)[0]
            assert secret not in stored and hashlib.sha256(secret.encode()).hexdigest() in stored
    assert fake_temporal.calls == 0


def test_opening_a_link_only_shows_the_confirmation_and_changes_nothing(client, emailed, make_order, fake_temporal, manager):
    order = make_order()
    path = path_of(link_issue(approver=manager, order=order, decision="approved"))
    for _ in range(3):  # a mail scanner prefetches it, the person opens it twice
        page = client.get(path)
        assert page.status_code == 200
        assert f"Approve order {order.number}?" in page.content.decode() and "Widget" in page.content.decode()
    assert fake_temporal.signals == [] and not RecordedIntent.objects.exists()
    assert DecisionLink.objects.get().used_at is None


def test_confirming_approves_as_the_approver_without_a_password_and_a_second_click_is_refused(client, make_order, fake_temporal, manager):
    order = make_order()
    path = path_of(link_issue(approver=manager, order=order, decision="approved"))
    done = client.post(path, {"comment": "fine"})
    assert done.status_code == 200 and "accepted by the order" in done.content.decode()
    [sent] = fake_temporal.signals
    assert (sent.name, sent.payload.actor, sent.payload.comment) == (m.SIGNAL_APPROVE, "manager", "fine")
    intent = RecordedIntent.objects.get()
    assert (intent.actor, intent.request_id) == ("manager", sent.payload.request_id)
    again = client.post(path, {"comment": "fine"})
    assert again.status_code == 410 and "already used" in again.content.decode()
    assert client.get(path).status_code == 410
    assert len(fake_temporal.signals) == 1


def test_reject_from_the_mail_asks_for_its_reason(client, make_order, fake_temporal, manager):
    order = make_order()
    path = path_of(link_issue(approver=manager, order=order, decision="rejected"))
    assert 'name="comment"' in client.get(path).content.decode()
    missing = client.post(path, {"comment": "  "})
    assert missing.status_code == 400 and "A reason is required" in missing.content.decode()
    assert fake_temporal.signals == [] and DecisionLink.objects.get().used_at is None
    done = client.post(path, {"comment": "Customer is over budget"})
    assert done.status_code == 200
    assert fake_temporal.signals[0].name == m.SIGNAL_REJECT and fake_temporal.signals[0].payload.comment == "Customer is over budget"


@pytest.mark.parametrize("alter", [
    lambda p: p[:-3] + "xx/",  # the signature broken
    lambda p: p.replace(":", "a:", 1),  # the secret changed
    lambda p: re.sub(r"/mail/\d+/", "/mail/999999/", p),  # another order's number in the path
    lambda p: p[:-1] + "A" * 300 + "/",
])
def test_an_altered_link_is_a_clear_404_and_sends_nothing(client, make_order, fake_temporal, manager, alter):
    order = make_order()
    path = alter(path_of(link_issue(approver=manager, order=order, decision="approved")))
    for response in (client.get(path), client.post(path, {"comment": ""})):
        assert response.status_code == 404 and "This link is not valid" in response.content.decode()
    assert fake_temporal.signals == [] and not RecordedIntent.objects.exists()


def test_an_expired_link_is_refused(client, make_order, fake_temporal, manager):
    order = make_order()
    path = path_of(link_issue(approver=manager, order=order, decision="approved"))
    DecisionLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert client.get(path).status_code == 410
    response = client.post(path, {})
    assert response.status_code == 410 and "expired" in response.content.decode()
    assert fake_temporal.signals == []


def test_a_link_opened_by_someone_else_signed_in_is_refused(client, make_order, fake_temporal, manager, manager2):
    order = make_order()
    path = path_of(link_issue(approver=manager, order=order, decision="approved"))
    client.force_login(manager2)
    response = client.post(path, {})
    assert response.status_code == 403 and "was sent to manager" in response.content.decode()
    assert fake_temporal.signals == []


@pytest.mark.parametrize("change", ["deactivated", "permission", "locked", "decided", "cancelled", "delegated"])
def test_a_link_dies_when_its_approver_could_not_decide_now(client, make_order, fake_temporal, manager, manager2, change):
    order = make_order()
    path = path_of(link_issue(approver=manager, order=order, decision="approved"))
    if change == "deactivated":
        manager.is_active = False
        manager.save()
    elif change == "permission":
        manager.groups.clear()
    elif change == "locked":
        AccessAttempt.objects.create(username="manager", ip_address="10.0.0.9", user_agent="x", get_data="", post_data="",
                                     failures_since_start=99, attempt_time=timezone.now())
    elif change == "decided":
        ApprovalDecision.objects.create(order=order, approver=manager, approver_username="manager", decision="approved",
                                        request_id="other")
    elif change == "cancelled":
        order.status = states.CANCELLED
        order.save()
    else:
        now = timezone.now()
        Delegation.objects.create(delegator=manager, substitute=manager2, starts_at=now - timedelta(hours=1),
                                  ends_at=now + timedelta(days=1), created_by=manager)
    for response in (client.get(path), client.post(path, {"comment": ""})):
        assert response.status_code in (403, 410)
        assert "This link cannot be used" in response.content.decode()
    assert fake_temporal.signals == [] and not RecordedIntent.objects.exists()
    assert DecisionLink.objects.get().used_at is None


def test_when_the_workflow_service_is_down_nothing_is_used_up(client, make_order, fake_temporal, manager):
    order = make_order()
    path = path_of(link_issue(approver=manager, order=order, decision="approved"))
    fake_temporal.unavailable = True
    response = client.post(path, {})
    assert response.status_code == 503 and "The link still works" in response.content.decode()
    assert DecisionLink.objects.get().used_at is None
    fake_temporal.unavailable = False
    assert client.post(path, {}).status_code == 200
    assert RecordedIntent.objects.count() == 1  # the retry reused the intent


def test_the_workflows_refusal_is_shown_and_the_link_stays_used(client, make_order, fake_temporal, manager):
    order = make_order()
    link_url = link_issue(approver=manager, order=order, decision="approved")
    link = DecisionLink.objects.get()
    refused = m.RequestVerdict(link.request_id, m.VERDICT_REFUSED, "the order is no longer awaiting approval")
    fake_temporal.verdicts[link.request_id] = refused
    response = client.post(path_of(link_url), {})
    assert response.status_code == 409 and "no longer awaiting approval" in response.content.decode()
    assert DecisionLink.objects.get().used_at is not None


def test_the_digest_links_each_order_for_its_reader(emailed, make_order, fake_temporal):
    order = make_order()
    approver_mail.digests_send(digest_date=date(2026, 3, 2))
    bodies = {email.to[0]: email.body for email in mail.outbox}
    assert set(links_in(bodies["manager@desk.example"])) == {"approve", "reject"}
    assert "clerk@desk.example" not in bodies  # the requester is not asked
    assert DecisionLink.objects.filter(order=order, approver__username="manager").count() == 2


def test_the_admin_lists_the_links_sent_without_their_hash_and_withdrawals_can_be_filtered(client, make_order, manager, fake_temporal):
    order = make_order()
    link_issue(approver=manager, order=order, decision="approved")
    admin = get_user_model().objects.create_superuser("root", password="pw")
    client.force_login(admin)
    page = client.get("/admin/approvals/decisionlink/")
    assert page.status_code == 200 and order.number in page.content.decode()
    assert DecisionLink.objects.get().token_hash not in page.content.decode()
    detail = client.get(f"/admin/approvals/decisionlink/{DecisionLink.objects.get().pk}/change/")
    assert detail.status_code == 200 and DecisionLink.objects.get().token_hash not in detail.content.decode()
    assert client.get("/admin/approvals/approvaldecision/?withdrawn_at__isnull=False").status_code == 200


def test_the_confirmation_posts_with_the_csrf_token_of_its_own_page(make_order, fake_temporal, manager):
    order = make_order()
    path = path_of(link_issue(approver=manager, order=order, decision="approved"))
    browser = Client(enforce_csrf_checks=True)  # as a real browser: no sign-in, the cookie and token from the GET
    page = browser.get(path)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    assert browser.post(path, {"comment": ""}).status_code == 403  # without the token: Django's CSRF refusal
    assert fake_temporal.signals == []
    assert browser.post(path, {"comment": "", "csrfmiddlewaretoken": token}).status_code == 200
    assert len(fake_temporal.signals) == 1
