"""Errors the API answers with, all shaped ``{"error": {"code", "message", "details"}}``.

Handlers are installed for our own errors, the store's :class:`~..store.accounts.AccountError`
tree, FastAPI's request validation (422) and Starlette's HTTP errors (unknown routes, wrong
methods), so every 4xx a client sees is machine-readable. Validation details never echo the
submitted values (they may be passwords or tokens)::

    ApiError
     ├── InvalidRequest     400 invalid_request
     ├── NotAuthenticated   401 not_authenticated (with WWW-Authenticate: Bearer)
     ├── Forbidden          403 forbidden
     └── NumberNotFound     404 not_found

Store errors map by class: ``NotFound`` 404, ``InvalidInvitation`` 400, every other
``AccountError`` (``plan_limit``, ``last_owner``, ``already_member``, ``user_exists``) 409.
"""

from __future__ import annotations

from typing import Any, ClassVar

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..store.accounts import AccountError, InvalidInvitation, NotFound
from .schemas import ErrorResponse

__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "Forbidden",
    "InvalidRequest",
    "NotAuthenticated",
    "NumberNotFound",
    "error_response",
    "install_error_handlers",
]

log = structlog.get_logger(__name__)


class ApiError(Exception):
    """An error answered as JSON with ``status_code`` and a stable ``code``."""

    status_code: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidRequest(ApiError):
    status_code = 400
    code = "invalid_request"


class NotAuthenticated(ApiError):
    status_code = 401
    code = "not_authenticated"


class Forbidden(ApiError):
    status_code = 403
    code = "forbidden"


class NumberNotFound(ApiError):
    status_code = 404
    code = "not_found"


_ACCOUNT_STATUS: dict[type[AccountError], int] = {NotFound: 404, InvalidInvitation: 400}

_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorResponse, "description": "Bad request"},
    401: {"model": ErrorResponse, "description": "Missing, unknown, expired or revoked token"},
    403: {"model": ErrorResponse, "description": "Your role does not allow this"},
    404: {"model": ErrorResponse, "description": "No such number or user (that you can see)"},
    409: {
        "model": ErrorResponse,
        "description": "Refused by a rule: plan_limit, last_owner, already_member, "
        "user_exists, number_taken, collision, comment_deleted",
    },
    422: {"model": ErrorResponse, "description": "The request does not validate"},
}
"""Error responses every route declares in the OpenAPI schema."""


def error_response(
    status_code: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "details": details or {}}}
    return JSONResponse(body, status_code=status_code, headers=headers)


async def _api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(error, NotAuthenticated) else None
    return error_response(error.status_code, error.code, error.message, error.details, headers)


async def _account_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, AccountError)
    status = next((s for cls, s in _ACCOUNT_STATUS.items() if isinstance(error, cls)), 409)
    return error_response(status, error.code, error.message, error.details)


async def _validation_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [
        {"loc": list(problem["loc"]), "message": problem["msg"], "type": problem["type"]}
        for problem in error.errors()
    ]
    first = problems[0] if problems else None
    where = ".".join(str(part) for part in first["loc"]) if first else "request"
    message = f"{where}: {first['message']}" if first else "the request does not validate"
    return error_response(422, "invalid_request", message, {"errors": problems})


async def _http_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _HTTP_CODES.get(error.status_code, "http_error")
    headers = dict(error.headers) if error.headers else None
    return error_response(error.status_code, code, str(error.detail).lower(), headers=headers)


async def _unexpected(_: Request, error: Exception) -> JSONResponse:
    log.error("api_unexpected_error", error_type=type(error).__name__, exc_info=error)
    return error_response(500, "internal_error", "internal error")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as ``{"error": {...}}``."""
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(AccountError, _account_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
