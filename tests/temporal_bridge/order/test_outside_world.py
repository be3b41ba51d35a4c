"""The outside world's messages to an order, in the time-skipping server:
holds before payment and fulfilment, payments the provider confirms later by
webhook, and fraud alerts that put the order on hold for a manager.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from temporal_bridge.approvals.messages import ApprovalRule
from temporal_bridge.order import fulfilment, holds, payments, states
from temporal_bridge.order import messages as m
from temporal_bridge.order.holds import HoldResult, HoldsLifted
from temporal_bridge.order.payments import PaymentEvent
from temporal_bridge.order.service_levels import ServiceLevelTargets
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment.messages import CarrierEvent, ShipmentState
from tests.temporal_bridge.helpers import MANAGER, ORDER_ID, REQUESTER, ActivityMocks, Scenario, SharedTimeSkippingEnv, order_input, poll
from tests.temporal_bridge.order.test_approval_gate import approve, messages

pytestmark = pytest.mark.database_agnostic

PAUSED = HoldResult(held=True, reason="warehouse outage", by="ops", recheck_seconds=600)


def small_order() -> m.OrderWorkflowInput:
    return order_input(requires_approval=False, approval_rule=ApprovalRule(auto_approve=True))


def payment(kind: str, event_id: str, reason: str = "", reference: str = "cap-1") -> PaymentEvent:
    return PaymentEvent(event_id=event_id, kind=kind, reference=reference, reason=reason)


def test_a_paused_fulfilment_holds_the_order_until_staff_resume_and_the_timeline_says_who(temporal: SharedTimeSkippingEnv):
    mocks = ActivityMocks(holds={holds.STAGE_FULFILMENT: PAUSED})

    async def story(s: Scenario):
        handle = await s.start(small_order())
        held = await s.wait_for(handle, lambda snap: snap.hold_reason != "", "the hold")
        await s.env.sleep(timedelta(minutes=3))
        done_while_held = mocks.names()
        del mocks.holds[holds.STAGE_FULFILMENT]  # staff resume: the database says so, the signal wakes the order
        await handle.signal(holds.SIGNAL_HOLDS_LIFTED, HoldsLifted(by="bob"))
        return held, done_while_held, await handle.result()

    (held, done_while_held, final), _ = temporal.play(story, mocks)

    assert held.state == states.PROCESSING and held.step == "Held: warehouse outage"
    assert "Held: fulfilment paused by ops: warehouse outage" in messages(held, "hold")
    assert payments.ACT_CHARGE_PAYMENT in done_while_held and fulfilment.ACT_FULFIL not in done_while_held
    assert "Released: fulfilment resumed by bob" in messages(final, "hold_released")
    assert final.state == states.FULFILLED and final.hold_reason == ""


def test_a_hold_nobody_signals_is_read_again_at_its_recheck_and_survives_a_long_outage(temporal: SharedTimeSkippingEnv):
    mocks = ActivityMocks(holds={holds.STAGE_PAYMENT: HoldResult(held=True, reason="payment provider failing: circuit open",
                                                               recheck_seconds=300)})

    async def story(s: Scenario):
        handle = await s.start(small_order())
        await s.wait_for(handle, lambda snap: snap.hold_reason != "", "the hold")
        await s.env.sleep(timedelta(hours=2))
        rechecks = len(mocks.args(holds.ACT_READ_HOLD))
        del mocks.holds[holds.STAGE_PAYMENT]  # the breaker closes; no signal
        return rechecks, await handle.result()

    (rechecks, final), _ = temporal.play(story, mocks)

    assert rechecks >= 20, "read again every 5 minutes over two hours"
    assert mocks.args(payments.ACT_CHARGE_PAYMENT), "charged once the breaker closed"
    assert messages(final, "hold") == ["Held: payment paused: payment provider failing: circuit open"], "said once, not per recheck"
    assert "Released: payment resumed" in messages(final, "hold_released")
    assert final.state == states.FULFILLED


def test_a_payment_needing_confirmation_waits_for_the_providers_webhook_and_applies_it_once(temporal: SharedTimeSkippingEnv):
    mocks = ActivityMocks(payment_status="requires_confirmation")

    async def story(s: Scenario):
        handle = await s.start(small_order())
        waiting = await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "the wait")
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_SUCCEEDED, "evt-1", reference="someone-else"))
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, {"event_id": "evt-x", "kind": "refunded-to-me"})
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_SUCCEEDED, "evt-2"))
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_FAILED, "evt-2", "replayed"))
        return waiting, await handle.result()

    (waiting, final), mocks = temporal.play(story, mocks)

    assert waiting.state == states.PROCESSING
    assert any("waiting for the provider's confirmation" in n for n in messages(waiting))
    assert [(e.kind, e.reference) for e in mocks.args(payments.ACT_SETTLE_PAYMENT)] == [(payments.PAYMENT_SUCCEEDED, "cap-1")]
    assert "Payment confirmed by the provider (reference cap-1)" in messages(final)
    notes = messages(final, "note")
    assert "Payment event evt-1 (succeeded) ignored: no payment of this order waits for it" in notes
    assert "Payment event refused: unknown kind 'refunded-to-me'" in notes
    assert final.state == states.FULFILLED


def test_a_confirmation_signalled_straight_to_temporal_without_the_providers_webhook_settles_nothing(temporal: SharedTimeSkippingEnv):
    mocks = ActivityMocks(payment_status="requires_confirmation", forged_events={"evt-forged"})

    async def story(s: Scenario):
        handle = await s.start(small_order())
        await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "the wait")
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_SUCCEEDED, "evt-forged"))
        refused = await s.wait_for_message(handle, "Payment event evt-forged (succeeded) refused")
        done_when_refused = mocks.names()
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_SUCCEEDED, "evt-real"))
        return refused, done_when_refused, await handle.result()

    (refused, done_when_refused, final), _ = temporal.play(story, mocks)

    assert refused.step == "Waiting for the payment provider's confirmation", "still waiting for the real one"
    assert fulfilment.ACT_FULFIL not in done_when_refused
    assert [e.event_id for e in mocks.args(payments.ACT_SETTLE_PAYMENT)] == ["evt-real"], "the forgery never reached the ledger"
    assert "Payment confirmed by the provider (reference cap-1)" in messages(final)
    assert final.state == states.FULFILLED


def test_a_forged_copy_of_the_providers_event_id_does_not_block_the_genuine_event(temporal: SharedTimeSkippingEnv):
    """The provider's id leaked (the simulator's are predictable): a copy signalled
    before the genuine webhook is refused, and its id is not remembered as seen."""
    mocks = ActivityMocks(payment_status="requires_confirmation", forged_events={"sim-42-payment.succeeded"})

    async def story(s: Scenario):
        handle = await s.start(small_order())
        await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "the wait")
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_SUCCEEDED, "sim-42-payment.succeeded"))
        refused = await s.wait_for_message(handle, "Payment event sim-42-payment.succeeded (succeeded) refused")
        mocks.forged_events.clear()  # the provider's signed webhook arrives: the intake stores it
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_SUCCEEDED, "sim-42-payment.succeeded"))
        return refused, await handle.result()

    (refused, final), _ = temporal.play(story, mocks)

    assert "the desk received no such event from the provider" in messages(refused)[-1]
    assert [e.event_id for e in mocks.args(payments.ACT_SETTLE_PAYMENT)] == ["sim-42-payment.succeeded"]
    assert final.state == states.FULFILLED


def test_a_forged_fraud_alert_puts_nothing_on_hold(temporal: SharedTimeSkippingEnv):
    mocks = ActivityMocks(payment_status="requires_confirmation", forged_events={"evt-fake-fraud"})

    async def story(s: Scenario):
        handle = await s.start(small_order())
        await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "the wait")
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_FRAUD_ALERT, "evt-fake-fraud", "card reported stolen"))
        refused = await s.wait_for_message(handle, "Payment event evt-fake-fraud (fraud_alert) refused")
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_SUCCEEDED, "evt-ok"))
        return refused, await handle.result()

    (refused, final), _ = temporal.play(story, mocks)

    assert refused.state == states.PROCESSING and refused.hold_reason == ""
    assert messages(final, "hold") == []
    assert final.state == states.FULFILLED


def test_a_payment_the_provider_fails_fails_the_order_and_releases_the_stock_without_a_refund(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(small_order())
        await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "the wait")
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_FAILED, "evt-1", "card expired"))
        return await handle.result()

    final, mocks = temporal.play(story, ActivityMocks(payment_status="requires_confirmation"))

    assert final.state == states.FAILED and "card expired" in final.failure_reason
    assert fulfilment.ACT_RELEASE_STOCK in mocks.names() and payments.ACT_REFUND_PAYMENT not in mocks.names()


def test_a_payment_never_confirmed_fails_at_the_timeout_and_voids_the_payment(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(small_order())
        return await handle.result()  # time skipping runs the day out

    final, mocks = temporal.play(story, ActivityMocks(payment_status="requires_confirmation"))

    assert final.state == states.FAILED
    assert final.failure_reason == "the payment provider did not confirm the payment in time"
    assert mocks.names()[-3:] == [payments.ACT_REFUND_PAYMENT, fulfilment.ACT_RELEASE_STOCK, fulfilment.ACT_NOTIFY]


def test_a_fraud_alert_holds_the_order_for_a_manager_who_releases_it(temporal: SharedTimeSkippingEnv):
    mocks = ActivityMocks(payment_status="requires_confirmation")

    async def story(s: Scenario):
        handle = await s.start(small_order())
        await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "the wait")
        # The alert alone puts the waiting order on hold at once; the provider confirms after the release.
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_FRAUD_ALERT, "evt-f", "card reported stolen"))
        on_hold = await s.wait_for_state(handle, states.ON_HOLD)
        await handle.signal(holds.SIGNAL_RELEASE_HOLD, approve(REQUESTER, "r-self"))
        await handle.signal(holds.SIGNAL_RELEASE_HOLD, approve(MANAGER, "r-1", comment="called the customer"))
        await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "waiting again")
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_SUCCEEDED, "evt-ok"))
        return on_hold, await handle.result()

    (on_hold, final), _ = temporal.play(story, mocks)

    assert on_hold.allowed_actions == [states.RELEASE_HOLD, states.CANCEL]
    assert any("fraud alert from the payment provider (card reported stolen)" in n for n in messages(on_hold, "hold"))
    assert "Release by clerk refused: the requester cannot release their own order" in messages(final, "note")
    assert "Hold released by manager: called the customer" in messages(final, "hold_released")
    assert final.state == states.FULFILLED


def test_a_fraud_hold_cancelled_by_a_manager_refunds_and_releases_the_stock(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(small_order())
        await s.wait_for(handle, lambda snap: snap.step == "Waiting for the payment provider's confirmation", "the wait")
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_FRAUD_ALERT, "evt-f", "velocity check"))
        await handle.signal(payments.SIGNAL_PAYMENT_EVENT, payment(payments.PAYMENT_SUCCEEDED, "evt-ok"))
        await s.wait_for_state(handle, states.ON_HOLD)
        await handle.signal(m.SIGNAL_CANCEL, m.CancelSignal(actor=MANAGER, request_id="c-1", reason="fraud confirmed"))
        return await handle.result()

    final, mocks = temporal.play(story, ActivityMocks(payment_status="requires_confirmation"))

    assert final.state == states.CANCELLED
    assert mocks.names()[-3:] == [payments.ACT_REFUND_PAYMENT, fulfilment.ACT_RELEASE_STOCK, fulfilment.ACT_NOTIFY]


# --- Service levels (the order watches its own) ----------------------------------------------


def test_an_order_over_its_approval_target_notes_the_breach_once_and_reports_time_per_stage(temporal: SharedTimeSkippingEnv):
    targets = ServiceLevelTargets(approval_seconds=2 * 3600, processing_seconds=3600, fulfilment_seconds=3600, delivery_seconds=0)

    async def story(s: Scenario):
        handle = await s.start(order_input(service_levels=targets))
        fresh = await s.wait_for_message(handle, "Awaiting")
        await s.env.sleep(timedelta(hours=3))
        late = await s.wait_for(handle, lambda snap: bool(snap.service_levels and snap.service_levels.breached), "the breach")
        await s.env.sleep(timedelta(hours=3))
        await handle.signal(m.SIGNAL_APPROVE, approve(MANAGER, "a-1"))
        return fresh, late, await handle.result()

    (fresh, late, final), mocks = temporal.play(story)

    assert fresh.service_levels.breached == [] and fresh.service_levels.estimated_completion is not None
    assert late.service_levels.breached == ["approval"]
    assert late.service_levels.seconds_in_stage["approval"] > 2 * 3600
    assert messages(final, "service_level") == ["Service level breached: approval over 2 h"], "noted once, not again later"
    assert [e.message for e in mocks.written() if e.kind == "service_level"] == ["Service level breached: approval over 2 h"]
    assert final.state == states.FULFILLED and final.service_levels.estimated_completion is None


# --- Tracked delivery: the order waits for its parcel --------------------------------------------


def carrier(event_id: str, status: str) -> CarrierEvent:
    return CarrierEvent(event_id=event_id, status=status, location="Lyon")


def test_a_tracked_order_is_in_transit_until_the_carrier_says_delivered(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True, delivery_promise_days=5))
        moving = await s.wait_for_state(handle, states.IN_TRANSIT)
        parcel = s.env.client.get_workflow_handle(shipment.shipment_workflow_id(ORDER_ID))
        await parcel.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_IN_TRANSIT))
        # Skip time only once the event has counted: skipping two days while the worker still works on it
        # times its task out under the worker's feet, which the time-skipping server cannot recover from.
        await poll(lambda: parcel.query(shipment.QUERY_PARCEL, result_type=ShipmentState), lambda p: p.status == shipment.PARCEL_IN_TRANSIT,
                   what="the parcel in transit")
        await s.env.sleep(timedelta(days=2))
        await parcel.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-2", shipment.PARCEL_DELIVERED))
        return moving, await handle.result()

    (moving, final), mocks = temporal.play(story)

    assert moving.allowed_actions == [] and moving.parcel_status == "shipped"
    assert mocks.notified() == ["fulfilled", "delivered"]
    assert final.state == states.DELIVERED and final.parcel_status == shipment.PARCEL_DELIVERED
    assert [n for n in messages(final, "status")][-2:] == ["Shipped: in transit, tracking number TRK-0042", "Delivered"]


def test_a_returned_parcel_ends_the_order_returned(temporal: SharedTimeSkippingEnv):
    async def story(s: Scenario):
        handle = await s.start(replace(small_order(), track_delivery=True))
        await s.wait_for_state(handle, states.IN_TRANSIT)
        parcel = s.env.client.get_workflow_handle(shipment.shipment_workflow_id(ORDER_ID))
        await parcel.signal(shipment.SIGNAL_CARRIER_EVENT, carrier("c-1", shipment.PARCEL_RETURNED))
        return await handle.result()

    final, mocks = temporal.play(story)

    assert final.state == states.RETURNED and mocks.notified() == ["fulfilled", "returned"]
