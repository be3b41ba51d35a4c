"""Harness for OrderWorkflow tests: one time-skipping server, activities mocked by name.

The time-skipping server costs a second or two to start, so a module shares one.
Its client belongs to one event loop (the SDK client is not thread-safe), so the
environment lives on a background thread that owns that loop, and each sync
test hands its scenario coroutine to it. Every scenario gets its own task queue
and worker, so workflows and mock activities of different tests never meet.
"""
from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from temporalio import activity
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.converter import DataConverter
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from temporal_bridge.approvals import messages as approval
from temporal_bridge.approvals.messages import (
    ApprovalRule,
    ApproverNoticeInput,
    ApproverNoticeResult,
    BulkOrderRequest,
    BulkOrderResult,
    DigestInput,
    DigestResult,
)
from temporal_bridge.client.connection import desk_converter
from temporal_bridge.contract.intents import (
    ACT_CONFIRM_MESSAGES,
    ActorCheckInput,
    ActorCheckResult,
    EventConfirmation,
    IntentCheck,
    MessageChecks,
    MessageConfirmations,
)
from temporal_bridge.order import discussion, fulfilment, payments, records, states, stock_decisions, withdrawal
from temporal_bridge.order import holds as hold
from temporal_bridge.order import messages as m
from temporal_bridge.order.discussion import DiscussionNotice, DiscussionResult
from temporal_bridge.order.fulfilment import (
    FulfilInput,
    FulfilmentsToShip,
    FulfilResult,
    NotifyInput,
    NotifyResult,
    ReleaseResult,
    ReserveInput,
    ReserveResult,
    ShipFulfilmentInput,
    ShipResult,
)
from temporal_bridge.order.fulfilment_states import ShippedParcel
from temporal_bridge.order.holds import HoldInput, HoldResult
from temporal_bridge.order.payments import PaymentInput, PaymentResult, SettleInput, SettleResult
from temporal_bridge.order.records import DecisionInput, EntriesInput, MirrorInput, OrderRef, StepRecord, TimelineEntry
from temporal_bridge.order.split_plan import PlannedFulfilment, PlannedLine
from temporal_bridge.order.stock_decisions import StockDecisionInput, StockDecisionResult
from temporal_bridge.order.workflow import OrderWorkflow
from temporal_bridge.runtime import devserver
from temporal_bridge.runtime.sandbox import workflow_runner
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment import workflow as sw

T = TypeVar("T")

REQUESTER = "clerk"
MANAGER = "manager"
ORDER_ID = 42
DAY = 24 * 3600


def order_input(**overrides: Any) -> m.OrderWorkflowInput:
    """A submitted order needing a manager's approval within 48 hours."""
    inp = m.OrderWorkflowInput(
        order_id=ORDER_ID, order_number="OD-000042", total="1250.00", currency="EUR", requested_by=REQUESTER,
        requires_approval=True, approval_deadline_seconds=2 * DAY, fulfilment_steps=4, fulfilment_step_seconds=0.05,
        priority="normal", shipping_address="1 Main Street", note="",
    )
    return replace(inp, **overrides)


@dataclass
class Call:
    name: str
    arg: Any


MANAGER_ACTIONS = frozenset({m.SIGNAL_APPROVE, m.SIGNAL_REJECT, m.SIGNAL_CANCEL, m.SIGNAL_UPDATE, discussion.SIGNAL_COMMENT, states.ASK,
                             states.RELEASE_HOLD, withdrawal.SIGNAL_WITHDRAW_APPROVAL})


def desk_people() -> dict[str, tuple[frozenset[str], bool]]:
    """Who the database knows, as the demo roles have it: username -> (actions, senior)."""
    return {
        "manager": (MANAGER_ACTIONS, False), "manager2": (MANAGER_ACTIONS, False), "senior": (MANAGER_ACTIONS, True),
        REQUESTER: (frozenset({m.SIGNAL_UPDATE, discussion.SIGNAL_COMMENT, discussion.SIGNAL_ANSWER,
                               stock_decisions.SIGNAL_STOCK_DECISION}), False),
    }


