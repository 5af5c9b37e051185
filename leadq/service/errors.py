"""Errors of the HTTP API, sent as JSON that names the field at fault."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """An error response: status, a stable code, a message, the field and value."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        value: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.value = value

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        if self.value is not None:
            error["value"] = self.value
        return {"error": error}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
        return JSONResponse(
            ApiError(error.status_code, code, str(error.detail)).body(),
            status_code=error.status_code,
            headers=getattr(error, "headers", None),
        )

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, error: ApiError) -> JSONResponse:
        headers = {"WWW-Authenticate": 'Basic realm="leadq"'} if error.status == 401 else None
        return JSONResponse(error.body(), status_code=error.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, error: RequestValidationError) -> JSONResponse:
        first = error.errors()[0]
        field = ".".join(str(part) for part in first["loc"] if part not in ("body", "query", "path"))
        message = f"{field or 'request'}: {first['msg']}"
        value = _rejected_value(first)
        if value is not None:
            message += f", got {value!r}"
        body = ApiError(422, "invalid_request", message, field or None, value).body()
        return JSONResponse(body, status_code=422)


def _rejected_value(error: dict) -> Any:
    """Return the value that failed a query or path parameter check, if any."""
    if error["loc"][0] not in ("query", "path") or error["type"] == "missing":
        return None
    return error.get("input")
