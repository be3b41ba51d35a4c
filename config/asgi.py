"""The web app under ASGI (`make serve`: gunicorn with uvicorn workers, config/asgi_worker.py; `make run`: uvicorn).

Async only where it pays: the live panel's event streams (orders/live/).
Every other view is synchronous and runs in a thread of its own.
"""
import os
import warnings

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Views run in a thread per request here: PostgreSQL connections come from a pool (config/settings.py).
os.environ.setdefault("DB_POOL", "1")
# WhiteNoise 6 answers static files with a synchronous file iterator, which Django
# reads in a thread under ASGI: right for small hashed files cached for a year,
# so its warning on every static file would only be noise.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators")
django_application = get_asgi_application()

from orders.views.unchanged_poll_asgi import UnchangedPollsFirst  # noqa: E402  (needs the apps loaded above)

# An unchanged panel poll (a 204 from one query) is answered before Django's handler: under
# ASGI that handler costs a thread and several loop hops per request (docs/live-panel.md).
application = UnchangedPollsFirst(django_application)
