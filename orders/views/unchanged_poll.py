"""Unchanged polls of the live panel, answered before the session, the user and the view are loaded.

Every open order page polls its panel, and most polls find nothing changed
(204). Finding that out the full way costs the request cycle: the session, the
user, their permissions, the order, their decisions and delegations (seven
queries) and the workflow's snapshot (a query to Temporal once the cache
period is over).

After the view answers a poll it remembers, for that session and order, the
version it answered and a *stamp*: a digest of every row that answer was
computed from — the session, the user, their permissions, the order (and its
creator's name), the order's decisions, its latest timeline entry and
recorded intent, and the delegations to or from the user with whether each
stands now. A later poll of the same session and order that sends back that
version is answered 204 here, from one query, when the stamp is the same and
the snapshot is known to be the same:

- while the snapshot cache still holds the snapshot the answer was computed
  from (`ORDER_SNAPSHOT_CACHE_SECONDS`, as the full path would use it); or
- for an order waiting on people (the slow pace), for up to
  `ORDER_PANEL_TRUST_SECONDS` after two full answers in a row found the same
  stamp and the same version. A waiting workflow changes only by a signal (its
  intent is recorded before it is sent), a timer or an activity, and every one
  of those writes a row the stamp covers; the second answer confirms that the
  workflow had taken in what the rows say. Past that period the workflow is
  asked again.

Anything else (another version, any of those rows changed, a delegation that
began or ended, the session gone or expired) goes the full way through the
view, which remembers anew. The version a page holds is its own user's: the
answer is keyed by session, and a 204 tells nothing but that the version sent
is still current.
"""
from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.models import Session
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers

from approvals.delegation.models import Delegation
from approvals.models import ApprovalDecision
from orders.intents.models import RecordedIntent
from orders.live.stamps import row_text
from orders.models import Order, OrderEvent
from orders.selectors import cached_snapshot_digest

# The headers the page and the panel exchange (orders.views.panel uses the same names).
VERSION_HEADER = "X-Panel-Version"
POLL_HEADER = "X-Panel-Poll"
# The session stores whose rows the stamp can read (the database's table).
DATABASE_SESSIONS = ("config.sessions", "django.contrib.sessions.backends.db")
# Remembered answers per process; past this many the oldest are forgotten (an entry is ~300 bytes).
REMEMBERED_MAX = 20_000


@dataclass(frozen=True)
class Answer:
    version: str
    poll_every: str
    user_id: int
    stamp: str
    digest: str  # the workflow snapshot's the version was computed from
    waiting: bool  # the order waits on people (polled at the slow pace)
    trusted_until: float  # time.monotonic(); 0: only while the snapshot cache holds `digest`


_answers: dict[tuple[str, int], Answer] = {}
_lock = threading.Lock()


def _remembered(session_key: str, order_id: int) -> Answer | None:
    return _answers.get((session_key, order_id))


def forget_all() -> None:
    """Drop every remembered answer of this process (tests; a deploy starts empty anyway)."""
    with _lock:
        _answers.clear()


# --- The stamp ------------------------------------------------------------------------------


@cache
def _stamp_sql() -> str:
    """One statement, one row per input of the panel's answer (kind, text); parameters as in `stamp`."""
    qn = connection.ops.quote_name
    user = get_user_model()
    t = {model: qn(model._meta.db_table) for model in (
        Session, user, Permission, ContentType, Order, ApprovalDecision, Delegation, OrderEvent, RecordedIntent,
        user.user_permissions.through, user.groups.through, Group.permissions.through)}
    user_id = qn(user._meta.pk.column)
    return " UNION ALL ".join([
        f"SELECT 's', s.session_data || '|' || CAST(s.expire_date AS TEXT) FROM {t[Session]} s"
        " WHERE s.session_key = %s AND s.expire_date > %s",
        f"SELECT 'u', {row_text(user, 'u')} FROM {t[user]} u WHERE u.{user_id} = %s",
        f"SELECT 'p', ct.app_label || '.' || p.codename FROM {t[Permission]} p JOIN {t[ContentType]} ct ON ct.id = p.content_type_id"
        f" WHERE p.id IN (SELECT permission_id FROM {t[user.user_permissions.through]} WHERE user_id = %s"
        f" UNION SELECT gp.permission_id FROM {t[Group.permissions.through]} gp"
        f" JOIN {t[user.groups.through]} ug ON ug.group_id = gp.group_id WHERE ug.user_id = %s)",
        f"SELECT 'o', {row_text(Order, 'o')} || '|' || "
        f"COALESCE((SELECT c.username FROM {t[user]} c WHERE c.{user_id} = o.created_by_id), '~')"
        f" FROM {t[Order]} o WHERE o.id = %s",
        f"SELECT 'd', {row_text(ApprovalDecision, 'd')} FROM {t[ApprovalDecision]} d WHERE d.order_id = %s",
        f"SELECT 'g', {row_text(Delegation, 'g')}"
        " || '|' || CASE WHEN g.starts_at <= %s AND g.ends_at > %s AND g.ended_at IS NULL THEN 'standing' ELSE 'not' END"
        f" || '|' || COALESCE((SELECT a.username FROM {t[user]} a WHERE a.{user_id} = g.delegator_id), '~')"
        f" FROM {t[Delegation]} g WHERE g.substitute_id = %s OR g.delegator_id = %s",
        f"SELECT 'e', COALESCE(CAST(MAX(e.id) AS TEXT), '~') FROM {t[OrderEvent]} e WHERE e.order_id = %s",
        f"SELECT 'i', COALESCE(CAST(MAX(r.id) AS TEXT), '~') FROM {t[RecordedIntent]} r WHERE r.order_id = %s",
    ])


