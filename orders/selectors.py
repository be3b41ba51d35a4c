"""Reads for the order pages.

Lists read the DB mirror only. The detail page asks the workflow for its live
snapshot while the order is in flight and falls back to the mirror, saying
so, when no worker answers. Finished orders are read from the mirror: it holds
their final state, and a query on a closed workflow would make a worker replay
its whole history.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Case, Exists, IntegerField, OuterRef, Prefetch, Q, QuerySet, Value, When

from orders.amounts import MAX_ID
from orders.models import Customer, Order, Parcel, StockReservation
from orders.timeline import mirror
from orders.timeline.mirror import mirror_snapshot
from temporal_bridge.client.bridge import TemporalUnavailable, WorkflowNotFound
from temporal_bridge.client.worker_status import cached_worker_check
from temporal_bridge.order import calls as order_calls
from temporal_bridge.order import messages as m
from temporal_bridge.order import states
from temporal_bridge.order import status as workflow_status
from temporal_bridge.order.status import WorkflowStatus

PAGE_SIZE = 25


@dataclass
class OrderPage:
    orders: list[Order]
    newer_cursor: int | None
    older_cursor: int | None


def order_list(
    *, status: str = "", search: str = "", before: int | None = None, after: int | None = None, page_size: int = PAGE_SIZE,
    breached: bool = False,
    late_parcels: bool = False,
    awaiting_stock: bool = False,
    warehouse: str = "",
) -> OrderPage:
    """One page of orders, newest first, by keyset on the id.

    Keyset pages cost the same on page 1 and page 4,000 and need no COUNT over
    the table, which is what keeps the list fast at 100k+ orders.
    """
    # The parcels (often none, one per warehouse of a split order) in one more query: the list shows where each is.
    queryset: QuerySet[Order] = Order.objects.select_related("customer").prefetch_related(
        Prefetch("parcels", queryset=Parcel.objects.order_by("id")))
    if late_parcels:
        queryset = queryset.filter(Exists(Parcel.objects.filter(order=OuterRef("pk"), promise_missed=True)))
    if status:
        queryset = queryset.filter(status=status)
    if search:
        queryset = queryset.filter(order_search(search))
    if breached:
        queryset = queryset.filter(sla_breached=True)
    if awaiting_stock:
        queryset = queryset.filter(awaiting_stock=True)
    if warehouse:
        # Orders with a fulfilment from it (by code): some line reserved (or shipped) there.
        queryset = queryset.filter(Exists(StockReservation.objects.filter(order=OuterRef("pk"), warehouse__code=warehouse)))

    if after is not None:
        rows = list(queryset.filter(id__gt=after).order_by("id")[: page_size + 1])
        has_newer = len(rows) > page_size
        rows = list(reversed(rows[:page_size]))
        has_older = bool(rows) and queryset.filter(id__lt=rows[-1].id).exists()
    else:
        if before is not None:
            queryset_page = queryset.filter(id__lt=before)
        else:
            queryset_page = queryset
        rows = list(queryset_page.order_by("-id")[: page_size + 1])
        has_older = len(rows) > page_size
        rows = rows[:page_size]
        has_newer = before is not None and bool(rows) and queryset.filter(id__gt=rows[0].id).exists()
    return OrderPage(
        orders=rows,
        newer_cursor=rows[0].id if rows and has_newer else None,
        older_cursor=rows[-1].id if rows and has_older else None,
    )


# Beyond this many matching customers their ids go to the database as a subquery, not a list.
CUSTOMER_IDS_INLINE = 500


def order_search(text: str) -> Q:
    """Orders whose number, or whose customer's name or email, contains `text` (any case).

    Both the list and the admin filter with this. The customers are looked up
    first and their ids put in the order query as a list, so that PostgreSQL
    can answer the OR from two indexes (a BitmapOr of the pg_trgm index on the
    number and the btree on customer_id, migration 0008) and sort the few
    matches. An OR across the join, or with a subquery, can only be checked
    row by row: a search that matched few orders read the whole table. A
    search that matches many is answered either way by reading the newest
    rows until a page is full.

    icontains is UPPER(col) LIKE UPPER(pattern), with %, _ and \\ in `text`
    escaped: the trigram indexes are on UPPER(col) to match. SQLite has no
    such index: it reads the order table newest first until a page is full,
    and the customers through their btree on customer_id.
    """
    matching = Q(name__icontains=text) | Q(email__icontains=text)
    ids = list(Customer.objects.filter(matching).order_by().values_list("id", flat=True)[: CUSTOMER_IDS_INLINE + 1])
    if len(ids) > CUSTOMER_IDS_INLINE:
        by_customer = Q(customer__in=Customer.objects.filter(matching).values("id"))
    else:
        by_customer = Q(customer_id__in=ids)  # no customer matched: Django leaves this side out
    return Q(number__icontains=text) | by_customer


CUSTOMER_MATCHES = 20


@dataclass
class CustomerMatches:
    customers: list[Customer]
    more: bool  # more matched than are shown: the clerk types on


def customer_search(text: str, *, limit: int = CUSTOMER_MATCHES) -> CustomerMatches:
    """Customers whose name or email contains `text` (any case), those starting with it first.

    One query, LIMIT limit + 1, three columns: the answer stays small however
    many customers match. On PostgreSQL the pg_trgm indexes on UPPER(name)
    and UPPER(email) (migration 0008) serve both the substring and the prefix;
    SQLite reads the table (docs/orders.md, "New order").
    """
    text = text.strip()
    if not text:
        return CustomerMatches(customers=[], more=False)
    starts = Q(name__istartswith=text) | Q(email__istartswith=text)
    rows = list(
        Customer.objects.filter(Q(name__icontains=text) | Q(email__icontains=text), erasure__isnull=True)  # no order for the erased
        .annotate(rank=Case(When(starts, then=Value(0)), default=Value(1), output_field=IntegerField()))
        .order_by("rank", "name", "id")
        .only("id", "name", "email")[: limit + 1]
    )
    return CustomerMatches(customers=rows[:limit], more=len(rows) > limit)


def order_detail(pk: int) -> Order:
    return Order.objects.select_related("customer", "created_by").prefetch_related("lines__product").get(pk=pk)


@dataclass
class LiveState:
    snapshot: m.OrderSnapshot
    source: str  # "workflow" or "mirror"
    notice: str = ""
    # Why the workflow did not answer, for people ("no worker is polling the
    # task queue", "the workflow's task is failing ..."); empty when it did.
    problem: str = ""
    # A fingerprint of the snapshot (snapshot_digest); cached with it, so a
    # poll that finds nothing changed never walks the whole snapshot again.
    digest: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if not self.digest:
            self.digest = snapshot_digest(self.snapshot)

    @property
    def is_terminal(self) -> bool:
        return self.snapshot.state in states.TERMINAL

    @property
    def state_label(self) -> str:
        return states.LABELS.get(self.snapshot.state, self.snapshot.state)


def order_for_panel(pk: int) -> Order:
    """The order as the live panel needs it: one query, no lines (the detail page shows those).

    A plain query: every open page polls this, and building the queryset cost
    more CPU than the database took to answer it. A number past any id is no
    order (the ORM's lookups say so themselves; a raw query would hand SQLite a
    number it refuses).
    """
    if not 0 < pk <= MAX_ID:
        raise Order.DoesNotExist(f"No order {pk}.")
    order = next(iter(Order.objects.raw(f"SELECT * FROM {connection.ops.quote_name(Order._meta.db_table)} WHERE id = %s", [pk])), None)
    if order is None:
        raise Order.DoesNotExist(f"No order {pk}.")
    return order


def snapshot_digest(snapshot: m.OrderSnapshot) -> str:
    """Changes whenever anything in the snapshot does (state, progress, timeline, decisions...)."""
    return hashlib.blake2b(repr(asdict(snapshot)).encode(), digest_size=12).hexdigest()


def _snapshot_cache_key(order_id: int) -> str:
    return f"orders:live-snapshot:{order_id}"


def _digest_cache_key(order_id: int) -> str:
    return f"orders:live-digest:{order_id}"


def cached_snapshot_digest(order_id: int) -> str | None:
    """The digest of the order's snapshot while the cache holds one (read without unpickling the snapshot)."""
    if settings.ORDER_SNAPSHOT_CACHE_SECONDS <= 0:
        return None  # no snapshot is reused, whatever an earlier setting left in the cache
    return cache.get(_digest_cache_key(order_id))


