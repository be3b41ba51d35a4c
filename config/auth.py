"""The one authentication backend: django-axes' lockout check, then Django's own.

One backend rather than axes' and Django's side by side: code that asks which
users hold a permission (`User.objects.with_perm`, the approver lists) needs a
single backend to ask, and the lockout check and the password check stay in
one place. Like axes' own backend it needs the request: tests log in with
`force_login`.
"""
from __future__ import annotations

from functools import cache

from axes.backends import AxesStandaloneBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import connection


class LockoutModelBackend(AxesStandaloneBackend, ModelBackend):
    def authenticate(self, request, username=None, password=None, **kwargs):
        # Raises (and stops authentication) while this username and address are locked out.
        AxesStandaloneBackend.authenticate(self, request, username=username, password=password, **kwargs)
        return ModelBackend.authenticate(self, request, username=username, password=password, **kwargs)

    def get_user(self, user_id):
        """The session's user, by a plain query (see get_all_permissions: every request asks)."""
        model = get_user_model()
        try:
            pk = model._meta.pk.to_python(user_id)
        except ValidationError:
            return None
        table, column = connection.ops.quote_name(model._meta.db_table), connection.ops.quote_name(model._meta.pk.column)
        user = next(iter(model._default_manager.raw(f"SELECT * FROM {table} WHERE {column} = %s", [pk])), None)
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj, obj=None):
        """The user's permissions, their own and their groups', in one plain query.

        Every permission check of a request reads this set. ModelBackend builds
        two ORM queries for it (user, then groups); the live panel's polls run
        it several times a second per open page, where compiling those
        querysets was the largest part of a poll's CPU. Same rows by
        ModelBackend's rules (inactive users and object permissions get none,
        superusers all), same cache attribute on the user.
        """
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            with connection.cursor() as cursor:
                if user_obj.is_superuser:
                    cursor.execute(_permissions_sql(everyone=True))
                else:
                    cursor.execute(_permissions_sql(), [user_obj.pk, user_obj.pk])
                user_obj._perm_cache = {f"{app_label}.{codename}" for app_label, codename in cursor.fetchall()}
        return user_obj._perm_cache


@cache
def _permissions_sql(*, everyone: bool = False) -> str:
    """SELECT app_label, codename of every permission, or of one user's (own + groups'; two parameters: the user's id)."""
    user = get_user_model()
    name = {model: connection.ops.quote_name(model._meta.db_table)
            for model in (Permission, ContentType, user.user_permissions.through, user.groups.through, Group.permissions.through)}
    sql = f"SELECT ct.app_label, p.codename FROM {name[Permission]} p JOIN {name[ContentType]} ct ON ct.id = p.content_type_id"
    if everyone:
        return sql
    own, member, granted = name[user.user_permissions.through], name[user.groups.through], name[Group.permissions.through]
    return (f"{sql} WHERE p.id IN (SELECT permission_id FROM {own} WHERE user_id = %s"
            f" UNION SELECT gp.permission_id FROM {granted} gp JOIN {member} ug ON ug.group_id = gp.group_id WHERE ug.user_id = %s)")
