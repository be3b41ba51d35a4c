"""Crypto-shredding on a real dev server: an order of a customer runs to the end under the customer's
own key; a copy of its raw history and of the server's database file is kept ("a backup"); the customer
is erased; then the history holds the same bytes, which decode to a tombstone through the desk's codec and
through `temporal workflow show` via the codec endpoint, and no key the desk still holds opens the copy.
Search attributes and workflow ids never held the customer's data."""
from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from datetime import timedelta
from decimal import Decimal
from io import StringIO

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client as Browser
from django.utils import timezone
from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowExecutionStatus

from orders import roles, services
from orders.models import Customer, Order, Product
from orders.privacy import services as privacy
from orders.privacy.keys import unwrap
from orders.privacy.models import CustomerDataKey
from temporal_bridge.client.codec import NONCE_BYTES, parse_keys
from temporal_bridge.client.connection import payload_converter
from temporal_bridge.client.subject_keys import SUBJECT_KEY_ID, is_tombstone
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.runtime import devserver
from tests.conftest import make_user
from tests.integration.stack import dev_server, live_stack
from tests.integration.test_lifecycle import finished, waiting_for_decision
from tests.integration.test_payload_encryption import clear_text, raw_histories

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

CUSTOMER_NAME = "Perpetua Quillfeather GmbH"
CUSTOMER_EMAIL = "p.quillfeather@saltmarsh.example"
ADDRESS = "9 Saltmarsh Lane\nWrenbury WB3 7XY"
PERSONAL = [CUSTOMER_NAME, CUSTOMER_EMAIL, "Saltmarsh", "Wrenbury", "Quillfeather"]


def subject_payloads(history) -> list[Payload]:
    """Every payload of the history under a customer key, wherever it sits in an event."""
    found: list[Payload] = []

    def walk(node) -> None:
        if isinstance(node, Payload):
            if SUBJECT_KEY_ID in node.metadata:
                found.append(node)
        elif isinstance(node, Message):
            for field, value in node.ListFields():
                if field.type == field.TYPE_MESSAGE:
                    walk(value)
        elif hasattr(node, "values"):  # a map field
            for value in node.values():
                walk(value)
        else:  # a repeated field
            for value in node:
                walk(value)

    for event in history.events:
        walk(event)
    return found


def history_bytes(history) -> bytes:
    # deterministic: a payload's metadata is a map, whose order plain serialization does not fix.
    return b"".join(event.SerializeToString(deterministic=True) for event in history.events)


def remaining_keys() -> list[AESGCM]:
    """Every key the desk still holds: its desk keys and every customer key not destroyed."""
    keys = list(parse_keys(django_settings.ORDER_DESK_PAYLOAD_KEYS).keys.values())
    keys += [AESGCM(unwrap(row)) for row in CustomerDataKey.objects.filter(destroyed_at__isnull=True)]
    return keys


def opens(key: AESGCM, payload: Payload) -> bool:
    key_id = payload.metadata[SUBJECT_KEY_ID]
    for aad in (b"subject:" + key_id, key_id, None):
        try:
            key.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], aad)
            return True
        except InvalidTag:
            continue
    return False