def order_live_state(order: Order, *, fresh: bool = False) -> LiveState:
    """The order's live state: the workflow's snapshot, or the mirror when that is final or unavailable.

    Snapshots are cached per order for ORDER_SNAPSHOT_CACHE_SECONDS, shared by
    every request of the process: many open pages of one order cost one query
    per period, not one each. `fresh` skips the cache (after an action).

    Never raises because of Temporal. When the workflow does not answer, the
    server is asked (describe, no worker needed) why: a workflow closed from
    outside (terminated, timed out, failed, cancelled) is recorded as a stop
    in the mirror at once, so the list shows it too; a workflow that cannot
    answer is shown from the mirror with the reason named.
    """
    if order.workflow_started_at is None and not order.is_terminal:
        return LiveState(mirror_snapshot(order), "mirror", "The workflow for this order has not started yet; it will be started shortly.")
    if order.is_terminal:
        return LiveState(mirror_snapshot(order), "mirror", stopped_notice(order))
    ttl = settings.ORDER_SNAPSHOT_CACHE_SECONDS
    key = _snapshot_cache_key(order.pk)
    if ttl > 0 and not fresh:
        cached = cache.get(key)
        if cached is not None:
            snapshot, digest = cached
            return LiveState(snapshot, "workflow", digest=digest)
    if order.pk in live_failures():
        # It failed moments ago: ask the server (milliseconds) whether it
        # still does before a query that would wait its whole timeout again.
        known = _still_not_live(order)
        if known is not None:
            return known
    try:
        # open_only: a closed workflow is refused at once, not replayed to
        # answer with the state it was in when somebody terminated it.
        snapshot = order_calls.query_order(order.pk, open_only=True)
    except (TemporalUnavailable, WorkflowNotFound) as err:
        return _not_live(order, err)
    live = LiveState(snapshot, "workflow")
    if ttl > 0:
        # The digest first: it never outlives the snapshot it names.
        cache.set(_digest_cache_key(order.pk), live.digest, ttl)
        cache.set(key, (snapshot, live.digest), ttl)
    _live_failure_clear(order.pk)
    return live


