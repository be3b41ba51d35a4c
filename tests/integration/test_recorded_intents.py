"""The attacks of the recorded-intents issue, end to end: a real Temporal dev
server, a real worker, Django, the real database.

Each test sends what someone who reaches the Temporal frontend, but not the
database, can send: raw signals through the SDK client, naming real people
and carrying real-looking ids. Nothing they send counts, the refusal is what
a user or an operator sees (the request's verdict, the order's timeline, the
order left as it was), and afterwards the genuine action (a page's POST, a
provider's signed webhook) still works.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime

import pytest
from django.conf import settings as django_settings
from django.core import mail
from django.test import Client
from temporalio.api.enums.v1 import EventType, WorkflowTaskFailedCause
from temporalio.client import Client as TemporalClient
from temporalio.service import RPCError

from approvals.identity import NO_RECORD
from approvals.models import ApprovalDecision
from orders.intents.models import RecordedIntent
from orders.intents.services import intent_of, intent_record
from orders.models import Order, StockReservation
from orders.payments.models import PaymentTransaction
from orders.timeline.models import OrderEvent
from orders.webhooks import signing as webhook_signing
from orders.webhooks.checks import NOT_RECEIVED
from orders.webhooks.models import WebhookEvent
from temporal_bridge.client.bridge import bridge
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import discussion, payments, states
from temporal_bridge.order import messages as m
from temporal_bridge.order.discussion import AnswerSignal, CommentSignal, QuestionSignal
from temporal_bridge.order.payments import PaymentEvent
from temporal_bridge.shipment import messages as shipment
from temporal_bridge.shipment.messages import CarrierEvent, ShipmentState
from tests.integration import raw_flood, test_engine_rules
from tests.integration.stack import WorkerThread
from tests.integration.test_approvals import browser_for, decide, notes
from tests.integration.test_engine_rules import send_raw, task_failures
from tests.integration.test_lifecycle import finished, submit, wait_for
from tests.integration.test_webhooks_end_to_end import SECRETS, captured_reference, post, state, step

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# The flood's size; lower it (ORDER_DESK_FLOOD_SIGNALS=2000) on a slow machine.
FLOOD_SIGNALS = int(os.environ.get("ORDER_DESK_FLOOD_SIGNALS", "10000"))
WAITING_FOR_PAYMENT = "Waiting for the payment provider's confirmation"
# The fixture of test_engine_rules: a 1,200 order waiting for one manager.
pending_order = test_engine_rules.pending_order
SUMMARY = re.compile(r"^(\d+) more (.+) refused \((\d+) in all\)$")


@pytest.fixture
def outside(settings):
    """As test_webhooks_end_to_end: signed webhooks, every payment waits for the provider, parcels tracked."""
    settings.WEBHOOK_SECRETS = dict(SECRETS)
    settings.PAYMENT_CONFIRMATION_ABOVE = 1
    settings.ORDER_DESK_TRACK_DELIVERY = True
    settings.ORDER_FULFILMENT_STEP_SECONDS = 0.05


def verdict(order: Order, request_id: str) -> m.RequestVerdict:
    return order_calls.request_verdict(order.pk, request_id, wait=20)


def refusal_notes(order: Order) -> list[str]:
    return [text for text in notes(order.pk) if " refused" in text]


def nothing_happened(order: Order, address: str = "1 Main St") -> None:
    """The order is as submitted: pending, no decision, no stock held, no money taken, its address unchanged."""
    live = order_calls.query_order(order.pk)
    assert (live.state, live.decisions, live.cancel_requested, live.shipping_address) == (states.PENDING_APPROVAL, [], False, address)
    row = Order.objects.get(pk=order.pk)
    assert (row.status, row.shipping_address) == (states.PENDING_APPROVAL, address)
    assert not ApprovalDecision.objects.filter(order=order).exists()
    assert not StockReservation.objects.filter(order=order).exists()
    assert not PaymentTransaction.objects.filter(order=order).exists()


def approve_from_the_page(manager, order: Order, request_id: str):
    response = decide(browser_for(manager), order, request_id)
    assert response.status_code == 200, response.content.decode()[:500]
    assert b"Accepted by the order&#x27;s workflow" in response.content
    return finished(order.pk)


def parcel(order: Order) -> ShipmentState:
    async def ask(client: TemporalClient) -> ShipmentState:
        return await client.get_workflow_handle(shipment.shipment_workflow_id(order.pk)).query(shipment.QUERY_PARCEL,
                                                                                               result_type=ShipmentState)

    return bridge.call(ask, timeout=10)


def signal_shipment(order: Order, name: str, payload) -> None:
    async def send(client: TemporalClient) -> None:
        await client.get_workflow_handle(shipment.shipment_workflow_id(order.pk)).signal(name, payload)

    bridge.call(send)


def carrier_webhook(order: Order, event_id: str, kind: str, day: int) -> int:
    return post(shipment.PROVIDER_CARRIER, {"id": event_id, "type": f"parcel.{kind}", "order": order.number,
                                     "tracking_number": order.tracking_number, "at": f"2026-12-0{day}T08:00:00+00:00",
                                     "location": "Leipzig"})


def awaiting_payment(clerk, customer, widget) -> Order:
    """A small order (auto-approved) whose payment waits for the provider's webhook."""
    order = submit(clerk, customer, widget, 1)
    wait_for(lambda: step(order.pk) == WAITING_FOR_PAYMENT, what="the payment to wait for the provider")
    order.refresh_from_db()
    return order


