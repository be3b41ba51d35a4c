"""Customer data keys: made on first use, stored wrapped by the desk keys, destroyed by erasure.

The codec (temporal_bridge/client/codec.py) asks `CustomerKeys` through its
cache and its own threads; nothing here runs on an event loop. A key is
wrapped (AES-256-GCM) by the desk's encrypting key of ORDER_DESK_PAYLOAD_KEYS
and names that key, so rotating the desk keys is a rewrap of these rows
(`manage.py rewrap_customer_keys`), never a re-encryption of any history.
"""
from __future__ import annotations

import os
import secrets
import threading

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connection, transaction

from orders.models import Order
from orders.privacy.models import CustomerDataKey
from orders.privacy.selectors import ORDER_WORKFLOW
from temporal_bridge.client.codec import KEY_BYTES, NONCE_BYTES, KeyRing, PayloadUndecodable, parse_keys
from temporal_bridge.client.subject_keys import CODEC_THREAD_PREFIX, OPERATIONAL, CachedSubjectKeys, ErasedKey


def new_key_id() -> str:
    return "ck-" + secrets.token_urlsafe(16)


def _ring() -> KeyRing:
    return parse_keys(settings.ORDER_DESK_PAYLOAD_KEYS)


def _aad(key_id: str) -> bytes:
    return b"customer-data-key:" + key_id.encode()


def wrap(raw: bytes, key_id: str, ring: KeyRing | None = None) -> tuple[bytes, str]:
    ring = ring or _ring()
    nonce = os.urandom(NONCE_BYTES)
    return nonce + ring.keys[ring.encrypting_id].encrypt(nonce, raw, _aad(key_id)), ring.encrypting_id


def unwrap(row: CustomerDataKey, ring: KeyRing | None = None) -> bytes:
    ring = ring or _ring()
    desk_key = ring.keys.get(row.wrapped_with)
    if desk_key is None:
        raise PayloadUndecodable(f"customer key {row.key_id!r} is wrapped by desk key {row.wrapped_with!r}, "
                                 "which ORDER_DESK_PAYLOAD_KEYS does not list: rewrap before dropping a desk key")
    wrapped = bytes(row.wrapped_key)
    return desk_key.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _aad(row.key_id))


def customer_key_ensure(*, customer_id: int) -> CustomerDataKey:
    """The customer's key row, made now if they have none (two processes racing make one)."""
    existing = CustomerDataKey.objects.filter(customer_id=customer_id).first()
    if existing is not None:
        return existing
    key_id = new_key_id()
    wrapped, wrapped_with = wrap(os.urandom(KEY_BYTES), key_id)
    try:
        with transaction.atomic():
            return CustomerDataKey.objects.create(customer_id=customer_id, key_id=key_id, wrapped_key=wrapped,
                                                  wrapped_with=wrapped_with)
    except IntegrityError:
        return CustomerDataKey.objects.get(customer_id=customer_id)


class CustomerKeys:
    """The codec's SubjectKeys, over the desk's database."""

    def key_id_for_workflow(self, workflow_id: str) -> str | None:
        match = ORDER_WORKFLOW.match(workflow_id)
        if match is None:
            return OPERATIONAL
        with _own_connection():
            customer_id = Order.objects.filter(pk=int(match.group(1))).values_list("customer_id", flat=True).first()
            if customer_id is None:
                return None
            return customer_key_ensure(customer_id=customer_id).key_id

    def key_for(self, key_id: str) -> bytes | ErasedKey | None:
        with _own_connection():
            row = CustomerDataKey.objects.filter(key_id=key_id).first()
            if row is None:
                return None
            if row.destroyed_at is not None:
                return ErasedKey(row.destroyed_at.date().isoformat())
            return unwrap(row)


class _own_connection:
    """The codec's threads have no request cycle: each lookup starts and ends as a request would.

    Its connection is kept as long as CONN_MAX_AGE allows, like a request
    thread's: a new connection per lookup cost PostgreSQL a backend start
    for every order each process saw (the bench's worker profile). Only on the
    codec's threads: a request thread (the codec endpoint) has its own cycle.
    """

    def __enter__(self) -> None:
        if _on_codec_thread():
            close_old_connections()

    def __exit__(self, *exc) -> None:
        if _on_codec_thread():
            connection.close_if_unusable_or_obsolete()


def _on_codec_thread() -> bool:
    return threading.current_thread().name.startswith(CODEC_THREAD_PREFIX)


def customer_keys_rewrap() -> int:
    """Rewrap every live key under the desk's current encrypting key (after a rotation). Returns how many changed."""
    ring = _ring()
    changed = 0
    for row in CustomerDataKey.objects.filter(destroyed_at__isnull=True).exclude(wrapped_with=ring.encrypting_id).iterator():
        with transaction.atomic():
            locked = CustomerDataKey.objects.select_for_update().get(pk=row.pk)
            if locked.destroyed_at is not None or locked.wrapped_with == ring.encrypting_id:
                continue
            locked.wrapped_key, locked.wrapped_with = wrap(unwrap(locked, ring), locked.key_id, ring)
            locked.save(update_fields=["wrapped_key", "wrapped_with"])
            changed += 1
    return changed


# The process's one cache of customer keys, shared by its clients and workers (connection.payload_converter).
customer_keys = CachedSubjectKeys(CustomerKeys())
