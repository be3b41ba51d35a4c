from django.urls import path, re_path

from orders.api import views

app_name = "api"
urlpatterns = [
    path("openapi.json", views.openapi, name="openapi"),
    path("orders", views.order_create, name="orders"),
    path("orders/<path:number>/cancel", views.order_cancel, name="cancel"),
    path("orders/<path:number>", views.order_status, name="order"),
    # Clients of a JSON API get JSON, also for a path that does not exist.
    re_path(r"^", views.not_found),
]