@dataclass
class ActivityMocks:
    """Stand-ins for every activity the worker registers, under the same names
    (test_activity_mocks.py fails when an activity has none).

    They record every call (in the order they ran) and return the result
    dataclasses; the knobs below script business failures and the timing a
    scenario needs.
    """

    out_of_stock: str | None = None
    payment_declined: str | None = None
    # Progress reports the fulfilment sends to its workflow before going on.
    fulfil_progress: list[tuple[int, str]] = field(default_factory=list)
    # Heartbeat and wait until cancelled instead of finishing.
    fulfil_blocks: bool = False
    # Finish only once a cancel has been accepted (the race of a cancel with the end of fulfilment).
    fulfil_ends_after_cancel: bool = False
    # Hold the payment until the test sets charge_released (an order kept in processing).
    charge_blocks: bool = False
    charge_released: bool = False
    # Hold the shipment until the test sets ship_released.
    ship_blocks: bool = False
    ship_released: bool = False
    # The warehouses a split order ships from (one parcel each, numbered TRK-0042-<code>); none: one parcel.
    shipped_from: list[str] = field(default_factory=list)
    # The warehouses the reservation chooses (reported to the workflow; more than one: each part packed and shipped on its own).
    planned: list[str] = field(default_factory=list)
    # Heartbeat and wait until cancelled from this many packs on (0: the first); None: never.
    fulfil_blocks_from: int | None = None
    # Set by the test: a blocked pack ends normally (its part then ships).
    fulfil_released: bool = False
    # Packs from this many on (0: the first) fail for good (a business failure); None: never.
    fulfil_fails_from: int | None = None
    calls: list[Call] = field(default_factory=list)
    # Every timeline entry written to the "database", however it was written:
    # several at once, with a decision or an update, or by a business step.
    writes: list[MirrorInput] = field(default_factory=list)
    # What the workflow's query showed while the fulfilment was running.
    snapshot_during_fulfilment: m.OrderSnapshot | None = None
    # Who a reminder or escalation reaches; None makes the email fail.
    approver_recipients: list[str] | None = field(default_factory=lambda: ["manager", "senior"])
    # The users the confirmation stand-in knows (see desk_people).
    people: dict[str, tuple[frozenset[str], bool]] = field(default_factory=desk_people)
    # Real seconds the database "takes" to answer a check on these actors (to order races).
    verify_delays: dict[str, float] = field(default_factory=dict)
    # Delegations standing now, delegator -> substitute.
    delegations: dict[str, str] = field(default_factory=dict)
    # The holds the database reports per stage (absent: not held); the test lifts them by deleting.
    holds: dict[str, HoldResult] = field(default_factory=dict)
    # The provider answers the charge with this status ("requires_confirmation": by webhook later).
    payment_status: str = "captured"
    # Provider event ids the database has no record of (signals sent straight to Temporal).
    forged_events: set[str] = field(default_factory=set)
    # Request ids the desk has no intent for (raw signals), and those whose
    # recorded content differs from the message (altered after recording).
    # Every other request is as the desk recorded it.
    forged_requests: set[str] = field(default_factory=set)
    altered_requests: set[str] = field(default_factory=set)
    # The batches the confirmation activity answered.
    confirmations: list[MessageChecks] = field(default_factory=list)
    # Lines no warehouse holds (reported to a reservation that keeps what is available), until restocked.
    unavailable: list[PlannedLine] = field(default_factory=list)
    restocked: bool = False
    # What the stock decision leaves: lines, and the approval rule of the remaining total (None: the order's own).
    lines_left: int = 1
    rule_after_drop: ApprovalRule | None = None

    FULFIL_CANCELLED = "fulfil_order (cancelled)"

    def names(self, *, mirror: bool = False, decisions: bool = False) -> list[str]:
        """Activity names in the order they ran; bookkeeping ones only if asked."""
        hidden = set()
        if not mirror:
            hidden |= {m.ACT_RECORD_ENTRIES}
        if not decisions:
            hidden |= {m.ACT_RECORD_DECISION, ACT_CONFIRM_MESSAGES}
        return [c.name for c in self.calls if c.name not in hidden]

    def written(self) -> list[MirrorInput]:
        """What the database would hold: each key once (a rewrite changes
        nothing), in the timeline's order."""
        unique: dict[str, MirrorInput] = {}
        for entry in self.writes:
            unique.setdefault(entry.idempotency_key, entry)
        return sorted(unique.values(), key=lambda entry: records.key_position(entry.idempotency_key))

    def intents_checked(self) -> list[IntentCheck]:
        """Every person's message the workflow asked the desk about, in the order asked."""
        return [check for batch in self.confirmations for check in batch.intents]

    def args(self, name: str) -> list[Any]:
        return [c.arg for c in self.calls if c.name == name]

    def notified(self) -> list[str]:
        return [notice.kind for notice in self.args(fulfilment.ACT_NOTIFY)]

    def activities(self, *overrides: Callable) -> list[Callable]:
        """The mocks, each of `overrides` (a test's own activity.defn) replacing the one of its name."""
        replaced = {activity_name(fn): fn for fn in overrides}
        return [replaced.pop(activity_name(fn), fn) for fn in self._mocks()] + list(replaced.values())

    def _mocks(self) -> list[Callable]:
        mocks = self

        def record(name: str, arg: Any) -> None:
            mocks.calls.append(Call(name, arg))

        def with_record(order_id: int, step: StepRecord | None, result: Any, message: str, **fields: Any) -> Any:
            """As a business activity writes its entries beside its effect."""
            if step is None:
                return result
            own = MirrorInput(order_id, step.key, step.kind, message, at=datetime.now(UTC).isoformat(), **fields)
            mocks.writes.extend([*step.before, own, *step.after])
            for decision in step.decisions:  # written in the step's transaction, as approvals.services.decision_record
                record(m.ACT_RECORD_DECISION, decision)
            result.recorded = [TimelineEntry(e.at or "", e.kind, e.message, e.actor, key=e.idempotency_key) for e in (own, *step.after)]
            return result

        @activity.defn(name=m.ACT_RECORD_ENTRIES)
        async def record_order_entries(batch: EntriesInput) -> None:
            record(m.ACT_RECORD_ENTRIES, batch)
            mocks.writes.extend(batch.entries)

        @activity.defn(name=m.ACT_RECORD_DECISION)
        async def record_decision(decision: DecisionInput) -> None:
            record(m.ACT_RECORD_DECISION, decision)
            mocks.writes.extend(decision.entries)

        @activity.defn(name=ACT_CONFIRM_MESSAGES)
        async def confirm_messages(batch: MessageChecks) -> MessageConfirmations:
            # As approvals.identity.messages_confirm answers from the database.
            record(ACT_CONFIRM_MESSAGES, batch)
            mocks.confirmations.append(batch)
            answers = MessageConfirmations()
            for check in batch.intents:
                if check.request_id in mocks.forged_requests:
                    answers.intents.append(ActorCheckResult(False, "the desk has no record of this request"))
                elif check.request_id in mocks.altered_requests:
                    answers.intents.append(ActorCheckResult(False, "the message differs from what the desk recorded (its content)"))
                else:
                    action = states.ASK if check.signal == discussion.SIGNAL_ASK_REQUESTER else check.signal
                    answers.intents.append(await people_check(ActorCheckInput(check.order_id, check.actor, action, check.on_behalf_of)))
            answers.events = [EventConfirmation(False, "the desk received no such event from the provider")
                              if event.event_id in mocks.forged_events else EventConfirmation(True) for event in batch.events]
            return answers

        async def people_check(check: ActorCheckInput) -> ActorCheckResult:
            # As approvals.identity answers from the database.
            await asyncio.sleep(mocks.verify_delays.get(check.actor, 0))
            if check.actor not in mocks.people:
                return ActorCheckResult(False, f"{check.actor} is not a user of the desk")
            actions, senior = mocks.people[check.actor]
            if check.action not in actions:
                return ActorCheckResult(False, f"{check.actor} is not allowed to {check.action} orders")
            if check.on_behalf_of and mocks.delegations.get(check.on_behalf_of) != check.actor:
                return ActorCheckResult(False, f"no delegation from {check.on_behalf_of} to {check.actor} stands now")
            return ActorCheckResult(True, senior=senior)  # the actor's own seniority

        @activity.defn(name=m.ACT_APPLY_UPDATE)
        async def apply_order_update(update: m.UpdateInput) -> None:
            record(m.ACT_APPLY_UPDATE, update)
            mocks.writes.extend(update.entries)

        @activity.defn(name=fulfilment.ACT_RESERVE_STOCK)
        async def reserve_stock(ref: ReserveInput) -> ReserveResult:
            record(fulfilment.ACT_RESERVE_STOCK, ref)
            credit = mocks.holds.get(hold.STAGE_CREDIT)
            if ref.credit_check and credit is not None and credit.held:
                # As activities.reserve_stock: nothing reserved, what waited written in the credit read's transaction.
                if ref.record is not None:
                    mocks.writes.extend(ref.record.before)
                    for decision in ref.record.decisions:
                        record(m.ACT_RECORD_DECISION, decision)
                return ReserveResult(lines_reserved=0, units_reserved=0, credit_hold=credit)
            if mocks.out_of_stock:
                raise ApplicationError(mocks.out_of_stock, type=fulfilment.ERR_OUT_OF_STOCK, non_retryable=True)
            missing = [] if mocks.restocked or not ref.keep_available else list(mocks.unavailable)
            reserved = ReserveResult(lines_reserved=1, units_reserved=3, hold=mocks.holds.get(hold.STAGE_PAYMENT), unavailable=missing,
                                     unavailable_text=", ".join(f"{line.quantity} × P-{line.product_id}" for line in missing),
                                     fulfilments=[PlannedFulfilment(code, [PlannedLine(n + 1, 1)]) for n, code in enumerate(mocks.planned)])
            return with_record(ref.order_id, ref.record, reserved, fulfilment.reserved_text(reserved))

        @activity.defn(name=stock_decisions.ACT_APPLY_STOCK_DECISION)
        async def apply_stock_decision(decision: StockDecisionInput) -> StockDecisionResult:
            record(stock_decisions.ACT_APPLY_STOCK_DECISION, decision)
            rule = mocks.rule_after_drop if decision.dropped else None
            result = StockDecisionResult(total="1000.00", lines_left=mocks.lines_left, rule=rule)
            words = (f"dropped {len(decision.dropped)}, backordered {len(decision.backordered)}, filled {len(decision.filled)}"
                     f" ({decision.why})")
            return with_record(decision.order_id, decision.record, result, f"Stock decision: {words}")

        @activity.defn(name=fulfilment.ACT_RELEASE_STOCK)
        async def release_stock(ref: OrderRef) -> ReleaseResult:
            record(fulfilment.ACT_RELEASE_STOCK, ref)
            released = ReleaseResult(units_released=3)
            return with_record(ref.order_id, ref.record, released, fulfilment.released_text(released))

        @activity.defn(name=payments.ACT_CHARGE_PAYMENT)
        async def charge_payment(payment: PaymentInput) -> PaymentResult:
            record(payments.ACT_CHARGE_PAYMENT, payment)
            while mocks.charge_blocks and not mocks.charge_released:
                await asyncio.sleep(0.01)
            if mocks.payment_declined:
                raise ApplicationError(mocks.payment_declined, type=payments.ERR_PAYMENT_DECLINED, non_retryable=True)
            paid = PaymentResult(amount="1250.00", currency="EUR", provider_reference="cap-1", status=mocks.payment_status,
                                   hold=mocks.holds.get(hold.STAGE_FULFILMENT))
            return with_record(payment.order_id, payment.record, paid, payments.charged_text(paid))

        @activity.defn(name=payments.ACT_REFUND_PAYMENT)
        async def refund_payment(payment: PaymentInput) -> PaymentResult:
            record(payments.ACT_REFUND_PAYMENT, payment)
            refund = PaymentResult(amount="1250.00", currency="EUR", provider_reference="ref-1")
            return with_record(payment.order_id, payment.record, refund, payments.refunded_text(refund))

        @activity.defn(name=fulfilment.ACT_FULFIL)
        async def fulfil_order(job: FulfilInput) -> FulfilResult:
            record(fulfilment.ACT_FULFIL, job)
            mocks.writes.extend(job.first)
            info = activity.info()
            handle = activity.client().get_workflow_handle(info.workflow_id)
            for percent, step in mocks.fulfil_progress:
                await handle.signal(m.SIGNAL_PROGRESS, m.FulfilmentProgress(percent, step))
            if mocks.fulfil_progress:
                last = mocks.fulfil_progress[-1][0]
                mocks.snapshot_during_fulfilment = await poll(
                    lambda: handle.query(m.QUERY_SNAPSHOT, result_type=m.OrderSnapshot),
                    lambda snap: snap.progress == last, what=f"progress {last}%",
                )
            if mocks.fulfil_ends_after_cancel:
                await poll(lambda: handle.query(m.QUERY_SNAPSHOT, result_type=m.OrderSnapshot),
                           lambda snap: snap.cancel_requested, what="the cancel accepted")
            packs = len(mocks.args(fulfilment.ACT_FULFIL))
            if mocks.fulfil_fails_from is not None and packs > mocks.fulfil_fails_from:
                raise ApplicationError("the packing line broke down", type="PackingFailed", non_retryable=True)
            blocks = mocks.fulfil_blocks or (mocks.fulfil_blocks_from is not None and packs > mocks.fulfil_blocks_from)
            if not blocks:
                return FulfilResult(steps_done=job.steps)
            try:
                while not mocks.fulfil_released:
                    # Cancellation is delivered through the heartbeat's answer.
                    activity.heartbeat(len(mocks.fulfil_progress))
                    await asyncio.sleep(0.02)
                return FulfilResult(steps_done=job.steps)
            except asyncio.CancelledError:
                record(ActivityMocks.FULFIL_CANCELLED, job)
                raise

        @activity.defn(name=fulfilment.ACT_SHIP)
        async def ship_order(ref: OrderRef) -> ShipResult:
            record(fulfilment.ACT_SHIP, ref)
            while mocks.ship_blocks and not mocks.ship_released:
                await asyncio.sleep(0.01)
            shipped = ShipResult(tracking_number="TRK-0042", carrier="ParcelCo",
                                 parcels=[ShippedParcel(code, f"TRK-0042-{code}") for code in mocks.shipped_from])
            return with_record(ref.order_id, ref.record, shipped, fulfilment.shipped_text(shipped), tracking_number=shipped.tracking_number)

        @activity.defn(name=fulfilment.ACT_FULFILMENTS_TO_SHIP)
        async def fulfilments_to_ship(ref: OrderRef) -> FulfilmentsToShip:
            record(fulfilment.ACT_FULFILMENTS_TO_SHIP, ref)
            shipped = {call.warehouse for call in mocks.args(fulfilment.ACT_SHIP_FULFILMENT)}
            return FulfilmentsToShip([code for code in mocks.planned if code not in shipped])

        @activity.defn(name=fulfilment.ACT_SHIP_FULFILMENT)
        async def ship_fulfilment(inp: ShipFulfilmentInput) -> ShipResult:
            record(fulfilment.ACT_SHIP_FULFILMENT, inp)
            shipped = ShipResult(tracking_number="TRK-0042", carrier="ParcelCo",
                                 parcels=[ShippedParcel(inp.warehouse, f"TRK-0042-{inp.warehouse}")])
            return with_record(inp.order_id, inp.record, shipped, fulfilment.shipped_text(shipped))

        @activity.defn(name=fulfilment.ACT_NOTIFY)
        async def notify_customer(notice: NotifyInput) -> NotifyResult:
            record(fulfilment.ACT_NOTIFY, notice)
            return with_record(notice.order_id, notice.record, NotifyResult(sent=True), fulfilment.emailed_text(notice.kind))

        @activity.defn(name=discussion.ACT_NOTIFY_DISCUSSION)
        async def notify_discussion(notice: DiscussionNotice) -> DiscussionResult:
            record(discussion.ACT_NOTIFY_DISCUSSION, notice)
            result = DiscussionResult(recipients=[REQUESTER] if notice.kind == "question" else [])
            return with_record(notice.order_id, notice.record, result, discussion.discussion_text(notice.kind, notice.actor, notice.text))

        @activity.defn(name=hold.ACT_READ_HOLD)
        async def read_hold(inp: HoldInput) -> HoldResult:
            record(hold.ACT_READ_HOLD, inp)
            mocks.writes.extend(inp.entries)  # in the read's transaction, as activities.read_hold
            return mocks.holds.get(inp.stage, HoldResult(held=False))

        @activity.defn(name=payments.ACT_SETTLE_PAYMENT)
        async def settle_payment(inp: SettleInput) -> SettleResult:
            record(payments.ACT_SETTLE_PAYMENT, inp)
            if inp.event_id in mocks.forged_events:  # the webhook intake never stored it
                return SettleResult(received=False)
            return with_record(inp.order_id, inp.record, SettleResult(), payments.settled_text(inp.kind, inp.reference, inp.reason))

        @activity.defn(name=approval.ACT_NOTIFY_APPROVERS)
        async def notify_approvers(notice: ApproverNoticeInput) -> ApproverNoticeResult:
            record(approval.ACT_NOTIFY_APPROVERS, notice)
            if mocks.approver_recipients is None:
                raise ApplicationError("SMTP server down", non_retryable=True)
            return ApproverNoticeResult(recipients=list(mocks.approver_recipients))

        @activity.defn(name=approval.ACT_SEND_BULK_DECISION)
        async def send_bulk_decision(request: BulkOrderRequest) -> BulkOrderResult:
            record(approval.ACT_SEND_BULK_DECISION, request)
            return BulkOrderResult(request.order_id, f"OD-{request.order_id:06d}", approval.BULK_SENT, "Sent")

        @activity.defn(name=approval.ACT_SEND_DIGESTS)
        async def send_approval_digests(inp: DigestInput) -> DigestResult:
            record(approval.ACT_SEND_DIGESTS, inp)
            return DigestResult(inp.digest_date, list(mocks.approver_recipients or []))

        # The shipment workflow's: they write the parcel's mirror.
        @activity.defn(name=sw.ACT_OPEN_PARCEL)
        async def open_parcel(inp: sw.ParcelOpenInput) -> None:
            record(sw.ACT_OPEN_PARCEL, inp)

        @activity.defn(name=sw.ACT_RECORD_PARCEL_EVENT)
        async def record_parcel_event(inp: sw.ParcelEventInput) -> None:
            record(sw.ACT_RECORD_PARCEL_EVENT, inp)

        @activity.defn(name=sw.ACT_FLAG_PARCEL_LATE)
        async def flag_parcel_late(inp: sw.ParcelLateInput) -> None:
            record(sw.ACT_FLAG_PARCEL_LATE, inp)

        @activity.defn(name=shipment.ACT_MARK_PARCEL_UNTRACKED)
        async def mark_parcel_untracked(inp: shipment.ParcelUntrackedInput) -> None:
            record(shipment.ACT_MARK_PARCEL_UNTRACKED, inp)

        return [record_order_entries, record_decision, confirm_messages, apply_order_update, reserve_stock, apply_stock_decision,
                release_stock, charge_payment, refund_payment, fulfil_order, ship_order, fulfilments_to_ship, ship_fulfilment,
                notify_customer, notify_approvers, send_bulk_decision, send_approval_digests, notify_discussion, read_hold, settle_payment,
                open_parcel, record_parcel_event, flag_parcel_late, mark_parcel_untracked]


