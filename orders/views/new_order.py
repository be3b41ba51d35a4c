"""The new-order form's helpers: customer search and the live preview of total and approval rule.

Both answer htmx fragments and feed the full page too, so the form works
the same without JavaScript (a "Search" button re-renders the whole form
with the matches and the preview). The preview calls `order_quote`, the code
`order_submit` uses to merge lines, check amounts, total and pick the policy:
what the clerk sees is what submission freezes, as long as nothing changes in
between (prices, stock, policies).
"""
from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from orders import selectors, services
from orders.exceptions import OrderError
from orders.forms import CustomerSearchForm, OrderLineFormSet
from orders.inventory import selectors as inventory
from orders.models import Customer
from temporal_bridge.approvals import rules as approval_rules

ADD_ORDER = "orders.add_order"


def customer_picker_context(data: QueryDict) -> dict:
    """The chosen customer (kept checked) and the matches of the search text, from form data."""
    form = CustomerSearchForm(data)
    form.is_valid()  # each field on its own: a malformed customer id is simply no choice
    customer_id, searched = form.cleaned_data.get("customer"), form.cleaned_data.get("customer_search", "")
    chosen = Customer.objects.filter(pk=customer_id).only("id", "name", "email").first() if customer_id else None
    if "customer_search" in form.errors:
        return {"chosen": chosen, "matches": [], "more": False, "searched": "", "search_error": "Search for at most 100 characters."}
    found = selectors.customer_search(searched)
    matches = [customer for customer in found.customers if chosen is None or customer.pk != chosen.pk]
    return {"chosen": chosen, "matches": matches, "more": found.more, "searched": searched, "search_error": ""}


def preview_context(data: QueryDict | None) -> dict:
    """What the order in `data` would total and which approval rule it would meet, or why not yet."""
    if data is None:
        return {"preview": {"quote": None, "problems": [], "waiting": True}}
    lines = OrderLineFormSet(data, prefix="lines")
    if not lines.management_form.is_valid():
        return {"preview": {"quote": None, "problems": ["The form is out of date: reload the page."], "waiting": False, "malformed": True}}
    requested, problems = [], []
    for number, line in enumerate(lines.forms, start=1):
        if not line.is_valid():
            problems += [f"Line {number}: {message}" for errors in line.errors.values() for message in errors]
        elif line.cleaned_data.get("product") and line.cleaned_data.get("quantity"):
            requested.append(services.LineRequest(line.cleaned_data["product"], line.cleaned_data["quantity"]))
    search = CustomerSearchForm(data)
    search.is_valid()
    customer_id = search.cleaned_data.get("customer")
    customer = Customer.objects.filter(pk=customer_id).only("id", "name").first() if customer_id else None
    preview = {"quote": None, "problems": problems, "waiting": not requested, "customer": customer, "currency": settings.ORDER_CURRENCY}
    if requested:
        try:
            quote = services.order_quote(customer=customer, lines=requested)
        except OrderError as err:
            preview["problems"] = [*problems, err.message]
        else:
            plan = inventory.plan_preview((line.product.pk, line.quantity) for line in quote.lines)
            unavailable = {line.product_id for line in plan.unavailable}
            preview.update(
                quote=quote,
                # A line ships whole from one warehouse: short when no warehouse holds it all.
                short=[line for line in quote.lines if line.product.pk in unavailable],
                ships_from=plan.warehouses,
                needs=(
                    "Approved automatically, no approval needed" if quote.rule.auto_approve
                    else f"Needs {approval_rules.awaiting_text(quote.rule)}"
                ),
                rule_text=approval_rules.describe_rule(quote.rule),
            )
    return {"preview": preview}


@require_GET
@permission_required(ADD_ORDER, raise_exception=True)
def customer_search(request: HttpRequest) -> HttpResponse:
    """The matches for the search box (htmx); without htmx, the form itself with them."""
    if not request.htmx:
        query = request.GET.copy()
        return redirect(f"{reverse('orders:new')}?{query.urlencode()}" if query else reverse("orders:new"))
    context = customer_picker_context(request.GET)
    return render(request, "orders/_customer_picker.html", context, status=400 if context["search_error"] else 200)


@require_POST
@permission_required(ADD_ORDER, raise_exception=True)
def order_preview(request: HttpRequest) -> HttpResponse:
    """The lines, total, stock and approval rule of the form as it stands (htmx, on every change)."""
    context = preview_context(request.POST)
    return render(request, "orders/_order_preview.html", context, status=400 if context["preview"].get("malformed") else 200)
