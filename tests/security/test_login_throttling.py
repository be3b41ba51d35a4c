"""Login throttling (django-axes): repeated wrong passwords lock the account
out, from that address, on the site's login and the admin's, until an admin
unlocks it or the cool-off passes."""
from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db


def post_login(client: Client, path: str, username: str, password: str):
    return client.post(path, {"username": username, "password": password, "next": "/orders/"})


def is_logged_in(client: Client) -> bool:
    return client.get("/orders/").status_code == 200


@pytest.mark.parametrize("path", ["/login/", "/admin/login/"])
def test_thirty_wrong_passwords_then_the_right_one_does_not_log_in(path, manager, settings):
    assert settings.AXES_ENABLED and settings.AXES_FAILURE_LIMIT == 5
    client = Client()
    statuses = [post_login(client, path, "manager", f"guess-{i}").status_code for i in range(30)]
    assert statuses[:4] == [200] * 4  # the form again, "didn't match"
    assert set(statuses[5:]) == {429}
    response = post_login(client, path, "manager", "pw")
    assert response.status_code == 429
    assert "Too many failed login attempts" in response.content.decode()
    assert "administrator" in response.content.decode()
    assert not is_logged_in(client)


def test_the_lockout_page_is_a_page_of_the_site(manager):
    client = Client()
    for _ in range(5):
        post_login(client, "/login/", "manager", "wrong")
    response = post_login(client, "/login/", "manager", "pw")
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    body = response.content.decode()
    assert "<title>" in body and "Order Desk" in body
    assert "minutes" in body  # when to try again


def test_fewer_failures_than_the_limit_still_log_in_and_start_the_count_again(manager):
    client = Client()
    for _ in range(4):
        post_login(client, "/login/", "manager", "wrong")
    assert post_login(client, "/login/", "manager", "pw").status_code == 302
    assert is_logged_in(client)
    assert not AccessAttempt.objects.filter(username="manager").exists()


def test_an_admin_unlocks_the_account_in_the_admin_and_the_user_logs_in_again(manager, admin_client):
    client = Client()
    for _ in range(8):
        post_login(client, "/login/", "manager", "wrong")
    assert post_login(client, "/login/", "manager", "pw").status_code == 429
    attempt = AccessAttempt.objects.get(username="manager")
    listing = admin_client.get("/admin/axes/accessattempt/")
    assert listing.status_code == 200 and "manager" in listing.content.decode()
    response = admin_client.post(
        "/admin/axes/accessattempt/", {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert post_login(client, "/login/", "manager", "pw").status_code == 302
    assert is_logged_in(client)


def test_axes_reset_command_unlocks_everyone(manager):
    client = Client()
    for _ in range(6):
        post_login(client, "/login/", "manager", "wrong")
    assert post_login(client, "/login/", "manager", "pw").status_code == 429
    call_command("axes_reset")
    assert post_login(client, "/login/", "manager", "pw").status_code == 302


def test_a_locked_out_user_elsewhere_is_not_locked_out_here(manager):
    """Failures count per username and address: someone guessing from one address cannot lock the user out everywhere."""
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(10):
        post_login(attacker, "/login/", "manager", "wrong")
    assert post_login(attacker, "/login/", "manager", "pw").status_code == 429
    assert post_login(Client(REMOTE_ADDR="198.51.100.2"), "/login/", "manager", "pw").status_code == 302


def test_behind_the_tls_proxy_failures_count_per_client_not_per_proxy(manager, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    attacker = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    for _ in range(6):
        post_login(attacker, "/login/", "manager", "wrong")
    assert post_login(attacker, "/login/", "manager", "pw").status_code == 429
    colleague = Client(REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="198.51.100.2")
    assert post_login(colleague, "/login/", "manager", "pw").status_code == 302
