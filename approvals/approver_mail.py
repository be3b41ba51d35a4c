"""The e-mails to approvers: reminders, escalations and the daily digest.

Each carries, per order and per person, its own decision links (Approve,
Reject…: approvals.decision_links), so an approver can decide from the mail;
a link only opens a confirmation page.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

from django.core.mail import EmailMessage, get_connection
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string

from approvals import selectors
from approvals.decision_links.services import links_for
from approvals.delegation import services as delegations
from approvals.inbox_rows import inbox_rows
from approvals.links import absolute_url
from approvals.models import ApprovalNotice
from orders.models import Order
from temporal_bridge.approvals.messages import ApproverNoticeInput

# Decision links in a digest: for the first orders only, to keep the mail short.
DIGEST_LINKED_ORDERS = 20


def approvers_notify(notice: ApproverNoticeInput) -> list[str]:
    """Email a reminder to the order's eligible approvers, or an escalation to
    the senior ones, at most once per key. Returns the usernames emailed.

    The marker row, the links and the emails share a transaction: if sending
    fails they are rolled back and the activity's retry sends again.
    """
    kind = ApprovalNotice.Kind(notice.kind)
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).select_related("customer").get(pk=notice.order_id)
        existing = ApprovalNotice.objects.filter(idempotency_key=notice.idempotency_key).first()
        if existing is not None:
            return [name for name in existing.recipients.split(",") if name]
        people = selectors.senior_approvers() if notice.senior_only else selectors.approvers()
        # Those stood in for count too (the workflow lists the approvers alone).
        stood_in_for = selectors.counting_decisions().filter(order=order).exclude(on_behalf_of_username="")
        excluded = {notice.requested_by, *notice.already_decided, *stood_in_for.values_list("on_behalf_of_username", flat=True)}
        people = delegations.holders_of_work(people.exclude(username__in=excluded), order=order, excluded=excluded,
                                             senior_only=notice.senior_only)
        people = [u for u in people if u.email]
        try:
            with transaction.atomic():
                ApprovalNotice.objects.create(
                    kind=kind, order=order, idempotency_key=notice.idempotency_key, recipients=",".join(u.username for u in people),
                )
        except IntegrityError:  # a concurrent retry got there first
            return [u.username for u in people]
        subject = {
            ApprovalNotice.Kind.REMINDER: f"Reminder: order {order.number} awaits your approval",
            ApprovalNotice.Kind.ESCALATION: f"Escalated: order {order.number} is still undecided",
        }[kind]
        context = {
            "order": order, "kind": kind.value, "still_needed": notice.still_needed, "rule": order.approval_rule_text,
            "due": datetime.fromisoformat(notice.due) if notice.due else None, "url": absolute_url(order.get_absolute_url()),
        }
        messages = [
            EmailMessage(subject=subject, to=[user.email], body=render_to_string(
                "emails/approval_notice.txt",
                {**context, "links": links_for(approver=user, order=order), "row": inbox_rows([order], user)[0]}))
            for user in people
        ]
        _send(messages)
    return [u.username for u in people]


def digests_send(*, digest_date: date) -> list[str]:
    """Email each approver the orders awaiting their decision, once per day each.

    Approvers with nothing waiting get no email. Returns the usernames emailed
    (now or by an earlier run of the same day).
    """
    emailed = []
    for user in selectors.approvers():
        if not user.email:
            continue
        key = f"digest-{digest_date.isoformat()}-{user.username}"
        orders = list(selectors.awaiting_decision(user)[:100])
        if not orders:
            continue
        with transaction.atomic():
            try:
                with transaction.atomic():
                    ApprovalNotice.objects.create(kind=ApprovalNotice.Kind.DIGEST, idempotency_key=key, recipients=user.username)
            except IntegrityError:
                emailed.append(user.username)
                continue
            total = selectors.awaiting_decision(user).count()
            subject = f"{total} order{'s' if total != 1 else ''} awaiting your approval"
            rows = [(row, links_for(approver=user, order=row.order) if i < DIGEST_LINKED_ORDERS else {})
                    for i, row in enumerate(inbox_rows(orders, user))]
            body = render_to_string("emails/approval_digest.txt", {
                "user": user, "rows": rows, "orders": orders, "total": total, "date": digest_date, "url": absolute_url("/approvals/"),
            })
            _send([EmailMessage(subject=subject, body=body, to=[user.email])])
        emailed.append(user.username)
    return emailed


def _send(messages: Sequence[EmailMessage]) -> None:
    """One email per person: approvers do not see each other's addresses."""
    if messages:
        get_connection(fail_silently=False).send_messages(list(messages))

