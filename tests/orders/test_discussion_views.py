"""Comment, ask the requester, answer: who may, what is sent, the workflow's
verdict shown, and where an order sent back with a question appears."""
from __future__ import annotations

from dataclasses import replace

import pytest
from django.urls import reverse

from approvals.models import ApprovalDecision
from orders.timeline.mirror import mirror_snapshot
from orders.timeline.models import OrderEvent
from orders.views.panel import POLL_WAITING
from temporal_bridge.order import discussion, states
from temporal_bridge.order import messages as m
from temporal_bridge.order.discussion import AnswerSignal, CommentSignal, QuestionSignal
from tests.orders.pages import HTMX, REQUEST_ID, logged_in, url

pytestmark = pytest.mark.django_db


def ask_open(order, question: str = "Which dock should this go to?", by: str = "manager"):
    """The order as the activity leaves it once a question was accepted."""
    OrderEvent.objects.create(order=order, kind="question", message=discussion.discussion_text("question", by, question), actor=by,
                              idempotency_key="0002-question")
    order.awaiting_answer = True
    order.save(update_fields=["awaiting_answer"])
    return order


# --- Comment -----------------------------------------------------------------------------


def test_an_approver_comments_and_sees_the_workflows_verdict(client, manager, fake_temporal, make_order):
    order = make_order()
    form = {"comment-text": " Price checked. ", "comment-request_id": REQUEST_ID}
    response = logged_in(client, manager).post(url("comment", order), form, headers=HTMX)
    assert response.status_code == 200
    assert f"Comment on {order.number}: Accepted by the order&#x27;s workflow." in response.content.decode()
    [sent] = fake_temporal.signals
    assert (sent.order_id, sent.name) == (order.pk, discussion.SIGNAL_COMMENT)
    assert sent.payload == CommentSignal(actor="manager", request_id=REQUEST_ID, text="Price checked.")


def test_the_requester_may_comment_and_someone_outside_the_order_may_not(client, clerk, outsider, fake_temporal, make_order):
    order = make_order()
    requester = logged_in(client, clerk).post(url("comment", order), {"comment-text": "Urgent for the customer"}, headers=HTMX)
    assert requester.status_code == 200
    refused = logged_in(client, outsider).post(url("comment", order), {"comment-text": "hi"}, headers=HTMX)
    assert refused.status_code == 403
    assert "Only the order&#x27;s requester and its approvers can comment on it." in refused.content.decode()
    assert len(fake_temporal.signals) == 1


@pytest.mark.parametrize(("text", "error"), [
    ("   ", "A comment cannot be empty."),
    ("x" * (m.MAX_COMMENT + 1), f"Ensure this value has at most {m.MAX_COMMENT} characters"),
    ("nul\x00byte", "Null characters are not allowed."),
])
def test_an_empty_oversized_or_binary_comment_is_a_clear_400_and_nothing_is_sent(client, manager, fake_temporal, make_order, text, error):
    order = make_order()
    response = logged_in(client, manager).post(url("comment", order), {"comment-text": text}, headers=HTMX)
    assert response.status_code == 400
    assert error in response.content.decode()
    assert fake_temporal.signals == []


def test_a_finished_order_takes_no_more_comments(client, manager, fake_temporal, make_order):
    order = make_order(status=states.FULFILLED)
    response = logged_in(client, manager).post(url("comment", order), {"comment-text": "late"}, headers=HTMX)
    assert response.status_code == 409
    assert "its discussion is closed" in response.content.decode()
    assert fake_temporal.signals == []


# --- Ask the requester -----------------------------------------------------------------------


def test_an_approver_asks_the_requester_and_a_refusal_shows_the_workflows_reason(client, manager, fake_temporal, make_order):
    order = make_order()
    reason = "a question already waits for clerk's answer"
    fake_temporal.verdicts["b" * 32] = m.RequestVerdict("b" * 32, m.VERDICT_REFUSED, reason)
    ok = logged_in(client, manager).post(url("ask", order), {"ask-question": "Which dock?", "ask-request_id": REQUEST_ID}, headers=HTMX)
    assert ok.status_code == 200
    assert fake_temporal.signals[0].name == discussion.SIGNAL_ASK_REQUESTER
    assert fake_temporal.signals[0].payload == QuestionSignal(actor="manager", request_id=REQUEST_ID, question="Which dock?")

    refused = client.post(url("ask", order), {"ask-question": "And the date?", "ask-request_id": "b" * 32}, headers=HTMX)
    assert refused.status_code == 409
    assert f"Refused by the order's workflow: {reason}" in refused.content.decode().replace("&#x27;", "'")