def stamp(session_key: str, user_id: int, order_id: int) -> str:
    """A digest of the rows an answer to (session, user, order) depends on now; "" when the session is gone."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute(_stamp_sql(), [session_key, now, user_id, user_id, user_id, order_id, order_id, now, now, user_id, user_id,
                                      order_id, order_id])
        rows = sorted(cursor.fetchall())
    if not {"s", "u", "o"} <= {kind for kind, _ in rows}:
        return ""  # the session is gone or expired (or the user, or the order)
    return hashlib.blake2b(repr(rows).encode(), digest_size=16).hexdigest()


# --- The view's side: remember what it answered ----------------------------------------------


def stamp_before_answer(request: HttpRequest, order_id: int) -> str:
    """The stamp to remember with the answer about to be computed ("" when none is worth it).

    Read before the answer, so that a row written meanwhile makes the stamp
    older than the answer, never newer. Skipped for a page no unchanged poll
    can be answered for: the snapshot is not cached and the order is moving
    (its page asks the workflow every time anyway).
    """
    session_key = _session_key(request)
    if not session_key or not request.user.is_authenticated:
        return ""
    previous = _remembered(session_key, order_id)
    may_trust = settings.ORDER_PANEL_TRUST_SECONDS > 0 and (previous is None or previous.waiting)
    if not may_trust and cached_snapshot_digest(order_id) is None:
        return ""
    return stamp(session_key, request.user.pk, order_id)


def remember(request: HttpRequest, order_id: int, stamp_read: str, *, version: str, poll_every: str, digest: str,
             waiting: bool) -> None:
    """Remember the answer just given, with the stamp read before it was computed."""
    session_key = _session_key(request)
    if not session_key:
        return
    key = (session_key, order_id)
    with _lock:
        previous = _answers.pop(key, None)
        if not stamp_read:
            return
        confirmed = (previous is not None and previous.stamp == stamp_read and previous.version == version
                     and previous.user_id == request.user.pk)
        trust = settings.ORDER_PANEL_TRUST_SECONDS
        trusted_until = time.monotonic() + trust if waiting and confirmed and trust > 0 else 0.0
        _answers[key] = Answer(version, poll_every, request.user.pk, stamp_read, digest, waiting, trusted_until)
        while len(_answers) > REMEMBERED_MAX:
            del _answers[next(iter(_answers))]


def _session_key(request: HttpRequest) -> str:
    return request.COOKIES.get(settings.SESSION_COOKIE_NAME, "")


# --- The middleware's side: answer an unchanged poll -----------------------------------------


@cache
def _panel_path() -> re.Pattern[str]:
    placeholder = 987654321
    return re.compile("^" + re.escape(reverse("orders:panel", args=[placeholder])).replace(str(placeholder), r"(\d+)") + "$")


def unchanged_answer(request: HttpRequest) -> HttpResponse | None:
    """The 204 for a poll whose page shows the current panel, or None to go the full way."""
    if request.method != "GET" or request.headers.get("HX-Request") != "true":
        return None
    sent = request.headers.get(VERSION_HEADER)
    session_key = _session_key(request)
    if not sent or not session_key or settings.SESSION_ENGINE not in DATABASE_SESSIONS:
        return None
    match = _panel_path().match(request.path)  # as reverse() writes it, with any script prefix
    if match is None:
        return None
    order_id = int(match.group(1))
    answer = _remembered(session_key, order_id)
    if answer is None or answer.version != sent:
        return None
    digest = cached_snapshot_digest(order_id)
    if digest is not None:
        if digest != answer.digest:
            return None  # another page has fetched a newer snapshot
    elif time.monotonic() >= answer.trusted_until:
        return None
    if stamp(session_key, answer.user_id, order_id) != answer.stamp:
        return None
    response = HttpResponse(status=204)
    response[VERSION_HEADER] = answer.version
    response[POLL_HEADER] = answer.poll_every
    patch_vary_headers(response, ("Cookie",))  # as the full way's answer (it read the session)
    return response


class UnchangedPanelPolls:
    """Answers an unchanged panel poll before the session and the user are loaded (see the module's doc)."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        answer = unchanged_answer(request)
        return answer if answer is not None else self.get_response(request)
