"""The codec endpoint the Temporal UI calls: decoded payloads for staff with
the permission, a JSON 403 for everyone else, CORS for the UI's origin only,
and a 400 (never a 500) for anything that is not a payload we can open."""
from __future__ import annotations

import asyncio
import json

import pytest
from django.test import Client
from google.protobuf import json_format
from temporalio.api.common.v1 import Payload, Payloads

from orders import roles
from temporal_bridge.client.codec import ENCODING, KEY_ID, codec, new_key_entry
from tests.conftest import make_user
from tests.temporal_bridge.client.test_codec import CUSTOMER_DATA, plain

UI = "http://localhost:8233"
DECODE, ENCODE = "/temporal-codec/decode", "/temporal-codec/encode"


def as_json(*payloads: Payload) -> str:
    return json.dumps(json_format.MessageToDict(Payloads(payloads=list(payloads))))


def encrypted() -> Payload:
    return asyncio.run(codec().encode([plain(CUSTOMER_DATA)]))[0]


def post(client: Client, url: str, body: str, **headers):
    return client.post(url, data=body, content_type="application/json", headers={"Origin": UI, "X-Namespace": "default", **headers})


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def decoded_payloads(response) -> list[Payload]:
    return list(json_format.ParseDict(response.json(), Payloads()).payloads)


@pytest.fixture
def ui_settings(settings):
    settings.TEMPORAL_NAMESPACE = "default"
    settings.TEMPORAL_UI_ORIGINS = [UI, "http://127.0.0.1:8233"]
    return settings


def test_a_staff_manager_reads_the_payload_in_clear(ui_settings, manager):
    response = post(logged_in(manager), DECODE, as_json(encrypted()))

    assert response.status_code == 200
    assert decoded_payloads(response) == [plain(CUSTOMER_DATA)]
    assert b"Baker Street" in decoded_payloads(response)[0].data
    assert response["Access-Control-Allow-Origin"] == UI
    assert response["Access-Control-Allow-Credentials"] == "true"


def test_an_anonymous_caller_gets_a_json_403_and_no_payload(ui_settings, db):
    response = post(Client(), DECODE, as_json(encrypted()))

    assert response.status_code == 403
    assert "payloads" not in response.json() and "error" in response.json()
    assert b"Baker Street" not in response.content


@pytest.mark.parametrize("who", ["clerk", "auditor", "manager_without_staff", "staff_without_permission"])
def test_users_without_staff_and_the_permission_are_refused(ui_settings, db, who):
    user = {
        "clerk": lambda: make_user("clerk", roles.CLERKS),
        "auditor": lambda: make_user("auditor", roles.AUDITORS),
        # The permission alone is not enough: the Temporal UI is a back-office tool.
        "manager_without_staff": lambda: make_user("m", roles.MANAGERS, is_staff=False),
        "staff_without_permission": lambda: make_user("s", roles.CLERKS, is_staff=True),
    }[who]()

    response = post(logged_in(user), DECODE, as_json(encrypted()))

    assert response.status_code == 403
    assert b"Baker Street" not in response.content


def test_a_superuser_may_decode(ui_settings, db):
    admin = make_user("admin", is_staff=True, is_superuser=True)
    assert post(logged_in(admin), DECODE, as_json(encrypted())).status_code == 200


def test_another_origin_is_refused_without_cors_headers_even_for_staff(ui_settings, manager):
    response = post(logged_in(manager), DECODE, as_json(encrypted()), Origin="https://evil.example")

    assert response.status_code == 403
    assert "Access-Control-Allow-Origin" not in response
    assert b"Baker Street" not in response.content


def test_a_request_without_origin_gets_no_cors_headers(ui_settings, manager):
    client = logged_in(manager)
    response = client.post(DECODE, data=as_json(encrypted()), content_type="application/json")

    assert response.status_code == 200  # the CLI or curl with a session: no browser, no CORS
    assert "Access-Control-Allow-Origin" not in response


