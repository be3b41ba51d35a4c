"""The OpenAPI 3 document of the intake API, served at /api/v1/openapi.json.

Written by hand, next to the checks it describes (orders.api.validation,
whose limits it imports); tests/orders/test_api_schema.py fuzzes the running
API against it with schemathesis, so the two cannot drift apart silently.
"""
from __future__ import annotations

from orders.api import validation as v
from orders.delivery.models import ParcelStatus
from orders.models import Priority
from temporal_bridge.order import states

JSON = "application/json"


def _error(description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _text(max_length: int, description: str, *, min_length: int = 0) -> dict:
    schema = {"type": "string", "maxLength": max_length, "description": description}
    if min_length:
        schema["minLength"] = min_length
    return schema


AUTH_ERRORS = {
    "401": _error("Missing, malformed, unknown or revoked API key. Carries WWW-Authenticate: Bearer."),
    "403": _error("The key's user lacks the permission for this operation."),
}
ORDER_NUMBER = {
    "name": "number", "in": "path", "required": True, "description": "The order number, e.g. OD-000042.",
    "schema": {"type": "string", "pattern": r"^OD-\d{1,18}$"}, "example": "OD-000001",
}
IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": "Any unique string per intended request (e.g. a UUID). A retry with the same key and body "
                   "returns the first result instead of acting twice; the same key with another body is refused (422).",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[!-~]+$"},
}


