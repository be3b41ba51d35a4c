from django.utils.functional import SimpleLazyObject

from approvals.selectors import awaiting_decision_badge


def approvals_badge(request):
    """The count of orders awaiting the current user's decision, for the nav badge."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("orders.approve_order"):
        return {}
    # Lazy: counted only where a template shows the badge (full pages), not
    # for every htmx fragment, e.g. the live panel each open page polls.
    return {"approvals_waiting": SimpleLazyObject(lambda: awaiting_decision_badge(user))}
