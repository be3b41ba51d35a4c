"""What the workflow asks before a person's message counts (approvals.identity.messages_confirm):
did the desk record this request, for this order, as this message, and may its actor still take it?

The checks are built as the workflow builds them: from the message as its
decoder reads it (temporal_bridge.order.intents), never from what the desk meant.
"""
from __future__ import annotations

from dataclasses import asdict

import pytest
from temporalio import activity
from temporalio.converter import DataConverter
from temporalio.testing import ActivityEnvironment

from approvals import identity
from orders.intents.models import RecordedIntent
from orders.intents.services import intent_of
from temporal_bridge.contract.intents import (
    ACT_CONFIRM_MESSAGES,
    ActorCheckResult,
    EventCheck,
    EventConfirmation,
    IntentCheck,
    MessageChecks,
    MessageConfirmations,
    message_digest,
)
from temporal_bridge.order import activities, discussion, intents, payments
from temporal_bridge.order import messages as m
from temporal_bridge.order.discussion import CommentSignal, QuestionSignal
from temporal_bridge.runtime import worker
from tests.approvals.delegation.test_delegation import delegate

pytestmark = pytest.mark.django_db

RID = "intent-0123456789"


def check_of(order_id: int, signal: str, payload) -> IntentCheck:
    """The check the workflow makes of a message it received, from the message as it decodes it."""
    message = intents.PERSON_SIGNALS[signal]([asdict(payload)])
    return IntentCheck(order_id=order_id, signal=signal, request_id=message.request_id, actor=message.actor,
                               digest=message_digest(signal, message), on_behalf_of=getattr(message, "on_behalf_of", ""))


def record(order, signal: str, payload) -> IntentCheck:
    """Write the intent as the desk does; the check of the same message, as the workflow makes it."""
    RecordedIntent.objects.create(order=order, **asdict(intent_of(signal, payload)))
    return check_of(order.pk, signal, payload)


def confirm(*checks) -> list[ActorCheckResult]:
    return identity.messages_confirm(MessageChecks(intents=list(checks))).intents


def approval(actor: str = "manager", **fields) -> m.DecisionSignal:
    return m.DecisionSignal(**{"actor": actor, "request_id": RID, "comment": "Fine", **fields})


# --- Counts: recorded, as sent, by someone who may -----------------------------------------------


def test_a_message_the_desk_recorded_counts_with_the_actors_seniority_from_the_database(manager, senior, make_order):
    order, other = make_order(), make_order()
    # The message claims seniority; the database says otherwise, and it decides.
    by_manager = record(order, m.SIGNAL_APPROVE, approval(senior=True))
    by_senior = record(other, m.SIGNAL_APPROVE, approval("senior"))
    assert confirm(by_manager, by_senior) == [ActorCheckResult(True, senior=False), ActorCheckResult(True, senior=True)]


@pytest.mark.parametrize(("signal", "payload", "actor"), [
    (m.SIGNAL_CANCEL, m.CancelSignal(actor="manager", request_id=RID, reason=" Duplicate "), "manager"),
    (m.SIGNAL_UPDATE, m.UpdateSignal(actor="clerk", request_id=RID, priority="high", note="Ring twice"), "clerk"),
    (discussion.SIGNAL_COMMENT, CommentSignal(actor="manager", request_id=RID, text="Why so many?"), "manager"),
    (discussion.SIGNAL_ASK_REQUESTER, QuestionSignal(actor="manager", request_id=RID, question="Which site?"), "manager"),
])
def test_each_kind_of_recorded_message_counts_for_who_may_send_it(clerk, manager, make_order, signal, payload, actor):
    order = make_order()
    assert confirm(record(order, signal, payload)) == [ActorCheckResult(True)]


def test_a_delegated_decision_counts_only_as_recorded_on_behalf_of_its_delegator(manager, manager2, make_order):
    delegate(manager2, manager)
    order = make_order()
    check = record(order, m.SIGNAL_APPROVE, approval(on_behalf_of="manager2"))
    assert confirm(check) == [ActorCheckResult(True)]


# --- Refused: not sent from the desk, or not as sent ---------------------------------------------


def test_a_message_the_desk_has_no_record_of_is_refused(manager, make_order):
    order = make_order()
    [result] = confirm(check_of(order.pk, m.SIGNAL_APPROVE, approval()))
    assert result == ActorCheckResult(False, identity.NO_RECORD)
    assert result.reason == "the desk has no record of this request: it was not sent from the desk"


def test_a_recorded_request_replayed_onto_another_order_is_refused(manager, make_order):
    order, other = make_order(), make_order()
    record(order, m.SIGNAL_APPROVE, approval())
    assert confirm(check_of(other.pk, m.SIGNAL_APPROVE, approval())) == [ActorCheckResult(False, identity.NO_RECORD)]


