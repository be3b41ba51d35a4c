from django.utils.functional import SimpleLazyObject

from orders.holds.services import holds_in_force
from temporal_bridge.client.worker_status import cached_worker_check


def worker_banner(request):
    """`worker_check` for the "processing is paused" banner in the base layout.

    Lazy: only a page that shows the banner (a full page, not an htmx
    fragment) looks at it, and then it comes from the cache.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"worker_check": SimpleLazyObject(cached_worker_check)}


def hold_banner(request):
    """`holds` for the "fulfilment is paused" / "circuit breaker open" banner.

    Lazy like the worker banner: an htmx fragment never reads it; a full page
    pays two small queries (the pause row, the breakers not closed).
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"holds": SimpleLazyObject(lambda: _Holds(*holds_in_force()))}


class _Holds:
    def __init__(self, pause, breakers) -> None:
        self.pause, self.breakers = pause, breakers

    def __bool__(self) -> bool:
        return self.pause is not None or bool(self.breakers)
