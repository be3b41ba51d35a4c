"""Order pages: list, new-order form, detail with its live panel."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from approvals.discussion import services as discussion
from approvals.inbox_rows import order_why_you
from orders import selectors, services
from orders.delivery import services as parcels
from orders.exceptions import OrderError
from orders.forms import OrderFilterForm, OrderForm, OrderLineFormSet
from orders.inventory import selectors as inventory
from orders.models import Order
from orders.views import new_order
from orders.views.panel import panel_context, render_panel_poll
from temporal_bridge.order import messages as m
from temporal_bridge.shipment.messages import WAREHOUSE_IN_ID


@require_GET
@permission_required("orders.view_order", raise_exception=True)
def order_list(request: HttpRequest) -> HttpResponse:
    form = OrderFilterForm(request.GET)
    if not form.is_valid():
        return render(request, "orders/list.html", {"filter_form": form, "page": None}, status=400)
    data = form.cleaned_data
    page = selectors.order_list(status=data["status"], search=data["q"].strip(), before=data["before"], after=data["after"],
                                breached=data["breached"],
                                late_parcels=data["late"], awaiting_stock=data["stock"], warehouse=data["warehouse"])
    if request.htmx and request.htmx.target == "order-rows":
        return render(request, "orders/_list_rows.html", {"filter_form": form, "page": page})
    # The requester's own orders sent back with a question, above the list they land on.
    questions = discussion.questions_for(request.user)
    return render(request, "orders/list.html", {"filter_form": form, "page": page, "questions_for_you": questions})


@require_http_methods(["GET", "POST"])
@permission_required("orders.add_order", raise_exception=True)
def order_new(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        form, lines = OrderForm(request.POST), OrderLineFormSet(request.POST, prefix="lines")
        if SEARCH_BUTTON in request.POST:
            # The search without JavaScript: everything typed stays, nothing is validated or written yet.
            return render_new(request, form, lines, quiet=True)
        if form.is_valid() and lines.is_valid():
            try:
                order, created = services.order_submit_once(
                    submission_key=form.cleaned_data["request_id"] or None,
                    customer=form.cleaned_data["customer"],
                    lines=[services.LineRequest(product, quantity) for product, quantity in lines.filled_lines()],
                    created_by=request.user,
                    shipping_address=form.cleaned_data["shipping_address"],
                    priority=form.cleaned_data["priority"],
                    note=form.cleaned_data["note"],
                )
            except OrderError as err:
                form.add_error(None, err.message)
            else:
                if created:
                    messages.success(request, f"Order {order.number} submitted.")
                else:
                    messages.info(request, f"This form was already submitted as order {order.number}; no second order was made.")
                return redirect(order)
        return render_new(request, form, lines, status=400)
    form = OrderForm(initial={"request_id": services.new_request_id()})
    return render_new(request, form, OrderLineFormSet(prefix="lines"))


# The name of the form's "Search" button: a POST carrying it only re-renders the form.
SEARCH_BUTTON = "find_customer"


def render_new(request: HttpRequest, form: OrderForm, lines, *, quiet: bool = False, status: int = 200) -> HttpResponse:
    """The form page with its customer picker and preview, from what was posted (or the search in the URL)."""
    data = request.POST if request.method == "POST" else request.GET
    context = {
        "form": form, "lines": lines, "quiet": quiet, "search_button": SEARCH_BUTTON,
        **new_order.customer_picker_context(data),
        **new_order.preview_context(request.POST if request.method == "POST" else None),
    }
    return render(request, "orders/new.html", context, status=status)


def order_or_404(pk: int) -> Order:
    try:
        return selectors.order_detail(pk)
    except Order.DoesNotExist as err:
        raise Http404("No such order.") from err


@require_GET
@permission_required("orders.view_order", raise_exception=True)
def order_detail(request: HttpRequest, pk: int) -> HttpResponse:
    order = order_or_404(pk)
    missing = inventory.lines_awaiting_decision(order)
    may_decide = bool(missing) and (order.created_by_id == request.user.pk or request.user.has_perm("orders.change_order"))
    shipped, plan = parcels.parcels_for(order), inventory.order_plan(order)
    parts = [(part.warehouse, part.status) for part in plan.fulfilments] if plan and plan.is_split else []
    context = {"order": order, "parcels": shipped, "delivery_summary": parcels.delivery_summary(shipped, parts),
               "plan": plan, "missing_lines": missing,
               "may_decide_stock": may_decide, "stock_request_id": services.new_request_id(), **panel_context(request, order)}
    if m.ACTION_APPROVE in context["actions"] or m.ACTION_REJECT in context["actions"]:
        context["why_you"] = order_why_you(order, request.user)  # the approver asked: why them
    return render(request, "orders/detail.html", context)


@require_GET
@permission_required("orders.view_order", raise_exception=True)
def order_panel(request: HttpRequest, pk: int) -> HttpResponse:
    """The live panel fragment polled by the detail page; a full page without htmx.

    Polled every 1.5 s by every open page, so it reads the order alone (no
    lines) and answers 204 when the page already shows the current version.
    """
    if not request.htmx:
        return redirect("orders:detail", pk=pk)
    try:
        order = selectors.order_for_panel(pk)
    except Order.DoesNotExist as err:
        raise Http404("No such order.") from err
    return render_panel_poll(request, order)


@require_GET
@permission_required("orders.view_order", raise_exception=True)
def order_parcel(request: HttpRequest, pk: int) -> HttpResponse:
    """The parcel card polled by the detail page, from the parcel's mirror."""
    if not request.htmx:
        return redirect("orders:detail", pk=pk)
    # A split order's parcels are each polled by their warehouse's code; anything else names no parcel.
    warehouse = request.GET.get("warehouse", "")
    parcel = parcels.parcel_for_order_id(pk, warehouse) if not warehouse or WAREHOUSE_IN_ID.fullmatch(warehouse) else None
    if parcel is None:
        raise Http404("This order has no parcel.")
    return render(request, "orders/_parcel.html", {"parcel": parcel})
