"""Whose key a payload goes under: a data key per customer, and what an erased one leaves.

A customer's personal data (name, address, notes, the run's summary) travels
in the payloads of their order's workflows (`order-<pk>`, its shipment
`order-<pk>-shipment`, their activities). The codec learns the workflow id
from the SDK's serialization context and encrypts those payloads under the
customer's own data key; erasing the customer destroys that key (orders/
privacy/), and every copy of those payloads, in Temporal's database, its
archive or a backup, is unreadable from then on (crypto-shredding).

The keys live in the desk's database (wrapped by the desk keys); the codec
asks a `SubjectKeys` for them. Lookups are sync ORM work, so the codec runs
them on a small thread pool of its own (never on the worker's event loop) and
keeps what it learnt in a bounded cache: a workflow's key id (or that it has
none) for good (an order never changes customer), a key for KEY_TTL seconds, so an erasure
reaches every process's cache within that time even if no one tells it.
"""
from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload

# The payload metadata that names a customer key: a random id, no personal data.
SUBJECT_KEY_ID = "encryption-subject-key-id"
TOMBSTONE_TEXT = "personal data erased on "
# How long a process may go on using a key (or its absence) it read: the bound
# on how long after an erasure another process could still read a payload.
KEY_TTL = 60.0
CACHE_SIZE = 4096
CODEC_THREAD_PREFIX = "payload-keys"
# Cached for a workflow with no customer behind it (a bulk decision, the digest): its payloads take the desk key.
OPERATIONAL = ""

_V = TypeVar("_V")


@dataclass(frozen=True)
class ErasedKey:
    """A key destroyed by an erasure: what decoding under it says instead."""

    erased_on: str  # ISO date


class SubjectKeys(Protocol):
    """The desk's store of customer data keys (orders.privacy.keys.CustomerKeys)."""

    def key_id_for_workflow(self, workflow_id: str) -> str | None:
        """The key id for this workflow's personal data (created on first use); OPERATIONAL for a workflow that
        is no customer's (for good); None for an order the database does not hold (the desk key, this time)."""

    def key_for(self, key_id: str) -> bytes | ErasedKey | None:
        """The raw 256-bit key, an ErasedKey, or None when the store never had that id."""


def tombstone(erased_on: str) -> Payload:
    """What an erased customer's payload decodes to: readable, and saying why it is empty.

    A plain JSON string and nothing else in its metadata, so the Temporal UI
    and `temporal workflow show` print it as text like any other payload.
    """
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(TOMBSTONE_TEXT + erased_on).encode())


def is_tombstone(payload: Payload) -> bool:
    return payload.metadata.get("encoding") == b"json/plain" and payload.data.startswith(b'"' + TOMBSTONE_TEXT.encode())


class BoundedCache(Generic[_V]):
    """A thread-safe LRU with an optional time to live per entry."""

    def __init__(self, size: int, ttl: float | None) -> None:
        self.size, self.ttl = size, ttl
        self._items: OrderedDict[str, tuple[float, _V]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: str) -> _V | None:
        """The value, unless it is missing or older than the time to live (then kept, for `stale`)."""
        with self._lock:
            item = self._items.get(key)
            if item is None or (self.ttl is not None and time.monotonic() - item[0] > self.ttl):
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]

    def stale(self, key: str) -> _V | None:
        """The value however old: what a lookup falls back on while the store does not answer."""
        with self._lock:
            item = self._items.get(key)
            return None if item is None else item[1]

    def put(self, key: str, value: _V) -> None:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.size:
                self._items.popitem(last=False)

    def drop(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class CachedSubjectKeys:
    """A SubjectKeys behind the process's caches, and the pool its lookups run on."""

    def __init__(self, store: SubjectKeys, *, size: int = CACHE_SIZE, ttl: float = KEY_TTL) -> None:
        self.store = store
        self.workflow_keys: BoundedCache[str] = BoundedCache(size, None)
        self.keys: BoundedCache[AESGCM | ErasedKey] = BoundedCache(size, ttl)
        # Two threads: lookups are rare (a cache miss per order and process) and each holds a database connection.
        self.pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix=CODEC_THREAD_PREFIX)

    def key_id_for_workflow(self, workflow_id: str) -> str | None:
        key_id = self.workflow_keys.get(workflow_id)
        if key_id is None:
            key_id = self.store.key_id_for_workflow(workflow_id)
            if key_id is not None:  # an order not (yet) in the database is asked again next time
                self.workflow_keys.put(workflow_id, key_id)
        return key_id or None

    def key_for(self, key_id: str) -> AESGCM | ErasedKey | None:
        key = self.keys.get(key_id)
        if key is None:
            try:
                stored = self.store.key_for(key_id)
            except Exception:
                # The database is down: a key read before (the erasure it could miss needs that database too)
                # keeps the workflow tasks of running orders going; without one the error stands and the task is retried.
                key = self.keys.stale(key_id)
                if key is None:
                    raise
                return key
            if stored is None:
                return None
            key = stored if isinstance(stored, ErasedKey) else AESGCM(stored)
            self.keys.put(key_id, key)
        return key

    def cached_key_id(self, workflow_id: str) -> str | None:
        """The key id, OPERATIONAL when the workflow has none (the desk key), None when not known yet."""
        return self.workflow_keys.get(workflow_id)

    def cached_key(self, key_id: str) -> AESGCM | ErasedKey | None:
        return self.keys.get(key_id)

    def forget(self, key_id: str) -> None:
        """After an erasure in this process: no cached copy of the key survives it here."""
        self.keys.drop(key_id)
