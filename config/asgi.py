"""The web app under ASGI (`make serve`: gunicorn with uvicorn workers, config/asgi_worker.py; `make run`: uvicorn).

Async only where it pays: the live panel's event streams (orders/live/), through
Django's ASGI handler. Every other view is synchronous and runs start to end on
one of a few long-lived threads, through the middleware chain the WSGI server
runs (config/asgi_sync.py): a poll costs what it costs under WSGI.
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# The event streams' work runs in threads of its own (orders/live/): PostgreSQL connections come from a pool
# (config/settings.py).
os.environ.setdefault("DB_POOL", "1")
django_application = get_asgi_application()

from config.asgi_sync import SyncViewsOnThreads  # noqa: E402  (needs the apps loaded above)

# GUNICORN_THREADS, as for the threaded WSGI server: how many synchronous requests a process serves at once.
# An unchanged panel poll is answered by its middleware early in that chain, as under WSGI (orders/views/unchanged_poll.py).
application = SyncViewsOnThreads(django_application, threads=int(os.environ.get("GUNICORN_THREADS", "8")))
