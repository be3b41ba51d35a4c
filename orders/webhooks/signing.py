"""How a provider signs a webhook and how the desk checks it.

One scheme for every provider, the one payment providers commonly use: the
header `X-OrderDesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` where
the HMAC is taken with the provider's shared secret over
`"<t>." + raw body`. The timestamp is signed too, so a captured request
cannot be replayed outside the tolerance window. Free of Django, so the
provider simulator and the tests sign exactly as the intake checks.
"""
from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-OrderDesk-Signature"
# Django's request.META name for the header.
SIGNATURE_META = "HTTP_X_ORDERDESK_SIGNATURE"
DEFAULT_TOLERANCE_SECONDS = 300


class BadSignature(Exception):
    """The request is not signed by the provider, or not recently."""


def _digest(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: str, body: bytes, *, timestamp: int | None = None) -> str:
    """The header value a provider sends with `body`."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},v1={_digest(secret, t, body)}"


def verify(secret: str, body: bytes, header: str | None, *, tolerance: int = DEFAULT_TOLERANCE_SECONDS,
           now: float | None = None) -> int:
    """Check `header` against `body`; the signed timestamp, or BadSignature."""
    if not secret:
        raise BadSignature("no secret is configured for this provider")
    if not header or len(header) > 1024:
        raise BadSignature("missing signature")
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        timestamp = int(parts["t"][0])
    except (KeyError, ValueError):
        raise BadSignature("malformed signature") from None
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise BadSignature("signature timestamp outside the tolerance")
    expected = _digest(secret, timestamp, body)
    # Any of several v1 values may match (a provider rotating its secret sends two).
    if not any(hmac.compare_digest(expected, candidate) for candidate in parts.get("v1", [])):
        raise BadSignature("signature does not match")
    return timestamp