def test_the_browser_preflight_is_answered_for_the_ui_origin_only(ui_settings, db):
    preflight = Client().options(DECODE, headers={
        "Origin": UI, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type,x-namespace"})

    assert preflight.status_code == 204
    assert preflight["Access-Control-Allow-Origin"] == UI
    assert preflight["Access-Control-Allow-Credentials"] == "true"
    assert "POST" in preflight["Access-Control-Allow-Methods"]
    assert {"content-type", "x-namespace"} <= {h.strip().lower() for h in preflight["Access-Control-Allow-Headers"].split(",")}

    refused = Client().options(DECODE, headers={"Origin": "http://localhost:9999", "Access-Control-Request-Method": "POST"})
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused


def test_the_other_ui_host_name_is_an_allowed_origin_too(ui_settings, manager):
    response = post(logged_in(manager), DECODE, as_json(encrypted()), Origin="http://127.0.0.1:8233")
    assert response["Access-Control-Allow-Origin"] == "http://127.0.0.1:8233"


def test_another_namespace_is_refused(ui_settings, manager):
    response = post(logged_in(manager), DECODE, as_json(encrypted()), **{"X-Namespace": "payments"})
    assert response.status_code == 403


def test_encode_then_decode_through_the_endpoint(ui_settings, manager):
    client = logged_in(manager)
    sealed = decoded_payloads(post(client, ENCODE, as_json(plain(CUSTOMER_DATA))))
    assert sealed[0].metadata["encoding"] == ENCODING and b"Baker Street" not in sealed[0].data

    assert decoded_payloads(post(client, DECODE, as_json(*sealed))) == [plain(CUSTOMER_DATA)]


def test_unencrypted_payloads_come_back_as_they_are(ui_settings, manager):
    response = post(logged_in(manager), DECODE, as_json(plain(CUSTOMER_DATA), plain(None)))
    assert decoded_payloads(response) == [plain(CUSTOMER_DATA), plain(None)]


def tampered() -> str:
    sealed = encrypted()
    data = bytearray(sealed.data)
    data[20] ^= 0xFF
    return as_json(Payload(metadata=sealed.metadata, data=bytes(data)))


def foreign_key() -> str:
    sealed = asyncio.run(codec(new_key_entry("someone-else")).encode([plain(CUSTOMER_DATA)]))[0]
    return as_json(sealed)


@pytest.mark.parametrize("body", [
    pytest.param("not json", id="not-json"),
    pytest.param("[1, 2]", id="a-list"),
    pytest.param('{"payloads": "nope"}', id="payloads-not-a-list"),
    pytest.param('{"payloads": [{"data": "***not base64***"}]}', id="bad-base64"),
    pytest.param('{"payloads": [{"metadata": {"encoding": 5}}]}', id="metadata-of-the-wrong-type"),
    pytest.param("[" * 100000, id="deeply-nested"),
    pytest.param(None, id="tampered"),
    pytest.param("foreign", id="unknown-key-id"),
])
def test_anything_but_a_payload_we_can_open_is_a_400(ui_settings, manager, body):
    body = {None: tampered, "foreign": foreign_key}.get(body, lambda: body)()
    response = post(logged_in(manager), DECODE, body)

    assert response.status_code == 400
    assert "error" in response.json()
    assert response["Access-Control-Allow-Origin"] == UI  # so the UI can show why


def test_the_unknown_key_is_named_so_the_operator_knows_what_to_restore(ui_settings, manager):
    assert "someone-else" in post(logged_in(manager), DECODE, foreign_key()).json()["error"]


def test_get_is_not_the_protocol(ui_settings, manager):
    response = logged_in(manager).get(DECODE, headers={"Origin": UI})
    assert response.status_code == 405


def test_payload_metadata_key_id_is_in_every_encoded_payload(ui_settings, manager):
    sealed = decoded_payloads(post(logged_in(manager), ENCODE, as_json(plain(1), plain("two"))))
    assert [p.metadata[KEY_ID] for p in sealed] == [codec().ring.encrypting_id.encode()] * 2
