"""Domain errors and the one JSON error shape ``{"code", "status", "message", "errors"}``."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A business rule refused the action. ``message`` is shown to the user as is."""

    status = 422
    code = "rule_violation"

    def __init__(
        self, message: str, *, errors: dict[str, Any] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if code:
            self.code = code


class NotFound(DomainError):
    status = 404
    code = "not_found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"


class Conflict(DomainError):
    status = 409
    code = "conflict"


def error_body(status: int, code: str, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "status": status, "message": message, "errors": errors or {}}
