"""The production configuration as an operator runs it: settings from the
environment pass Django's deployment checks, and gunicorn serves the app with
its static files, HTTPS headers, plain-HTTP health probes and a graceful stop."""
from __future__ import annotations

import http.client
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time

import pytest
from django.conf import settings

from temporal_bridge.client.codec import DEV_KEYS, new_key_entry
from tests.integration.stack import free_port

ROOT = settings.BASE_DIR
# Each test starts its own production processes on their own SQLite state dir.
pytestmark = pytest.mark.embedded_database


def production_env(tmp_path, **extra) -> dict:
    """What a production process sees: no DEBUG, a real secret, its own state dir."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "ORDER_DESK_TESTING", "DJANGO_DEBUG"}}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        ORDER_DESK_PAYLOAD_KEYS=new_key_entry("k1"),
        ORDER_DESK_VAR_DIR=str(tmp_path / "var"),
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        TEMPORAL_ADDRESS="127.0.0.1:1",  # no Temporal here: the web process must still serve
    )
    env.update(extra)
    return env


def manage(env, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_deploy_checks_pass_without_a_single_warning(tmp_path):
    result = manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_deploy_checks_flag_an_operator_who_turns_hsts_off(tmp_path):
    result = manage(production_env(tmp_path, DJANGO_SECURE_HSTS_SECONDS="0"), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "security.W004" in result.stderr + result.stdout


def test_production_refuses_to_start_without_payload_keys(tmp_path):
    env = production_env(tmp_path)
    del env["ORDER_DESK_PAYLOAD_KEYS"]
    result = manage(env, "check")
    assert result.returncode != 0
    assert "order_desk.E010" in result.stderr and "Set ORDER_DESK_PAYLOAD_KEYS" in result.stderr


def test_production_refuses_the_public_development_payload_key(tmp_path):
    result = manage(production_env(tmp_path, ORDER_DESK_PAYLOAD_KEYS=DEV_KEYS), "check")
    assert result.returncode != 0
    assert "order_desk.E011" in result.stderr


def test_production_refuses_to_start_without_a_secret_key(tmp_path):
    env = production_env(tmp_path)
    del env["DJANGO_SECRET_KEY"]
    result = manage(env, "check")
    assert result.returncode != 0
    assert "Set DJANGO_SECRET_KEY" in result.stderr


def get(port: int, path: str, *, https: bool = True, headers: dict | None = None) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    # The TLS-terminating proxy in front of gunicorn says the client used HTTPS.
    conn.request("GET", path, headers={**({"X-Forwarded-Proto": "https"} if https else {}), **(headers or {})})
    response = conn.getresponse()
    response.body = response.read()
    conn.close()
    return response


def wait_until_serving(process: subprocess.Popen, port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"gunicorn exited with {process.returncode}: {process.stdout.read()}")
        try:
            get(port, "/healthz", https=False)
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("gunicorn did not serve in time")


def start_gunicorn(env: dict) -> subprocess.Popen:
    """`make serve`'s command line."""
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "gunicorn") if (ROOT / ".venv" / "bin" / "gunicorn").exists() else "gunicorn",
         "--config", "config/gunicorn.conf.py"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )


@pytest.fixture
def gunicorn(tmp_path):
    """`make serve` as production runs it: collectstatic, then gunicorn behind a proxy."""
    port = free_port()
    env = production_env(tmp_path, PORT=str(port), HOST="127.0.0.1", WEB_CONCURRENCY="1", GUNICORN_THREADS="2",
                         DJANGO_SECURE_PROXY_SSL_HEADER="1")
    collected = manage(env, "collectstatic", "--noinput", "-v", "0")
    assert collected.returncode == 0, collected.stderr
    process = start_gunicorn(env)
    try:
        wait_until_serving(process, port)
        yield process, port
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_gunicorn_serves_the_app_and_its_static_files_over_https_only(gunicorn):
    process, port = gunicorn

    # Plain HTTP is sent to HTTPS...
    plain = get(port, "/login/", https=False)
    assert plain.status == 301 and plain.getheader("Location") == f"https://127.0.0.1:{port}/login/"
    # ...except the health probe, which the orchestrator sends to the container directly.
    health = get(port, "/healthz", https=False)
    assert health.status == 200 and json.loads(health.body)["status"] == "ok"

    page = get(port, "/login/")
    assert page.status == 200
    assert page.getheader("Strict-Transport-Security") == "max-age=31536000; includeSubDomains; preload"
    assert "Secure" in page.getheader("Set-Cookie")  # the CSRF cookie never travels over plain HTTP
    css = re.search(rb'href="(/static/css/app\.[0-9a-f]{12}\.css)"', page.body)
    assert css, "the page links the hashed stylesheet that collectstatic wrote"

    stylesheet = get(port, css.group(1).decode(), headers={"Accept-Encoding": "gzip"})
    assert stylesheet.status == 200
    assert stylesheet.getheader("Content-Type").startswith("text/css")
    assert stylesheet.getheader("Content-Encoding") == "gzip"
    assert "immutable" in stylesheet.getheader("Cache-Control")  # hashed name: cached for good

    htmx = re.search(rb'src="(/static/django_htmx/htmx[^"]*\.[0-9a-f]{12}\.js)"', page.body)
    assert htmx and get(port, htmx.group(1).decode()).status == 200, "htmx comes from our own static files, no CDN"