def test_erasure_shreds_the_customers_payloads_in_the_history_and_in_a_backup(tmp_path, settings, policies, live_server):
    clerk = make_user("clerk", roles.CLERKS)
    manager = make_user("manager", roles.MANAGERS, is_staff=True)
    make_user("dpo", roles.DATA_PROTECTION, is_staff=True)
    customer = Customer.objects.create(name=CUSTOMER_NAME, email=CUSTOMER_EMAIL, credit_limit=Decimal("100000"))
    other = Customer.objects.create(name="Globex", email="ap@globex.example", credit_limit=Decimal("100000"))
    product = Product.objects.create(sku="SHRED-1", name="Widget", price=Decimal("100.00"), stock_on_hand=50)
    db_file = tmp_path / "temporal.db"

    with dev_server(db_file=db_file) as address, live_stack(address, settings) as worker:
        order = services.order_submit(customer=customer, lines=[services.LineRequest(product, 2)], created_by=clerk,
                                      shipping_address=ADDRESS, note=f"Ask for {CUSTOMER_NAME} at the gate")
        kept = services.order_submit(customer=other, lines=[services.LineRequest(product, 1)], created_by=clerk,
                                     shipping_address="1 Globex Plaza")
        assert finished(order.pk).state == finished(kept.pk).state == states.FULFILLED

        histories = raw_histories(address, worker.task_queue)
        history = histories[m.workflow_id_for(order.pk)]
        key_id = CustomerDataKey.objects.get(customer=customer).key_id
        sealed = subject_payloads(history)
        started = history.events[0]
        # The input and the run's summary are the customer's, under their key; so is every activity's input and result.
        assert started.workflow_execution_started_event_attributes.input.payloads[0].metadata[SUBJECT_KEY_ID] == key_id.encode()
        assert started.user_metadata.summary.metadata[SUBJECT_KEY_ID] == key_id.encode()
        assert len(sealed) >= 8 and {p.metadata[SUBJECT_KEY_ID] for p in sealed} == {key_id.encode()}

        # Search attributes and workflow ids, of every workflow on the queue: never the customer's data.
        visible = asyncio.run(_every_search_attribute_and_id(address, worker.task_queue))
        assert f"CustomerId={customer.pk}" in visible and "OrderNumber=" in visible  # they are there, and say nothing personal
        assert not [text for text in PERSONAL if text.lower() in visible.lower()]
        for workflow_id, raw in ((wid, clear_text(h)) for wid, h in histories.items()):
            assert not [text for text in PERSONAL if text.encode() in raw], workflow_id

        # The "backup": the raw history as the server holds it, and the server's own database file.
        backup = history_bytes(history)
        shutil.copytree(tmp_path, tmp_path.parent / f"{tmp_path.name}-backup")
        backup_db = b"".join(p.read_bytes() for p in (tmp_path.parent / f"{tmp_path.name}-backup").glob("temporal.db*"))
        in_backup = [p for p in sealed if p.data in backup_db]
        assert in_backup, "the server's database file holds the customer's ciphertexts"
        opened = asyncio.run(payload_converter().payload_codec.decode([sealed[0]]))[0]
        assert b"Saltmarsh" in opened.data  # before erasure the desk reads them

        # Its workflow has completed (finished() read its result): as if the two minutes' grace had passed.
        Order.objects.filter(pk=order.pk).update(updated_at=timezone.now() - timedelta(minutes=3))
        call_command("erase_customer", str(customer.pk), reason="Request DPR-2026-21", username="dpo")

        after = raw_histories(address, worker.task_queue)[m.workflow_id_for(order.pk)]
        assert history_bytes(after) == backup  # the history is immutable: the same bytes, now unreadable
        shown = asyncio.run(payload_converter().payload_codec.decode(subject_payloads(after)))
        assert all(is_tombstone(p) for p in shown)
        assert json.loads(shown[0].data).startswith("personal data erased on ")
        # The other customer's order still reads.
        theirs = subject_payloads(histories[m.workflow_id_for(kept.pk)])
        assert b"Globex Plaza" in asyncio.run(payload_converter().payload_codec.decode(theirs[:1]))[0].data

        # No key the desk still holds opens any of that customer's ciphertexts, in the history or the backup.
        keys = remaining_keys()
        assert len(keys) >= 2
        assert not [p for p in sealed for key in keys if opens(key, p)]

        # `temporal workflow show` through the codec endpoint, as an operator with a desk session.
        browser = Browser()
        browser.force_login(manager)
        shown_by_cli = subprocess.run(
            [str(devserver.temporal_cli_path()), "workflow", "show", "-w", m.workflow_id_for(order.pk), "--address", address,
             "--codec-endpoint", f"{live_server.url}/temporal-codec",
             "--codec-header", f"Cookie={django_settings.SESSION_COOKIE_NAME}={browser.cookies[django_settings.SESSION_COOKIE_NAME].value}",
             "--detailed"],
            capture_output=True, text=True, timeout=60)
        assert shown_by_cli.returncode == 0, shown_by_cli.stderr
        assert "personal data erased on" in shown_by_cli.stdout
        assert not [text for text in PERSONAL if text in shown_by_cli.stdout]
        assert "WorkflowExecutionCompleted" in shown_by_cli.stdout  # the timeline's kinds stay

        # check_replay leaves the erased customer's history out (it cannot replay: its input is a tombstone), replays the rest.
        out = StringIO()
        call_command("check_replay", address=address, query=f"TaskQueue = '{worker.task_queue}'", stdout=out)
        assert "Left out 1 histories of erased customers" in out.getvalue() and ", 0 failed" in out.getvalue()


async def _every_search_attribute_and_id(address: str, task_queue: str) -> str:
    """Every workflow id and every search attribute (name=value) on the queue, as one text."""
    client = await Client.connect(address)
    seen: list[str] = []
    async for execution in client.list_workflows(f"TaskQueue = '{task_queue}'"):
        seen.append(execution.id)
        seen.extend(f"{pair.key.name}={pair.value}" for pair in execution.typed_search_attributes)
    return "\n".join(seen)


def test_stop_running_cancels_a_pending_order_with_its_workflow_then_erases(stack, policies, monkeypatch):
    monkeypatch.setattr(privacy, "CLOSING_GRACE", timedelta(0))  # the workflow's end is awaited below, not guessed
    clerk = make_user("clerk", roles.CLERKS)
    make_user("dpo-finance", roles.DATA_PROTECTION, roles.FINANCE, is_staff=True)
    customer = Customer.objects.create(name=CUSTOMER_NAME, email=CUSTOMER_EMAIL, credit_limit=Decimal("100000"))
    product = Product.objects.create(sku="SHRED-2", name="Server", price=Decimal("1000.00"), stock_on_hand=5)
    order = services.order_submit(customer=customer, lines=[services.LineRequest(product, 2)], created_by=clerk,
                                  shipping_address=ADDRESS)  # 2,000: waits for a manager
    waiting_for_decision(order.pk)

    out = StringIO()
    call_command("erase_customer", str(customer.pk), reason="Request DPR-2026-22", username="dpo-finance", stop_running=True,
                 wait=60, stdout=out)

    assert f"{order.number}: cancel accepted" in out.getvalue() and f"Customer {customer.pk} erased on" in out.getvalue()
    # The workflow ended by the cancel (completed, not terminated); its result is the customer's, now a tombstone.
    assert asyncio.run(_status(stack.address, m.workflow_id_for(order.pk))) == WorkflowExecutionStatus.COMPLETED
    order.refresh_from_db()
    assert order.status == states.CANCELLED and order.shipping_address == f"Erased customer {customer.pk}"
    assert CustomerDataKey.objects.get(customer=customer).destroyed_at is not None


async def _status(address: str, workflow_id: str) -> WorkflowExecutionStatus | None:
    client = await Client.connect(address)
    return (await client.get_workflow_handle(workflow_id).describe()).status
