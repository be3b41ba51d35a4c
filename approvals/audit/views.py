"""The audit export's pages: the filter form, and the download it leads to.

Only holders of `approvals.export_audit` (the Auditors group) and superusers
reach them; anonymous visitors are sent to the login page by the middleware.
"""
from __future__ import annotations

from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from approvals import services
from approvals.audit import export as audit
from approvals.audit.forms import AuditExportForm
from approvals.models import AuditExport

EXPORT_PERMISSION = "approvals.export_audit"
RECENT_EXPORTS = 20


def _page(request: HttpRequest, form: AuditExportForm, *, status: int = 200) -> HttpResponse:
    recent = AuditExport.objects.order_by("-created_at", "-id")[:RECENT_EXPORTS]
    return render(request, "approvals/audit.html", {"form": form, "recent": recent}, status=status)


@require_GET
@permission_required(EXPORT_PERMISSION, raise_exception=True)
def audit_page(request: HttpRequest) -> HttpResponse:
    return _page(request, AuditExportForm(initial={"records": AuditExport.Records.ALL, "format": AuditExport.Format.CSV}))


@require_GET
@permission_required(EXPORT_PERMISSION, raise_exception=True)
def audit_download(request: HttpRequest) -> HttpResponse:
    """Record the export, then stream it; refused filters come back on the form with a 400."""
    form = AuditExportForm(request.GET)
    if not form.is_valid():
        return _page(request, form, status=400)
    filters, fmt = form.filters, form.fmt
    export = services.audit_export_record(user=request.user, records=filters.records, fmt=fmt, filters=form.described)
    body = audit.stream(filters, fmt, on_complete=lambda rows: services.audit_export_complete(export_id=export.pk, row_count=rows))
    response = StreamingHttpResponse(body, content_type=audit.CONTENT_TYPES[fmt])
    stamp = timezone.localtime(export.created_at).strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="audit-{filters.records}-{stamp}.{fmt}"'
    # The file is the record of one moment's trail, and names who asked: no cache may keep it.
    response["Cache-Control"] = "no-store"
    response["X-Audit-Export"] = str(export.pk)
    return response
