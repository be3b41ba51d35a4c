from django.urls import path

from orders.views import actions, discussion, live_stream, new_order, pages

app_name = "orders"
urlpatterns = [
    path("", pages.order_list, name="list"),
    path("new/", pages.order_new, name="new"),
    path("new/customers/", new_order.customer_search, name="customer_search"),
    path("new/preview/", new_order.order_preview, name="preview"),
    path("<int:pk>/", pages.order_detail, name="detail"),
    path("<int:pk>/panel/", pages.order_panel, name="panel"),
    path("<int:pk>/panel/stream/", live_stream.order_panel_stream, name="panel_stream"),
    path("<int:pk>/parcel/", pages.order_parcel, name="parcel"),
    path("<int:pk>/approve/", actions.order_approve, name="approve"),
    path("<int:pk>/reject/", actions.order_reject, name="reject"),
    path("<int:pk>/withdraw-approval/", actions.order_withdraw_approval, name="withdraw_approval"),
    path("<int:pk>/cancel/", actions.order_cancel, name="cancel"),
    path("<int:pk>/update/", actions.order_update, name="update"),
    path("<int:pk>/comment/", discussion.order_comment, name="comment"),
    path("<int:pk>/ask/", discussion.order_ask, name="ask"),
    path("<int:pk>/answer/", discussion.order_answer, name="answer"),
    path("<int:pk>/release-hold/", actions.order_release_hold, name="release_hold"),
    path("<int:pk>/stock-decision/", actions.order_stock_decision, name="stock_decision"),
]
