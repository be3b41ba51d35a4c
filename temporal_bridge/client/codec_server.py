"""The codec endpoint: the Temporal UI shows decoded payloads to those allowed.

The Temporal codec server protocol: POST <endpoint>/decode (and /encode, used
when someone starts or signals a workflow from the UI) with JSON
{"payloads": [{"metadata": {...base64...}, "data": "base64"}]}, answered in
the same shape. The UI calls it from the browser (fetch, with an
`X-Namespace` header), so the browser's own Django session decides:

- the UI's origins only (settings.TEMPORAL_UI_ORIGINS): CORS headers,
  credentials included, go to those and no other; a request from another
  origin is refused before anything is read;
- a logged-in, active staff user with `orders.view_decoded_payloads`
  (Managers and Senior managers have it, superusers implicitly); anyone else
  gets a 403 and the payloads are never decrypted;
- the namespace the desk's keys serve, when the UI names one.

A customer's payloads decode under their own key (the payload names it; no
workflow context needed); once the customer is erased they decode to a
tombstone payload, "personal data erased on <date>", which the UI shows in
place of the data rather than an error.

The session cookie reaches us only when the UI sends credentials ("Include
cross-origin credentials" in its codec settings, or `codec.includeCredentials`
in a ui-server config) and the UI and the desk share a site (same host name,
any port: the cookie is SameSite=Lax). docs/operations.md, "The Temporal UI", says how.

CSRF: exempt, because the caller is another origin that cannot hold our
token; the origin check above is the CSRF defence (Django's own check is an
Origin check too), and decoding changes nothing.
"""
from __future__ import annotations

import json
import logging

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from google.protobuf import json_format
from temporalio.api.common.v1 import Payloads

from temporal_bridge.client.codec import EncryptionCodec, PayloadUndecodable
from temporal_bridge.client.connection import payload_converter

log = logging.getLogger(__name__)

PERMISSION = "orders.view_decoded_payloads"
# What the UI sends: JSON, and the namespace it shows.
ALLOWED_HEADERS = "Content-Type, X-Namespace"


def may_decode(user) -> bool:
    return bool(user.is_authenticated and user.is_active and user.is_staff and user.has_perm(PERMISSION))


def _cors(response: HttpResponse, origin: str | None) -> HttpResponse:
    # Responses differ per origin: no cache may hand one origin's answer to another.
    response["Vary"] = "Origin"
    if origin and origin in settings.TEMPORAL_UI_ORIGINS:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Credentials"] = "true"
    return response


def _refuse(status: int, message: str, origin: str | None) -> HttpResponse:
    return _cors(JsonResponse({"error": message}, status=status), origin)


def _endpoint(operation: str):
    @csrf_exempt
    @login_not_required  # anonymous callers get a JSON 403 here, not the login page
    def view(request: HttpRequest) -> HttpResponse:
        origin = request.headers.get("Origin")
        if origin is not None and origin not in settings.TEMPORAL_UI_ORIGINS:
            return JsonResponse({"error": "origin not allowed"}, status=403)  # and no CORS headers: the browser hides it
        if request.method == "OPTIONS":
            preflight = _cors(HttpResponse(status=204), origin)
            preflight["Access-Control-Allow-Methods"] = "POST, OPTIONS"
            preflight["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            preflight["Access-Control-Max-Age"] = "600"
            return preflight
        if request.method != "POST":
            response = _refuse(405, "POST only", origin)
            response["Allow"] = "POST, OPTIONS"
            return response
        if not may_decode(request.user):
            return _refuse(403, "log in to the Order Desk as staff allowed to view decoded workflow payloads", origin)
        namespace = request.headers.get("X-Namespace")
        if namespace and namespace != settings.TEMPORAL_NAMESPACE:
            return _refuse(403, f"this endpoint serves namespace {settings.TEMPORAL_NAMESPACE!r}", origin)
        try:
            payloads = json_format.ParseDict(json.loads(request.body), Payloads(), ignore_unknown_fields=True)
        except (ValueError, TypeError, AttributeError, RecursionError, json_format.ParseError):
            # Not JSON, not an object, or fields of the wrong type (bad base64 included).
            return _refuse(400, 'expected JSON {"payloads": [{"metadata": {...}, "data": "<base64>"}]}', origin)
        # The desk's codec with the customer keys: an erased customer's payload comes back as its tombstone.
        payload_codec = payload_converter().payload_codec
        assert isinstance(payload_codec, EncryptionCodec)
        try:
            converted = [payload_codec.decrypt(p) if operation == "decode" else payload_codec.encrypt(p) for p in payloads.payloads]
        except PayloadUndecodable as err:
            return _refuse(400, str(err), origin)
        # Who read customer data through the UI, for the audit; never the data itself.
        log.info("codec %s: %d payload(s) for %s (namespace %s)", operation, len(converted), request.user.get_username(),
                 namespace or settings.TEMPORAL_NAMESPACE)
        body = json_format.MessageToDict(Payloads(payloads=converted))
        return _cors(JsonResponse({"payloads": body.get("payloads", [])}), origin)

    view.__name__ = f"codec_{operation}"
    return view


decode = _endpoint("decode")
encode = _endpoint("encode")