def activity_name(fn: Callable) -> str:
    """The name Temporal registers an activity under (its activity.defn name)."""
    defn = activity._Definition.from_callable(fn)
    if defn is None:
        raise TypeError(f"{fn!r} is not an activity (no @activity.defn)")
    return defn.name


async def poll(fetch: Callable[[], Awaitable[T]], ready: Callable[[T], bool], *, what: str, timeout: float = 10.0) -> T:
    """Fetch until ready (in real time, without skipping time); fail saying what never happened."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await fetch()
        if ready(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"Timed out waiting for {what}; last seen: {value!r}")
        await asyncio.sleep(0.02)


@dataclass
class Scenario:
    """One test's view of the shared server: its own task queue, worker and mocks."""

    env: WorkflowEnvironment
    task_queue: str
    mocks: ActivityMocks
    handles: list[WorkflowHandle] = field(default_factory=list)

    async def start(self, inp: m.OrderWorkflowInput) -> WorkflowHandle:
        handle = await self.env.client.start_workflow(
            m.WORKFLOW_NAME, inp, id=f"{m.workflow_id_for(inp.order_id)}-{uuid.uuid4().hex[:8]}",
            task_queue=self.task_queue, result_type=m.OrderSnapshot,
        )
        self.handles.append(handle)
        return handle

    async def snapshot(self, handle: WorkflowHandle) -> m.OrderSnapshot:
        return await handle.query(m.QUERY_SNAPSHOT, result_type=m.OrderSnapshot)

    async def wait_for(self, handle: WorkflowHandle, ready: Callable[[m.OrderSnapshot], bool], what: str) -> m.OrderSnapshot:
        """Poll the query (time is not skipped meanwhile) until `ready`."""
        return await poll(lambda: self.snapshot(handle), ready, what=what)

    async def wait_for_state(self, handle: WorkflowHandle, state: str) -> m.OrderSnapshot:
        return await self.wait_for(handle, lambda snap: snap.state == state, f"state {state}")

    async def wait_for_message(self, handle: WorkflowHandle, fragment: str) -> m.OrderSnapshot:
        return await self.wait_for(handle, lambda snap: any(fragment in e.message for e in snap.timeline), f"timeline entry {fragment!r}")

    async def wait_for_terminal(self, handle: WorkflowHandle) -> m.OrderSnapshot:
        """The final snapshot, reached in real time (for scenarios with a running activity)."""
        await self.wait_for(handle, lambda snap: snap.state in states.TERMINAL, "a terminal state")
        return await handle.result()

    async def wait_for_call(self, name: str) -> None:
        async def calls() -> list[str]:
            return [c.name for c in self.mocks.calls]

        await poll(calls, lambda names: name in names, what=f"activity {name}")

    def worker(self) -> Worker:
        """The order worker for this scenario: the real workflow, the mock activities."""
        return Worker(
            self.env.client, task_queue=self.task_queue, workflows=[OrderWorkflow, sw.ShipmentWorkflow], activities=self.mocks.activities(),
            workflow_runner=workflow_runner(),  # the sandbox as the workers run it
            # Heartbeats reach the server at once, so a cancel reaches the activity at once.
            max_heartbeat_throttle_interval=timedelta(milliseconds=50),
            default_heartbeat_throttle_interval=timedelta(milliseconds=50),
        )

    async def _stop_leftovers(self) -> None:
        # A failed test must not leave timers that fire while later tests skip time.
        for handle in self.handles:
            try:
                if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
                    await handle.terminate("test finished")
            except Exception:  # noqa: BLE001 - best effort clean-up
                pass


