"""Parse the JSON bodies of the /api routes as the tracking API parses its bodies.

FastAPI parses a body with `await request.json()`, which calls json.loads
on the bytes. That accepts UTF-16 and UTF-32 as well as UTF-8, and raises
RecursionError for a value nested about a thousand levels deep. Routes of
a router made with `route_class=StrictJsonRoute` read a body as UTF-8 only
and reject one nested more than MAX_NESTING levels, with a 400 error. They
stop reading a body past API_BODY_LIMIT bytes, with a 413 error, where
FastAPI would read any size into memory.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from leadq.inputs.json_keys import first_repeated_key, mark_repeated_keys
from leadq.json_nesting import MAX_NESTING, NestingTooDeep, parse_nested_json
from leadq.service.errors import ApiError
from leadq.service.tracking_body import decode_utf8

NESTING_MESSAGE = f"the body nests objects or arrays more than {MAX_NESTING} levels deep; flatten it"
# The largest body of an /api request. The largest that leadq needs is a
# model's text for POST /api/models, and a model has at most 200,000 values
# (leadq.model.loading.MAX_VALUES), a few megabytes.
API_BODY_LIMIT = 8 * 1024 * 1024


def parse_api_json(body: bytes) -> Any:
    """Parse a UTF-8 JSON body nested at most MAX_NESTING levels deep.

    Raises ApiError (400, `invalid_json`) for a body in another encoding or
    nested too deeply, ApiError (400, `duplicate_key`) for an object with a
    repeated key, as the tracking API does, and json.JSONDecodeError for
    text that is not JSON, which FastAPI reports as a validation error.
    """
    text = decode_utf8(body, "body")
    try:
        document = parse_nested_json(_loads, text)
    except NestingTooDeep:
        raise ApiError(400, "invalid_json", NESTING_MESSAGE, "body") from None
    repeated = first_repeated_key(document, "body")
    if repeated is not None:
        where, key = repeated
        message = f"{where} contains the key {json.dumps(key)[:60]} more than once; send each key once"
        raise ApiError(400, "duplicate_key", message, f"{where}.{key}".removeprefix("body."))
    return document


def _loads(text: str) -> Any:
    return json.loads(text, object_pairs_hook=mark_repeated_keys)


class StrictJsonRequest(Request):
    """A request whose `body()` stops past API_BODY_LIMIT and whose `json()` parses it with parse_api_json."""

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > API_BODY_LIMIT:
                raise body_too_large(f"declares {int(declared)} bytes")
            chunks, size = [], 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > API_BODY_LIMIT:
                    raise body_too_large(f"has more than {API_BODY_LIMIT} bytes")
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_api_json(await self.body())
        return self._json


def body_too_large(detail: str) -> ApiError:
    message = f"the body {detail}, over the limit of 8 MB ({API_BODY_LIMIT} bytes) for an /api request; send a smaller body"
    return ApiError(413, "too_large", message, "body")


class StrictJsonRoute(APIRoute):
    """A route that parses its JSON body with parse_api_json.

    FastAPI (0.165, fastapi/routing.py) turns an error of `json()` other
    than json.JSONDecodeError into an HTTPException whose cause is that error, and the error handlers of
    leadq.service.errors send the cause when it is an ApiError.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle_strict_json(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return handle_strict_json
