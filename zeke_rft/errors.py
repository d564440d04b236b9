"""One error for state conflicts, mapped to responses in one place for DRF and one for HTMX."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A request that is well formed but conflicts with the current state (HTTP 409)."""

    def __init__(self, message: str, *, extra: dict | None = None, status: int = 409):
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        self.status = status


def _validation_detail(error: DjangoValidationError):
    if hasattr(error, "error_dict"):
        return {field: [m for e in errors for m in e.messages] for field, errors in error.error_dict.items()}
    return {"non_field_errors": error.messages}


def api_exception_handler(exc, context):
    """DRF: ValidationError → 400 naming fields, ApplicationError → 409, others as DRF does."""
    if isinstance(exc, DjangoValidationError):
        exc = drf_exceptions.ValidationError(detail=_validation_detail(exc))
    if isinstance(exc, ApplicationError):
        return Response({"detail": exc.message, **exc.extra}, status=exc.status)
    return exception_handler(exc, context)


def htmx_error_response(exc: Exception) -> HttpResponse:
    """HTMX/HTML: render an ApplicationError or ValidationError as a small error fragment."""
    if isinstance(exc, DjangoValidationError):
        message = "; ".join(exc.messages)
        status = 400
    elif isinstance(exc, ApplicationError):
        message, status = exc.message, exc.status
    else:
        raise exc
    from django.utils.html import escape

    return HttpResponse(f'<div id="error" class="error" role="alert">{escape(message)}</div>', status=status)
