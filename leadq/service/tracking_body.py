"""Read and parse the body of a tracking request within Segment's size limits.

A body may be compressed with gzip (`Content-Encoding: gzip`), as Segment's
libraries send it when asked to. The limits apply to the decompressed JSON,
and reading stops as soon as a body passes its limit. A small gzip body
that would decompress to gigabytes therefore costs at most the limit in
memory.
"""

from __future__ import annotations

import codecs
import json
import math
import zlib
from typing import Any

from fastapi import Request

from leadq.inputs.json_keys import RepeatedKeyObject, mark_repeated_keys
from leadq.json_nesting import MAX_NESTING
from leadq.service.errors import ApiError, not_utf8_message

MESSAGE_LIMIT = 32 * 1024
BATCH_LIMIT = 500 * 1024
# Bytes that a gzip body may have beyond the limit of its decompressed
# JSON. Deflate makes data that does not compress a little longer (500 KB
# of random bytes gains 178 bytes in gzip.compress with zlib 1.2.13, at
# every level), so an allowance of 1 KB fits any JSON body within the limit.
GZIP_OVERHEAD = 1024
# zlib's window bits for a gzip header and trailer around deflate data.
GZIP_WBITS = zlib.MAX_WBITS | 16
GZIP_MAGIC = b"\x1f\x8b"
UTF16_MESSAGE = "the body is UTF-16 or UTF-32 text, not UTF-8; send JSON in UTF-8"
SHRINK_MESSAGE = "shrink its properties, traits or context, for example by leaving out long text values"


async def read_json_body(request: Request, kind: str) -> Any:
    """Read the body of a request to the endpoint `kind` and return its checked JSON."""
    return parse_json(await read_body(request, kind))


async def read_body(request: Request, kind: str) -> bytes:
    reader = BodyReader(kind, content_coding(request))
    reader.check_declared_length(request.headers.get("content-length"))
    async for chunk in request.stream():
        reader.add(chunk)
    return reader.finish()


def content_coding(request: Request) -> str | None:
    """Return "gzip" or None (no coding), or raise a 415 for another Content-Encoding."""
    header = request.headers.get("content-encoding", "")
    codings = [part.strip().lower() for part in header.split(",")]
    codings = [coding for coding in codings if coding not in ("", "identity")]
    if not codings:
        return None
    if codings in (["gzip"], ["x-gzip"]):
        return "gzip"
    raise ApiError(
        415,
        "unsupported_encoding",
        f"Content-Encoding {header!r} is not supported; send the body uncompressed, "
        "or compressed with gzip and the header Content-Encoding: gzip",
    )


class BodyReader:
    """Collect a body chunk by chunk, decompressing gzip, until it passes its limit."""

    def __init__(self, kind: str, coding: str | None) -> None:
        self.kind = kind
        self.limit = BATCH_LIMIT if kind == "batch" else MESSAGE_LIMIT
        self.gzip = coding == "gzip"
        self.received_limit = self.limit + GZIP_OVERHEAD if self.gzip else self.limit
        self.received = 0
        self.body = bytearray()
        self.decompressor = zlib.decompressobj(GZIP_WBITS) if self.gzip else None

    def check_declared_length(self, declared: str | None) -> None:
        if declared is not None and declared.isdigit() and int(declared) > self.received_limit:
            raise self._received_too_large(int(declared))

    def add(self, chunk: bytes) -> None:
        self.received += len(chunk)
        if self.received > self.received_limit:
            raise self._received_too_large(None)
        if self.gzip:
            self._decompress(chunk)
        else:
            self.body.extend(chunk)
        if len(self.body) > self.limit:
            detail = "decompresses to" if self.gzip else "has"
            raise too_large(self.kind, f"{detail} more than {self.limit} bytes")

    def finish(self) -> bytes:
        if self.gzip and not self.decompressor.eof:
            raise ApiError(
                400,
                "invalid_gzip",
                "the gzip body ends before its compressed data does; send the whole compressed body",
            )
        return bytes(self.body)

    def _decompress(self, data: bytes) -> None:
        """Decompress `data` into the body, stopping one byte past the limit.

        A body of several gzip members (RFC 1952) decompresses to their
        concatenation, as gzip.decompress does.
        """
        while data:
            if self.decompressor.eof:
                self.decompressor = zlib.decompressobj(GZIP_WBITS)
            room = self.limit + 1 - len(self.body)
            try:
                self.body.extend(self.decompressor.decompress(data, room))
            except zlib.error as error:
                raise ApiError(
                    400,
                    "invalid_gzip",
                    f"the body is not valid gzip ({error}); compress the whole JSON body with gzip, "
                    "or send it uncompressed without the Content-Encoding header",
                ) from None
            # Output below `room` means the decompressor used all of `data`;
            # at `room` the body has passed its limit and the caller stops.
            data = self.decompressor.unused_data if self.decompressor.eof and len(self.body) <= self.limit else b""

    def _received_too_large(self, size: int | None) -> ApiError:
        """Return the 413 error for a body of `size` bytes, or None when reading stopped part way."""
        amount = f"{size} bytes" if size is not None else f"more than {self.received_limit} bytes"
        if self.gzip:
            return too_large(self.kind, f"has {amount} compressed with gzip")
        return too_large(self.kind, f"has {amount}")