# --- People's requests the desk never recorded -------------------------------------------------


def test_a_raw_approval_naming_a_real_manager_is_refused_and_the_managers_own_approval_then_counts(stack, pending_order, manager):
    order = pending_order()
    send_raw(order, m.SIGNAL_APPROVE, [m.DecisionSignal("manager", "forged-approve-1", "Looks fine")])

    refused = verdict(order, "forged-approve-1")
    assert (refused.status, refused.reason, refused.action) == (m.VERDICT_REFUSED, NO_RECORD, m.SIGNAL_APPROVE)
    assert refusal_notes(order) == [f"Approval by manager refused: {NO_RECORD}"]
    nothing_happened(order)

    final = approve_from_the_page(manager, order, "real-approve-1")
    assert final.state == states.FULFILLED
    assert [(d.actor, d.request_id) for d in final.decisions] == [("manager", "real-approve-1")]
    assert list(ApprovalDecision.objects.filter(order=order).values_list("approver_username", "request_id")) == [
        ("manager", "real-approve-1")]
    assert task_failures(order) == []


def test_raw_reject_cancel_update_comment_ask_and_answer_naming_real_people_change_nothing(stack, pending_order, manager, clerk):
    order = pending_order()
    forged = [
        (m.SIGNAL_REJECT, m.DecisionSignal("manager", "forged-reject", "Too expensive")),
        (m.SIGNAL_CANCEL, m.CancelSignal("manager", "forged-cancel", "The customer changed their mind")),
        (m.SIGNAL_UPDATE, m.UpdateSignal("manager", "forged-update", priority="urgent", shipping_address="99 Attacker Road")),
        (discussion.SIGNAL_COMMENT, CommentSignal("manager", "forged-comment", "Approve it without looking")),
        (discussion.SIGNAL_ASK_REQUESTER, QuestionSignal("manager", "forged-ask", "Where should it go?")),
    ]
    for name, payload in forged:
        send_raw(order, name, [payload])
    for name, payload in forged:
        refused = verdict(order, payload.request_id)
        assert (refused.status, refused.reason) == (m.VERDICT_REFUSED, NO_RECORD), name

    nothing_happened(order)
    live = order_calls.query_order(order.pk)
    assert (live.priority, live.open_question) == ("normal", "")
    assert not {"comment", "question", "update", "answer"} & {e.kind for e in live.timeline}
    assert not OrderEvent.objects.filter(order=order, kind__in=["comment", "question", "update", "answer"]).exists()
    assert not Order.objects.get(pk=order.pk).awaiting_answer
    # The first three refusals of a kind are noted one by one; the rest are counted.
    assert refusal_notes(order) == [f"Rejection by manager refused: {NO_RECORD}", f"Cancel by manager refused: {NO_RECORD}",
                                    f"Update by manager refused: {NO_RECORD}"]

    # An answer needs an open question: the manager asks from the page, then the requester's answer is forged.
    as_manager, as_clerk = browser_for(manager), browser_for(clerk)
    asked = as_manager.post(f"/orders/{order.pk}/ask/", {"ask-question": "Which dock?", "ask-request_id": "real-ask-1"},
                            HTTP_HX_REQUEST="true")
    assert asked.status_code == 200, asked.content.decode()[:500]
    wait_for(lambda: order_calls.query_order(order.pk).open_question == "Which dock?", what="the question open")
    send_raw(order, discussion.SIGNAL_ANSWER, [AnswerSignal("clerk", "forged-answer", "Dock 9", shipping_address="99 Attacker Road")])
    refused = verdict(order, "forged-answer")
    assert (refused.status, refused.reason) == (m.VERDICT_REFUSED, NO_RECORD)
    live = order_calls.query_order(order.pk)
    assert (live.open_question, live.shipping_address) == ("Which dock?", "1 Main St")
    assert Order.objects.get(pk=order.pk).awaiting_answer

    answered = as_clerk.post(f"/orders/{order.pk}/answer/", {"answer-answer": "Dock 4", "answer-request_id": "real-answer-1"},
                             HTTP_HX_REQUEST="true")
    assert answered.status_code == 200, answered.content.decode()[:500]
    wait_for(lambda: not order_calls.query_order(order.pk).open_question, what="the question answered")
    final = approve_from_the_page(manager, order, "real-approve-2")
    assert (final.state, final.shipping_address, final.priority) == (states.FULFILLED, "1 Main St", "normal")
    messages = [e.message for e in final.timeline]
    assert "Answer from clerk: Dock 4" in messages and "Comment by manager: Approve it without looking" not in messages
    assert "3 more messages the desk did not record refused (6 in all)" in messages
    assert task_failures(order) == []


