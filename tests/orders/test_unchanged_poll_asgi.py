"""Unchanged panel polls under the web process's ASGI app (config/asgi_sync.py): the middleware's 204, with the
headers the WSGI server gives it."""
from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.handlers.asgi import ASGIHandler

from config.asgi_sync import SyncViewsOnThreads
from orders.views import unchanged_poll
from tests.deploy.test_asgi_sync import call
from tests.orders.test_unchanged_poll import as_user, poll, trusted

# The app answers on its own threads: they must see what the test wrote.
pytestmark = pytest.mark.django_db(transaction=True)

IGNORED = {"date", "content-length", "content-type"}


@pytest.fixture(autouse=True)
def fresh(settings):
    cache.clear()
    unchanged_poll.forget_all()
    settings.ORDER_SNAPSHOT_CACHE_SECONDS = 0
    settings.ORDER_PANEL_TRUST_SECONDS = 60
    yield
    cache.clear()
    unchanged_poll.forget_all()


def asgi_get(app, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str]]:
    status, answered, _ = call(app, path, headers=headers)
    return status, {name: values[-1] for name, values in answered.items()}


def test_an_unchanged_poll_gets_the_same_204_and_headers_as_under_wsgi(manager, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    through_wsgi = poll(client, order, version)
    assert through_wsgi.status_code == 204
    app = SyncViewsOnThreads(ASGIHandler(), threads=1)
    headers = {"HX-Request": "true", "X-Panel-Version": version, "Cookie": f"sessionid={client.cookies['sessionid'].value}",
               "Host": "testserver"}

    status, answered = asgi_get(app, f"/orders/{order.pk}/panel/", headers)

    assert status == 204
    expected = {k.lower(): v for k, v in through_wsgi.items() if k.lower() not in IGNORED}
    assert {k: v for k, v in answered.items() if k not in IGNORED} == expected
    assert answered["x-panel-version"] == version and "content-security-policy" in answered
    # Another version is a changed order: the full panel.
    assert asgi_get(app, f"/orders/{order.pk}/panel/", {**headers, "X-Panel-Version": "0" * 24})[0] == 200
