"""Questions before deciding: a comment, a question to the requester, the
requester's answer, sent to the order's workflow; and who sees what waits.

Each send checks the rules first (approvals.discussion.rules: a clear 403 at
once) in the transaction that records its intent, then signals the workflow
with the person's request id and returns its verdict. The workflow checks
the same rules again against the database and writes the entry with its
emails (approvals.discussion.notices).
"""
from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery

from approvals import selectors
from approvals.discussion import rules as discussion_rules
from approvals.discussion.rules import ANSWER, ASK, COMMENT
from orders.exceptions import ActionNotAllowed, OrderError
from orders.models import Order, Priority
from orders.services import order_signal
from orders.timeline.models import OrderEvent
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import discussion, states
from temporal_bridge.order import messages as m
from temporal_bridge.order.discussion import AnswerSignal, CommentSignal, QuestionSignal


def check(action: str, *, order: Order, user: AbstractBaseUser) -> None:
    """Raise PermissionDenied unless `user` may take `action` on `order`."""
    reason = discussion_rules.refusal(action, order=order, user=user)
    if reason is not None:
        raise PermissionDenied(reason)


def _required(text: str, what: str, limit: int) -> str:
    text = text.strip()
    if not text:
        raise OrderError(f"{what} is required.")
    if len(text) > limit:
        raise OrderError(f"{what} can be at most {limit} characters.")
    return text


def _awaiting_approval(order: Order) -> None:
    if order.status != states.PENDING_APPROVAL:
        raise ActionNotAllowed(f"Order {order.number} is {order.get_status_display().lower()}; it is no longer awaiting approval.")


def discussion_comment(*, order: Order, user: AbstractBaseUser, text: str, request_id: str) -> m.RequestVerdict:
    def authorise() -> None:
        check(COMMENT, order=order, user=user)
        _required(text, "A comment", m.MAX_COMMENT)
        if order.is_terminal:
            raise ActionNotAllowed(f"Order {order.number} is {order.get_status_display().lower()}; its discussion is closed.")

    payload = CommentSignal(actor=user.get_username(), request_id=request_id, text=text.strip())
    return order_signal(order, discussion.SIGNAL_COMMENT, payload, authorise=authorise, send=order_calls.comment_on_order)


def discussion_ask(*, order: Order, user: AbstractBaseUser, question: str, request_id: str) -> m.RequestVerdict:
    def authorise() -> None:
        check(ASK, order=order, user=user)
        _required(question, "A question", discussion.MAX_QUESTION)
        _awaiting_approval(order)
        if order.awaiting_answer:
            raise ActionNotAllowed(f"A question on {order.number} already waits for {order.created_by.get_username()}'s answer.")

    payload = QuestionSignal(actor=user.get_username(), request_id=request_id, question=question.strip())
    return order_signal(order, discussion.SIGNAL_ASK_REQUESTER, payload, authorise=authorise, send=order_calls.ask_requester)


def discussion_answer(
    *, order: Order, user: AbstractBaseUser, answer: str, request_id: str,
    priority: str | None = None, shipping_address: str | None = None, note: str | None = None,
) -> m.RequestVerdict:
    """The requester's answer, with what it changes (None: unchanged). A change restarts the approval."""
    def authorise() -> None:
        check(ANSWER, order=order, user=user)
        _required(answer, "An answer", discussion.MAX_QUESTION)
        _awaiting_approval(order)
        if priority is not None and priority not in Priority.values:
            raise OrderError(f"Unknown priority {priority!r}.")
        if shipping_address is not None and not shipping_address.strip():
            raise OrderError("The shipping address cannot be empty.")
        if shipping_address is not None and len(shipping_address.strip()) > m.MAX_ADDRESS:
            raise OrderError(f"The shipping address can be at most {m.MAX_ADDRESS} characters.")
        if note is not None and len(note.strip()) > m.MAX_NOTE:
            raise OrderError(f"The note can be at most {m.MAX_NOTE} characters.")

    payload = AnswerSignal(
        actor=user.get_username(), request_id=request_id, answer=answer.strip(), priority=priority,
        shipping_address=shipping_address.strip() if shipping_address is not None else None,
        note=note.strip() if note is not None else None,
    )
    return order_signal(order, discussion.SIGNAL_ANSWER, payload, authorise=authorise, send=order_calls.answer_question)


def panel_actions(user: AbstractBaseUser, order: Order, snapshot: m.OrderSnapshot) -> set[str]:
    """The discussion's forms the order's panel shows `user`: the workflow allows, the rules let them."""
    offered = set()
    if snapshot.questions and snapshot.state not in states.TERMINAL:
        offered.add(COMMENT)
    offered |= {a for a in (ASK, ANSWER) if a in snapshot.allowed_actions}
    # The answer is the requester's side's: approvers (who may change orders
    # too) are not offered a form to answer their colleague's question.
    if ANSWER in offered and order.created_by_id != user.pk and user.has_perm(selectors.APPROVE_PERMISSION):
        offered.discard(ANSWER)
    return {a for a in offered if discussion_rules.refusal(a, order=order, user=user) is None}


# --- Reads: what waits on a requester --------------------------------------------------------


def with_open_question(orders: QuerySet[Order]) -> QuerySet[Order]:
    """`orders`, each with `question_entry`: the words of its latest question (the one open)."""
    latest = OrderEvent.objects.filter(order=OuterRef("pk"), kind=OrderEvent.Kind.QUESTION).order_by("-created_at", "-id")
    return orders.annotate(question_entry=Subquery(latest.values("message")[:1]), question_by=Subquery(latest.values("actor")[:1]))


def waiting_on_requester(user: AbstractBaseUser, *, limit: int = 50) -> list[Order]:
    """Orders `user` could decide on, sent back to their requester with a question (for the inbox)."""
    return list(with_open_question(selectors.awaiting_decision(user, waiting_on_requester=True))[:limit])


def questions_for(user: AbstractBaseUser, *, limit: int = 50) -> list[Order]:
    """Orders `user` requested whose question awaits their answer, oldest deadline first."""
    orders = Order.objects.filter(created_by=user, status=states.PENDING_APPROVAL, awaiting_answer=True).select_related("customer")
    return list(with_open_question(orders).order_by("approval_deadline", "id")[:limit])
