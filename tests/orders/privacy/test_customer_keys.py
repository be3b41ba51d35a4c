"""The codec over the desk's database: a customer's payloads under their own key, operational ones under
the desk key, the key read on the codec's own threads, and after erasure a tombstone, whatever copy of
the bytes is left and whichever key is tried."""
from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from io import StringIO

import pytest
import temporalio.converter
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.core.management import call_command
from django.db import connection, connections
from django.db.backends.signals import connection_created
from django.test import override_settings
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, WorkflowSerializationContext

from orders.models import Customer
from orders.privacy import keys
from orders.privacy.keys import CustomerKeys, customer_keys, customer_keys_rewrap
from orders.privacy.models import CustomerDataKey
from orders.privacy.services import customer_erase
from temporal_bridge.client.codec import DEV_KEYS, KEY_ID, NONCE_BYTES, PayloadUndecodable, codec, new_key_entry, parse_keys
from temporal_bridge.client.connection import payload_converter
from temporal_bridge.client.subject_keys import CODEC_THREAD_PREFIX, SUBJECT_KEY_ID, BoundedCache, CachedSubjectKeys, is_tombstone
from temporal_bridge.order import messages as m

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = "77 Larkspur Mews\nHollowell HW9 4QZ"


def plain(value) -> Payload:
    return temporalio.converter.default().payload_converter.to_payloads([value])[0]


def order_input(order) -> Payload:
    return plain(m.OrderWorkflowInput(order_id=order.pk, order_number=order.number, total="30.00", currency="USD",
                                      requested_by="clerk", requires_approval=True, approval_deadline_seconds=3600,
                                      shipping_address=ADDRESS))


def desk_codec():
    return payload_converter().payload_codec


def for_workflow(workflow_id: str):
    return desk_codec().with_context(WorkflowSerializationContext(namespace="default", workflow_id=workflow_id))


def encode(codec_, payload: Payload) -> Payload:
    return asyncio.run(codec_.encode([payload]))[0]


def decode(codec_, payload: Payload) -> Payload:
    return asyncio.run(codec_.decode([payload]))[0]


def test_an_orders_payload_goes_under_its_customers_own_key(customer, closed_order):
    sealed = encode(for_workflow(f"order-{closed_order.pk}"), order_input(closed_order))

    key = CustomerDataKey.objects.get(customer=customer)
    assert sealed.metadata[SUBJECT_KEY_ID] == key.key_id.encode() and KEY_ID not in sealed.metadata
    assert b"Larkspur" not in sealed.SerializeToString()
    assert key.key_id.startswith("ck-") and len(key.key_id) == 25  # random, 128 bits: it says nothing about the customer
    assert decode(desk_codec(), sealed) == order_input(closed_order)  # no context needed to read it back
    with pytest.raises(PayloadUndecodable):
        codec(DEV_KEYS).decrypt(sealed)  # the desk keys alone do not open it


def test_the_shipment_and_the_activities_of_an_order_use_the_same_key_other_workflows_the_desk_key(customer, closed_order):
    shipment = encode(for_workflow(f"order-{closed_order.pk}-shipment"), order_input(closed_order))
    activity = encode(desk_codec().with_context(ActivitySerializationContext(
        namespace="default", activity_id="1", activity_type="reserve_stock", activity_task_queue="orders",
        workflow_id=f"order-{closed_order.pk}", workflow_type="OrderWorkflow", is_local=False)), order_input(closed_order))
    bulk = encode(for_workflow("bulk-decision-abc"), order_input(closed_order))
    no_context = encode(desk_codec(), order_input(closed_order))

    split_parcel = encode(for_workflow(f"order-{closed_order.pk}-shipment-EAST"), order_input(closed_order))

    key_id = CustomerDataKey.objects.get(customer=customer).key_id.encode()
    assert shipment.metadata[SUBJECT_KEY_ID] == activity.metadata[SUBJECT_KEY_ID] == split_parcel.metadata[SUBJECT_KEY_ID] == key_id
    assert bulk.metadata[KEY_ID] == no_context.metadata[KEY_ID] == parse_keys(DEV_KEYS).encrypting_id.encode()
    assert SUBJECT_KEY_ID not in bulk.metadata


def test_a_workflow_id_naming_no_order_is_operational(db):
    sealed = encode(for_workflow("order-987654"), plain("hello"))
    assert KEY_ID in sealed.metadata


