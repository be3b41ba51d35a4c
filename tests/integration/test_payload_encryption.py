"""Customer data is encrypted in the engine: an order run on a real dev server
leaves no customer name, address, email or user name in clear in any history
the server holds, while the desk's own keys read (and replay) all of it."""
from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from approvals.services import APPROVE, approval_decide
from orders import roles, services
from orders.models import Customer, Product
from temporal_bridge.client.codec import ENCODING
from temporal_bridge.client.connection import payload_converter
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.order.workflow import OrderWorkflow
from tests.conftest import make_user
from tests.integration.test_lifecycle import finished, snapshot_state, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

# Distinctive, so a match can only be this order's data.
CUSTOMER_NAME = "Quintessa Brightwater Ltd"
CUSTOMER_EMAIL = "q.brightwater@larkspur.example"
ADDRESS = "77 Larkspur Mews\nHollowell HW9 4QZ"
CLERK, MANAGER = "clerk-odalys-fenn", "manager-ignatius-roe"
PERSONAL = [CUSTOMER_NAME, CUSTOMER_EMAIL, "Larkspur Mews", "Hollowell", CLERK, MANAGER]


def raw_histories(address: str, task_queue: str) -> dict[str, WorkflowHistory]:
    """Every history of the stack's task queue, as a client without the desk's keys (the UI, the CLI, the server's DB) sees it."""
    async def fetch() -> dict[str, WorkflowHistory]:
        bare = await Client.connect(address)  # deliberately no codec
        found = {}
        async for execution in bare.list_workflows(f"TaskQueue = '{task_queue}'"):
            found[execution.id] = await bare.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        return found

    return asyncio.run(fetch())


def clear_text(history: WorkflowHistory) -> bytes:
    # The protobuf bytes hold every payload's data as stored: plain JSON would show here verbatim.
    return b"".join(event.SerializeToString() for event in history.events)


def test_the_server_holds_no_personal_data_in_clear_and_the_desk_reads_it_all(stack, temporal_address, policies):
    clerk = make_user(CLERK, roles.CLERKS)
    manager = make_user(MANAGER, roles.MANAGERS, is_staff=True)
    customer = Customer.objects.create(name=CUSTOMER_NAME, email=CUSTOMER_EMAIL, credit_limit=Decimal("100000"))
    product = Product.objects.create(sku="SRV-ENC", name="Server", price=Decimal("1000.00"), stock_on_hand=5)
    order = services.order_submit(customer=customer, lines=[services.LineRequest(product, 2)], created_by=clerk,
                                  shipping_address=ADDRESS, note=f"Call {CUSTOMER_NAME} before delivery")
    wait_for(lambda: snapshot_state(order.pk, states.PENDING_APPROVAL), what="pending approval")
    order.refresh_from_db()
    approval_decide(order=order, user=manager, decision=APPROVE, comment=f"Approved for {CUSTOMER_NAME}", request_id="enc-approve-1")
    assert finished(order.pk).state == states.FULFILLED

    histories = raw_histories(temporal_address, stack.task_queue)
    order_history = histories[m.workflow_id_for(order.pk)]

    for workflow_id, history in histories.items():
        raw = clear_text(history)
        leaked = [text for text in PERSONAL if text.encode() in raw or text.replace("\n", "\\n").encode() in raw]
        assert not leaked, f"{workflow_id} holds {leaked} in clear"

    # Not vacuous: the data is there, encrypted, and the desk's keys open it.
    started = order_history.events[0].workflow_execution_started_event_attributes.input.payloads[0]
    assert started.metadata["encoding"] == ENCODING
    # Under the customer's own key (orders/privacy/): the desk's codec, with the customer keys, opens it.
    opened: Payload = asyncio.run(payload_converter().payload_codec.decode([started]))[0]
    assert b"Larkspur Mews" in opened.data and CLERK.encode() in opened.data

    # Replays with the desk's converter (as check_replay does); without the keys the workflow cannot even read its input.
    replayed = asyncio.run(Replayer(workflows=[OrderWorkflow], data_converter=payload_converter()).replay_workflow(order_history))
    assert replayed.replay_failure is None
    blind = asyncio.run(Replayer(workflows=[OrderWorkflow]).replay_workflow(order_history, raise_on_replay_failure=False))
    assert blind.replay_failure is not None