def test_a_payload_altered_after_its_intent_was_recorded_is_refused_and_does_not_burn_the_request_id(stack, pending_order, manager):
    order = pending_order()
    recorded = m.DecisionSignal(actor="manager", request_id="x", comment="ok")
    intent_record(order=order, signal=m.SIGNAL_APPROVE, payload=recorded)
    send_raw(order, m.SIGNAL_APPROVE, [m.DecisionSignal(actor="manager", request_id="x", comment="changed")])

    refused = verdict(order, "x")
    assert (refused.status, refused.reason) == (m.VERDICT_REFUSED, "the request differs from what the desk recorded (its digest)")
    assert refusal_notes(order) == ["Approval by manager refused: the request differs from what the desk recorded (its digest)"]
    nothing_happened(order)

    # The request the desk recorded, sent as recorded, still counts: the forgery did not use up its id.
    order_calls.signal_order(order.pk, m.SIGNAL_APPROVE, recorded)
    wait_for(lambda: order_calls.request_verdict(order.pk, "x", wait=1).status == m.VERDICT_ACCEPTED, what="the recorded request accepted")
    final = finished(order.pk)
    assert final.state == states.FULFILLED
    assert [(d.actor, d.comment) for d in final.decisions] == [("manager", "ok")]
    assert list(ApprovalDecision.objects.filter(order=order).values_list("comment", flat=True)) == ["ok"]


def test_a_recorded_approval_replayed_onto_another_order_is_refused_there(stack, pending_order, manager):
    first, second = pending_order(), pending_order()
    assert approve_from_the_page(manager, first, "real-approve-r").state == states.FULFILLED

    # The exact message the page sent for the first order (same content, same digest as its recorded intent) ...
    replayed = m.DecisionSignal(actor="manager", request_id="real-approve-r")
    recorded = RecordedIntent.objects.get(order=first, request_id="real-approve-r")
    assert intent_of(m.SIGNAL_APPROVE, replayed).digest == recorded.digest
    # ... sent to the second order.
    send_raw(second, m.SIGNAL_APPROVE, [asdict(replayed)])
    refused = verdict(second, "real-approve-r")
    assert (refused.status, refused.reason) == (m.VERDICT_REFUSED, NO_RECORD)
    assert refusal_notes(second) == [f"Approval by manager refused: {NO_RECORD}"]
    nothing_happened(second)
    assert Order.objects.get(pk=first.pk).status == states.FULFILLED
    assert list(ApprovalDecision.objects.values_list("order_id", flat=True)) == [first.pk]


