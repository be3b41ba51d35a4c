from django.urls import path

from approvals import views
from approvals.audit import views as audit_views
from approvals.decision_links import views as link_views
from approvals.delegation import views as delegation_views

app_name = "approvals"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("bulk/", views.bulk_decide, name="bulk"),
    path("batches/<str:batch_id>/", views.batch, name="batch"),
    path("out-of-office/", delegation_views.out_of_office, name="out_of_office"),
    path("out-of-office/<int:pk>/end/", delegation_views.end_delegation, name="end_delegation"),
    path("audit/", audit_views.audit_page, name="audit"),
    path("mail/<int:order_id>/<str:token>/", link_views.decision_link, name="decision_link"),
    path("audit/export/", audit_views.audit_download, name="audit_export"),
]
