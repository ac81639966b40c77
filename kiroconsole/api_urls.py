"""The API assembly (a composition file: it may import every app's router)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from ninja import NinjaAPI

from accounts.api import router as accounts_router
from credits.api import router as credits_router
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
api.add_router("", console_router)
api.add_router("", accounts_router)
api.add_router("", directory_router)
api.add_router("", subscriptions_router)
api.add_router("", subscribing_router)
api.add_router("", credits_router)


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
