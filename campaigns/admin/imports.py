"""Background CSV imports in the admin: how far each is, the rows it refused and those imported with a warning."""

from __future__ import annotations

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext, gettext_lazy

from .. import addresses
from ..models import ImportJob
from ..services import import_jobs
from .common import ReadOnlyAdmin

SHOWN_REFUSED = 50
SHOWN_WARNED = 50


@admin.register(ImportJob)
class ImportJobAdmin(ReadOnlyAdmin):
    list_display = ["id", "file_name", "state", "progress", "created", "updated", "refused", "warned", "created_by",
                    "created_at", "finished_at"]
    list_display_links = ["id", "file_name"]
    list_filter = ["state"]
    list_select_related = ["created_by"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportJob]:
        return import_jobs.import_jobs_listed().select_related("created_by")

    @admin.display(description=gettext_lazy("progress"))
    def progress(self, obj: ImportJob) -> str:
        return gettext("%(processed)s of %(total)s") % {"processed": obj.processed_rows, "total": obj.total_rows}

    @admin.display(description=gettext_lazy("refused"), ordering="error_count")
    def refused(self, obj: ImportJob) -> int:
        return obj.error_count

    @admin.display(description=gettext_lazy("warnings"), ordering="warning_count")
    def warned(self, obj: ImportJob) -> int:
        return obj.warning_count

    def get_urls(self):
        return [
            path("<int:pk>/refused.csv", self.admin_site.admin_view(self.refused_csv_view),
                 name="campaigns_importjob_refused"),
            path("<int:pk>/warnings.csv", self.admin_site.admin_view(self.warnings_csv_view),
                 name="campaigns_importjob_warnings"),
            *super().get_urls(),
        ]

    def _job(self, request: HttpRequest, pk: str | int) -> ImportJob:
        """The job, to anyone who may view jobs or who started it."""
        job = self.get_queryset(request).filter(pk=pk).first() if str(pk).isdigit() else None
        if job is None:
            raise Http404(gettext("no such import"))
        if not (self.has_view_permission(request, job) or job.created_by_id == request.user.pk):
            raise PermissionDenied
        return job

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "", extra_context=None) -> HttpResponse:
        """The progress page: refreshes itself while the job is queued or running."""
        job = self._job(request, object_id)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Import #%(number)s: %(file)s") % {"number": job.pk, "file": job.file_name or "CSV"},
            "job": job,
            "active": job.state in import_jobs.ACTIVE,
            "refused": import_jobs.refused_rows_first(job_id=job.pk, count=SHOWN_REFUSED) if job.error_count else [],
            "more_refused": max(job.error_count - SHOWN_REFUSED, 0),
            "warned": import_jobs.warned_rows_first(job_id=job.pk, count=SHOWN_WARNED) if job.warning_count else [],
            "more_warned": max(job.warning_count - SHOWN_WARNED, 0),
            "has_view_permission": self.has_view_permission(request, job),
        }
        return TemplateResponse(request, "admin/campaigns/importjob/progress.html", context)

    def refused_csv_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = self._job(request, pk)
        job = ImportJob.objects.only("pk", "errors").get(pk=job.pk)
        # The rows as they were, to fix and upload again (the API's errors CSV stays "line,error").
        response = HttpResponse(import_jobs.refused_rows_to_fix_csv(
            job, addresses=addresses.sees_addresses(request.user)), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-refused.csv"'
        return response

    def warnings_csv_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        job = self._job(request, pk)
        job = ImportJob.objects.only("pk", "warnings").get(pk=job.pk)
        response = HttpResponse(import_jobs.warned_rows_csv(job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-warnings.csv"'
        return response
