"""CSV imports run in the background: start one, follow its progress, fetch the refused rows and the warnings."""

from __future__ import annotations

import json

from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings

from ..models import ImportJob
from ..serializers import ImportJobSerializer, ImportSerializer
from ..services import import_jobs


class CsvRenderer(BaseRenderer):
    """Lets a client ask for text/csv; the CSV itself is written by the view."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        # Only an error (403, 404) comes here: JSON, and labelled so (DRF set text/csv already).
        response = (renderer_context or {}).get("response")
        if response is not None:
            response["Content-Type"] = "application/json"
        return json.dumps(data).encode()


class ImportJobViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = ImportJobSerializer
    parser_classes = [MultiPartParser, FormParser]
    filterset_fields = ["state"]
    ordering_fields = ["id", "created_at"]
    action_permissions = {
        "create": ["campaigns.add_importjob", "campaigns.import_subscribers"],
        "errors": ["campaigns.view_importjob"],
        "warnings": ["campaigns.view_importjob"],
    }

    def get_queryset(self) -> QuerySet[ImportJob]:
        return import_jobs.import_jobs_listed().order_by("-id")

    @extend_schema(request={"multipart/form-data": ImportSerializer}, responses={202: ImportJobSerializer})
    def create(self, request: Request) -> Response:
        """Start importing a CSV (columns as POST /api/subscribers/import/); follow it at its URL."""
        serializer = ImportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        upload = serializer.validated_data["file"]
        data = import_jobs.import_upload_read(upload=upload)
        with transaction.atomic():  # the answer shows the job as queued, before a worker can take it
            job = import_jobs.import_job_create(data=data, file_name=upload.name or "", actor=request.user)
            answer = self.get_serializer(self.get_queryset().get(pk=job.pk)).data
        return Response(answer, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"], renderer_classes=[*api_settings.DEFAULT_RENDERER_CLASSES, CsvRenderer])
    def errors(self, request: Request, pk: str) -> HttpResponse:
        """The refused rows as CSV (line,error; UTF-8 with BOM; formulas defused)."""
        job = ImportJob.objects.only("pk", "errors").get(pk=self.get_object().pk)
        response = HttpResponse(import_jobs.refused_rows_csv(job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-refused.csv"'
        return response

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    @action(detail=True, methods=["get"], renderer_classes=[*api_settings.DEFAULT_RENDERER_CLASSES, CsvRenderer])
    def warnings(self, request: Request, pk: str) -> HttpResponse:
        """The rows imported with a warning as CSV (line,warning; UTF-8 with BOM; formulas defused)."""
        job = ImportJob.objects.only("pk", "warnings").get(pk=self.get_object().pk)
        response = HttpResponse(import_jobs.warned_rows_csv(job), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="import-{job.pk}-warnings.csv"'
        return response
