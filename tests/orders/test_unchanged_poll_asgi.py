"""Unchanged panel polls answered under ASGI before Django's handler (orders/views/unchanged_poll_asgi.py): the same
204 with the same headers as the middleware gives, and everything else left to Django."""
from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync
from django.core.cache import cache

from orders.views import unchanged_poll
from orders.views.unchanged_poll_asgi import CHECKED, UnchangedPollsFirst
from tests.orders.test_unchanged_poll import as_user, poll, trusted

# The shortcut reads on its own threads: they must see what the test wrote.
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


class Django:
    """Stands for Django's handler: records what reached it."""

    def __init__(self) -> None:
        self.scopes: list[dict] = []

    async def __call__(self, scope, receive, send):
        self.scopes.append(scope)
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b""})


def asgi_get(app, path: str, headers: dict[str, str], *, scheme: str = "http") -> tuple[int, dict[str, str]]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": scheme, "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "client": ("127.0.0.1", 5000),
             "server": ("testserver", 80), "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    async_to_sync(app)(scope, receive, send)
    start = sent[0]
    return start["status"], {k.decode().lower(): v.decode() for k, v in start["headers"]}


def poll_headers(client, version: str) -> dict[str, str]:
    return {"HX-Request": "true", "X-Panel-Version": version, "Cookie": f"sessionid={client.cookies['sessionid'].value}",
            "Host": "testserver"}


def test_an_unchanged_poll_gets_the_middlewares_204_with_the_same_headers(manager, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    through_django = poll(client, order, version)
    assert through_django.status_code == 204
    django = Django()

    status, headers = asgi_get(UnchangedPollsFirst(django), f"/orders/{order.pk}/panel/", poll_headers(client, version))

    assert status == 204 and django.scopes == []
    expected = {k.lower(): v for k, v in through_django.items() if k.lower() not in IGNORED}
    assert {k: v for k, v in headers.items() if k not in IGNORED} == expected
    assert headers["x-panel-version"] == version and "content-security-policy" in headers


def test_a_changed_or_unknown_poll_goes_to_django_marked_as_looked_at(manager, fake_temporal, make_order):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    django = Django()
    app = UnchangedPollsFirst(django)

    assert asgi_get(app, f"/orders/{order.pk}/panel/", poll_headers(client, "0" * 24))[0] == 299  # another version
    assert asgi_get(app, f"/orders/{order.pk}/", poll_headers(client, version))[0] == 299  # not the panel
    assert asgi_get(app, f"/orders/{order.pk}/panel/", {"Host": "testserver"})[0] == 299  # no version: not looked at
    assert [scope.get(CHECKED) for scope in django.scopes] == [True, True, None]
    # Through WSGI (no ASGI scope) the middleware looks as before.
    full = client.get(f"/orders/{order.pk}/panel/", headers={"HX-Request": "true", "X-Panel-Version": "0" * 24})
    assert full.status_code == 200


def test_plain_http_is_left_to_djangos_redirect(manager, fake_temporal, make_order, settings):
    order = make_order()
    client = as_user(manager)
    version = trusted(client, order, fake_temporal)
    settings.SECURE_SSL_REDIRECT = True
    django = Django()
    status, _ = asgi_get(UnchangedPollsFirst(django), f"/orders/{order.pk}/panel/", poll_headers(client, version))
    assert status == 299 and len(django.scopes) == 1