# --- Provider events the intake never stored -------------------------------------------------------


def test_a_forged_delivery_to_the_shipment_workflow_delivers_nothing_and_the_carriers_webhook_then_does(
        stack, outside, clerk, customer, widget):
    order = awaiting_payment(clerk, customer, widget)
    assert post(payments.PROVIDER_PAYMENTS, {"id": f"evt_{uuid.uuid4().hex[:8]}", "type": "payment.succeeded", "order": order.number,
                                      "reference": captured_reference(order)}) == 200
    wait_for(lambda: state(order.pk) == states.IN_TRANSIT, what="in transit")
    order.refresh_from_db()

    # Forged with the very id the carrier's genuine delivery will carry (predictable, as the simulator's are).
    delivered_id = f"sim-{order.pk}-parcel.delivered"
    signal_shipment(order, shipment.SIGNAL_CARRIER_EVENT, CarrierEvent(
        event_id=delivered_id, status=shipment.PARCEL_DELIVERED, at=datetime.now(UTC).isoformat(), location="Leipzig",
        description=order.tracking_number))
    # A genuine event after it: once it is recorded, the forged one was handled.
    assert carrier_webhook(order, f"sim-{order.pk}-parcel.in_transit", shipment.PARCEL_IN_TRANSIT, 1) == 200
    wait_for(lambda: [e.event_id for e in parcel(order).events] == [f"sim-{order.pk}-parcel.in_transit"], what="the genuine event")

    journey = parcel(order)
    assert journey.status == shipment.PARCEL_IN_TRANSIT and delivered_id not in journey.seen_event_ids
    assert order_calls.query_order(order.pk).state == states.IN_TRANSIT
    order.refresh_from_db()
    assert order.status == states.IN_TRANSIT and order.parcels.get().status != shipment.PARCEL_DELIVERED
    delivered_mail = f"Your order {order.number} was delivered"
    assert delivered_mail not in [email.subject for email in mail.outbox]

    assert carrier_webhook(order, delivered_id, shipment.PARCEL_DELIVERED, 2) == 200
    assert finished(order.pk).state == states.DELIVERED
    order.refresh_from_db()
    assert (order.status, order.parcels.get().status) == (states.DELIVERED, shipment.PARCEL_DELIVERED)
    wait_for(lambda: delivered_mail in [email.subject for email in mail.outbox], what="the delivery e-mail")
    assert [email.subject for email in mail.outbox].count(delivered_mail) == 1


def test_a_forged_fraud_alert_does_not_hold_the_order_and_the_providers_signed_alert_does(stack, outside, clerk, customer, widget):
    order = awaiting_payment(clerk, customer, widget)
    reference = captured_reference(order)
    send_raw(order, payments.SIGNAL_PAYMENT_EVENT, [PaymentEvent("evt_forged_fraud", payments.PAYMENT_FRAUD_ALERT, reference,
                                                                 "Stolen card")])

    refused = f"Payment event evt_forged_fraud (fraud_alert) refused: {NOT_RECEIVED}"
    wait_for(lambda: refused in notes(order.pk), what="the forged alert refused")
    live = order_calls.query_order(order.pk)
    assert (live.state, live.step, live.hold_reason) == (states.PROCESSING, WAITING_FOR_PAYMENT, "")
    assert Order.objects.get(pk=order.pk).status == states.PROCESSING

    assert post(payments.PROVIDER_PAYMENTS, {"id": f"evt_{uuid.uuid4().hex[:8]}", "type": "payment.fraud_alert", "order": order.number,
                                      "reference": reference, "reason": "Stolen card"}) == 200
    wait_for(lambda: state(order.pk) == states.ON_HOLD, what="on hold after the provider's alert")
    wait_for(lambda: Order.objects.get(pk=order.pk).status == states.ON_HOLD, what="the hold mirrored")
    assert task_failures(order) == []


