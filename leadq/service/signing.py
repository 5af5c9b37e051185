"""Webhook signatures: HMAC-SHA256 over the timestamp and the raw body.

The sender puts the unix time in seconds in `leadq-timestamp` and
`v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` in `leadq-signature`, keyed
with the subscription's secret. Signing the timestamp with the body lets a
receiver reject a captured request that is replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SCHEME = "v1"
TIMESTAMP_HEADER = "leadq-timestamp"
SIGNATURE_HEADER = "leadq-signature"
DELIVERY_ID_HEADER = "leadq-delivery-id"
EVENT_TYPE_HEADER = "leadq-event-type"
DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """A webhook request whose signature or timestamp does not verify."""


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """Return the `leadq-signature` value for a body sent at `timestamp`."""
    message = str(int(timestamp)).encode("ascii") + b"." + body
    digest = hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    return f"{SCHEME}={digest}"


def signed_headers(
    secret: str, delivery_id: str, event_type: str, body: bytes, timestamp: int
) -> dict[str, str]:
    """Build the headers of one delivery attempt, signed at `timestamp`."""
    return {
        "content-type": "application/json",
        DELIVERY_ID_HEADER: delivery_id,
        EVENT_TYPE_HEADER: event_type,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(secret, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes | str,
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> None:
    """Check a received webhook and raise SignatureError unless it is authentic.

    `headers` may be any mapping with case-insensitive or lower-case names,
    and `body` must be the raw request body, before any JSON parsing. The
    timestamp must lie within `tolerance_seconds` of `now` (default: the
    current time) in either direction. The signature header may carry
    several `v1=` values separated by commas; one match is enough.
    """
    raw = body.encode("utf-8") if isinstance(body, str) else body
    timestamp = _timestamp(headers)
    _check_age(timestamp, time.time() if now is None else now, tolerance_seconds)
    expected = sign(secret, timestamp, raw)
    offered = _signatures(headers)
    # Compare every value, so the time taken does not show which one matched.
    matches = [hmac.compare_digest(expected, candidate) for candidate in offered]
    if not any(matches):
        raise SignatureError(
            f"no {SCHEME} signature in {SIGNATURE_HEADER} matches the body"
        )


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name)
    if value is None:
        lowered = {key.lower(): value for key, value in headers.items()}
        value = lowered.get(name)
    if value is None:
        raise SignatureError(f"missing header {name}")
    return value


def _timestamp(headers: Mapping[str, str]) -> int:
    value = _header(headers, TIMESTAMP_HEADER).strip()
    if not value.isdigit():
        raise SignatureError(f"{TIMESTAMP_HEADER} must be unix seconds, got {value!r}")
    return int(value)


def _check_age(timestamp: int, now: float, tolerance_seconds: float) -> None:
    age = now - timestamp
    if abs(age) > tolerance_seconds:
        raise SignatureError(
            f"{TIMESTAMP_HEADER} {timestamp} is {abs(age):.0f} s "
            f"{'old' if age > 0 else 'in the future'}; at most "
            f"{tolerance_seconds:g} s is accepted"
        )


def _signatures(headers: Mapping[str, str]) -> list[str]:
    values = [part.strip() for part in _header(headers, SIGNATURE_HEADER).split(",")]
    offered = [value for value in values if value.startswith(f"{SCHEME}=")]
    if not offered:
        raise SignatureError(f"{SIGNATURE_HEADER} has no {SCHEME}= value")
    return offered
