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
from datetime import UTC, datetime
from typing import Any

from temporal_bridge.order import discussion, payments
from temporal_bridge.order import messages as m
from temporal_bridge.order.discussion import AnswerSignal, CommentSignal, QuestionSignal
from temporal_bridge.order.holds import HoldsLifted
from temporal_bridge.order.payments import PaymentEvent
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment.messages import CarrierEvent


class Refused(Exception):
    """A message that cannot count; `reason` goes on the timeline."""

    def __init__(self, reason: str, *, actor: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.actor = actor


def display(value: Any, limit: int = 40) -> str:
    """A short, printable rendering of an untrusted value for the timeline."""
    text = value if isinstance(value, str) else repr(value)
    text = "".join(ch if ch.isprintable() else "?" for ch in text[: limit + 1])
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _single_object(args: Sequence[Any], what: str) -> dict[str, Any]:
    if len(args) != 1:
        raise Refused(f"{what} refused: expected one message, got {len(args)}")
    payload = args[0]
    if not isinstance(payload, dict):
        raise Refused(f"{what} refused: the message is a {type(payload).__name__}, not an object")
    return payload


def _text(payload: dict[str, Any], name: str, limit: int, *, required: bool = False, optional: bool = False) -> str | None:
    value = payload.get(name)
    if value is None and optional:
        return None
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Refused(f"field {name!r} must be text, got {type(value).__name__}")
    if len(value) > limit:
        raise Refused(f"field {name!r} is longer than {limit} characters")
    if required and not value.strip():
        raise Refused(f"field {name!r} is missing")
    return value


def _identity(payload: dict[str, Any], what: str) -> tuple[str, str]:
    """Actor and request id, checked first so that later refusals can name them."""
    actor = payload.get("actor")
    request_id = payload.get("request_id")
    shown_actor = display(actor) if actor is not None else "an unnamed sender"
    try:
        actor = _text(payload, "actor", m.MAX_ACTOR, required=True)
        request_id = _text(payload, "request_id", m.MAX_REQUEST_ID, required=True)
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
    payload = _single_object(args, word)
    actor, request_id = _identity(payload, word)

    def read() -> m.DecisionSignal:
        comment = _text(payload, "comment", m.MAX_COMMENT) or ""
        # Whom the actor stands in for: a name like the actor's; the database
        # decides whether a delegation allows it.
        on_behalf_of = (_text(payload, "on_behalf_of", m.MAX_ACTOR) or "").strip()
        return m.DecisionSignal(actor=actor, request_id=request_id, comment=comment, senior=payload.get("senior") is True,
                                on_behalf_of=on_behalf_of)

    return _fields(word, actor, read)


def parse_cancel(args: Sequence[Any]) -> m.CancelSignal:
    payload = _single_object(args, "Cancel")
    actor, request_id = _identity(payload, "Cancel")
    reason = _fields("Cancel", actor, lambda: _text(payload, "reason", m.MAX_COMMENT, required=True))
    return m.CancelSignal(actor=actor, request_id=request_id, reason=reason.strip())


def parse_update(args: Sequence[Any]) -> m.UpdateSignal:
    payload = _single_object(args, "Update")
    actor, request_id = _identity(payload, "Update")

    def read() -> m.UpdateSignal:
        priority = _text(payload, "priority", 10, optional=True)
        if priority is not None and priority not in m.PRIORITIES:
            raise Refused(f"unknown priority {display(priority)!r}")
        address = _text(payload, "shipping_address", m.MAX_ADDRESS, optional=True)
        if address is not None and not address.strip():
            raise Refused("the shipping address cannot be empty")
        note = _text(payload, "note", m.MAX_NOTE, optional=True)
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
    payload = _single_object(args, "Comment")
    actor, request_id = _identity(payload, "Comment")
    text = _fields("Comment", actor, lambda: _text(payload, "text", m.MAX_COMMENT, required=True))
    return CommentSignal(actor=actor, request_id=request_id, text=text.strip())


def parse_question(args: Sequence[Any]) -> QuestionSignal:
    payload = _single_object(args, "Question")
    actor, request_id = _identity(payload, "Question")
    question = _fields("Question", actor, lambda: _text(payload, "question", discussion.MAX_QUESTION, required=True))
    return QuestionSignal(actor=actor, request_id=request_id, question=question.strip())


def parse_answer(args: Sequence[Any]) -> AnswerSignal:
    """The requester's answer, with the same optional edits as an update."""
    payload = _single_object(args, "Answer")
    actor, request_id = _identity(payload, "Answer")
    answer = _fields("Answer", actor, lambda: _text(payload, "answer", discussion.MAX_QUESTION, required=True))
    edits = parse_update([{**payload, "actor": actor, "request_id": request_id}])
    return AnswerSignal(actor=actor, request_id=request_id, answer=answer.strip(), priority=edits.priority,
                          shipping_address=edits.shipping_address, note=edits.note)


# --- The outside world --------------------------------------------------------------------

def parse_payment_event(args: Sequence[Any]) -> PaymentEvent:
    """A payment provider's event, as the webhook intake relays it."""
    payload = _single_object(args, "Payment event")

    def read() -> PaymentEvent:
        event_id = _text(payload, "event_id", m.MAX_EVENT_ID, required=True) or ""
        kind = _text(payload, "kind", 20, required=True)
        if kind not in payments.PAYMENT_EVENT_KINDS:
            raise Refused(f"unknown kind {display(kind)!r}")
        return PaymentEvent(event_id=event_id, kind=kind, reference=_text(payload, "reference", 100) or "",
                              reason=_text(payload, "reason", m.MAX_COMMENT) or "", received_at=_text(payload, "received_at", 40) or "")

    try:
        return read()
    except Refused as err:
        raise Refused(f"Payment event refused: {err.reason}") from None


def parse_holds_lifted(args: Sequence[Any]) -> HoldsLifted:
    """A nudge to read the holds again: it carries nothing that is trusted."""
    by = args[0].get("by") if len(args) == 1 and isinstance(args[0], dict) else ""
    return HoldsLifted(by=display(by, m.MAX_ACTOR) if isinstance(by, str) else "")


# --- A carrier's event, relayed to the parcel's shipment workflow --------------------------

MAX_CARRIER_EVENT_ID = 200
MAX_LOCATION = 200
MAX_DESCRIPTION = 500


def parse_time(value: str) -> datetime | None:
    """An ISO time as an aware datetime (naive means UTC), or None."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _carrier_text(payload: dict[str, Any], name: str, limit: int, *, truncate: bool = True) -> str:
    value = payload.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Refused(f"field {name!r} must be text, got {type(value).__name__}")
    if len(value) > limit and not truncate:
        raise Refused(f"field {name!r} is longer than {limit} characters")
    return value[:limit]


def parse_carrier_event(args: Sequence[Any], now: datetime) -> CarrierEvent:
    """The CarrierEvent in a signal's raw arguments, or Refused. A carrier's
    long free text is cut, not refused; `now` stands in for a missing time."""
    payload = _single_object(args, "Carrier event")
    event_id = _carrier_text(payload, "event_id", MAX_CARRIER_EVENT_ID, truncate=False).strip()
    if not event_id:
        raise Refused("field 'event_id' is missing")
    status = _carrier_text(payload, "status", 40, truncate=False)
    if status not in shipment.CARRIER_EVENT_KINDS:
        raise Refused(f"unknown status {display(status)!r}")
    at_text = _carrier_text(payload, "at", 64, truncate=False)
    at = parse_time(at_text) if at_text else now
    if at is None:
        raise Refused(f"field 'at' is not an ISO time: {display(at_text)!r}")
    return CarrierEvent(event_id=event_id, status=status, at=at.isoformat(),
                          location=_carrier_text(payload, "location", MAX_LOCATION),
                          description=_carrier_text(payload, "description", MAX_DESCRIPTION))
