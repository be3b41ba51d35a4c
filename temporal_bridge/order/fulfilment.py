"""Messages of the fulfilment steps: stock reserved and released, fulfilment
progress, the shipment, the customer's e-mail; and the words their timeline
entries use.

Free of Django: the workflow sandbox imports it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from temporal_bridge.contract.payload_types import resolve_annotations
from temporal_bridge.order.fulfilment_states import ShippedParcel
from temporal_bridge.order.holds import HoldResult
from temporal_bridge.order.records import MirrorInput, StepRecord, TimelineEntry
from temporal_bridge.order.split_plan import PlannedFulfilment, PlannedLine, SplitPlan, describe

ACT_RESERVE_STOCK = "reserve_stock"
ACT_RELEASE_STOCK = "release_stock"
ACT_FULFIL = "fulfil_order"
ACT_SHIP = "ship_order"
# A split order: which warehouses still hold its parts, then each part packed and shipped on its own.
ACT_FULFILMENTS_TO_SHIP = "fulfilments_to_ship"
ACT_SHIP_FULFILMENT = "ship_fulfilment"
ACT_NOTIFY = "notify_customer"

# Error types raised by activities as non-retryable business failures.
ERR_OUT_OF_STOCK = "OutOfStock"


@dataclass
class ReserveInput:
    order_id: int
    # The step's timeline entry; None for a restock's recheck, which writes none.
    record: StepRecord | None = None
    # Reserve the lines some warehouse holds and report the others (a person
    # then chooses), rather than all or nothing.
    keep_available: bool = False
    # Check the customer's credit first (a short transaction under the
    # customer's lock): held, nothing is reserved (credit_hold says why).
    credit_check: bool = False


@dataclass
class ReserveResult:
    lines_reserved: int
    units_reserved: int
    # The timeline entries the step wrote for its own keys, as written.
    recorded: list[TimelineEntry] = field(default_factory=list)
    # Whether payments are held (the provider's circuit breaker is open).
    hold: HoldResult | None = None
    # Which warehouse ships which lines (orders.inventory's split plan): keys, not state.
    fulfilments: list[PlannedFulfilment] = field(default_factory=list)
    # With keep_available: the lines no warehouse holds in full (not reserved), and them in words.
    unavailable: list[PlannedLine] = field(default_factory=list)
    unavailable_text: str = ""
    # With credit_check: the credit review that holds the order (nothing reserved, only the entries waiting written).
    credit_hold: HoldResult | None = None


@dataclass
class ReleaseResult:
    units_released: int
    # The timeline entries the step wrote for its own keys, as written.
    recorded: list[TimelineEntry] = field(default_factory=list)


@dataclass
class FulfilInput:
    order_id: int
    steps: int
    step_seconds: float
    # The entries waiting ("fulfilling" among them), written as the work
    # starts. The fulfilment's own entry is not written by it: a cancel can
    # win the race with its end, and then the workflow does not count it.
    first: list[MirrorInput] = field(default_factory=list)


@dataclass
class FulfilResult:
    steps_done: int


@dataclass
class ShipResult:
    tracking_number: str
    carrier: str
    # The timeline entries the step wrote for its own keys, as written.
    recorded: list[TimelineEntry] = field(default_factory=list)
    # A split order: one parcel per warehouse, each with its own tracking number (none: one parcel).
    parcels: list[ShippedParcel] = field(default_factory=list)


@dataclass
class FulfilmentsToShip:
    # Warehouse codes, in the order their parts are packed and shipped.
    warehouses: list[str] = field(default_factory=list)


@dataclass
class ShipFulfilmentInput:
    order_id: int
    warehouse: str
    record: StepRecord | None = None


@dataclass
class NotifyInput:
    order_id: int
    kind: str
    idempotency_key: str
    reason: str = ""
    # The step writes its timeline entry (and those waiting) with its effect.
    record: StepRecord | None = None


@dataclass
class NotifyResult:
    sent: bool
    # The timeline entries the step wrote for its own keys, as written.
    recorded: list[TimelineEntry] = field(default_factory=list)


def reserved_text(result: ReserveResult) -> str:
    text = f"Reserved {result.units_reserved} units on {result.lines_reserved} lines"
    if len(result.fulfilments) == 1:
        text = f"{text} from {result.fulfilments[0].warehouse}"
    elif result.fulfilments:
        text = f"{text}, split across {len(result.fulfilments)} warehouses: {describe(SplitPlan(result.fulfilments))}"
    if result.unavailable:
        text += f"; not reserved, in no warehouse: {result.unavailable_text}"
    return text


def released_text(result: ReleaseResult) -> str:
    return f"Released {result.units_released} reserved units"


def shipped_text(result: ShipResult) -> str:
    if len(result.parcels) == 1:
        parcel = result.parcels[0]
        return f"Shipped from {parcel.warehouse} with {result.carrier}, tracking number {parcel.tracking_number}"
    if result.parcels:
        each = "; ".join(f"from {parcel.warehouse}, tracking number {parcel.tracking_number}" for parcel in result.parcels)
        return f"Shipped in {len(result.parcels)} parcels with {result.carrier}: {each}"
    return f"Shipped with {result.carrier}, tracking number {result.tracking_number}"


def emailed_text(kind: str) -> str:
    return f"Customer emailed ({kind})"


FULFILLED_TEXT = "Fulfilment complete"


def cancelled_parts_text(shipped: list[ShippedParcel], warehouses: list[str]) -> str:
    """A split order cancelled between its parts: which shipped (kept, paid for) and which did not (released, refunded)."""
    sent = {parcel.warehouse: parcel.tracking_number for parcel in shipped}
    parts = [f"from {code}: shipped before the cancel (tracking number {sent[code]}), not refunded" if code in sent
             else f"from {code}: not shipped, its stock released and its lines refunded" for code in warehouses]
    return "Cancelled between parcels: " + "; ".join(parts)


resolve_annotations(globals())  # after the last class: see temporal_bridge.contract.payload_types
