"""URLs for the simulator's live test: the site plus a capture of what reaches
the webhook paths (the intake itself is built on another branch), so the test
sees the very requests the simulator sent over HTTP."""
from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.http import JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from config.urls import urlpatterns as site_urlpatterns
from orders.webhooks import signing as webhook_signing

received: list[dict] = []
# Provider -> the status the capture answers with (default 202), so a test can play a refusing desk.
answers: dict[str, int] = {}


@csrf_exempt
@login_not_required
def capture(request, provider: str):
    received.append({"provider": provider, "body": request.body, "signature": request.META.get(webhook_signing.SIGNATURE_META),
                     "content_type": request.content_type})
    status = answers.get(provider, 202)
    return JsonResponse({"ok": status < 400}, status=status)


urlpatterns = [path("webhooks/<str:provider>/", capture), *site_urlpatterns]
