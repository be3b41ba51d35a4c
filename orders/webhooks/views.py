"""POST /webhooks/<provider>/: the intake of providers' signed events.

Thin: the request's raw body and signature go to orders.webhooks.services, whose
answer (or refusal) becomes a small JSON response. Providers authenticate by
signature, not by session or CSRF token.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from orders.webhooks import services as webhooks
from orders.webhooks.signing import SIGNATURE_META


def provider_post(view: Callable[..., JsonResponse]) -> Callable[..., JsonResponse]:
    """A provider's POST: no session or CSRF token (the signature authenticates), and a
    body over WEBHOOK_MAX_BODY_BYTES refused by its declared length before it is read,
    so a flood of large bodies costs no memory."""
    @functools.wraps(view)
    def within_cap(request: HttpRequest, *args: Any, **kwargs: Any) -> JsonResponse:
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse({"error": "Bad Content-Length."}, status=400)
        if declared > settings.WEBHOOK_MAX_BODY_BYTES:
            return JsonResponse({"error": f"The body is larger than {settings.WEBHOOK_MAX_BODY_BYTES} bytes."}, status=413)
        return view(request, *args, **kwargs)

    return csrf_exempt(login_not_required(require_POST(within_cap)))


def capped_body(request: HttpRequest) -> bytes:
    """The body, read to one byte past the cap (a longer body than declared is still caught)."""
    return request.read(settings.WEBHOOK_MAX_BODY_BYTES + 1)


@provider_post
def webhook_intake(request: HttpRequest, provider: str) -> JsonResponse:
    body = capped_body(request)
    try:
        receipt = webhooks.webhook_receive(provider=provider, body=body, signature=request.META.get(SIGNATURE_META))
    except webhooks.WebhookRefused as err:
        response = JsonResponse({"error": err.message}, status=err.status_code)
        if err.retry_after is not None:
            response["Retry-After"] = str(err.retry_after)
        return response
    return JsonResponse({"status": receipt.outcome, "event": receipt.event.event_id}, status=receipt.status_code)