def test_each_customer_has_their_own_key(customer, closed_order, make_order):
    other = Customer.objects.create(name="Globex", email="ap@globex.example")
    theirs = make_order(customer=other)
    a = encode(for_workflow(f"order-{closed_order.pk}"), plain("x"))
    b = encode(for_workflow(f"order-{theirs.pk}"), plain("x"))
    assert a.metadata[SUBJECT_KEY_ID] != b.metadata[SUBJECT_KEY_ID]


def test_key_lookups_run_on_the_codecs_own_threads_never_the_event_loops(customer, closed_order):
    seen: list[str] = []

    class Watched(CustomerKeys):
        def key_id_for_workflow(self, workflow_id):
            seen.append(threading.current_thread().name)
            return super().key_id_for_workflow(workflow_id)

        def key_for(self, key_id):
            seen.append(threading.current_thread().name)
            return super().key_for(key_id)

    watched = codec(DEV_KEYS, CachedSubjectKeys(Watched())).with_context(
        WorkflowSerializationContext(namespace="default", workflow_id=f"order-{closed_order.pk}"))
    sealed = encode(watched, plain("x"))
    encode(watched, plain("y"))  # cached: no lookup at all

    assert len(seen) == 2 and all(name.startswith("payload-keys") for name in seen)
    assert decode(watched, sealed) == plain("x")


def _connections_opened(max_age: int, lookups: int) -> tuple[int, bool]:
    """(connections opened, one still open) for `lookups` successive key lookups on one codec thread."""
    opened: list[str] = []

    def count(sender, connection, **kwargs):
        if threading.current_thread().name.startswith(CODEC_THREAD_PREFIX):
            opened.append(connection.alias)

    settings_dict = connections.settings["default"]
    before = settings_dict["CONN_MAX_AGE"]
    settings_dict["CONN_MAX_AGE"] = max_age
    connection_created.connect(count)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix=CODEC_THREAD_PREFIX) as pool:
            for _ in range(lookups):
                pool.submit(CustomerKeys().key_for, "ck-not-a-key").result()
            still_open = pool.submit(lambda: connection.connection is not None).result()
            pool.submit(lambda: connection.close()).result()  # resolved on the codec thread
    finally:
        connection_created.disconnect(count)
        settings_dict["CONN_MAX_AGE"] = before
    return len(opened), still_open


def test_a_codec_thread_keeps_its_connection_between_lookups_as_conn_max_age_allows(db):
    # One connection for many orders' lookups, not a new one (a PostgreSQL backend started) for each.
    assert _connections_opened(60, 3) == (1, True)
    # Without persistent connections nothing is left open between lookups.
    assert _connections_opened(0, 3) == (3, False)


def test_the_key_cache_is_bounded_and_lets_keys_expire():
    cache: BoundedCache[str] = BoundedCache(size=3, ttl=None)
    for n in range(10):
        cache.put(f"k{n}", "v")
    assert len(cache) == 3 and cache.get("k0") is None and cache.get("k9") == "v"
    expiring: BoundedCache[str] = BoundedCache(size=3, ttl=0.0)
    expiring.put("k", "v")
    assert expiring.get("k") is None


def test_after_erasure_every_copy_decodes_to_a_tombstone_and_no_remaining_key_opens_it(protector, customer, closed_order,
                                                                                        make_order):
    backup = encode(for_workflow(f"order-{closed_order.pk}"), order_input(closed_order)).SerializeToString()  # a copy kept
    other = Customer.objects.create(name="Globex", email="ap@globex.example")
    encode(for_workflow(f"order-{make_order(customer=other).pk}"), plain("x"))  # another customer's live key

    outcome = customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")

    copy = Payload.FromString(backup)
    shown = decode(desk_codec(), copy)
    assert is_tombstone(shown)
    assert json.loads(shown.data) == f"personal data erased on {outcome.erased_at.date().isoformat()}"
    # Every key the desk still holds, desk keys and live customer keys alike: none opens the copy.
    remaining = [*parse_keys(DEV_KEYS).keys.values()]
    remaining += [AESGCM(keys.unwrap(row)) for row in CustomerDataKey.objects.filter(destroyed_at__isnull=True)]
    assert len(remaining) >= 2
    aad = b"subject:" + copy.metadata[SUBJECT_KEY_ID]
    for key in remaining:
        for associated in (aad, copy.metadata[SUBJECT_KEY_ID], None):
            with pytest.raises(InvalidTag):
                key.decrypt(copy.data[:NONCE_BYTES], copy.data[NONCE_BYTES:], associated)


