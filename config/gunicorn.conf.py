"""gunicorn settings for the web process, from the environment.

    gunicorn --config config/gunicorn.conf.py

Django under ASGI on uvicorn workers (config/asgi_worker.py): every open order
page holds one long-lived connection for its live panel's event stream
(orders/live/, docs/live-panel.md), which an event loop holds cheaply and a
thread per page would not. Ordinary views stay synchronous, on GUNICORN_THREADS
long-lived threads per process (config/asgi_sync.py), and pages that cannot
stream poll as before. Each process has
its own Temporal client (temporal_bridge.client.bridge builds one per process)
and its own live-panel hub.
"""
import os

WEB_SERVER = os.environ.get("WEB_SERVER", "asgi")
if WEB_SERVER == "asgi":
    wsgi_app = "config.asgi:application"  # an ASGI application: gunicorn's setting keeps its old name
    worker_class = "config.asgi_worker.Worker"
elif WEB_SERVER == "wsgi":
    # The threaded WSGI worker: no event streams (their endpoint answers 204), every page polls its
    # panel, at the CPU a poll costs under ASGI: the choice for a site whose proxy cannot pass streams.
    wsgi_app = "config.wsgi:application"
    worker_class = "gthread"
    threads = int(os.environ.get("GUNICORN_THREADS", "8"))
else:
    raise SystemExit(f"WEB_SERVER must be asgi or wsgi, not {WEB_SERVER!r}")

bind = os.environ.get("GUNICORN_BIND", f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# The worker's heartbeat to the arbiter (an event stream lasts far longer; it is not a request timeout here).
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# SIGTERM: stop accepting, end the event streams, let requests in flight finish for this long.
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = 5
# Recycle processes now and then, so a slow leak never becomes an outage. Not
# often: every open order page polls, and 2,000 requests were 30 s of 200 pages;
# each recycle boots a process (seconds of CPU) and empties its caches (snapshots,
# remembered panel answers, the Temporal connection): a large part of the polls' p95
# (docs/benchmarks.md, "Polling load").
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "50000"))
max_requests_jitter = max_requests // 10
# Which proxies may set X-Forwarded-* (comma-separated IPs, or * inside a private network).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
accesslog = "-"
# The usual combined line, then how long the request took in the process (microseconds):
# set beside a client's latency, it tells time spent serving from time spent waiting to be served.
# The uvicorn worker writes the same line itself (config/asgi_worker.py, AccessLog); an event
# stream's line comes when it ends, with the stream's whole life as its time.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)sus'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