def test_a_forged_copy_of_the_providers_predictable_event_id_does_not_make_the_genuine_event_a_duplicate(
        stack, outside, settings, clerk, customer, widget):
    settings.ORDER_DESK_TRACK_DELIVERY = False
    order = awaiting_payment(clerk, customer, widget)
    reference, event_id = captured_reference(order), f"sim-{order.pk}-payment.succeeded"
    send_raw(order, payments.SIGNAL_PAYMENT_EVENT, [PaymentEvent(event_id, payments.PAYMENT_SUCCEEDED, reference)])

    refused = f"Payment event {event_id} (succeeded) refused: {NOT_RECEIVED}"
    wait_for(lambda: refused in notes(order.pk), what="the forged confirmation refused")
    assert step(order.pk) == WAITING_FOR_PAYMENT
    assert PaymentTransaction.objects.get(order=order, kind=PaymentTransaction.Kind.CAPTURE).status != PaymentTransaction.Status.CAPTURED

    assert post(payments.PROVIDER_PAYMENTS, {"id": event_id, "type": "payment.succeeded", "order": order.number,
                                             "reference": reference}) == 200
    final = finished(order.pk)
    assert final.state == states.FULFILLED
    assert PaymentTransaction.objects.get(order=order, kind=PaymentTransaction.Kind.CAPTURE).status == PaymentTransaction.Status.CAPTURED
    assert WebhookEvent.objects.get(event_id=event_id).status == WebhookEvent.Delivery.DELIVERED
    assert [e.message for e in final.timeline].count(refused) == 1


def test_a_signed_webhook_to_the_url_without_its_trailing_slash_is_applied(stack, outside, settings, clerk, customer, widget):
    settings.ORDER_DESK_TRACK_DELIVERY = False
    order = awaiting_payment(clerk, customer, widget)
    raw = (f'{{"id": "evt_no_slash_{order.pk}", "type": "payment.succeeded", "order": "{order.number}", '
           f'"reference": "{captured_reference(order)}"}}').encode()
    response = Client().post("/webhooks/payments", data=raw, content_type="application/json",
                             **{webhook_signing.SIGNATURE_META: webhook_signing.sign(SECRETS[payments.PROVIDER_PAYMENTS], raw)})
    assert response.status_code == 200, response.content.decode()[:300]
    assert finished(order.pk).state == states.FULFILLED
    assert WebhookEvent.objects.get(event_id=f"evt_no_slash_{order.pk}").status == WebhookEvent.Delivery.DELIVERED


# --- A flood ------------------------------------------------------------------------------------------

def flood(stack, order: Order, count: int) -> dict[str, int]:
    """`count` raw signals from another process (tests/integration/raw_flood.py), sent concurrently in
    bounded batches with a plain client; how many of each kind of refusal they are."""
    subprocess.run([sys.executable, "-m", "tests.integration.raw_flood", stack.address, m.workflow_id_for(order.pk), str(count)],
                   cwd=django_settings.BASE_DIR, check=True, timeout=300)
    return raw_flood.planned(count)


def taken_when_the_run_has_room(order: Order, request_id: str, *, timeout: float = 120) -> float:
    """Send a raw approval, again while the server refuses it because the run holds its limit of
    signals (until the workflow continues as new); how many seconds it was refused."""
    began = time.monotonic()
    while True:
        try:
            send_raw(order, m.SIGNAL_APPROVE, [m.DecisionSignal("manager", request_id)])
            return time.monotonic() - began
        except RPCError as err:
            if "limit for signal events" not in err.message or time.monotonic() - began > timeout:
                raise
            time.sleep(0.5)


def failed_tasks_in_every_run(order: Order) -> list[tuple[str, str]]:
    """(cause, who failed it) of each failed workflow task in every run of the order's workflow."""
    async def fetch(client: TemporalClient) -> list[tuple[str, str]]:
        found = []
        async for execution in client.list_workflows(f'WorkflowId="{m.workflow_id_for(order.pk)}"'):
            history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
            failed = [e.workflow_task_failed_event_attributes for e in history.events
                      if e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED]
            found += [(WorkflowTaskFailedCause.Name(a.cause), a.identity) for a in failed]
        return found

    return bridge.call(fetch, timeout=60)


