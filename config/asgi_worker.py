"""The web process's gunicorn worker: Django under ASGI on uvicorn (config/gunicorn.conf.py).

An open order page holds one connection for its live panel's event stream
(orders/live/); an async server holds thousands of them on one event loop,
where a threaded worker would hold a thread per page. Ordinary views stay
synchronous, on a few long-lived threads (config/asgi_sync.py).

Two things gunicorn's own workers did are kept:
- the access line, in gunicorn's combined format with the time the request
  spent in the process (`%(D)sus`, config/gunicorn.conf.py): see AccessLog;
- a graceful stop: on SIGTERM (or the request limit) the open event streams
  end first, so that uvicorn's wait for responses in flight finishes; each
  page's browser reconnects to a process that serves.
"""
from __future__ import annotations

import logging
import sys
import time
from typing import Any

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from orders.live.hub import close_every_stream

access_logger = logging.getLogger("gunicorn.access")


class AccessLog:
    """ASGI middleware: one gunicorn-style combined line per HTTP request, ending with the microseconds it took."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, sent = [0], [0]

        async def logged_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            elif message["type"] == "http.response.body":
                sent[0] += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, logged_send)
        finally:
            access_logger.info(access_line(scope, status[0], sent[0], time.perf_counter() - started))


def access_line(scope: dict, status: int, sent: int, seconds: float) -> str:
    headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope.get("headers", [])}
    client = (scope.get("client") or ("-", 0))[0]
    target = scope.get("raw_path", scope["path"].encode()).decode("latin-1")
    if scope.get("query_string"):
        target += "?" + scope["query_string"].decode("latin-1")
    request_line = f'{scope["method"]} {target} HTTP/{scope.get("http_version", "1.1")}'
    when = time.strftime("[%d/%b/%Y:%H:%M:%S %z]", time.localtime())
    return (f'{client} - - {when} "{request_line}" {status} {sent or "-"} "{headers.get("referer", "-")}"'
            f' "{headers.get("user-agent", "-")}" {int(seconds * 1e6)}us')


class _Server(Server):
    async def shutdown(self, sockets: Any = None) -> None:
        close_every_stream("the server is stopping")
        await super().shutdown(sockets)


class Worker(UvicornWorker):
    # Pure-Python HTTP and the standard event loop: nothing compiled to install.
    # The access line is AccessLog's; uvicorn's own has no duration.
    # Django has no ASGI lifespan: not asked.
    CONFIG_KWARGS = {"loop": "asyncio", "http": "h11", "access_log": False, "lifespan": "off", "proxy_headers": True}

    async def _serve(self) -> None:
        self.config.app = AccessLog(self.wsgi)
        server = _Server(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
