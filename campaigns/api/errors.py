"""Our refusals as 400 and data conflicts as 409, never a 500."""

from __future__ import annotations

import logging

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError, IntegrityError
from django.db.models import ProtectedError
from django.utils.translation import gettext as _
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
        by_field = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        return Response(ValidationError(by_field).detail, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProtectedError):
        return Response({"detail": _("still in use by %(count)s record(s); not deleted")
                                   % {"count": len(exc.protected_objects)}},
                        status=status.HTTP_409_CONFLICT)
    if isinstance(exc, IntegrityError):
        # The database's message repeats the conflicting values (an address): name the constraint.
        diag = getattr(exc.__cause__, "diag", None)
        log.warning("integrity error answered 409: %s", getattr(diag, "constraint_name", None) or type(exc).__name__)
        return Response({"detail": _("conflicts with data saved meanwhile; reload and try again")},
                        status=status.HTTP_409_CONFLICT)
    if isinstance(exc, DataError | OverflowError):
        # A value past what the column holds that no validator caught; the message may quote it.
        log.warning("out-of-range value answered 400: %s", type(exc).__name__)
        return Response({"detail": _("a value is out of the range that can be stored")},
                        status=status.HTTP_400_BAD_REQUEST)
    response = drf_exception_handler(exc, context)
    if response is not None and response.status_code == 400 and isinstance(response.data, list):
        response.data = {"non_field_errors": response.data}  # always an object, as the schema says
    return response
