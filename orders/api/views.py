"""Intake API views: create an order, read its live status, cancel it.

Each view authenticates the key, checks the key user's permission, validates
the body with per-field messages and calls the same services as the pages.
Every answer is JSON, errors included; see orders.api.schema for the contract.
"""
from __future__ import annotations

import functools
import json
import logging
import re
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from config import logs
from orders import services
from orders.api import auth, schema
from orders.api.errors import ApiError, error_response
from orders.api.models import ApiKey
from orders.api.services import IdempotencyKeyReused, api_order_create, request_fingerprint
from orders.api.validation import Errors, clean_cancel, clean_create
from orders.delivery import services as parcels
from orders.exceptions import OrderError
from orders.intents.services import IntentConflict
from orders.inventory import selectors as inventory
from orders.inventory.selectors import OrderPlan
from orders.models import Order
from orders.selectors import LiveState, order_live_state
from orders.timeline.mirror import mirror_snapshot
from temporal_bridge.order import messages as m

log = logging.getLogger(__name__)

ORDER_NUMBER = re.compile(r"^OD-\d{1,18}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # printable ASCII, no spaces


def api_view(*methods: str) -> Callable:
    """JSON in, JSON out, for bearer-token clients: no CSRF, no login redirect."""

    def decorate(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method not in methods:
                return error_response(405, "method_not_allowed", f"Use {' or '.join(methods)}.", headers={"Allow": ", ".join(methods)})
            try:
                key = auth.authenticate(request)
                return view(request, key, *args, **kwargs)
            except ApiError as err:
                return err.response()
            except PermissionDenied as err:
                return error_response(403, "permission_denied", str(err) or "Not allowed.")
            except OrderError as err:
                return error_response(err.status_code, _error_code(err), err.message)

        return csrf_exempt(login_not_required(never_cache(wrapper)))

    return decorate


def _error_code(err: OrderError) -> str:
    codes = {400: "invalid_request", 404: "not_found", 409: "conflict", 422: "idempotency_key_reused", 503: "unavailable"}
    return codes.get(err.status_code, "error")


def _json_body(request: HttpRequest) -> Any:
    content_type = request.content_type or ""
    if content_type != "application/json" and not content_type.endswith("+json"):
        raise ApiError(415, "unsupported_media_type", "Send a JSON body with Content-Type: application/json.")
    try:
        body = request.body
    except RequestDataTooBig as err:
        raise ApiError(413, "too_large", "The body is too large.") from err
    try:
        return json.loads(body or b"null")
    except (ValueError, RecursionError) as err:
        raise ApiError(400, "invalid_json", "The body is not valid JSON.", fields={"body": [f"Invalid JSON: {err}"[:200]]}) from err


def _idempotency_key(request: HttpRequest) -> str | None:
    value = request.headers.get("Idempotency-Key")
    if value is not None and not IDEMPOTENCY_KEY.match(value):
        raise ApiError(400, "validation_failed", "The request is not valid; see fields.",
                       fields={"Idempotency-Key": ["1 to 255 printable ASCII characters, no spaces."]})
    return value


def _invalid(errors: Errors) -> ApiError:
    return ApiError(400, "validation_failed", "The request is not valid; see fields.", fields=errors.fields)


def _order_for(key: ApiKey, number: str) -> Order:
    """An order the key's user created; any other answers 404, as if it did not exist."""
    if not ORDER_NUMBER.match(number):
        raise ApiError(404, "not_found", f"No order {number[:40]!r}.")
    order = (
        Order.objects.select_related("customer", "created_by").prefetch_related("lines__product")
        .filter(number=number, created_by=key.user).first()
    )
    if order is None:
        raise ApiError(404, "not_found", f"No order {number}.")
    logs.bind(order_number=order.number, workflow_id=order.workflow_id)
    return order


@api_view("POST")
def order_create(request: HttpRequest, key: ApiKey) -> HttpResponse:
    auth.require_perm(key, "orders.add_order", "This API key's user may not create orders.")
    idempotency_key = _idempotency_key(request)
    data = _json_body(request)
    cleaned, errors = clean_create(data)
    if errors:
        raise _invalid(errors)
    order, created = api_order_create(api_key=key, request=cleaned, idempotency_key=idempotency_key, fingerprint=request_fingerprint(data))
    logs.bind(order_number=order.number, workflow_id=order.workflow_id)
    if created:
        log.info("Order %s created through the API by key %s", order.number, key.prefix)
    order = Order.objects.select_related("customer").prefetch_related("lines__product").get(pk=order.pk)
    response = JsonResponse(order_body(order, LiveState(mirror_snapshot(order), "mirror")), status=201)
    response["Location"] = reverse("api:order", args=[order.number])
    if not created:
        response["Idempotent-Replayed"] = "true"
    return response


@api_view("GET")
def order_status(request: HttpRequest, key: ApiKey, number: str) -> HttpResponse:
    auth.require_perm(key, "orders.view_order", "This API key's user may not read orders.")
    order = _order_for(key, number)
    return JsonResponse(order_body(order, order_live_state(order)))


@api_view("POST")
def order_cancel(request: HttpRequest, key: ApiKey, number: str) -> HttpResponse:
    auth.require_perm(key, "orders.cancel_order", "This API key's user may not cancel orders.")
    order = _order_for(key, number)
    reason, errors = clean_cancel(_json_body(request))
    if errors:
        raise _invalid(errors)
    # A retried cancel with the same Idempotency-Key carries the same request
    # id, and the workflow ignores a request id it has seen.
    idempotency_key = _idempotency_key(request)
    request_id = f"api-{key.pk}-{request_fingerprint(idempotency_key)[:32]}" if idempotency_key else services.new_request_id()
    try:
        verdict = services.order_request_cancel(order=order, user=key.user, reason=reason, request_id=request_id)
    except IntentConflict as err:
        # The key's request id names another request on this order (another reason): as a reused key on create.
        raise IdempotencyKeyReused(
            f"Idempotency-Key {idempotency_key!r} was used for a different cancel of {order.number}; nothing was sent. "
            "Use a new key for a new request."
        ) from err
    if verdict.status == m.VERDICT_REFUSED:
        return error_response(409, "refused", f"The order's workflow refused the cancel: {verdict.reason}")
    log.info("Cancel of %s requested through the API by key %s (%s)", order.number, key.prefix, verdict.status)
    body = order_body(order, order_live_state(order, fresh=True))
    # Accepted, or queued while no worker runs: either way it is in the workflow's hands.
    body["cancel_requested"] = True
    return JsonResponse(body, status=202)


@login_not_required
@never_cache
def openapi(request: HttpRequest) -> HttpResponse:
    if request.method not in ("GET", "HEAD"):
        return error_response(405, "method_not_allowed", "Use GET.", headers={"Allow": "GET, HEAD"})
    return JsonResponse(schema.document(), json_dumps_params={"indent": 1})


def order_body(order: Order, live: LiveState) -> dict:
    """The order as the API shows it; state, step and timeline are the live ones when available."""
    snap = live.snapshot
    url = reverse("api:order", args=[order.number])
    return {
        "number": order.number,
        "status": snap.state,
        "status_label": live.state_label,
        "step": snap.step,
        "progress": snap.progress,
        "source": "workflow" if live.source == "workflow" else "database",
        "notice": live.notice,
        "customer": {"id": order.customer.pk, "name": order.customer.name, "email": order.customer.email},
        "lines": [
            {"sku": line.product.sku, "name": line.product.name, "quantity": line.quantity, "unit_price": str(line.unit_price),
             "dropped": line.dropped}
            for line in order.lines.all()
        ],
        "total": str(order.total),
        "currency": order.currency,
        "priority": snap.priority,
        "shipping_address": snap.shipping_address,
        "note": snap.note,
        "requires_approval": snap.requires_approval,
        "approval_deadline": snap.approval_deadline,
        "tracking_number": snap.tracking_number,
        "failure_reason": snap.failure_reason,
        "cancel_requested": snap.cancel_requested,
        "can_cancel": m.ACTION_CANCEL in snap.allowed_actions,
        "timeline": [{"at": entry.at, "kind": entry.kind, "message": entry.message} for entry in snap.timeline],
        "fulfilment_plan": plan_body(inventory.order_plan(order)),
        "parcels": [{"warehouse": p.warehouse, "carrier": p.carrier, "tracking_number": p.tracking_number, "status": p.status,
                     "late": p.promise_missed} for p in parcels.parcels_for(order)],
        "created_at": order.created_at.isoformat(),
        "links": {"self": url, "cancel": reverse("api:cancel", args=[order.number])},
    }


def plan_body(plan: OrderPlan | None) -> dict | None:
    if plan is None:
        return None
    return {
        "source": plan.source,
        "fulfilments": [{"warehouse": f.warehouse, "status": f.status, "lines": [{"sku": sku, "quantity": qty} for sku, qty in f.lines]}
                        for f in plan.fulfilments],
        "unavailable": [{"sku": sku, "quantity": qty} for sku, qty in plan.unavailable],
    }


@login_not_required
@csrf_exempt
def not_found(request: HttpRequest) -> HttpResponse:
    return error_response(404, "not_found", "No such API endpoint; see /api/v1/openapi.json.")