def test_gunicorn_stops_gracefully_on_sigterm(gunicorn):
    process, port = gunicorn
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=40)
    assert process.returncode == 0, output
    assert "Shutting down: Master" in output
    assert "Traceback" not in output


def test_the_access_log_gives_each_requests_time_in_the_process(gunicorn):
    process, port = gunicorn
    assert get(port, "/healthz", https=False).status == 200
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=40)
    line = next(line for line in output.splitlines() if '"GET /healthz HTTP/1.1" 200' in line)
    # gunicorn's combined format, then the microseconds the bench reads (tools/bench/web.py, server_seconds).
    assert re.fullmatch(r'127\.0\.0\.1 - - \[[^\]]+\] "GET /healthz HTTP/1\.1" 200 \d+ "-" "[^"]*" \d+us', line), line


SEED_A_WATCHED_ORDER = """
from django.contrib.auth.models import Permission
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from orders.models import Customer, Order
user = get_user_model().objects.create_user("watcher", password="x")
user.user_permissions.add(Permission.objects.get(codename="view_order", content_type__app_label="orders"))
customer = Customer.objects.create(name="Watcher Ltd", email="w@example.com")
order = Order.objects.create(customer=customer, created_by=user, status="processing", total=1, number="OD-1")
session = SessionStore()
from django.conf import settings
session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), settings.AUTHENTICATION_BACKENDS[-1]
session[HASH_SESSION_KEY] = user.get_session_auth_hash()
session.create()
print(order.pk, session.session_key)
"""


def production_with_a_watched_order(tmp_path, **extra) -> tuple[dict, int, str, str]:
    """A migrated production environment with one order and a manager's session: (env, port, order id, session key)."""
    port = free_port()
    env = production_env(tmp_path, PORT=str(port), HOST="127.0.0.1", WEB_CONCURRENCY="1", DJANGO_SECURE_PROXY_SSL_HEADER="1",
                         TEMPORAL_QUERY_TIMEOUT="0.5", **extra)
    for step in (("migrate", "-v", "0"), ("collectstatic", "--noinput", "-v", "0")):
        assert manage(env, *step).returncode == 0
    seeded = manage(env, "shell", "-c", SEED_A_WATCHED_ORDER)
    assert seeded.returncode == 0, seeded.stderr
    order_id, session_key = seeded.stdout.split()[-2:]
    return env, port, order_id, session_key


def test_an_open_event_stream_is_served_and_ended_by_a_graceful_stop(tmp_path):
    env, port, order_id, session_key = production_with_a_watched_order(tmp_path)
    process = start_gunicorn(env)
    try:
        wait_until_serving(process, port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("GET", f"/orders/{order_id}/panel/stream/",
                     headers={"X-Forwarded-Proto": "https", "Cookie": f"sessionid={session_key}"})
        response = conn.getresponse()
        assert response.status == 200, (response.status, response.getheader("Location"))
        assert response.getheader("Content-Type") == "text/event-stream"
        assert response.getheader("X-Accel-Buffering") == "no"
        first = response.read1(65536).decode()
        while "\n\n" not in first.removeprefix(": open\n\n"):
            first += response.read1(65536).decode()
        assert first.startswith(": open\n\nevent: panel\nid: ")
        assert 'id="live-panel"' in first

        process.send_signal(signal.SIGTERM)
        rest = response.read()  # the server ends the stream: the browser reconnects to one that serves
        conn.close()
        output, _ = process.communicate(timeout=40)
        assert process.returncode == 0, output
        assert "Traceback" not in output and "timeout graceful shutdown exceeded" not in output
        assert isinstance(rest, bytes)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_the_threaded_wsgi_server_serves_the_panel_and_sends_the_page_back_to_polling(tmp_path):
    env, port, order_id, session_key = production_with_a_watched_order(tmp_path, WEB_SERVER="wsgi")
    process = start_gunicorn(env)
    try:
        wait_until_serving(process, port)
        cookie = {"Cookie": f"sessionid={session_key}"}
        assert get(port, f"/orders/{order_id}/panel/stream/", headers=cookie).status == 204  # no streams: the page polls
        panel = get(port, f"/orders/{order_id}/panel/", headers={**cookie, "HX-Request": "true"})
        assert panel.status == 200 and 'id="live-panel"' in panel.body.decode()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=40)
        assert process.returncode == 0 and "gthread" in output and "Traceback" not in output, output
        assert re.search(rf'"GET /orders/{order_id}/panel/ HTTP/1.1" 200 .* \d+us$', output, re.M), output
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def test_an_unknown_web_server_is_refused_at_start(tmp_path):
    env = production_env(tmp_path, PORT=str(free_port()), HOST="127.0.0.1", WEB_SERVER="tornado")
    output, _ = start_gunicorn(env).communicate(timeout=60)
    assert "WEB_SERVER must be asgi or wsgi, not 'tornado'" in output