def test_what_is_written_for_an_erased_customer_afterwards_is_a_tombstone_too(protector, customer, closed_order):
    customer_erase(customer_id=customer.pk, actor=protector, reason="Request DPR-2026-17")
    written = encode(for_workflow(f"order-{closed_order.pk}"), order_input(closed_order))
    assert is_tombstone(written) and b"Larkspur" not in written.SerializeToString()


def test_an_unknown_customer_key_is_a_clear_refusal_naming_only_the_id(db):
    stranger = Payload(metadata={"encoding": b"binary/encrypted", SUBJECT_KEY_ID: b"ck-nobody"}, data=b"\0" * 40)
    with pytest.raises(PayloadUndecodable, match="ck-nobody"):
        decode(desk_codec(), stranger)


def test_a_payload_relabelled_with_another_customers_key_id_fails_authentication(customer, closed_order, make_order):
    sealed = encode(for_workflow(f"order-{closed_order.pk}"), plain("secret"))
    other = Customer.objects.create(name="Globex", email="ap@globex.example")
    theirs = encode(for_workflow(f"order-{make_order(customer=other).pk}"), plain("x"))
    sealed.metadata[SUBJECT_KEY_ID] = theirs.metadata[SUBJECT_KEY_ID]
    with pytest.raises(PayloadUndecodable, match="failed authentication"):
        decode(desk_codec(), sealed)


def test_desk_key_payloads_recorded_before_customer_keys_still_decode(db):
    old = codec(DEV_KEYS).encrypt(plain("recorded under the desk key"))
    assert decode(desk_codec(), old) == plain("recorded under the desk key")


def test_rotating_the_desk_keys_rewraps_customer_keys_and_old_payloads_still_decode(customer, closed_order):
    sealed = encode(for_workflow(f"order-{closed_order.pk}"), order_input(closed_order))
    rotated = f"{new_key_entry('k2')},{DEV_KEYS}"
    with override_settings(ORDER_DESK_PAYLOAD_KEYS=rotated):
        assert customer_keys_rewrap() == 1
        assert customer_keys_rewrap() == 0  # done once
    assert CustomerDataKey.objects.get().wrapped_with == "k2"
    customer_keys.keys.clear()
    # The old desk key dropped: the customer key, rewrapped, still opens what was written before.
    with override_settings(ORDER_DESK_PAYLOAD_KEYS=rotated.split(",")[0]):
        assert AESGCM(keys.unwrap(CustomerDataKey.objects.get())).decrypt(
            sealed.data[:NONCE_BYTES], sealed.data[NONCE_BYTES:], b"subject:" + sealed.metadata[SUBJECT_KEY_ID])


def test_the_rewrap_command_reports_what_it_rewrapped(customer, closed_order):
    encode(for_workflow(f"order-{closed_order.pk}"), plain("x"))
    out = StringIO()
    with override_settings(ORDER_DESK_PAYLOAD_KEYS=f"{new_key_entry('k3')},{DEV_KEYS}"):
        call_command("rewrap_customer_keys", stdout=out)
    assert "Rewrapped 1 customer key(s)" in out.getvalue()
    assert CustomerDataKey.objects.get().wrapped_with == "k3"


@pytest.mark.django_db(transaction=False)
def test_while_the_database_is_down_a_key_read_before_is_used_past_its_ttl_and_an_unknown_one_fails():
    class Flaky:
        down = False

        def key_id_for_workflow(self, workflow_id):
            return "ck-a"

        def key_for(self, key_id):
            if self.down:
                raise ConnectionError("database unavailable")
            return b"\1" * 32

    store = Flaky()
    subjects = CachedSubjectKeys(store, ttl=0.0)  # every read goes to the store
    first = subjects.key_for("ck-a")
    store.down = True
    assert subjects.key_for("ck-a") is first
    with pytest.raises(ConnectionError):
        subjects.key_for("ck-never-read")


def test_a_workflow_of_no_customer_is_looked_up_once_an_order_not_yet_in_the_database_every_time(db):
    asked: list[str] = []

    class Counting(CustomerKeys):
        def key_id_for_workflow(self, workflow_id):
            asked.append(workflow_id)
            return super().key_id_for_workflow(workflow_id)

    counted = codec(DEV_KEYS, CachedSubjectKeys(Counting()))
    for workflow_id in ("bulk-decision-7", "bulk-decision-7", "order-424242", "order-424242"):
        sealed = encode(counted.with_context(WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)), plain("x"))
        assert KEY_ID in sealed.metadata  # the desk key
    assert asked == ["bulk-decision-7", "order-424242", "order-424242"]