def order_live_state_forget(order_id: int) -> None:
    """Drop the cached snapshot, so the next read asks the workflow (after an action on it)."""
    cache.delete_many([_snapshot_cache_key(order_id), _digest_cache_key(order_id)])


def stopped_notice(order: Order) -> str:
    if order.status != states.STOPPED:
        return ""
    return (f"This order's workflow was stopped outside the desk ({order.failure_reason or 'no cause recorded'}). "
            "No action is possible here; an operator can see it in the Temporal UI.")


def _not_live(order: Order, err: Exception) -> LiveState:
    """The workflow did not answer the query: find out why, record a stop, fall back to the mirror."""
    try:
        status = workflow_status.describe_order(order.pk, timeout=2.0)
    except WorkflowNotFound:
        return _fallback(order, "its workflow does not exist on the Temporal server")
    except TemporalUnavailable:
        return _fallback(order, _short(err))
    return _from_description(order, status) or _fallback(order, workflow_problem(status) or _short(err))


def _still_not_live(order: Order) -> LiveState | None:
    """The fallback, if a describe shows the workflow still cannot answer; None to query it."""
    try:
        status = workflow_status.describe_order(order.pk, timeout=2.0)
    except WorkflowNotFound:
        return None
    except TemporalUnavailable as err:
        return _fallback(order, _short(err))  # the server itself does not answer: a query would not either
    known = _from_description(order, status)
    if known is not None:
        return known
    problem = workflow_problem(status)
    return _fallback(order, problem) if problem else None


