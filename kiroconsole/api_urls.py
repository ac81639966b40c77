"""The API assembly (a composition file: it may import every app's router)."""

from __future__ import annotations

import logging

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation, ValidationError
from django.core.signals import got_request_exception
from django.db import InterfaceError, InternalError, OperationalError
from ninja import NinjaAPI

from accounts.api import router as accounts_router
from credits.api import router as credits_router
from credits.api_reports import router as reports_router
from credits.api_usage import router as usage_router
from directory.api import router as directory_router
from kiroconsole.api import router as console_router
from kiroconsole.errors import ConflictError
from subscriptions.api import router as subscriptions_router
from subscriptions.api_subscriptions import router as subscribing_router

api = NinjaAPI(
    title="Kiro console API",
    version="1",
    description=(
        "Everything the console does, for scripts and infrastructure-as-code. Authenticate with "
        "`Authorization: Bearer <token>` (create one on the API tokens page or with `manage.py create_api_token`). "
        "The token's console user's role decides what it may do. Errors are `{\"detail\": ...}`."
    ),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url=None,
)
# The metering API first: Django tries the URL patterns in order, and a usage event, the most frequent call by far,
# was matched against some 40 other patterns before its own (0.1 ms of each event).
api.add_router("", credits_router)
api.add_router("", console_router)
api.add_router("", accounts_router)
api.add_router("", directory_router)
api.add_router("", subscriptions_router)
api.add_router("", subscribing_router)
api.add_router("", reports_router)
api.add_router("", usage_router)


@api.exception_handler(ConflictError)
def on_conflict(request, exc: ConflictError):
    return api.create_response(
        request, {"detail": exc.message_dict if hasattr(exc, "error_dict") else exc.messages}, status=409
    )


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
    return api.create_response(request, {"detail": detail}, status=422)


@api.exception_handler(PermissionDenied)
def on_permission_denied(request, exc: PermissionDenied):
    return api.create_response(request, {"detail": str(exc) or "Forbidden"}, status=403)


logger = logging.getLogger("django.request")
UNAVAILABLE = (OperationalError, InterfaceError, InternalError)  # down, restarting, read-only, disk full


@api.exception_handler(Exception)
def on_server_error(request, exc: Exception):
    """Any other error: Django would answer its HTML 500 page. Log it as Django does, tell its listeners (the test
    client re-raises), and answer the API's JSON: 503 when the database can't be reached or written (the
    transaction was rolled back: retry with the same idempotency key), else 500. No traceback is shown."""
    if isinstance(exc, BadRequest | SuspiciousOperation):
        raise exc  # Django answers these 400 itself
    got_request_exception.send(sender=None, request=request)
    logger.exception("Internal Server Error: %s", request.path, extra={"request": request})
    if isinstance(exc, UNAVAILABLE):
        detail = "The database is unavailable or can't take writes right now; nothing was written. Try again."
        return api.create_response(request, {"detail": detail}, status=503)
    return api.create_response(request, {"detail": "Internal server error."}, status=500)