def page_and_panel(browser, order: Order) -> dict[str, tuple[float, int, str]]:
    """Each page's (seconds, bytes, the fallback notice if it shows one); both must answer 200."""
    timings = {}
    for url, headers in ((order.get_absolute_url(), {}), (f"/orders/{order.pk}/panel/", {"HTTP_HX_REQUEST": "true"})):
        started = time.perf_counter()
        response = browser.get(url, **headers)
        notice = re.search(r"Live state unavailable \([^)]*\)", text_of(response))
        timings[url] = (time.perf_counter() - started, len(response.content), notice.group(0) if notice else "")
        assert response.status_code == 200, url
    return timings


def text_of(response) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


def shown(timings: dict[str, tuple[float, int, str]]) -> str:
    return "; ".join(f"{url} {seconds * 1000:.0f} ms {size / 1024:.1f} KiB {notice}" for url, (seconds, size, notice) in timings.items())


def test_a_flood_of_raw_signals_is_counted_not_written_and_the_order_still_approves(stack, settings, pending_order, manager, caplog):
    order = pending_order()
    as_manager = browser_for(manager)
    began = time.monotonic()
    sent = flood(stack, order, FLOOD_SIGNALS)
    sent_seconds = time.monotonic() - began
    while_digesting = page_and_panel(as_manager, order)

    # The last message of the flood: once it is refused, the workflow has handled everything before it.
    try:
        locked_out = taken_when_the_run_has_room(order, "flood-last")
        wait_for(lambda: order_calls.request_verdict(order.pk, "flood-last", wait=1).status == m.VERDICT_REFUSED, timeout=120,
                 what="the flood handled")
    except (RPCError, AssertionError) as err:
        raise AssertionError(f"the order stopped taking or handling signals after the flood ({err}); "
                             f"the worker said: {worker_trouble(caplog)}") from err
    sent[raw_flood.UNRECORDED] += 1
    handled_seconds = time.monotonic() - began
    after = page_and_panel(as_manager, order)
    print(f"\nflood: {FLOOD_SIGNALS} signals sent in {sent_seconds:.1f}s, handled {handled_seconds:.1f}s after the first; "
          f"signals refused by the server for {locked_out:.1f}s after the flood\n  pages while digesting: {shown(while_digesting)}"
          f"\n  pages after: {shown(after)}")
    # While the worker digests the flood, a query may wait its whole timeout (then a describe, up to 2 s,
    # says why) before the page falls back to the mirror.
    for url, (seconds, size, _) in while_digesting.items():
        assert seconds < settings.TEMPORAL_QUERY_TIMEOUT + 3.0 and size < 60 * 1024, (url, seconds, size)
    for url, (seconds, size, _) in after.items():
        assert seconds < 2.0 and size < 60 * 1024, (url, seconds, size)
    live = order_calls.query_order(order.pk)
    assert live.state == states.PENDING_APPROVAL and len(live.timeline) < 40

    final = approve_from_the_page(manager, order, "real-approve-flood")
    assert final.state == states.FULFILLED
    assert len(final.timeline) < 40
    wait_for(lambda: OrderEvent.objects.filter(order=order).count() == len(final.timeline), what="the mirror complete")
    messages = [e.message for e in final.timeline]
    print(f"  final timeline: {len(messages)} entries; summaries: {[text for text in messages if SUMMARY.match(text)]}")
    for label, count in sent.items():
        summaries = [(int(more), int(total)) for more, kind, total in
                     (match.groups() for match in map(SUMMARY.match, messages) if match) if kind == label]
        # Three noted one by one, the rest in summaries that add up to what was sent.
        assert summaries and max(total for _, total in summaries) == count, (label, summaries)
        assert sum(more for more, _ in summaries) + 3 == count, (label, summaries)
    assert list(ApprovalDecision.objects.filter(order=order).values_list("approver_username", "request_id")) == [
        ("manager", "real-approve-flood")]
    # No worker failed a task. The server itself fails the task in flight when too many signals wait
    # behind it (FORCE_CLOSE_COMMAND by the history service): a new task then takes them all.
    failed = failed_tasks_in_every_run(order)
    print(f"  failed workflow tasks: {len(failed)}, all {set(failed)}")
    assert set(failed) <= {("WORKFLOW_TASK_FAILED_CAUSE_FORCE_CLOSE_COMMAND", "history-service")}
    # A task holding thousands of signals can pass the SDK's 2 s deadlock timeout on a busy
    # machine (seen once in CI's SQLite pass): the order must recover from it, as it did
    # above. When it does not, the order freezes: test_a_flood_queued_for_a_busy_worker_...
    print(f"  worker trouble: {worker_trouble(caplog) or 'none'}")


