"""Links in the desk's e-mails: absolute, on its public base URL (ORDER_DESK_BASE_URL)."""
from __future__ import annotations

from django.conf import settings


def absolute_url(path: str) -> str:
    return settings.ORDER_DESK_BASE_URL.rstrip("/") + path
