"""A carrier's event, as the webhook intake relays it to the parcel's shipment
workflow: decoded (a carrier's long free text is cut, not refused) and
digested the same way on both sides (temporal_bridge.contract.intents).

Free of Django and I/O: the workflow sandbox imports it.
"""
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from temporal_bridge.contract.decoding import Refused, display, parse_time, single_object
from temporal_bridge.contract.intents import digest
from temporal_bridge.shipment.messages import CARRIER_EVENT_KINDS, SIGNAL_CARRIER_EVENT, CarrierEvent

MAX_CARRIER_EVENT_ID = 200
MAX_LOCATION = 200
MAX_DESCRIPTION = 500


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
    payload = single_object(args, "Carrier event")
    event_id = _carrier_text(payload, "event_id", MAX_CARRIER_EVENT_ID, truncate=False).strip()
    if not event_id:
        raise Refused("field 'event_id' is missing")
    status = _carrier_text(payload, "status", 40, truncate=False)
    if status not in CARRIER_EVENT_KINDS:
        raise Refused(f"unknown status {display(status)!r}")
    at_text = _carrier_text(payload, "at", 64, truncate=False)
    at = parse_time(at_text) if at_text else now
    if at is None:
        raise Refused(f"field 'at' is not an ISO time: {display(at_text)!r}")
    return CarrierEvent(event_id=event_id, status=status, at=at.isoformat(),
                          location=_carrier_text(payload, "location", MAX_LOCATION),
                          description=_carrier_text(payload, "description", MAX_DESCRIPTION))


def carrier_event_digest(event: CarrierEvent) -> str:
    return digest(SIGNAL_CARRIER_EVENT, asdict(event))


def relayed_carrier_event_digest(event: CarrierEvent) -> str:
    """What the shipment workflow will digest of a carrier event the intake relays."""
    return carrier_event_digest(parse_carrier_event([asdict(event)], datetime.now(UTC)))
