"""/healthz: liveness, with the state of the database, Temporal and the workers."""
from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from temporal_bridge.client import queue_health
from temporal_bridge.client.worker_status import cached_worker_check


@login_not_required
@never_cache
@require_GET
def healthz(request):
    """200 while this process serves; the body says what else is up.

    Liveness must not fail because a dependency is down (a restart would not
    help), so the dependencies are reported, not enforced.
    """
    body = {"status": "ok", "database": _database(), "temporal": "ok", "workers": None}
    try:
        pollers = queue_health.task_queue_pollers()
        body["workers"] = {"workflow_pollers": pollers.workflow_pollers, "activity_pollers": pollers.activity_pollers}
    except Exception as err:  # noqa: BLE001 - any failure means "not reachable" here
        body["temporal"] = f"unavailable: {err}"
    return JsonResponse(body)


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as err:  # noqa: BLE001
        return f"unavailable: {err}"


@login_not_required
@never_cache
@require_GET
def readyz(request):
    """Readiness: 200 when the database, Temporal and a worker are all up, else 503.

    The body names each dependency's state and lists the failing ones. The
    worker check is the one the banner uses (cached for a few seconds), so a
    load balancer probing often costs Temporal one call per interval.
    """
    check = cached_worker_check()
    checks = {
        "database": _database(),
        "temporal": "ok" if check.reachable else f"unavailable: {check.detail}",
        "workers": "ok" if check.running else ("unknown: Temporal unavailable" if not check.reachable else check.detail),
    }
    failing = [name for name, state in checks.items() if state != "ok"]
    body = {"status": "not ready" if failing else "ready", "checks": checks, "failing": failing,
            "workers_checked_at": check.checked_at.isoformat()}
    return JsonResponse(body, status=503 if failing else 200)