@pytest.mark.parametrize(("signal", "forged", "differs"), [
    # A real manager's name on another's request id: the easiest forgery.
    (m.SIGNAL_APPROVE, approval("manager2"), "actor"),
    (m.SIGNAL_REJECT, approval(), "signal"),
    (m.SIGNAL_APPROVE, approval(on_behalf_of="manager2"), "on_behalf_of"),
    (m.SIGNAL_APPROVE, approval(comment="Approved, and ship it to my address"), "digest"),
])
def test_a_message_that_differs_from_its_recorded_intent_is_refused(manager, manager2, make_order, signal, forged, differs):
    order = make_order()
    record(order, m.SIGNAL_APPROVE, approval())
    [result] = confirm(check_of(order.pk, signal, forged))
    assert not result.allowed and not result.senior
    assert result.reason.startswith("the request differs from what the desk recorded (its ")
    assert differs in result.reason


def test_a_recorded_message_whose_actor_lost_the_permission_since_is_refused(manager, make_order):
    order = make_order()
    check = record(order, m.SIGNAL_APPROVE, approval())
    manager.groups.clear()
    assert confirm(check) == [ActorCheckResult(False, "manager is not allowed to approve or reject orders")]


def test_a_recorded_message_whose_actor_was_deactivated_since_is_refused(manager, make_order):
    order = make_order()
    check = record(order, m.SIGNAL_APPROVE, approval())
    manager.is_active = False
    manager.save(update_fields=["is_active"])
    assert confirm(check) == [ActorCheckResult(False, "manager's account is inactive")]


def test_a_recorded_decision_whose_delegation_ended_since_is_refused(manager, manager2, make_order):
    delegation = delegate(manager2, manager)
    order = make_order()
    check = record(order, m.SIGNAL_APPROVE, approval(on_behalf_of="manager2"))
    delegation.delete()
    assert confirm(check) == [ActorCheckResult(False, "no delegation from manager2 to manager stands now")]


# --- A batch: one answer per check, in order; the intents read at once ----------------------------


def test_a_batch_is_answered_in_order_and_its_intents_read_in_one_query(manager, make_order, django_assert_num_queries):
    orders = [make_order() for _ in range(3)]
    checks = [check_of(order.pk, m.SIGNAL_APPROVE, approval(request_id=f"{RID}-{i}")) for i, order in enumerate(orders)]
    # None recorded: a flood of raw signals costs one read, not one per message.
    with django_assert_num_queries(1):
        results = confirm(*checks)
    assert results == [ActorCheckResult(False, identity.NO_RECORD)] * 3

    record(orders[1], m.SIGNAL_APPROVE, approval(request_id=f"{RID}-1"))
    assert [r.allowed for r in confirm(*checks)] == [False, True, False]


LONG = "x" * 100_000


@pytest.mark.parametrize("odd", [
    {"request_id": "intent\x00-0123"},
    {"actor": "manager\x00"},
    {"actor": LONG},
    {"request_id": LONG},
    {"on_behalf_of": "\x00"},
    {"on_behalf_of": LONG},
    {"signal": "payment_event"},
    {"signal": None},
    {"digest": None},
    {"order_id": "1"},
    {"order_id": True},
    {"order_id": 2**80},
    {"order_id": -1},
    {"request_id": ""},
    {"actor": ""},
])
def test_odd_input_is_refused_without_asking_the_database(manager, make_order, django_assert_num_queries, odd):
    order = make_order()
    check = record(order, m.SIGNAL_APPROVE, approval())
    for name, value in odd.items():
        setattr(check, name, value)
    with django_assert_num_queries(0):
        assert confirm(check) == [ActorCheckResult(False, identity.NO_RECORD)]


def test_what_is_not_a_check_at_all_is_refused_and_nothing_raises(db, django_assert_num_queries):
    with django_assert_num_queries(0):
        answers = identity.messages_confirm(MessageChecks(intents=[None, {"order_id": 1}, "approve"], events=[None, 7]))
    assert [a.allowed for a in answers.intents] == [False] * 3
    assert [a.received for a in answers.events] == [False] * 2


# --- The activity the workflow runs -------------------------------------------------------------


def test_the_confirm_activity_is_registered():
    names = {activity._Definition.from_callable(fn).name for fn in worker.ACTIVITIES}
    assert ACT_CONFIRM_MESSAGES in names


@pytest.mark.django_db(transaction=True)
def test_the_confirm_activity_answers_the_batch_it_is_sent_through_the_data_converter(manager, make_order):
    order = make_order()
    recorded = record(order, m.SIGNAL_APPROVE, approval())
    forged = check_of(order.pk, m.SIGNAL_APPROVE, approval("manager2"))
    event = EventCheck(provider=payments.PROVIDER_PAYMENTS, order_id=order.pk, event_id="evt_forged",
                               kind=payments.PAYMENT_SUCCEEDED,
                               digest="0" * 64)
    # As the workflow's call arrives: encoded, then decoded by the activity's type hints.
    converter = DataConverter.default.payload_converter
    [checks] = converter.from_payloads(converter.to_payloads([MessageChecks([recorded, forged], [event])]),
                                       [MessageChecks])

    answers = ActivityEnvironment().run(activities.confirm_messages, checks)

    assert answers.intents[0] == ActorCheckResult(True)
    assert not answers.intents[1].allowed and "actor" in answers.intents[1].reason
    assert answers.events == [EventConfirmation(False, "the desk received no such event from the provider")]
    [decoded] = converter.from_payloads(converter.to_payloads([answers]), [MessageConfirmations])
    assert decoded == answers