def worker_trouble(caplog) -> list[str]:
    """What the worker logged about failing the order's workflow tasks (a deadlock, an eviction it could not run)."""
    signs = ("Potential deadlock detected", "Failed running eviction job", "Timed out running eviction job")
    said = [f"{record.getMessage()[:80]}: {str(record.exc_info[1] if record.exc_info else '')[:80]}" for record in caplog.records]
    return [text for text in said if any(sign in text for sign in signs)]


# The server's default limit of signals per run (history.maximumSignalsPerExecution).
SIGNALS_PER_RUN = 10_000


def test_right_after_a_flood_that_fills_the_runs_signal_limit_the_manager_is_told_so_and_then_decides(stack, pending_order, manager):
    """The server takes at most 10,000 signals per run; the workflow continues as new once it has
    worked through them. Meanwhile a person's request is refused with the reason, not a 500 or
    "the workflow service is unavailable", and the same page's request counts afterwards."""
    order = pending_order()
    try:
        flood(stack, order, SIGNALS_PER_RUN)
        as_manager = browser_for(manager)
        response = decide(as_manager, order, "real-approve-after-flood")
        if response.status_code == 503:  # the run still holds its limit
            assert "more messages waiting than its workflow takes at once" in text_of(response)
            assert Order.objects.get(pk=order.pk).status == states.PENDING_APPROVAL
            wait_for(lambda: decide(as_manager, order, "real-approve-after-flood").status_code in (200, 202), timeout=120,
                     every=2, what="the approval taken once the flood is worked through")
        else:
            assert response.status_code in (200, 202), f"{response.status_code}: {text_of(response)[:300]}"
        assert finished(order.pk).state == states.FULFILLED
    finally:
        if Order.objects.get(pk=order.pk).status not in states.TERMINAL:
            terminate(order)  # so that the worker does not stop in the middle of digesting the flood


def terminate(order: Order) -> None:
    async def stop(client: TemporalClient) -> None:
        await client.get_workflow_handle(m.workflow_id_for(order.pk)).terminate(reason="end of the flood test")

    bridge.call(stop)


@pytest.mark.skipif(not os.environ.get("ORDER_DESK_FLOOD_DEADLOCK"), reason="a minute long; set ORDER_DESK_FLOOD_DEADLOCK=1 to run it")
@pytest.mark.xfail(strict=True, reason=(
    "Every signal of a workflow task is handled in one activation: 9,000 signals queued for a worker whose other "
    "threads are busy (as its activity threads are under load) take the activation past the SDK's 2 s deadlock "
    "timeout (TMPRL1101); after a few such failures the SDK cannot evict the run ('Eviction processed, but N tasks "
    "remain') and the order's workflow is frozen on that worker until it restarts."))
def test_a_flood_queued_for_a_busy_worker_does_not_freeze_the_order(stack, pending_order, manager, caplog):
    order = pending_order()
    stack.stop()
    flood(stack, order, 9_000)
    send_raw(order, m.SIGNAL_APPROVE, [m.DecisionSignal("manager", "flood-probe")])
    done = threading.Event()

    def busy() -> None:
        while not done.is_set():
            sum(i * i for i in range(2_000))

    for _ in range(2):
        threading.Thread(target=busy, daemon=True).start()
    worker = WorkerThread(stack.address, stack.task_queue).start()
    try:
        handled = wait_for(lambda: order_calls.request_verdict(order.pk, "flood-probe", wait=1).status == m.VERDICT_REFUSED,
                           timeout=40, what="the flood handled")
    except AssertionError:
        handled = False
    finally:
        done.set()
        terminate(order)
        worker.stop()
    assert handled and worker_trouble(caplog) == [], f"the order froze; the worker said: {worker_trouble(caplog)}"
