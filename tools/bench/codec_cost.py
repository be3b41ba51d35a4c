"""What payload encryption costs per payload: bytes added and CPU time to encrypt and decrypt an order's input.

python -m tools.bench.codec_cost [--n 20000]
Figures only (no assertion): comparable run to run on one machine.
"""
from __future__ import annotations

import argparse
import time

import temporalio.converter

from temporal_bridge.client.codec import codec, new_key_entry
from temporal_bridge.order import messages as m


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
    payload_codec = codec(new_key_entry("bench"))
    started = time.perf_counter()
    sealed = [payload_codec.encrypt(plain) for _ in range(n)]
    encrypt = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for one in sealed:
        payload_codec.decrypt(one)
    decrypt = (time.perf_counter() - started) / n
    size = sealed[0].ByteSize()
    print(f"order input payload: {plain.ByteSize()} B plain, {size} B encrypted (+{size - plain.ByteSize()} B)")
    print(f"per payload: encrypt {encrypt * 1e6:.1f} us, decrypt {decrypt * 1e6:.1f} us (n={n}, one thread)")


if __name__ == "__main__":
    main()
