"""Customer data encrypted before it reaches Temporal: the desk's payload codec.

Workflow and activity inputs, results, signals and queries carry customers'
names, shipping addresses and people's user names. The Temporal server stores
them in its database and shows them in its UI, so every client and worker of
the desk encrypts each payload with AES-256-GCM before it leaves the process
(temporal_bridge/client/connection.py applies `data_converter()` to every
`Client.connect`). The server only ever holds ciphertext; the codec endpoint
(codec_server.py) decodes for the people allowed to read it.

Keys come from ORDER_DESK_PAYLOAD_KEYS: "kid2:<base64 32 bytes>,kid1:<...>".
The first key encrypts, every listed key decrypts, and each payload names its
key in its metadata, so a key is rotated by putting a new one first and
dropping the old one only when no open history (nor retained one you want to
read) still uses it. The key id is also the cipher's associated data: a
payload relabelled with another key id fails authentication like a tampered
one.

Payloads without our encoding pass through decode untouched: histories
recorded before encryption (and the stored test histories) still decode and
replay.
"""
from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import temporalio.converter
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12  # the GCM standard nonce; random per payload
KEY_BYTES = 32  # AES-256
_KEY_ID_SHAPE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

# The key of DEBUG (make run) and the test settings only. It is public, in
# this repository: anything it encrypted is readable by anyone. Production
# refuses to run on it (settings.py and the `orders_desk.payload_keys` check).
DEV_KEY_ID = "dev-insecure"
DEV_KEYS = f"{DEV_KEY_ID}:" + base64.b64encode(b"order-desk-dev-only-payload-key!").decode()


class PayloadKeysInvalid(ValueError):
    """ORDER_DESK_PAYLOAD_KEYS cannot be used (shape, key length, duplicate id)."""


class PayloadUndecodable(ValueError):
    """An encrypted payload that none of our keys opens: unknown key id, tampered, or truncated."""


@dataclass(frozen=True)
class KeyRing:
    encrypting_id: str
    keys: Mapping[str, AESGCM]


def parse_keys(spec: str) -> KeyRing:
    """Read "kid:base64key,kid:base64key"; the first encrypts."""
    keys: dict[str, AESGCM] = {}
    order: list[str] = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not _KEY_ID_SHAPE.match(key_id):
            raise PayloadKeysInvalid(
                f"ORDER_DESK_PAYLOAD_KEYS: entry {len(order) + 1} must be <key id>:<base64 key>, the id of letters, digits, '.', '_', '-'.")
        if key_id in keys:
            raise PayloadKeysInvalid(f"ORDER_DESK_PAYLOAD_KEYS: key id {key_id!r} is listed twice.")
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError) as err:
            raise PayloadKeysInvalid(f"ORDER_DESK_PAYLOAD_KEYS: key {key_id!r} is not base64.") from err
        if len(raw) != KEY_BYTES:
            raise PayloadKeysInvalid(f"ORDER_DESK_PAYLOAD_KEYS: key {key_id!r} has {len(raw)} bytes; AES-256 needs {KEY_BYTES}.")
        keys[key_id] = AESGCM(raw)
        order.append(key_id)
    if not order:
        raise PayloadKeysInvalid("ORDER_DESK_PAYLOAD_KEYS is empty: set at least one <key id>:<base64 32-byte key>.")
    return KeyRing(encrypting_id=order[0], keys=keys)


def new_key_entry(key_id: str) -> str:
    """A fresh "kid:base64key" entry, for the rotation procedure (docs/deployment.md)."""
    return f"{key_id}:{base64.b64encode(os.urandom(KEY_BYTES)).decode()}"


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each whole serialized payload (its metadata encrypted too)."""

    def __init__(self, ring: KeyRing) -> None:
        super().__init__()
        self.ring = ring

    async def encode(self, payloads: Iterable[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Iterable[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.ring.encrypting_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.ring.keys[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # recorded before encryption, or never ours: leave it as it is
        key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
        key = self.ring.keys.get(key_id)
        if key is None:
            # Name the id, never a key: the operator must put that key back in the ring.
            raise PayloadUndecodable(f"payload encrypted with key {key_id!r}, which ORDER_DESK_PAYLOAD_KEYS does not list")
        if len(payload.data) <= NONCE_BYTES:
            raise PayloadUndecodable("encrypted payload too short")
        try:
            plain = key.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
            return Payload.FromString(plain)
        except (InvalidTag, DecodeError) as err:
            raise PayloadUndecodable(f"payload under key {key_id!r} failed authentication (tampered or truncated)") from err


@functools.lru_cache(maxsize=4)
def _converter_for(spec: str) -> DataConverter:
    return dataclasses.replace(temporalio.converter.default(), payload_codec=EncryptionCodec(parse_keys(spec)))


def data_converter(spec: str | None = None) -> DataConverter:
    """The desk's data converter: the SDK's default, with our codec. Defaults to settings.ORDER_DESK_PAYLOAD_KEYS."""
    if spec is None:
        from django.conf import settings

        spec = settings.ORDER_DESK_PAYLOAD_KEYS
    return _converter_for(spec)


def codec(spec: str | None = None) -> EncryptionCodec:
    payload_codec = data_converter(spec).payload_codec
    assert isinstance(payload_codec, EncryptionCodec)
    return payload_codec