def test_a_clerk_cannot_ask_and_nor_can_the_requester_or_an_approver_who_decided(client, clerk, manager, fake_temporal, make_order):
    order = make_order()
    clerk_try = logged_in(client, clerk).post(url("ask", order), {"ask-question": "?"}, headers=HTMX)
    assert clerk_try.status_code == 403 and "Only approvers can ask the requester a question." in clerk_try.content.decode()
    own = make_order(created_by=manager)
    assert logged_in(client, manager).post(url("ask", own), {"ask-question": "?"}, headers=HTMX).status_code == 403
    ApprovalDecision.objects.create(order=order, approver_username="manager", decision="approved", request_id="r-1")
    decided = client.post(url("ask", order), {"ask-question": "?"}, headers=HTMX)
    assert decided.status_code == 403 and "You have already decided on this order" in decided.content.decode()
    assert fake_temporal.signals == []


def test_asking_again_while_a_question_is_open_is_refused_before_anything_is_sent(client, manager, fake_temporal, make_order):
    order = ask_open(make_order())
    response = logged_in(client, manager).post(url("ask", order), {"ask-question": "And?"}, headers=HTMX)
    assert response.status_code == 409
    assert f"A question on {order.number} already waits for clerk&#x27;s answer." in response.content.decode()
    assert fake_temporal.signals == []


def test_the_same_form_posted_twice_carries_one_request_id_so_the_workflow_counts_it_once(client, manager, fake_temporal, make_order):
    order = make_order()
    form = {"ask-question": "Which dock?", "ask-request_id": REQUEST_ID}
    first = logged_in(client, manager).post(url("ask", order), form, headers=HTMX)
    again = client.post(url("ask", order), form, headers=HTMX)
    assert (first.status_code, again.status_code) == (200, 200)
    assert [s.payload.request_id for s in fake_temporal.signals] == [REQUEST_ID, REQUEST_ID]


def test_when_no_worker_answers_the_question_is_queued_and_when_temporal_is_down_nothing_fails(client, manager, fake_temporal, make_order):
    order = make_order()
    fake_temporal.verdict = m.VERDICT_UNKNOWN
    queued = logged_in(client, manager).post(url("ask", order), {"ask-question": "Which dock?"}, headers=HTMX)
    assert queued.status_code == 202 and "Queued: no worker has processed it yet" in queued.content.decode()
    fake_temporal.unavailable = True
    down = client.post(url("ask", order), {"ask-question": "Which dock?"}, headers=HTMX)
    assert down.status_code == 503 and "The workflow service is unavailable; nothing was changed." in down.content.decode()


# --- Answer ----------------------------------------------------------------------------------


def test_the_requester_answers_sending_only_what_they_changed(client, clerk, fake_temporal, make_order):
    order = ask_open(make_order(note="Leave at reception"))
    form = {
        "answer-answer": "Dock 4, and it is urgent.", "answer-request_id": REQUEST_ID,
        "answer-priority": "urgent", "answer-shipping_address": "1 Main Street", "answer-note": "Leave at reception",
    }
    response = logged_in(client, clerk).post(url("answer", order), form, headers=HTMX)
    assert response.status_code == 200
    assert f"Answer on {order.number}: Accepted by the order&#x27;s workflow." in response.content.decode()
    [sent] = fake_temporal.signals
    assert sent.name == discussion.SIGNAL_ANSWER
    assert sent.payload == AnswerSignal(actor="clerk", request_id=REQUEST_ID, answer="Dock 4, and it is urgent.", priority="urgent")


def test_an_answer_that_moves_the_address_sends_it_and_an_emptied_address_is_no_change(client, clerk, fake_temporal, make_order):
    order = ask_open(make_order())
    moved_form = {"answer-answer": "Moved.", "answer-shipping_address": " 9 Dock Road "}
    logged_in(client, clerk).post(url("answer", order), moved_form, headers=HTMX)
    client.post(url("answer", order), {"answer-answer": "Same place.", "answer-shipping_address": "", "answer-note": ""}, headers=HTMX)
    moved, emptied = (s.payload for s in fake_temporal.signals)
    assert (moved.shipping_address, moved.note) == ("9 Dock Road", None)
    assert (emptied.shipping_address, emptied.note, emptied.priority) == (None, None, None)


