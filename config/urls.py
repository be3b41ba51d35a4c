from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from orders.operations import health
from orders.operations import views as ops
from orders.webhooks import restocks
from orders.webhooks import views as webhooks
from temporal_bridge.client import codec_server

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="orders:list", permanent=False)),
    path("login/", auth_views.LoginView.as_view(extra_context={"show_demo_users": settings.DEBUG}), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("ops/", ops.operations, name="ops"),
    path("ops/fulfilment/pause/", ops.fulfilment_pause, name="fulfilment_pause"),
    path("ops/fulfilment/resume/", ops.fulfilment_resume, name="fulfilment_resume"),
    path("ops/tasks/<int:pk>/resolve/", ops.operations_task_resolve, name="ops_task_resolve"),
    path("api/v1/", include("orders.api.urls")),
    path("webhooks/inventory/", restocks.restock_intake, name="inventory_webhook"),
    path("webhooks/<str:provider>/", webhooks.webhook_intake, name="webhook_intake"),
    # And without the slash, as providers type it: APPEND_SLASH cannot redirect a POST with its body.
    path("webhooks/<str:provider>", webhooks.webhook_intake),
    path("orders/", include("orders.urls")),
    path("approvals/", include("approvals.urls")),
    path("admin/", admin.site.urls),
    # The Temporal UI's codec endpoint (--ui-codec-endpoint http://<desk>/temporal-codec).
    path("temporal-codec/decode", codec_server.decode, name="codec-decode"),
    path("temporal-codec/encode", codec_server.encode, name="codec-encode"),
]
