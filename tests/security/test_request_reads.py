"""The reads every request makes (session, user, permissions) are plain
queries (config/sessions.py, config/auth.py): they must grant exactly what
Django's own session store and ModelBackend grant."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from config.auth import LockoutModelBackend
from orders import roles

pytestmark = pytest.mark.django_db


def fresh(user):
    """The user as a new request sees it: no permission cache."""
    return get_user_model().objects.get(pk=user.pk)


@pytest.mark.parametrize("groups", [(), (roles.CLERKS,), (roles.MANAGERS,), (roles.MANAGERS, roles.SENIOR_MANAGERS), (roles.AUDITORS,)])
def test_permissions_are_the_users_own_and_their_groups_as_django_grants_them(groups):
    user = get_user_model().objects.create_user("someone", password="pw")
    user.groups.set(Group.objects.filter(name__in=groups))
    user.user_permissions.add(Permission.objects.get(codename="delete_order"))
    ours = LockoutModelBackend().get_all_permissions(fresh(user))
    assert ours == ModelBackend().get_all_permissions(fresh(user))
    assert "orders.delete_order" in ours


def test_a_superuser_has_every_permission_and_an_inactive_user_none(clerk):
    admin = get_user_model().objects.create_superuser("root", password="pw")
    assert LockoutModelBackend().get_all_permissions(fresh(admin)) == ModelBackend().get_all_permissions(fresh(admin))
    assert len(LockoutModelBackend().get_all_permissions(fresh(admin))) == Permission.objects.count()
    clerk.is_active = False
    clerk.save()
    assert LockoutModelBackend().get_all_permissions(fresh(clerk)) == set()


def test_the_session_user_is_found_and_an_inactive_or_unknown_one_is_not(clerk):
    backend = LockoutModelBackend()
    assert backend.get_user(str(clerk.pk)) == clerk
    assert backend.get_user("999999") is None
    assert backend.get_user("not-an-id") is None
    clerk.is_active = False
    clerk.save()
    assert backend.get_user(str(clerk.pk)) is None


def test_a_valid_session_logs_in_and_an_expired_or_unknown_one_does_not(clerk):
    client = Client()
    client.force_login(clerk)
    assert client.get(reverse("orders:list")).status_code == 200

    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = client.get(reverse("orders:list"))
    assert response.status_code == 302 and "/login" in response["Location"]

    client.cookies["sessionid"] = "no-such-session-key-at-all"
    assert client.get(reverse("orders:list")).status_code == 302


def test_changing_the_password_ends_other_sessions(clerk):
    client = Client()
    client.force_login(clerk)
    clerk.set_password("another one")
    clerk.save()
    assert client.get(reverse("orders:list")).status_code == 302
