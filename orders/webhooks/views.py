"""POST /webhooks/<provider>/: the intake of providers' signed events.

Thin: the request's raw body and signature go to orders.webhooks.services, whose
answer (or refusal) becomes a small JSON response. Providers authenticate by
signature, not by session or CSRF token.
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from orders.webhooks import services as webhooks
from orders.webhooks.signing import SIGNATURE_META


@csrf_exempt
@login_not_required
@require_POST
def webhook_intake(request: HttpRequest, provider: str) -> JsonResponse:
    cap = settings.WEBHOOK_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return JsonResponse({"error": "Bad Content-Length."}, status=400)
    if declared > cap:
        # Refused before reading: a flood of large bodies costs no memory.
        return JsonResponse({"error": f"The body is larger than {cap} bytes."}, status=413)
    body = request.read(cap + 1)
    try:
        receipt = webhooks.webhook_receive(provider=provider, body=body, signature=request.META.get(SIGNATURE_META))
    except webhooks.WebhookRefused as err:
        response = JsonResponse({"error": err.message}, status=err.status_code)
        if err.retry_after is not None:
            response["Retry-After"] = str(err.retry_after)
        return response
    return JsonResponse({"status": receipt.outcome, "event": receipt.event.event_id}, status=receipt.status_code)
