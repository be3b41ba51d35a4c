from django.utils.functional import SimpleLazyObject

from temporal_bridge.worker_status import cached_worker_check


def worker_banner(request):
    """`worker_check` for the "processing is paused" banner in the base layout.

    Lazy: only a page that shows the banner (a full page, not an htmx
    fragment) looks at it, and then it comes from the cache.
    """
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"worker_check": SimpleLazyObject(cached_worker_check)}
