"""The discussion activity on the real test database: a comment, a question or
an answer the workflow accepted is written to the timeline once, with the
mirror's open-question flag, and emailed once to the people involved.

Real transactions (`transaction=True`), as in tests/temporal_bridge/order/test_activities.py:
the activity closes stale connections, and its emails leave on commit.
"""
from __future__ import annotations

import pytest
from django.core import mail
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from approvals.models import ApprovalDecision
from orders import roles
from orders.models import Order
from orders.timeline.mirror import mirror_snapshot
from orders.timeline.models import OrderEvent
from temporal_bridge.order import discussion, records, states
from temporal_bridge.order.activities import notify_discussion
from temporal_bridge.order.discussion import DiscussionNotice
from temporal_bridge.order.records import StepRecord
from tests.conftest import make_user

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def env() -> ActivityEnvironment:
    return ActivityEnvironment()


@pytest.fixture
def people(clerk, manager, manager2, senior):
    for user in (clerk, manager, manager2, senior):
        user.email = f"{user.username}@desk.example"
        user.save(update_fields=["email"])
    return {u.username: u for u in (clerk, manager, manager2, senior)}


def notice(order: Order, kind: str, actor: str, text: str, position: int) -> DiscussionNotice:
    key = records.timeline_key(position, kind)
    return DiscussionNotice(order_id=order.pk, kind=kind, actor=actor, text=text, record=StepRecord(key=key, kind=kind))


def emailed(message) -> list[str]:
    return [address.split("@")[0] for address in message.to]


def decide(order: Order, username: str, *, superseded: bool = False, on_behalf_of: str = "") -> None:
    ApprovalDecision.objects.create(order=order, approver_username=username, decision=ApprovalDecision.Decision.APPROVED,
                                    request_id=f"req-{username}", superseded=superseded, on_behalf_of_username=on_behalf_of)


def test_a_question_is_written_once_opens_the_question_and_emails_the_requester_once(env, people, make_order):
    order = make_order()
    asked = notice(order, "question", "manager", "Which dock should this go to?", 3)
    first = env.run(notify_discussion, asked)
    retry = env.run(notify_discussion, asked)

    [entry] = OrderEvent.objects.filter(order=order, kind="question")
    assert entry.message == "Question from manager for the requester: Which dock should this go to?"
    assert (entry.actor, entry.idempotency_key) == ("manager", "0003-question")
    assert [e.message for e in first.recorded] == [entry.message] and first.recorded == retry.recorded
    assert (first.recipients, retry.recipients) == (["clerk"], [])
    [email] = mail.outbox
    assert emailed(email) == ["clerk"]
    assert email.subject == f"Question about your order {order.number} from manager"
    assert "Which dock should this go to?" in email.body and f"/orders/{order.pk}/" in email.body
    assert Order.objects.get(pk=order.pk).awaiting_answer is True


def test_the_mirror_shows_the_open_question_and_only_the_answer_moves_the_order(env, people, make_order):
    order = make_order()
    env.run(notify_discussion, notice(order, "question", "manager", "Which dock?", 3))
    snapshot = mirror_snapshot(Order.objects.get(pk=order.pk))
    assert (snapshot.open_question, snapshot.question_by) == ("Which dock?", "manager")
    assert snapshot.allowed_actions == [states.ANSWER, states.CANCEL, states.UPDATE]

    env.run(notify_discussion, notice(order, "answer", "clerk", "Dock 4.", 4))
    snapshot = mirror_snapshot(Order.objects.get(pk=order.pk))
    assert Order.objects.get(pk=order.pk).awaiting_answer is False
    assert snapshot.open_question == "" and states.APPROVE in snapshot.allowed_actions and states.ASK in snapshot.allowed_actions


def test_an_answer_goes_to_whoever_asked_and_to_the_approvers_who_decided_this_round(env, people, make_order):
    order = make_order()
    decide(order, "manager2")
    decide(order, "senior", superseded=True)  # voided by an earlier change of address: not this round
    env.run(notify_discussion, notice(order, "question", "manager", "Which dock?", 3))
    mail.outbox.clear()

    result = env.run(notify_discussion, notice(order, "answer", "clerk", "Dock 4.", 4))
    assert result.recipients == ["manager", "manager2"]
    assert sorted(name for e in mail.outbox for name in emailed(e)) == ["manager", "manager2"]
    assert all(e.subject == f"clerk answered the question on order {order.number}" for e in mail.outbox)
    assert OrderEvent.objects.get(order=order, kind="answer").message == "Answer from clerk: Dock 4."


def test_a_comment_reaches_requester_deciders_and_earlier_commenters_but_not_its_author(env, people, make_order):
    order = make_order()
    decide(order, "manager2")
    env.run(notify_discussion, notice(order, "comment", "senior", "Customer called about this one.", 2))
    mail.outbox.clear()
    # Someone without an email address, and an inactive former commenter: nobody to write to.
    make_user("nomail", roles.MANAGERS)
    make_user("gone", roles.MANAGERS, email="gone@desk.example", is_active=False)
    for position, name in ((1, "nomail"), (4, "gone")):
        OrderEvent.objects.create(order=order, kind="comment", message=discussion.discussion_text("comment", name, "x"), actor=name,
                                  idempotency_key=records.timeline_key(position, "comment"))

    result = env.run(notify_discussion, notice(order, "comment", "manager2", "Price looks right.", 5))
    assert result.recipients == ["clerk", "senior"]
    assert sorted(name for e in mail.outbox for name in emailed(e)) == ["clerk", "senior"]
    assert all(len(e.to) == 1 for e in mail.outbox)  # people do not see each other's addresses


def test_a_long_text_is_cut_to_fit_the_timeline_without_failing(env, people, make_order):
    order = make_order()
    env.run(notify_discussion, notice(order, "question", "manager", "x" * discussion.MAX_QUESTION, 2))
    entry = OrderEvent.objects.get(order=order, kind="question")
    assert len(entry.message) == 500 and entry.message.endswith("x…")
    # The email carries the whole question.
    assert "x" * discussion.MAX_QUESTION in mail.outbox[0].body


def test_an_unknown_kind_is_refused_for_good_and_writes_nothing(env, people, make_order):
    order = make_order()
    with pytest.raises(ApplicationError) as raised:
        env.run(notify_discussion, notice(order, "gossip", "manager", "psst", 2))
    assert raised.value.non_retryable
    assert not OrderEvent.objects.filter(order=order).exists() and mail.outbox == []
