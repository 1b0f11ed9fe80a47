"""Our refusals as 400 and data conflicts as 409, never a 500."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import ProtectedError
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .. import services

log = logging.getLogger(__name__)


def _field_errors(by_field: dict[str, list[str]]) -> dict[str, list[str]]:
    return {(field or "non_field_errors"): messages for field, messages in by_field.items()}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, plus our refusals as 400 and data conflicts as 409 (never a 500)."""
    if isinstance(exc, services.ServiceError):
        return Response(_field_errors(exc.by_field), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, DjangoValidationError):
        return Response(ValidationError(exc.message_dict if hasattr(exc, "error_dict") else exc.messages).detail,
                        status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProtectedError):
        return Response({"detail": f"still in use by {len(exc.protected_objects)} record(s); not deleted"},
                        status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IntegrityError):
        log.warning("integrity error answered 409: %s", exc)
        return Response({"detail": "conflicts with data saved meanwhile; reload and try again"},
                        status=status.HTTP_409_CONFLICT)
    return drf_exception_handler(exc, context)
