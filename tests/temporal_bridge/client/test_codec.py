"""The payload codec: what leaves a desk process for Temporal is ciphertext
under a named key, old keys still read while listed, tampering is refused,
and payloads recorded before encryption pass through untouched."""
from __future__ import annotations

import asyncio
import base64

import pytest
import temporalio.converter
from temporalio.api.common.v1 import Payload

from temporal_bridge.client.codec import ENCODING, KEY_ID, PayloadKeysInvalid, PayloadUndecodable, codec, new_key_entry, parse_keys
from temporal_bridge.order import messages as m

pytestmark = pytest.mark.database_agnostic

K1, K2 = new_key_entry("k1"), new_key_entry("k2")


def plain(value) -> Payload:
    """A payload as the SDK's default converter makes it, before any codec."""
    return temporalio.converter.default().payload_converter.to_payloads([value])[0]


def encode(spec: str, payload: Payload) -> Payload:
    return asyncio.run(codec(spec).encode([payload]))[0]


def decode(spec: str, payload: Payload) -> Payload:
    return asyncio.run(codec(spec).decode([payload]))[0]


CUSTOMER_DATA = m.DecisionSignal("jane.customer-manager", "req-1", "Ship to 12 Baker Street, London")


def test_a_payload_leaves_encrypted_under_the_first_key_and_comes_back_identical():
    original = plain(CUSTOMER_DATA)
    sealed = encode(f"{K1},{K2}", original)

    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID] == b"k1"
    assert b"Baker Street" not in sealed.SerializeToString() and b"jane.customer" not in sealed.SerializeToString()
    assert decode(f"{K1},{K2}", sealed) == original


def test_the_same_payload_encrypts_differently_each_time():
    original = plain(CUSTOMER_DATA)
    assert encode(K1, original).data != encode(K1, original).data  # a fresh nonce: equal inputs are not recognisable


def test_after_rotation_old_payloads_still_decode_and_new_ones_use_the_new_key():
    before = encode(K1, plain(CUSTOMER_DATA))
    rotated = f"{K2},{K1}"

    assert decode(rotated, before) == plain(CUSTOMER_DATA)
    assert encode(rotated, plain(CUSTOMER_DATA)).metadata[KEY_ID] == b"k2"


def test_a_payload_under_a_key_dropped_from_the_ring_is_refused_by_name():
    before = encode(K1, plain(CUSTOMER_DATA))
    with pytest.raises(PayloadUndecodable, match="'k1'.*does not list"):
        decode(K2, before)


def test_a_tampered_payload_is_refused():
    sealed = encode(K1, plain(CUSTOMER_DATA))
    flipped = bytearray(sealed.data)
    flipped[-1] ^= 0x01
    with pytest.raises(PayloadUndecodable, match="failed authentication"):
        decode(K1, Payload(metadata=sealed.metadata, data=bytes(flipped)))


def test_a_payload_relabelled_with_another_key_id_is_refused_even_when_the_key_bytes_match():
    sealed = encode(K1, plain(CUSTOMER_DATA))
    same_key_other_id = "k2:" + K1.split(":", 1)[1]  # only the key id (the associated data) tells them apart
    relabelled = Payload(metadata={"encoding": ENCODING, KEY_ID: b"k2"}, data=sealed.data)
    with pytest.raises(PayloadUndecodable, match="failed authentication"):
        decode(f"{same_key_other_id},{K1}", relabelled)


def test_a_truncated_payload_is_refused():
    with pytest.raises(PayloadUndecodable, match="too short"):
        decode(K1, Payload(metadata={"encoding": ENCODING, KEY_ID: b"k1"}, data=b"short"))


def test_payloads_recorded_before_encryption_pass_through_decode_untouched():
    original = plain(CUSTOMER_DATA)
    assert decode(K1, original) is original
    null = plain(None)
    assert decode(K1, null) is null


@pytest.mark.parametrize("spec, reason", [
    ("", "is empty"),
    ("k1", "must be <key id>:<base64 key>"),
    ("bad id!:" + base64.b64encode(bytes(32)).decode(), "must be <key id>"),
    ("k1:not-base64!!", "is not base64"),
    ("k1:" + base64.b64encode(bytes(16)).decode(), "has 16 bytes; AES-256 needs 32"),
    (f"{K1},{K1}", "listed twice"),
])
def test_unusable_key_settings_are_refused_with_the_reason(spec, reason):
    with pytest.raises(PayloadKeysInvalid, match=reason):
        parse_keys(spec)


def test_the_reason_never_contains_the_key_itself():
    secret = base64.b64encode(b"x" * 31).decode()
    with pytest.raises(PayloadKeysInvalid) as refused:
        parse_keys(f"k1:{secret}")
    assert secret not in str(refused.value)