def too_large(kind: str, detail: str) -> ApiError:
    """Return the 413 error of a request whose body is over its limit; `detail` gives its size."""
    if kind == "batch":
        message = (
            f"the batch {detail}, over the limit of 500 KB ({BATCH_LIMIT} bytes) per batch; "
            "send fewer messages per batch"
        )
    else:
        message = f"the message {detail}, over the limit of 32 KB ({MESSAGE_LIMIT} bytes) per message; {SHRINK_MESSAGE}"
    return ApiError(413, "too_large", message)


def parse_json(body: bytes) -> Any:
    text = decode_utf8(body)
    if not text.strip():
        raise ApiError(400, "invalid_json", "the body is empty; send a JSON object such as the examples in docs/api.md")
    try:
        document = json.loads(
            text, parse_constant=_reject_constant, parse_int=_parse_int, object_pairs_hook=mark_repeated_keys
        )
    except RecursionError:
        raise ApiError(400, "invalid_json", "the body nests objects or lists too deeply; flatten it") from None
    except json.JSONDecodeError as error:
        raise ApiError(
            400,
            "invalid_json",
            # Some of json's messages end in "at" already, as "Invalid control character at".
            f"the body is not valid JSON: {error.msg.removesuffix(' at')} at line {error.lineno}, "
            f"column {error.colno}",
        ) from None
    check_values(document)
    return document


def decode_utf8(body: bytes, field: str | None = None) -> str:
    """Decode a JSON body as strict UTF-8, skipping a UTF-8 byte order mark.

    json.loads would take bytes in UTF-16 or UTF-32 too, but RFC 8259
    (section 8.1) requires UTF-8 between systems. It also lets a parser
    ignore a byte order mark, which some Windows clients send. The 400
    error names `field`, if given.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ApiError(400, "invalid_json", _not_utf8_message(body, error), field) from None
    # JSON text starts with white space or a value, never with NUL, but
    # UTF-16 or UTF-32 text of ASCII characters without a byte order mark
    # does, and it decodes as UTF-8.
    if "\x00" in text[:4]:
        raise ApiError(400, "invalid_json", UTF16_MESSAGE, field)
    return text


def _not_utf8_message(body: bytes, error: UnicodeDecodeError) -> str:
    if body.startswith(GZIP_MAGIC):
        return "the body is compressed with gzip but has no Content-Encoding header; add Content-Encoding: gzip"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in body[:4]:
        return UTF16_MESSAGE
    return not_utf8_message(error)


class _HugeInteger(float):
    """An integer literal beyond a double's range, kept for check_values to name its path."""


def _parse_int(text: str) -> int | float:
    # A double reaches about 1.8e308, a number of 309 digits. Longer literals are not
    # converted at all: Python refuses more than 4,300 digits, and the
    # conversion takes time quadratic in the length.
    if len(text.lstrip("-")) > 309:
        return _HugeInteger("inf")
    value = int(text)
    try:
        float(value)
    except OverflowError:
        return _HugeInteger("inf")
    return value


def _reject_constant(name: str):
    raise ApiError(400, "invalid_json", f"the body contains {name}, which JSON does not allow; send a number or null")


def check_values(document: Any) -> None:
    """Reject text that a database cannot store (NUL characters, lone surrogates),
    infinite numbers, objects with a repeated key, and objects or lists
    nested deeper than MAX_NESTING.

    The error names the path of the first such value, in document order.
    """
    pending: list[tuple[str, Any, int]] = [("", document, 1)]
    while pending:
        where, value, depth = pending.pop()
        if isinstance(value, (dict, list)) and depth > MAX_NESTING:
            raise ApiError(
                400,
                "invalid_json",
                f"{where} nests objects or lists more than {MAX_NESTING} levels deep; flatten it",
                where,
            )
        if isinstance(value, str):
            _check_text(value, where or "the body", where)
        elif isinstance(value, float) and math.isinf(value):
            raise ApiError(
                400,
                "invalid_number",
                f"{where or 'the body'} is a number too large for a double (above about 1.8e308); "
                "send a smaller number or text",
                where or None,
            )
        elif isinstance(value, dict):
            for key in value:
                _check_text(key, f"a key of {where or 'the body'}", where)
            if isinstance(value, RepeatedKeyObject):
                raise _repeated_key_error(where, value.key)
            children = [(f"{where}.{key}" if where else key, item, depth + 1) for key, item in value.items()]
            pending.extend(reversed(children))
        elif isinstance(value, list):
            items = [(f"{where}[{index}]", item, depth + 1) for index, item in enumerate(value)]
            pending.extend(reversed(items))


def _repeated_key_error(where: str, key: str) -> ApiError:
    path = f"{where}.{key}" if where else key
    return ApiError(
        400,
        "duplicate_key",
        f"{where or 'the body'} contains the key {json.dumps(key)[:60]} more than once; send each key once",
        path,
    )


def _check_text(text: str, subject: str, where: str) -> None:
    if "\x00" in text:
        raise ApiError(400, "invalid_text", f"{subject} contains a NUL character (\\u0000); remove it", where or None)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(
            400,
            "invalid_text",
            f"{subject} contains an unpaired UTF-16 surrogate (such as \\ud800); send valid Unicode text",
            where or None,
        ) from None
