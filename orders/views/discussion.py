"""Comment, ask the requester, answer: POSTs that become workflow signals,
answered like approve (orders.views.actions): the workflow's own verdict on
the request id the form carried (200, 409 with its reason, 202 queued)."""
from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_POST

from approvals.discussion import services as discussion
from approvals.discussion.forms import AnswerForm, AskForm, CommentForm
from approvals.discussion.rules import ANSWER, ASK, COMMENT
from orders.views.actions import _act


def _may(request: HttpRequest, action: str):
    return lambda order: discussion.check(action, order=order, user=request.user)


@require_POST
def order_comment(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(order, data, request_id):
        return discussion.discussion_comment(order=order, user=request.user, text=data["text"], request_id=request_id)

    form = CommentForm(request.POST, prefix="comment")
    return _act(request, pk, form, "comment_form", _may(request, COMMENT), perform, "Comment on {number}:")


@require_POST
def order_ask(request: HttpRequest, pk: int) -> HttpResponse:
    def perform(order, data, request_id):
        return discussion.discussion_ask(order=order, user=request.user, question=data["question"], request_id=request_id)

    form = AskForm(request.POST, prefix="ask")
    return _act(request, pk, form, "ask_form", _may(request, ASK), perform, "Question to the requester of {number}:")


@require_POST
def order_answer(request: HttpRequest, pk: int) -> HttpResponse:
    form = AnswerForm(request.POST, prefix="answer")

    def perform(order, data, request_id):
        return discussion.discussion_answer(order=order, user=request.user, answer=data["answer"], request_id=request_id,
                                            **form.edits(order))

    return _act(request, pk, form, "answer_form", _may(request, ANSWER), perform, "Answer on {number}:")
