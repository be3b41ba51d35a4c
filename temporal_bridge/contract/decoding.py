"""Reading what anyone may send a workflow, without ever failing its task.

The Temporal frontend is reachable by more than our views: a signal may come
with no payload, two payloads, a string where an object belongs, nulls,
unknown fields or megabyte strings. The handlers take whatever arrived (the
SDK decodes JSON without a type); each domain's message_checks turns it into
the dataclass its rules need with these helpers, or raises `Refused` with a
reason a person can read on the timeline.

Free of Django and I/O: the workflow sandbox imports it.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any


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


def single_object(args: Sequence[Any], what: str) -> dict[str, Any]:
    if len(args) != 1:
        raise Refused(f"{what} refused: expected one message, got {len(args)}")
    payload = args[0]
    if not isinstance(payload, dict):
        raise Refused(f"{what} refused: the message is a {type(payload).__name__}, not an object")
    return payload


def text_field(payload: dict[str, Any], name: str, limit: int, *, required: bool = False, optional: bool = False) -> str | None:
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


def parse_time(value: str) -> datetime | None:
    """An ISO time as an aware datetime (naive means UTC), or None."""
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)