class SharedTimeSkippingEnv:
    """A started time-skipping environment owned by a background event loop thread."""

    def __init__(self, *, real_server: bool = False, plain: bool = False) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="temporal-test-env", daemon=True)
        self._thread.start()
        # The time-skipping server does not model every server behaviour: a
        # continue-as-new racing a stream of signals and queries can leave it
        # unanswering. Scenarios that need no skipped time may use the real
        # dev server instead.
        # Encrypted under the desk key (connection.desk_converter): the workflow meets encrypted payloads, and needs no database for keys.
        # `plain`: unencrypted, for the stored histories people read (the replay passes them through the codec).
        converter = DataConverter.default if plain else desk_converter()

        def start() -> Awaitable[WorkflowEnvironment]:
            if real_server:
                return WorkflowEnvironment.start_local(dev_server_existing_path=devserver.temporal_cli_path(), data_converter=converter)
            return WorkflowEnvironment.start_time_skipping(test_server_existing_path=devserver.test_server_path(), data_converter=converter)

        self._start = start
        self._poisoned = False
        self.env: WorkflowEnvironment = self._run(start(), timeout=60)

    def _fresh_after_a_timeout(self) -> None:
        """A story that timed out may have left the server wedged (the time-skipping server does not
        recover from a task completed after time was skipped past its timeout): the next test gets a
        new server, so one failure stays one failure."""
        if not self._poisoned:
            return
        try:
            self._run(self.env.shutdown(), timeout=20)
        except Exception:  # noqa: BLE001 - the old server is being dropped either way
            pass
        self.env = self._run(self._start(), timeout=60)
        self._poisoned = False

    def _run(self, coro: Awaitable[T], *, timeout: float) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(timeout)
        except TimeoutError:
            future.cancel()
            raise

    def play(self, body: Callable[[Scenario], Awaitable[T]], mocks: ActivityMocks | None = None, *, timeout: float = 45.0,
             start_worker: bool = True) -> tuple[T, ActivityMocks]:
        """Run `body` against a fresh worker on its own task queue; return its result and the mocks.

        With start_worker=False the body starts `scenario.worker()` itself, e.g. to
        show what happens to orders submitted while no worker runs.
        """
        self._fresh_after_a_timeout()
        scenario = Scenario(self.env, f"orders-test-{uuid.uuid4().hex}", mocks or ActivityMocks())
        cleaned_up = threading.Event()

        async def guarded() -> T:
            try:
                return await body(scenario)
            finally:
                try:
                    await scenario._stop_leftovers()
                finally:
                    cleaned_up.set()

        async def run() -> T:
            if not start_worker:
                return await guarded()
            async with scenario.worker():
                return await guarded()

        try:
            return self._run(run(), timeout=timeout), scenario.mocks
        except TimeoutError:
            # The cancelled story terminates its workflows on the loop thread. Wait for that: the next
            # test would otherwise meet them (the same workflow ids, their timers firing while it skips time).
            cleaned_up.wait(timeout=30)
            self._poisoned = True
            raise

    def close(self) -> None:
        try:
            self._run(self.env.shutdown(), timeout=30)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