def document() -> dict:
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "Order Desk intake API",
            "version": "1.0.0",
            "description": (
                "Create orders from a storefront, follow their live status, cancel them. "
                "Authenticate with `Authorization: Bearer <API key>`; keys are issued in the admin "
                "(API keys) and act as the user they name, with its permissions. A key sees the orders "
                "its user created. Every error is JSON: {code, message, fields}."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"apiKey": []}],
        "paths": {
            "/orders": {
                "post": {
                    "operationId": "createOrder",
                    "summary": "Submit an order",
                    "description": "Writes the order and starts its workflow. Orders at or above the approval "
                                   "threshold wait for a manager; the rest are approved automatically.",
                    "parameters": [IDEMPOTENCY_KEY],
                    "requestBody": {"required": True, "content": {JSON: {"schema": {"$ref": "#/components/schemas/CreateOrder"}}}},
                    "responses": {
                        "201": {
                            "description": "Created (or, for a retried Idempotency-Key, the order the first request created: "
                                           "then with Idempotent-Replayed: true).",
                            "headers": {
                                "Location": {"schema": {"type": "string"}, "description": "The order's status URL."},
                                "Idempotent-Replayed": {"schema": {"type": "string", "enum": ["true"]}, "required": False},
                            },
                            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Order"}}},
                        },
                        "400": _error("Invalid JSON or invalid fields; `fields` maps each field (e.g. lines[0].sku) to its messages."),
                        **AUTH_ERRORS,
                        "415": _error("The body is not JSON."),
                        "413": _error("The body is larger than the server accepts."),
                        "422": _error("This Idempotency-Key was used with a different request body."),
                    },
                },
            },
            "/orders/{number}": {
                "get": {
                    "operationId": "getOrder",
                    "summary": "An order's live status",
                    "description": "State, step, progress and timeline from the order's workflow while it runs; from the "
                                   "database when it has finished or no worker answers (`source`, `notice` say so).",
                    "parameters": [ORDER_NUMBER],
                    "responses": {
                        "200": {"description": "The order.", "content": {JSON: {"schema": {"$ref": "#/components/schemas/Order"}}}},
                        **AUTH_ERRORS,
                        "404": _error("No such order among those the key's user created."),
                    },
                },
            },
            "/orders/{number}/cancel": {
                "post": {
                    "operationId": "cancelOrder",
                    "summary": "Ask to cancel an order",
                    "description": "Accepted until fulfilment ends. The workflow cancels and compensates (refund, stock "
                                   "release) on its own time: follow the status until it reads cancelled.",
                    "parameters": [ORDER_NUMBER, IDEMPOTENCY_KEY],
                    "requestBody": {"required": True, "content": {JSON: {"schema": {"$ref": "#/components/schemas/CancelOrder"}}}},
                    "responses": {
                        "202": {"description": "Cancel requested.", "content": {JSON: {"schema": {"$ref": "#/components/schemas/Order"}}}},
                        "400": _error("No reason, or invalid JSON."),
                        **AUTH_ERRORS,
                        "404": _error("No such order among those the key's user created."),
                        "409": _error("The order can no longer be cancelled (it finished, or fulfilment ended), "
                                      "or its workflow refused the cancel (the reason is in the message)."),
                        "415": _error("The body is not JSON."),
                        "413": _error("The body is larger than the server accepts."),
                        "422": _error("This Idempotency-Key was used for a different cancel of this order; nothing was sent."),
                        "503": _error(
                            "The workflow service is unavailable, or the order's workflow has not started yet; nothing was changed."
                        ),
                    },
                },
            },
        },
        "components": {
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer", "description": "od_<prefix>_<secret>, from the admin."}},
            "schemas": {
                "CreateOrder": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["lines", "shipping_address"],
                    "description": "Name the customer by exactly one of customer_id and customer_email.",
                    "example": {
                        "customer_email": "buyer@acme.example", "lines": [{"sku": "WID-1", "quantity": 2}],
                        "shipping_address": "1 Main Street, Springfield", "priority": "normal", "note": "Leave at the back door",
                    },
                    "properties": {
                        "customer_id": {"type": "integer", "minimum": 1, "maximum": v.MAX_ID},
                        "customer_email": {"type": "string", "format": "email", "maxLength": v.MAX_EMAIL},
                        "lines": {
                            "type": "array", "minItems": 1, "maxItems": v.MAX_LINES,
                            "description": "Lines with the same SKU are merged.",
                            "items": {
                                "type": "object", "additionalProperties": False, "required": ["sku", "quantity"],
                                "properties": {
                                    "sku": _text(v.MAX_SKU, "A product's SKU.", min_length=1),
                                    "quantity": {"type": "integer", "minimum": 1, "maximum": v.MAX_QUANTITY},
                                },
                            },
                        },
                        "shipping_address": _text(v.MAX_ADDRESS, "Not blank.", min_length=1),
                        "priority": {"type": "string", "enum": list(Priority.values), "default": Priority.NORMAL},
                        "note": _text(v.MAX_NOTE, "Free text for the warehouse."),
                    },
                },
                "CancelOrder": {
                    "type": "object", "additionalProperties": False, "required": ["reason"],
                    "properties": {"reason": _text(v.MAX_REASON, "Why; required, not blank.", min_length=1)},
                    "example": {"reason": "The customer cancelled the purchase."},
                },
                "Order": {
                    "type": "object",
                    "required": ["number", "status", "status_label", "step", "progress", "source", "customer", "lines", "total",
                                 "currency", "priority", "shipping_address", "note", "requires_approval", "approval_deadline",
                                 "tracking_number", "failure_reason", "cancel_requested", "can_cancel", "timeline",
                                 "fulfilment_plan", "parcels", "created_at", "links"],
                    "properties": {
                        "number": {"type": "string"},
                        "status": {"type": "string", "enum": sorted(states.LABELS)},
                        "status_label": {"type": "string"},
                        "step": {"type": "string"},
                        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                        "source": {"type": "string", "enum": ["workflow", "database"],
                                   "description": "workflow: live from the running workflow; database: its last recorded state."},
                        "notice": {"type": "string"},
                        "customer": {
                            "type": "object", "required": ["id", "name", "email"],
                            "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "email": {"type": "string"}},
                        },
                        "lines": {
                            "type": "array",
                            "items": {
                                "type": "object", "required": ["sku", "name", "quantity", "unit_price"],
                                "properties": {"sku": {"type": "string"}, "name": {"type": "string"}, "quantity": {"type": "integer"},
                                               "unit_price": {"type": "string", "description": "Decimal, e.g. 10.00"},
                                               "dropped": {"type": "boolean",
                                                           "description": "In no warehouse and dropped: not in the total."}},
                            },
                        },
                        "total": {"type": "string", "description": "Decimal, e.g. 30.00"},
                        "currency": {"type": "string"},
                        "priority": {"type": "string", "enum": list(Priority.values)},
                        "shipping_address": {"type": "string"},
                        "note": {"type": "string"},
                        "requires_approval": {"type": "boolean"},
                        "approval_deadline": {"type": "string", "nullable": True, "description": "ISO 8601"},
                        "tracking_number": {"type": "string"},
                        "failure_reason": {"type": "string"},
                        "cancel_requested": {"type": "boolean"},
                        "can_cancel": {"type": "boolean"},
                        "timeline": {
                            "type": "array",
                            "items": {
                                "type": "object", "required": ["at", "kind", "message"],
                                "properties": {"at": {"type": "string"}, "kind": {"type": "string"}, "message": {"type": "string"}},
                            },
                        },
                        "fulfilment_plan": {
                            "type": "object", "nullable": True, "required": ["source", "fulfilments", "unavailable"],
                            "description": "Which warehouse ships which lines: reserved (as the reservation chose) or preview "
                                           "(from stock now, before the reservation); null for a finished order that reserved nothing.",
                            "properties": {
                                "source": {"type": "string", "enum": ["reserved", "preview"]},
                                "fulfilments": {"type": "array", "items": {
                                    "type": "object", "required": ["warehouse", "status", "lines"],
                                    "properties": {"warehouse": {"type": "string"},
                                                   "status": {"type": "string", "description": "held, shipped or released once reserved"},
                                                   "lines": {"type": "array", "items": {"$ref": "#/components/schemas/PlanLine"}}}}},
                                "unavailable": {"type": "array", "items": {"$ref": "#/components/schemas/PlanLine"}},
                            },
                        },
                        "parcels": {
                            "type": "array",
                            "description": "The parcels followed so far: none, the order's only one (warehouse \"\"), or one per "
                                           "warehouse of a split order, each with its own tracking number.",
                            "items": {
                                "type": "object", "required": ["warehouse", "carrier", "tracking_number", "status", "late"],
                                "properties": {"warehouse": {"type": "string"}, "carrier": {"type": "string"},
                                               "tracking_number": {"type": "string"},
                                               "status": {"type": "string", "enum": list(ParcelStatus.values)},
                                               "late": {"type": "boolean", "description": "Not delivered by its promise."}},
                            },
                        },
                        "created_at": {"type": "string", "description": "ISO 8601"},
                        "links": {
                            "type": "object", "required": ["self", "cancel"],
                            "properties": {"self": {"type": "string"}, "cancel": {"type": "string"}},
                        },
                    },
                },
                "PlanLine": {
                    "type": "object", "required": ["sku", "quantity"],
                    "properties": {"sku": {"type": "string"}, "quantity": {"type": "integer"}},
                },
                "Error": {
                    "type": "object", "required": ["code", "message", "fields"],
                    "properties": {
                        "code": {"type": "string", "description": "Machine-readable, e.g. validation_failed, not_found."},
                        "message": {"type": "string"},
                        "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                    },
                },
            },
        },
    }
