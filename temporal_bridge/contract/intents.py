"""Nothing counts that the desk did not write down first: the contract between
the services that send a message and the workflows that receive it.

Anyone who reaches the Temporal frontend can send any signal, naming any real
user or carrying any provider's event id. So:

- a person's message (approve, reject, cancel, update, comment, ask, answer,
  release a hold) counts only if the service that authorised it wrote its
  intent first: a row (order, request id, actor, on behalf of, signal, digest
  of the content) in the transaction that checked the permission, committed
  before the signal is sent;
- a provider's event (a payment confirmation, a fraud alert, a carrier's
  parcel event) counts only if the webhook intake stored it, signed, with the
  same content.

The workflow asks the database through one read-only activity
(ACT_CONFIRM_MESSAGES) that answers a batch of checks at once, so a flood of
raw signals costs a few reads, not a read each (confirmations.py).

Both sides compute the digest here, from the message as the workflow's
decoder reads it (each domain's message_checks), so a normalised field (a
stripped comment) digests the same on both sides. Free of Django and I/O: the
workflow sandbox imports it.
"""
# No `from __future__ import annotations`: the dataclasses below carry real
# types, which the workflow sandbox's converter reads without evaluating names.
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

ACT_CONFIRM_MESSAGES = "confirm_messages"

# Not part of what a person asks for: who (its own columns), and a claim the workflow never trusts.
_NOT_CONTENT = ("actor", "request_id", "senior")


def digest(kind: str, content: dict[str, Any]) -> str:
    canonical = json.dumps([kind, content], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def message_digest(signal: str, message: Any) -> str:
    """The digest of a decoded person's message: its signal and every field of its content.

    The messages are flat dataclasses: their `vars` are what `asdict` would
    give, without its deep copy (a flood digests thousands in one activation)."""
    content = {name: value for name, value in vars(message).items() if name not in _NOT_CONTENT}
    return digest(signal, content)


@dataclass
class ActorCheckInput:
    """Ask the database whether `actor` may take `action` on the order now."""

    order_id: int
    actor: str
    action: str  # one of the ACTION_* names
    # Also: whether a delegation from this person to `actor` stands now.
    on_behalf_of: str = ""


@dataclass
class ActorCheckResult:
    allowed: bool
    reason: str = ""
    # Holds the senior-approver permission now (the message's claim is ignored).
    senior: bool = False


@dataclass
class IntentCheck:
    """Did the desk record this request, for this order, as this message? And
    may its actor still take it (the permission, the delegation, the account)?"""

    order_id: int
    signal: str
    request_id: str
    actor: str
    digest: str
    on_behalf_of: str = ""


@dataclass
class EventCheck:
    """Did the webhook intake store this provider's event, for this order, with this content?"""

    provider: str
    order_id: int
    event_id: str
    kind: str
    digest: str


@dataclass
class EventConfirmation:
    received: bool
    # Why it does not count, for the timeline ("" when it counts).
    reason: str = ""


@dataclass
class MessageChecks:
    intents: list[IntentCheck] = field(default_factory=list)
    events: list[EventCheck] = field(default_factory=list)


@dataclass
class MessageConfirmations:
    """One answer per check, in the order asked."""

    intents: list[ActorCheckResult] = field(default_factory=list)
    events: list[EventConfirmation] = field(default_factory=list)
