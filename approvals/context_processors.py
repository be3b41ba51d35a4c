from approvals.selectors import awaiting_decision_count


def approvals_badge(request):
    """The count of orders awaiting the current user's decision, for the nav badge."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.has_perm("orders.approve_order"):
        return {}
    return {"approvals_waiting": awaiting_decision_count(user)}
