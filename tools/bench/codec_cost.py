"""What payload encryption costs per payload: bytes added and CPU time to encrypt and decrypt an order's input,
under the desk key and under a customer's own key (the key cache's cost: a hit, and a miss's hop to the codec's thread).

python -m tools.bench.codec_cost [--n 20000]
Figures only (no assertion): comparable run to run on one machine. The customer keys come from an in-memory
store here: a miss in production adds one indexed query and an unwrap on the codec's thread (once per order
and process for the key id, once per KEY_TTL for the key).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import time

import temporalio.converter
from temporalio.converter import WorkflowSerializationContext

from temporal_bridge.client.codec import KEY_BYTES, codec, new_key_entry
from temporal_bridge.client.subject_keys import CachedSubjectKeys
from temporal_bridge.order import messages as m


class InMemoryKeys:
    """One customer key per order, made on first use: the store without the database."""

    def __init__(self) -> None:
        self.keys: dict[str, bytes] = {}

    def key_id_for_workflow(self, workflow_id: str) -> str | None:
        key_id = "ck-" + workflow_id
        self.keys.setdefault(key_id, os.urandom(KEY_BYTES))
        return key_id

    def key_for(self, key_id: str) -> bytes | None:
        return self.keys.get(key_id)


def per_payload(seconds: float, n: int) -> str:
    return f"{seconds / n * 1e6:.1f} us"


async def desk_key_through_the_codec(spec: str, plain, n: int) -> float:
    """The same async path as below, under the desk key: the baseline for the customer key's figures."""
    desk = codec(spec)
    started = time.perf_counter()
    for _ in range(n):
        await desk.encode([plain])
    return time.perf_counter() - started


async def customer_key_costs(spec: str, plain, n: int) -> tuple[float, float, float]:
    """(encrypt with a cache hit, decrypt with a cache hit, encrypt with a cache miss), in seconds for n payloads."""
    subjects = CachedSubjectKeys(InMemoryKeys(), size=n + 10)
    warm = codec(spec, subjects).with_context(WorkflowSerializationContext(namespace="default", workflow_id="order-1"))
    await warm.encode([plain])
    started = time.perf_counter()
    sealed = [(await warm.encode([plain]))[0] for _ in range(n)]
    hit = time.perf_counter() - started
    started = time.perf_counter()
    for one in sealed:
        await warm.decode([one])
    decrypt = time.perf_counter() - started
    base = codec(spec, subjects)
    started = time.perf_counter()
    for order_id in range(2, n + 2):  # a new order each time: both lookups miss and hop to the codec's thread
        await base.with_context(WorkflowSerializationContext(namespace="default", workflow_id=f"order-{order_id}")).encode([plain])
    miss = time.perf_counter() - started
    subjects.pool.shutdown()
    return hit, decrypt, miss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=20000)
    n = parser.parse_args().n
    # A typical order input: an address and a note, as order_submit starts the workflow.
    order_input = m.OrderWorkflowInput(
        order_id=123, order_number="OD-000123", total="12600.00", currency="USD", requested_by="clerk", requires_approval=True,
        approval_deadline_seconds=172800, shipping_address="77 Larkspur Mews\nHollowell HW9 4QZ", note="Leave at reception. " * 10,
    )
    plain = temporalio.converter.default().payload_converter.to_payloads([order_input])[0]
    spec = new_key_entry("bench")
    payload_codec = codec(spec)
    started = time.perf_counter()
    sealed = [payload_codec.encrypt(plain) for _ in range(n)]
    encrypt = time.perf_counter() - started
    started = time.perf_counter()
    for one in sealed:
        payload_codec.decrypt(one)
    decrypt = time.perf_counter() - started
    size = sealed[0].ByteSize()
    print(f"order input payload: {plain.ByteSize()} B plain, {size} B encrypted (+{size - plain.ByteSize()} B)")
    print(f"desk key, per payload: encrypt {per_payload(encrypt, n)}, decrypt {per_payload(decrypt, n)} (n={n}, one thread)")
    desk_async = asyncio.run(desk_key_through_the_codec(spec, plain, n))
    hit, customer_decrypt, miss = asyncio.run(customer_key_costs(spec, plain, n))
    print(f"desk key through the async codec: encrypt {per_payload(desk_async, n)}")
    print(f"customer key, per payload through the codec (context, key cache): encrypt {per_payload(hit, n)} with a cache hit, "
          f"decrypt {per_payload(customer_decrypt, n)}; a cache miss {per_payload(miss, n)} (in-memory store, thread hop included)")


if __name__ == "__main__":
    main()
