"""Django under ASGI with synchronous views served the WSGI way: the whole request on one long-lived thread.

Django's own ASGI handler runs every middleware that is synchronous (most of
Django's, WhiteNoise, ours) and every synchronous view through asgiref's
adapters: a new thread per request and a hop between it and the event loop at
each change of mode, up and down the middleware chain and for the request's
signals. That cost a full panel poll ~2.4 ms more web CPU than the threaded
WSGI server (docs/deployment.md, "The web server"); making the middleware
async-capable does not help, since each of Django's own middleware would then
hop to a thread for its process_request and process_response.

Here a request whose view is synchronous (every view but the live panel's event
stream) is read on the event loop, then handled start to end on one of a few
long-lived threads by Django's synchronous handler, the same middleware chain
`config/wsgi.py` runs; its response goes back to the loop to be sent: one hop
there and one back. A streamed response (a static file, an export) is read on
the thread too, a few chunks per hop. A request for an asynchronous view goes
to Django's ASGI handler as before.
"""
from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from asgiref.sync import iscoroutinefunction
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers import base
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.http import FileResponse, HttpResponse
from django.urls import Resolver404, get_resolver, set_script_prefix

# A streamed body is read on the thread about this much per hop (WhiteNoise and FileResponse give 8 KiB blocks).
STREAM_BYTES_PER_HOP = 2**16


class _SyncHandler(base.BaseHandler):
    def __init__(self) -> None:
        super().__init__()
        self.load_middleware(is_async=False)


class SyncViewsOnThreads:
    """The ASGI application: synchronous views on `threads` threads, asynchronous ones through Django's ASGI handler."""

    def __init__(self, django_asgi: ASGIHandler, *, threads: int) -> None:
        self.django_asgi = django_asgi
        self.handler = _SyncHandler()
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="django-sync")

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self._view_is_async(scope):
            await self.django_asgi(scope, receive, send)
            return
        try:
            body_file = await self.django_asgi.read_body(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self.pool, self._respond, scope, body_file)
            if not response.streaming:
                await self.django_asgi.send_response(response, send)
                return
            try:
                await self._send_streamed(loop, response, send)
            finally:
                await loop.run_in_executor(self.pool, response.close)
        finally:
            body_file.close()

    def _view_is_async(self, scope: dict) -> bool:
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):]
        try:
            match = get_resolver().resolve(path)
        except Resolver404:
            return False
        return iscoroutinefunction(match.func)

    def _respond(self, scope: dict, body_file: Any) -> HttpResponse:
        """On a pool thread: the request, start to end, as the WSGI handler does it (closed, unless streamed)."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.django_asgi.create_request(scope, body_file)
        if request is not None:
            response = self.handler.get_response(request)
            response._handler_class = self.__class__
            if isinstance(response, FileResponse):
                response.block_size = STREAM_BYTES_PER_HOP
        if not response.streaming:
            response.close()  # request_finished: the database connection goes back now
        return response

    async def _send_streamed(self, loop: asyncio.AbstractEventLoop, response: HttpResponse, send: Any) -> None:
        await send({"type": "http.response.start", "status": response.status_code, "headers": _headers(response)})
        chunks = iter(response)
        while True:
            part = await loop.run_in_executor(self.pool, _read_some, chunks)
            if not part:
                break
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def _read_some(chunks: Any) -> bytes:
    """Up to about STREAM_BYTES_PER_HOP of a streamed body; b"" at its end."""
    parts, size = [], 0
    for part in chunks:
        if part:
            parts.append(part)
            size += len(part)
        if size >= STREAM_BYTES_PER_HOP:
            break
    return b"".join(parts)


def _headers(response: HttpResponse) -> list[tuple[bytes, bytes]]:
    # As Django's ASGI handler writes them (header case kept; cookies as Set-Cookie lines).
    headers = [(bytes(name.encode("ascii") if isinstance(name, str) else name),
                bytes(value.encode("latin1") if isinstance(value, str) else value)) for name, value in response.items()]
    headers += [(b"Set-Cookie", cookie.output(header="").encode("ascii").strip()) for cookie in response.cookies.values()]
    return headers
