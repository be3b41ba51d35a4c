"""Decoding of the messages anyone can send to an order's workflow.

The Temporal frontend is reachable by more than our views: a signal may come
with no payload, two payloads, a string where an object belongs, nulls,
unknown fields or megabyte strings. The workflow's handlers take whatever
arrived (the SDK decodes JSON without a type), and these functions turn it
into the dataclass the rules need or raise `Refused` with a reason a person
can read on the timeline. Nothing here raises anything else, so no message
can fail a workflow task.

Free of Django and I/O: the workflow sandbox imports it.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from temporal_bridge.contract.decoding import Refused, display, single_object, text_field
from temporal_bridge.order import discussion, payments
from temporal_bridge.order import messages as m
from temporal_bridge.order.discussion import AnswerSignal, CommentSignal, QuestionSignal
from temporal_bridge.order.holds import HoldsLifted
from temporal_bridge.order.payments import PaymentEvent


def _identity(payload: dict[str, Any], what: str) -> tuple[str, str]:
    """Actor and request id, checked first so that later refusals can name them."""
    actor = payload.get("actor")
    request_id = payload.get("request_id")
    shown_actor = display(actor) if actor is not None else "an unnamed sender"
    try:
        actor = text_field(payload, "actor", m.MAX_ACTOR, required=True)
        request_id = text_field(payload, "request_id", m.MAX_REQUEST_ID, required=True)
    except Refused as err:
        raise Refused(f"{what} from {shown_actor} refused: {err.reason}", actor=display(actor) if isinstance(actor, str) else "") from None
    assert actor is not None and request_id is not None
    return actor.strip(), request_id


def _fields(what: str, actor: str, read: Any) -> Any:
    """Read the other fields; a refusal names the (already checked) sender."""
    try:
        return read()
    except Refused as err:
        raise Refused(f"{what} by {display(actor)} refused: {err.reason}", actor=actor) from None


def parse_decision(args: Sequence[Any], word: str) -> m.DecisionSignal:
    """An approve or reject signal. `senior` is read but never trusted: the
    workflow asks the database who is senior."""
    payload = single_object(args, word)
    actor, request_id = _identity(payload, word)

    def read() -> m.DecisionSignal:
        comment = text_field(payload, "comment", m.MAX_COMMENT) or ""
        # Whom the actor stands in for: a name like the actor's; the database
        # decides whether a delegation allows it.
        on_behalf_of = (text_field(payload, "on_behalf_of", m.MAX_ACTOR) or "").strip()
        return m.DecisionSignal(actor=actor, request_id=request_id, comment=comment, senior=payload.get("senior") is True,
                                on_behalf_of=on_behalf_of)

    return _fields(word, actor, read)


def parse_cancel(args: Sequence[Any]) -> m.CancelSignal:
    payload = single_object(args, "Cancel")
    actor, request_id = _identity(payload, "Cancel")
    reason = _fields("Cancel", actor, lambda: text_field(payload, "reason", m.MAX_COMMENT, required=True))
    return m.CancelSignal(actor=actor, request_id=request_id, reason=reason.strip())


def parse_update(args: Sequence[Any]) -> m.UpdateSignal:
    payload = single_object(args, "Update")
    actor, request_id = _identity(payload, "Update")

    def read() -> m.UpdateSignal:
        priority = text_field(payload, "priority", 10, optional=True)
        if priority is not None and priority not in m.PRIORITIES:
            raise Refused(f"unknown priority {display(priority)!r}")
        address = text_field(payload, "shipping_address", m.MAX_ADDRESS, optional=True)
        if address is not None and not address.strip():
            raise Refused("the shipping address cannot be empty")
        note = text_field(payload, "note", m.MAX_NOTE, optional=True)
        return m.UpdateSignal(actor=actor, request_id=request_id, priority=priority,
                              shipping_address=address.strip() if address is not None else None,
                              note=note.strip() if note is not None else None)

    return _fields("Update", actor, read)


def parse_progress(args: Sequence[Any]) -> m.FulfilmentProgress | None:
    """A fulfilment progress report, or None for anything that is not one
    (a courtesy for the live panel: bad reports are dropped, never noted)."""
    if len(args) != 1 or not isinstance(args[0], dict):
        return None
    percent, step = args[0].get("percent"), args[0].get("step")
    if isinstance(percent, bool) or not isinstance(percent, int) or not isinstance(step, str):
        return None
    return m.FulfilmentProgress(percent=max(0, min(100, percent)), step=step[:80])


# --- Questions before deciding ----------------------------------------------------------

def parse_comment(args: Sequence[Any]) -> CommentSignal:
    payload = single_object(args, "Comment")
    actor, request_id = _identity(payload, "Comment")
    text = _fields("Comment", actor, lambda: text_field(payload, "text", m.MAX_COMMENT, required=True))
    return CommentSignal(actor=actor, request_id=request_id, text=text.strip())


def parse_question(args: Sequence[Any]) -> QuestionSignal:
    payload = single_object(args, "Question")
    actor, request_id = _identity(payload, "Question")
    question = _fields("Question", actor, lambda: text_field(payload, "question", discussion.MAX_QUESTION, required=True))
    return QuestionSignal(actor=actor, request_id=request_id, question=question.strip())


def parse_answer(args: Sequence[Any]) -> AnswerSignal:
    """The requester's answer, with the same optional edits as an update."""
    payload = single_object(args, "Answer")
    actor, request_id = _identity(payload, "Answer")
    answer = _fields("Answer", actor, lambda: text_field(payload, "answer", discussion.MAX_QUESTION, required=True))
    edits = parse_update([{**payload, "actor": actor, "request_id": request_id}])
    return AnswerSignal(actor=actor, request_id=request_id, answer=answer.strip(), priority=edits.priority,
                          shipping_address=edits.shipping_address, note=edits.note)


# --- The outside world --------------------------------------------------------------------

def parse_payment_event(args: Sequence[Any]) -> PaymentEvent:
    """A payment provider's event, as the webhook intake relays it."""
    payload = single_object(args, "Payment event")

    def read() -> PaymentEvent:
        event_id = text_field(payload, "event_id", m.MAX_EVENT_ID, required=True) or ""
        kind = text_field(payload, "kind", 20, required=True)
        if kind not in payments.PAYMENT_EVENT_KINDS:
            raise Refused(f"unknown kind {display(kind)!r}")
        return PaymentEvent(event_id=event_id, kind=kind, reference=text_field(payload, "reference", 100) or "",
                              reason=text_field(payload, "reason", m.MAX_COMMENT) or "", received_at=text_field(payload, "received_at",
                                                                                                                40) or "")

    try:
        return read()
    except Refused as err:
        raise Refused(f"Payment event refused: {err.reason}") from None


def parse_holds_lifted(args: Sequence[Any]) -> HoldsLifted:
    """A nudge to read the holds again: it carries nothing that is trusted."""
    by = args[0].get("by") if len(args) == 1 and isinstance(args[0], dict) else ""
    return HoldsLifted(by=display(by, m.MAX_ACTOR) if isinstance(by, str) else "")
