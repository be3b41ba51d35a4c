"""Unchanged panel polls answered under ASGI before Django's request handler (config/asgi.py).

Under ASGI, Django gives each request a thread of its own and hops between
it and the event loop at each change between synchronous and asynchronous
middleware: about 1.5 ms more web CPU per poll than the threaded WSGI server
took, most of it for a 204 that needs one query (docs/live-panel.md). The
same answer (`unchanged_poll.unchanged_answer`, the middleware's own
function) is given here on a few long-lived threads, with the headers the
security and CSP middleware put on it. Anything else, and every poll it
cannot answer, goes to Django as before; the middleware then does not look
again.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from io import BytesIO
from typing import Any

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.handlers.asgi import ASGIRequest
from django.db import close_old_connections
from django.http import HttpResponse
from django.middleware.security import SecurityMiddleware

from orders.views import unchanged_poll

# The ASGI scope key that tells the middleware this poll was looked at already.
CHECKED = "orders.unchanged_poll_checked"


def _not_called(request):  # the middleware below only post-process this module's own answer
    raise AssertionError("no inner handler")


class UnchangedPollsFirst:
    def __init__(self, app: Any, *, threads: int = 4) -> None:
        self.app = app
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="unchanged-poll")
        self._outer = [SecurityMiddleware(_not_called), CSPMiddleware(_not_called)]

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and _has_version_header(scope):
            scope[CHECKED] = True
            request = ASGIRequest(scope, BytesIO())
            response = await asyncio.get_running_loop().run_in_executor(self._pool, self._answer, request)
            if response is not None:
                await _send(response, send)
                return
        await self.app(scope, receive, send)

    def _answer(self, request: ASGIRequest) -> HttpResponse | None:
        if settings.SECURE_SSL_REDIRECT and not request.is_secure():
            return None  # Django's security middleware redirects it
        close_old_connections()
        try:
            response = unchanged_poll.unchanged_answer(request)
        finally:
            close_old_connections()
        if response is not None:  # the headers the outer middleware put on every answer (HSTS, CSP...)
            for middleware in self._outer:
                middleware.process_request(request)
                response = middleware.process_response(request, response)
        return response


def _has_version_header(scope: dict) -> bool:
    return any(name == b"x-panel-version" for name, _ in scope.get("headers", ()))


async def _send(response: HttpResponse, send: Any) -> None:
    headers = [(name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": response.content})
