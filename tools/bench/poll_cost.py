"""What one poll of the live panel costs the web process: CPU and SQL, measured
in this process through Django's own WSGI handler (the object gunicorn calls),
so the figure has the whole request cycle (middleware, session, user,
permissions, view) and nothing of a test client or a network."""
from __future__ import annotations

import io
import time
from dataclasses import dataclass, field

from django.core.handlers.wsgi import WSGIHandler
from django.db import connection
from django.urls import reverse


@dataclass
class PollCost:
    cpu_ms: float  # process CPU per poll (every thread: the Temporal client's too)
    queries: list[str]  # the SQL of one poll
    statuses: dict[int, int] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # of the last answer


def _environ(path: str, headers: dict[str, str]) -> dict:
    environ = {
        "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": "", "SCRIPT_NAME": "", "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "443", "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "https", "wsgi.input": io.BytesIO(b""), "wsgi.errors": io.StringIO(), "wsgi.version": (1, 0),
        "wsgi.multithread": True, "wsgi.multiprocess": True, "wsgi.run_once": False,
    }
    environ.update({"HTTP_" + name.upper().replace("-", "_"): value for name, value in headers.items()})
    return environ


def panel_poll_cost(session_id: str, order_ids: list[int], samples: int, *, version_of: dict[int, str] | None = None) -> PollCost:
    """`samples` htmx polls of the panels of `order_ids` (round robin) by the user of `session_id`.

    Each poll sends the version its page last received (as the page's
    hx-headers do), so a panel that has not changed answers 204. The first
    round is not counted: it fetches each panel's version and warms the process.
    """
    handler = WSGIHandler()
    versions = dict(version_of or {})
    cookie = f"sessionid={session_id}; csrftoken=benchbenchbenchbenchbenchbench12"
    answer: dict = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info=None):
        answer["status"] = int(status.split()[0])
        answer["headers"] = dict(headers)

    def poll(pk: int) -> int:
        headers = {"Cookie": cookie, "HX-Request": "true"}
        if versions.get(pk):
            headers["X-Panel-Version"] = versions[pk]
        body = handler(_environ(reverse("orders:panel", args=[pk]), headers), start_response)
        b"".join(body)
        if hasattr(body, "close"):
            body.close()
        if answer["status"] == 200:
            versions[pk] = answer["headers"].get("X-Panel-Version", "")
        return answer["status"]

    for pk in order_ids:
        poll(pk)
    sql: list[str] = []

    def record(execute, query, params, many, context):
        sql.append(query)
        return execute(query, params, many, context)

    with connection.execute_wrapper(record):
        poll(order_ids[0])
    cost = PollCost(0.0, sql)
    t0 = time.process_time()
    for i in range(samples):
        status = poll(order_ids[i % len(order_ids)])
        cost.statuses[status] = cost.statuses.get(status, 0) + 1
    cost.cpu_ms = (time.process_time() - t0) / samples * 1000
    cost.headers = answer["headers"]
    return cost
