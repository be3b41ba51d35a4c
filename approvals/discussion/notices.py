"""A comment, a question or an answer the workflow accepted: its timeline
entry and the emails to the people involved, written together.

The entry is written under the key the workflow assigned (so a retried
activity writes nothing twice), and the emails are queued for after the
commit, once: a retry finds the entry and sends nothing again. Who hears:

- a question: the order's requester;
- an answer: whoever asked, and the approvers who already decided this round;
- a comment: the requester, the approvers who decided, everyone who commented
  before.

Never the author; only active people with an email address.
"""
from __future__ import annotations

import dataclasses
import logging
from functools import partial

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.template.loader import render_to_string

from approvals import selectors
from approvals.links import absolute_url
from orders.models import Order
from orders.steps import locked_order
from orders.timeline import mirror
from orders.timeline.models import OrderEvent
from temporal_bridge.order import discussion
from temporal_bridge.order.discussion import DiscussionNotice, DiscussionResult
from temporal_bridge.order.records import TimelineEntry

log = logging.getLogger(__name__)

COMMENT, QUESTION, ANSWER = OrderEvent.Kind.COMMENT.value, OrderEvent.Kind.QUESTION.value, OrderEvent.Kind.ANSWER.value
KINDS = (COMMENT, QUESTION, ANSWER)
MAX_MESSAGE = 500  # OrderEvent.message


def entry_text(kind: str, actor: str, text: str) -> str:
    """The timeline's words (messages.discussion_text, the workflow's too), within the column's length."""
    room = MAX_MESSAGE - len(discussion.discussion_text(kind, actor, ""))
    return discussion.discussion_text(kind, actor, text if len(text) <= room else text[: room - 1] + "…")


def discussion_record(notice: DiscussionNotice) -> DiscussionResult:
    """Write the entry (if the workflow assigned it a key) and queue the emails on commit."""
    if notice.kind not in KINDS:
        raise ValueError(f"{notice.kind!r} is not a kind of discussion entry")
    with transaction.atomic():
        order = locked_order(notice.order_id)  # serialises a retry racing its first attempt
        key = notice.record.key if notice.record is not None else ""
        first_time = not key or not OrderEvent.objects.filter(order=order, idempotency_key=key).exists()
        recorded: list[TimelineEntry] = []
        if notice.record is not None:
            # The kind is the notice's: the mirror's open-question flag follows it.
            record = dataclasses.replace(notice.record, kind=notice.kind)
            message = entry_text(notice.kind, notice.actor, notice.text)
            recorded = mirror.order_record_step(order_id=order.pk, record=record, message=message, actor=notice.actor)
        people = recipients(order, notice) if first_time else []
        if people:
            subject, body = _email(order, notice)
            transaction.on_commit(partial(_send_after_commit, order.pk, subject, body, people))
    return DiscussionResult(recipients=[u.get_username() for u in people], recorded=recorded)


def recipients(order: Order, notice: DiscussionNotice) -> list[AbstractBaseUser]:
    """The people to email about `notice` on `order`, by username, the author left out."""
    names: set[str] = set()
    key = notice.record.key if notice.record is not None else ""
    earlier = OrderEvent.objects.filter(order=order).exclude(idempotency_key=key)
    if notice.kind in (QUESTION, COMMENT):
        names.add(order.created_by.get_username())
    if notice.kind in (ANSWER, COMMENT):
        for approver, stood_in_for in selectors.counting_decisions().filter(order=order).values_list(
                "approver_username", "on_behalf_of_username"):
            names.update(n for n in (approver, stood_in_for) if n)
    if notice.kind == ANSWER:
        asked = earlier.filter(kind=QUESTION).order_by("-created_at", "-id").values_list("actor", flat=True).first()
        if asked:
            names.add(asked)
    if notice.kind == COMMENT:
        names.update(earlier.filter(kind=COMMENT).values_list("actor", flat=True))
    names.discard(notice.actor)
    names.discard("")
    return list(get_user_model().objects.filter(username__in=names, is_active=True).exclude(email="").order_by("username"))


def _email(order: Order, notice: DiscussionNotice) -> tuple[str, str]:
    number = order.number or str(order)
    subject = {
        QUESTION: f"Question about your order {number} from {notice.actor}",
        ANSWER: f"{notice.actor} answered the question on order {number}",
        COMMENT: f"{notice.actor} commented on order {number}",
    }[notice.kind]

    body = render_to_string("emails/discussion_notice.txt", {
        "order": order, "kind": notice.kind, "actor": notice.actor, "text": notice.text, "url": absolute_url(order.get_absolute_url()),
    })
    return subject, body


def _send_after_commit(order_id: int, subject: str, body: str, people: list[AbstractBaseUser]) -> None:
    # After the commit a failure cannot roll the entry back, and a retry would
    # find it and send nothing: say so loudly instead of failing the activity.
    try:
        get_connection(fail_silently=False).send_messages([EmailMessage(subject=subject, body=body, to=[u.email]) for u in people])
    except Exception:  # noqa: BLE001 - see above
        log.exception("Discussion email on order %s to %s could not be sent", order_id, ", ".join(u.get_username() for u in people))
