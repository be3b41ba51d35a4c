"""The database session store, read with one plain query.

Every request of a logged-in user reads its session; the live panel's polls
do several times a second per open page. Django's store builds and compiles a
queryset for that read, a large part of a poll that finds nothing changed.
Same table, same rows, same expiry rule and the same writes (inherited), so
switching SESSION_ENGINE back and forth loses no session.
"""
from __future__ import annotations

from django.contrib.sessions.backends import db
from django.db import connections, router
from django.utils import timezone


class SessionStore(db.SessionStore):
    def _get_session_from_db(self):
        if not self.session_key:  # None or "" (a cookie that was never a key)
            self._session_key = None
            return None
        model = self.model
        connection = connections[router.db_for_read(model)]
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT session_data FROM {table} WHERE session_key = %s AND expire_date > %s",
                           [self.session_key, connection.ops.adapt_datetimefield_value(timezone.now())])
            row = cursor.fetchone()
        if row is None:
            self._session_key = None  # unknown or expired: the request is anonymous, as with Django's store
            return None
        return model(session_key=self.session_key, session_data=row[0])