def _from_description(order: Order, status: WorkflowStatus) -> LiveState | None:
    """What a described closed workflow shows: its stop (recorded now) or its final result."""
    if status.stop is not None:
        mirror.order_record_stop(order_id=order.pk, cause=status.stop)
        order_live_state_forget(order.pk)
        _live_failure_clear(order.pk)
        order.refresh_from_db()
        return LiveState(mirror_snapshot(order), "mirror", stopped_notice(order))
    if status.result is not None:
        # Finished on its own a moment ago; the mirror's last writes are on their way.
        _live_failure_clear(order.pk)
        return LiveState(status.result, "workflow")
    return None


def workflow_problem(status: WorkflowStatus) -> str:
    """Why a running workflow cannot answer, as far as the server can tell; empty when nothing is visibly wrong."""
    task = status.workflow_task
    if task is not None and task.failing:
        return f"the workflow's task is failing (attempt {task.attempt}): {task.last_failure or 'no failure message recorded'}"
    check = cached_worker_check()
    # Only a check that reached Temporal can tell there is no worker. One that timed out (in a burst
    # of queries, the moment a query did too) tells nothing: named "no worker", it kept a live order's
    # pages on the fallback and its 5 s pace, and skipped the query that would have found it live.
    if not check.running and check.reachable:
        return "no worker is polling the task queue"
    if task is not None and not task.started and task.waiting_seconds > NO_PICKUP_SECONDS:
        return f"no worker has picked up the workflow's task for {task.waiting_seconds:.0f} s"
    return ""


# A workflow task waiting this long while workers run: none of them takes it
# (another task queue, a worker without this workflow, all slots busy).
NO_PICKUP_SECONDS = 10.0


def _fallback(order: Order, problem: str) -> LiveState:
    _live_failure_record(order, problem)
    return LiveState(
        mirror_snapshot(order), "mirror",
        f"Live state unavailable ({problem}): showing the last recorded state from the database. "
        "Approvals and processing resume when the workflow answers again.",
        problem=problem,
    )


# --- Recent live failures, for the operations page ---------------------------------------
#
# Which in-flight orders could not answer lately, kept in the cache (one small
# dict, newest LIVE_FAILURES_KEEP entries, each LIVE_FAILURE_SECONDS) when a
# page, the panel or the API fell back. It costs nothing on a healthy poll but
# one cache read, and lets /ops/ list frozen orders without describing every
# order in flight. The default cache is per process, so /ops/ also describes a
# bounded number of the stalest in-flight orders itself (orders.operations.selectors).

LIVE_FAILURES_KEY = "orders:live-failures"
LIVE_FAILURES_KEEP = 50
LIVE_FAILURE_SECONDS = 15 * 60


@dataclass(frozen=True)
class LiveFailure:
    order_id: int
    number: str
    problem: str
    at: float  # time.time()


def live_failures() -> dict[int, LiveFailure]:
    now = time.time()
    return {pk: f for pk, f in (cache.get(LIVE_FAILURES_KEY) or {}).items() if now - f.at <= LIVE_FAILURE_SECONDS}


def _live_failure_record(order: Order, problem: str) -> None:
    failures = live_failures()
    failures[order.pk] = LiveFailure(order.pk, order.number or "", problem, time.time())
    newest = dict(sorted(failures.items(), key=lambda item: item[1].at)[-LIVE_FAILURES_KEEP:])
    cache.set(LIVE_FAILURES_KEY, newest, LIVE_FAILURE_SECONDS)


def _live_failure_clear(order_id: int) -> None:
    failures = cache.get(LIVE_FAILURES_KEY) or {}
    if order_id in failures:
        del failures[order_id]
        cache.set(LIVE_FAILURES_KEY, failures, LIVE_FAILURE_SECONDS)


def _short(err: Exception) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) < 120 else text[:117] + "…"
