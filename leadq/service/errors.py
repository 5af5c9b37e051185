"""Errors of the HTTP API, sent as JSON that names the field at fault."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from leadq.service.stored_json import DamagedLeadRow

log = logging.getLogger("leadq.service")


class ApiError(Exception):
    """An error response: status, a stable code, a message, the field and value.

    `errors` lists each problem of a request that has several, such as
    every invalid answer of a qualification. `details` are more members of
    the error object, such as the `deleted_at` time of a deleted resource.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        value: Any = None,
        errors: list[ApiError] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.value = value
        self.errors = errors
        self.details = details

    def __reduce__(self):
        # An exception pickles as its class called with its args, which
        # here hold only the message.
        arguments = (self.status, self.code, self.message, self.field, self.value, self.errors, self.details)
        return type(self), arguments, self.__dict__

    def body(self) -> dict:
        error = {"code": self.code, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        if self.value is not None:
            error["value"] = self.value
        if self.errors is not None:
            error["errors"] = [item.body()["error"] for item in self.errors]
        if self.details is not None:
            error.update(self.details)
        return {"error": error}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, error: StarletteHTTPException) -> JSONResponse:
        # FastAPI raises its 400 "error parsing the body" from the decoding error.
        if isinstance(error.__cause__, UnicodeDecodeError):
            return _response(_not_utf8(error.__cause__))
        # The /api routes raise ApiError from their body parser (leadq.service.api_json).
        if isinstance(error.__cause__, ApiError):
            return _response(error.__cause__)
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
        return invalid_request_response(error)

    @app.exception_handler(DamagedLeadRow)
    async def damaged_lead(request: Request, error: DamagedLeadRow) -> JSONResponse:
        return damaged_lead_response(request, error)

    app.add_middleware(InternalErrorsAsJson)


class InternalErrorsAsJson:
    """Middleware that sends a JSON 500 for an unexpected error of a JSON route and logs its traceback.

    Starlette's handler for `Exception` sends its response and then raises
    again. Under uvicorn the client then read a connection reset instead of
    the response, so this middleware sends the response and raises nothing.
    """

    # Paths whose errors are JSON; the dashboard's are pages.
    PREFIXES = ("/v1/", "/api/")

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.PREFIXES):
            await self.app(scope, receive, send)
            return
        started = False

        async def send_noting_start(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except ClientDisconnect:
            # No client is left to respond to, and a tracking write key is public
            # (it ships in web pages), so a traceback per dropped request
            # would let anyone fill the log.
            log.debug("%s %s: the client left before sending its whole body", scope["method"], scope["path"])
        except Exception as error:
            if started:
                raise
            log.exception("%s %s failed", scope["method"], scope["path"])
            message = f"the server failed to handle the request ({type(error).__name__}); its log has the details"
            await _response(ApiError(500, "internal_error", message))(scope, receive, send)


def invalid_request_response(error: RequestValidationError) -> JSONResponse:
    """Return the JSON error of a request that FastAPI rejected: 400 for a body that is not JSON, else 422."""
    first = error.errors()[0]
    if first["type"] == "json_invalid":
        return _response(_invalid_json(first, error.body))
    return _response(invalid_request_error(error))


def invalid_request_error(error: RequestValidationError) -> ApiError:
    """Return the 422 `invalid_request` error that names the first field FastAPI rejected."""
    first = error.errors()[0]
    field = ".".join(str(part) for part in first["loc"] if part not in ("body", "query", "path"))
    message = f"{field or 'request'}: {first['msg']}"
    value = _rejected_value(first)
    if value is not None:
        message += f", got {value!r}"
    return ApiError(422, "invalid_request", message, field or None, value)


def damaged_lead_response(request: Request, error: DamagedLeadRow) -> JSONResponse:
    """Log a request that failed on a damaged stored row and return its JSON 500 `damaged_lead`."""
    log.error("%s %s failed: %s", request.method, request.url.path, error)
    return _response(ApiError(500, "damaged_lead", str(error)))


def _response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


def _invalid_json(detail: dict, document: Any) -> ApiError:
    """Return the error of a body that FastAPI could not parse as JSON.

    FastAPI gives json's reason and the offset of the fault in the decoded
    body, from which json computes the line and column.
    """
    # Some of json's reasons end in "at" already, as "Invalid control character at".
    reason = detail.get("ctx", {}).get("error", "invalid JSON").removesuffix(" at")
    offset = detail["loc"][-1]
    where = f"position {offset}"
    if isinstance(document, str) and isinstance(offset, int):
        located = json.JSONDecodeError(reason, document, offset)
        where = f"line {located.lineno}, column {located.colno}"
    message = f"the body is not valid JSON ({reason} at {where}); send a JSON object"
    return ApiError(400, "invalid_json", message, "body")


def _not_utf8(error: UnicodeDecodeError) -> ApiError:
    return ApiError(400, "invalid_json", not_utf8_message(error), "body")


def not_utf8_message(error: UnicodeDecodeError) -> str:
    """Return the message for a body that is not UTF-8, naming the first invalid byte."""
    byte = error.object[error.start]
    return (
        f"the body is not UTF-8 text (byte 0x{byte:02x} at position {error.start} "
        "is invalid there); send JSON in UTF-8"
    )


def _rejected_value(error: dict) -> Any:
    """Return the value that failed a query or path parameter check, if any."""
    if error["loc"][0] not in ("query", "path") or error["type"] == "missing":
        return None
    return error.get("input")
