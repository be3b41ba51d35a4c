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

A customer's payloads go under that customer's own data key instead
(subject_keys.py): the SDK hands the codec the workflow id of each payload
(`with_context`), an order's workflows and activities use its customer's key,
and the payload names that key by a random id. Decoding needs no context, so
the codec endpoint reads them too; a key destroyed by an erasure decodes to a
tombstone ("personal data erased on ...") rather than an error.
"""
from __future__ import annotations

import asyncio
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
from django.conf import settings
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    DataConverter,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)

from temporal_bridge.client.subject_keys import OPERATIONAL, SUBJECT_KEY_ID, CachedSubjectKeys, ErasedKey, tombstone
from temporal_bridge.contract.payload_types import DeskPayloadConverter

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


class EncryptionCodec(PayloadCodec, WithSerializationContext):
    """AES-256-GCM over each whole serialized payload (its metadata encrypted too).

    Under the desk key, or, once the SDK gives it the workflow id of a
    customer's order (`with_context`) and `subjects` knows its key, under that
    customer's key.
    """

    def __init__(self, ring: KeyRing, subjects: CachedSubjectKeys | None = None, workflow_id: str | None = None) -> None:
        super().__init__()
        self.ring = ring
        self.subjects = subjects
        self.workflow_id = workflow_id

    def with_context(self, context: SerializationContext) -> EncryptionCodec:
        workflow_id = None
        if isinstance(context, (WorkflowSerializationContext, ActivitySerializationContext)):
            workflow_id = context.workflow_id
        if workflow_id == self.workflow_id:
            return self
        return EncryptionCodec(self.ring, self.subjects, workflow_id)

    async def encode(self, payloads: Iterable[Payload]) -> list[Payload]:
        payloads = list(payloads)
        subject = await self._subject_key() if payloads else None
        if subject is None:
            return [self.encrypt(p) for p in payloads]
        key_id, key = subject
        return [self.encrypt_for_subject(p, key_id, key) for p in payloads]

    async def decode(self, payloads: Iterable[Payload]) -> list[Payload]:
        payloads = list(payloads)
        subjects = self.subjects
        if subjects is None:
            return [self.decrypt(p) for p in payloads]
        wanted = {p.metadata[SUBJECT_KEY_ID].decode("utf-8", "replace") for p in payloads if SUBJECT_KEY_ID in p.metadata}
        found = {key_id: subjects.cached_key(key_id) for key_id in wanted}
        missing = sorted(key_id for key_id, key in found.items() if key is None)
        if missing:  # the database, on the codec's own threads: never the event loop
            found.update(await asyncio.get_running_loop().run_in_executor(
                subjects.pool, lambda: {key_id: subjects.key_for(key_id) for key_id in missing}))
        return [self.decrypt(p, subject_keys=found) for p in payloads]

    async def _subject_key(self) -> tuple[str, AESGCM | ErasedKey] | None:
        subjects, workflow_id = self.subjects, self.workflow_id
        if subjects is None or not workflow_id:
            return None
        key_id = subjects.cached_key_id(workflow_id)
        if key_id == OPERATIONAL:
            return None  # known to have no customer: the desk key, no lookup
        key = subjects.cached_key(key_id) if key_id else None
        if key_id is None or key is None:
            def lookup() -> tuple[str | None, AESGCM | ErasedKey | None]:
                found = subjects.key_id_for_workflow(workflow_id)
                return found, (subjects.key_for(found) if found else None)

            key_id, key = await asyncio.get_running_loop().run_in_executor(subjects.pool, lookup)
        if key_id is None:
            return None  # no customer behind this workflow: operational, the desk key
        if key is None:
            raise PayloadUndecodable(f"customer key {key_id!r} of workflow {workflow_id!r} is missing from the desk's database")
        return key_id, key

    def encrypt(self, payload: Payload) -> Payload:
        key_id = self.ring.encrypting_id
        nonce = os.urandom(NONCE_BYTES)
        sealed = self.ring.keys[key_id].encrypt(nonce, payload.SerializeToString(), key_id.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: key_id.encode()}, data=nonce + sealed)

    def encrypt_for_subject(self, payload: Payload, key_id: str, key: AESGCM | ErasedKey) -> Payload:
        if isinstance(key, ErasedKey):
            # Only a closed order's customer is erased; what is still written for it (a query's answer) holds nothing.
            return tombstone(key.erased_on)
        nonce = os.urandom(NONCE_BYTES)
        sealed = key.encrypt(nonce, payload.SerializeToString(), _subject_aad(key_id))
        return Payload(metadata={"encoding": ENCODING, SUBJECT_KEY_ID: key_id.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload, *, subject_keys: Mapping[str, AESGCM | ErasedKey | None] | None = None) -> Payload:
        """`subject_keys`: the customer keys already looked up (decode); without it they are read here, sync."""
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # recorded before encryption, or never ours: leave it as it is
        if SUBJECT_KEY_ID in payload.metadata:
            return self._decrypt_for_subject(payload, subject_keys)
        key_id = payload.metadata.get(KEY_ID, b"").decode("utf-8", "replace")
        key = self.ring.keys.get(key_id)
        if key is None:
            # Name the id, never a key: the operator must put that key back in the ring.
            raise PayloadUndecodable(f"payload encrypted with key {key_id!r}, which ORDER_DESK_PAYLOAD_KEYS does not list")
        return _open(key, payload, key_id, key_id.encode())

    def _decrypt_for_subject(self, payload: Payload, known: Mapping[str, AESGCM | ErasedKey | None] | None) -> Payload:
        key_id = payload.metadata[SUBJECT_KEY_ID].decode("utf-8", "replace")
        if known is not None:
            key = known.get(key_id)
        else:  # the codec endpoint's request thread: a sync view may read the database
            key = self.subjects.key_for(key_id) if self.subjects is not None else None
        if key is None:
            raise PayloadUndecodable(f"payload under customer key {key_id!r}, which the desk's database does not hold")
        if isinstance(key, ErasedKey):
            return tombstone(key.erased_on)
        return _open(key, payload, key_id, _subject_aad(key_id))


def _subject_aad(key_id: str) -> bytes:
    # Not the desk's associated data: a customer payload cannot pass for a desk one, nor the reverse.
    return b"subject:" + key_id.encode()


def _open(key: AESGCM, payload: Payload, key_id: str, aad: bytes) -> Payload:
    if len(payload.data) <= NONCE_BYTES:
        raise PayloadUndecodable("encrypted payload too short")
    try:
        return Payload.FromString(key.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], aad))
    except (InvalidTag, DecodeError) as err:
        raise PayloadUndecodable(f"payload under key {key_id!r} failed authentication (tampered or truncated)") from err


@functools.lru_cache(maxsize=4)
def _converter_for(spec: str, subjects: CachedSubjectKeys | None = None) -> DataConverter:
    # DeskPayloadConverter: the SDK's default, decoding our dataclasses with their type hints read once (payload_types.py).
    return dataclasses.replace(temporalio.converter.default(), payload_converter_class=DeskPayloadConverter,
                               payload_codec=EncryptionCodec(parse_keys(spec), subjects))


def data_converter(spec: str | None = None, subjects: CachedSubjectKeys | None = None) -> DataConverter:
    """The desk's data converter: the SDK's default, with our codec. Defaults to settings.ORDER_DESK_PAYLOAD_KEYS.

    Without `subjects` every payload goes under the desk key (tools, the
    codec's own tests); the desk's clients and workers pass the customer keys
    (connection.payload_converter).
    """
    if spec is None:
        spec = settings.ORDER_DESK_PAYLOAD_KEYS
    return _converter_for(spec, subjects)


def codec(spec: str | None = None, subjects: CachedSubjectKeys | None = None) -> EncryptionCodec:
    payload_codec = data_converter(spec, subjects).payload_codec
    assert isinstance(payload_codec, EncryptionCodec)
    return payload_codec