def test_only_the_requesters_side_may_answer_and_an_answer_is_required(client, clerk, manager, outsider, fake_temporal, make_order):
    order = ask_open(make_order())
    asker = logged_in(client, manager).post(url("answer", order), {"answer-answer": "I answer myself"}, headers=HTMX)
    assert asker.status_code == 403 and "You asked this question" in asker.content.decode()
    assert logged_in(client, outsider).post(url("answer", order), {"answer-answer": "x"}, headers=HTMX).status_code == 403
    empty = logged_in(client, clerk).post(url("answer", order), {"answer-answer": "  "}, headers=HTMX)
    assert empty.status_code == 400 and "Write your answer." in empty.content.decode()
    bad_priority = client.post(url("answer", order), {"answer-answer": "ok", "answer-priority": "whenever"}, headers=HTMX)
    assert bad_priority.status_code == 400
    assert fake_temporal.signals == []


def test_a_plain_post_redirects_to_the_order_with_the_verdict(client, clerk, fake_temporal, make_order):
    order = ask_open(make_order())
    response = logged_in(client, clerk).post(url("answer", order), {"answer-answer": "Dock 4."}, follow=True)
    assert response.redirect_chain == [(url("detail", order), 302)]
    assert f"Answer on {order.number}: Accepted by the order&#x27;s workflow." in response.content.decode()


# --- The order page --------------------------------------------------------------------------


def test_an_approver_is_offered_ask_and_comment_while_the_workflow_takes_questions(client, manager, fake_temporal, make_order):
    order = make_order()
    body = logged_in(client, manager).get(url("detail", order)).content.decode()
    assert "Ask the requester…" in body and "Add a comment…" in body and "Answer the question…" not in body
    fake_temporal.snapshot = replace(mirror_snapshot(order), questions=False, allowed_actions=[states.APPROVE, states.REJECT])
    old_run = client.get(url("detail", order)).content.decode()
    assert "Ask the requester…" not in old_run and "Add a comment…" not in old_run


def test_while_a_question_is_open_the_requester_sees_it_and_the_answer_form_and_nobody_can_approve(
    client, clerk, manager, fake_temporal, make_order,
):
    order = ask_open(make_order())
    as_requester = logged_in(client, clerk).get(url("detail", order)).content.decode()
    assert "Waiting for clerk's answer:</strong> “Which dock should this go to?”" in as_requester
    assert "Answer the question…" in as_requester and 'name="answer-shipping_address"' in as_requester
    as_manager = logged_in(client, manager).get(url("detail", order)).content.decode()
    assert "Waiting for clerk's answer" in as_manager
    assert ">Approve</button>" not in as_manager and "Ask the requester…" not in as_manager and "Answer the question…" not in as_manager


# --- Inbox and orders list -------------------------------------------------------------------


def test_the_inbox_shows_orders_waiting_on_their_requester_apart_from_decisions(client, manager, fake_temporal, make_order):
    waiting = ask_open(make_order())
    to_decide = make_order()
    body = logged_in(client, manager).get(reverse("approvals:inbox")).content.decode()
    decisions, _, apart = body.partition('id="waiting-on-requester"')
    assert to_decide.number in decisions and waiting.number not in decisions
    assert "Waiting on requester" in apart and waiting.number in apart and "Which dock should this go to?" in apart
    assert f'value="{waiting.pk}"' not in body  # not offered for a bulk decision either


def test_the_clerk_finds_the_questions_for_them_on_the_orders_list(client, clerk, manager, fake_temporal, make_order):
    waiting = ask_open(make_order())
    body = logged_in(client, clerk).get(reverse("orders:list")).content.decode()
    _, _, box = body.partition('id="questions-for-you"')
    assert waiting.number in box.split("</section>")[0] and "Which dock should this go to?" in box
    assert 'id="questions-for-you"' not in logged_in(client, manager).get(reverse("orders:list")).content.decode()


def test_the_orders_list_flags_an_order_waiting_on_its_requester(client, manager, fake_temporal, make_order):
    waiting, other = ask_open(make_order()), make_order()
    body = logged_in(client, manager).get(reverse("orders:list")).content.decode()
    rows = {number: body.split(f">{number}</a>")[1].split("</tr>")[0] for number in (waiting.number, other.number)}
    assert "Waiting on requester" in rows[waiting.number] and "Waiting on requester" not in rows[other.number]


def test_a_page_waiting_for_an_answer_polls_slowly_like_one_waiting_for_a_decision(client, clerk, fake_temporal, make_order):
    order = ask_open(make_order())
    body = logged_in(client, clerk).get(url("detail", order)).content.decode()
    assert f'hx-trigger="every {POLL_WAITING}"' in body
