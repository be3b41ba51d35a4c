"""gunicorn settings for the web process, from the environment.

    gunicorn config.wsgi --config config/gunicorn.conf.py

Threaded workers (gthread): every open order page polls its live panel every
1.5 s, and a poll may wait up to TEMPORAL_QUERY_TIMEOUT on a workflow query,
so one process serves many pages at once while some wait. Each process has
its own Temporal client (temporal_bridge.client.bridge builds one per process).
"""
import os

bind = os.environ.get("GUNICORN_BIND", f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))
# A request never legitimately takes long: Temporal calls time out after a few seconds.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
# SIGTERM: stop accepting, let requests in flight finish for this long.
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
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(D)sus'
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
