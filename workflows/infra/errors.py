"""The domain's errors; the API maps each family to one HTTP status, once."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Base: ``code`` for machines, ``message`` (Chinese) for the person, ``details`` for both."""

    code = "domain_error"

    def __init__(self, message: str, *, code: str | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        self.details = details


class NotFound(DomainError):
    code = "not_found"


class PermissionDenied(DomainError):
    code = "permission_denied"


class Unauthenticated(DomainError):
    code = "unauthenticated"


class Conflict(DomainError):
    code = "conflict"


class ValidationFailed(DomainError):
    code = "validation_failed"


class ModelError(DomainError):
    """A process model did something it may not (a refused expression, a broken definition)."""

    code = "model_error"
