"""Errors every entry point understands the same way.

Services raise Django's `ValidationError` with a message per field for bad input (pages show it at the field,
the API answers 422), and `ConflictError` when the input is valid but clashes with what exists (the API answers
409; pages show it at the field like any validation error).
"""

from django.core.exceptions import ValidationError


class ConflictError(ValidationError):
    """Valid input that clashes with existing data (a uniqueness rule): HTTP 409."""


def first_message(exc: ValidationError) -> str:
    return exc.messages[0] if exc.messages else str(exc)
