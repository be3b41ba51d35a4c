"""Bearer-token authentication with the hashed API keys."""
from __future__ import annotations

import re
from datetime import timedelta

from django.http import HttpRequest
from django.utils import timezone

from orders.api.errors import ApiError, unauthorized
from orders.api.models import KEY_PREFIX, ApiKey

KEY_FORMAT = re.compile(rf"^{KEY_PREFIX}_([0-9a-f]{{12}})_([A-Za-z0-9_-]{{20,100}})$")
# Record use at most this often: a write per request would cost more than it tells.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def authenticate(request: HttpRequest) -> ApiKey:
    """The active key the request carries, or 401. The key's user must be active too."""
    header = request.headers.get("Authorization", "")
    if not header:
        raise unauthorized("Send your API key as: Authorization: Bearer <key>.")
    scheme, _, token = header.partition(" ")
    match = KEY_FORMAT.match(token.strip()) if scheme.lower() == "bearer" else None
    if match is None:
        raise unauthorized("Malformed Authorization header: expected Bearer <key>.")
    prefix, secret = match.groups()
    key = ApiKey.objects.select_related("user").filter(prefix=prefix).first()
    if key is None or not key.matches(secret) or not key.active or not key.user.is_active:
        raise unauthorized("Invalid or revoked API key.")
    now = timezone.now()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


def require_perm(key: ApiKey, permission: str, message: str) -> None:
    if not key.user.has_perm(permission):
        raise ApiError(403, "permission_denied", message)
