from django.urls import path

from approvals import views

app_name = "approvals"
urlpatterns = [
    path("", views.inbox, name="inbox"),
    path("bulk/", views.bulk_decide, name="bulk"),
    path("batches/<str:batch_id>/", views.batch, name="batch"),
]
