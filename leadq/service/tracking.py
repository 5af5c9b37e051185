"""The tracking API in Segment's format: track, page, identify, group, batch.

Requests authenticate with a write key as the HTTP Basic user name, as
Segment's do. Segment's limits apply: 32 KB per message and 500 KB per
batch. A request is checked whole before anything is stored, so a 4xx
stores nothing, and a 2xx response means its events are committed.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from leadq.binding import is_finite_number
from leadq.compiler.layout import Layout
from leadq.lead_columns import AttributeFields, folded
from leadq.scoring import micros_since_epoch
from leadq.service.errors import ApiError
from leadq.service.event_times import YEARS_PROBLEM, future_time_problem
from leadq.service.identity import MAX_EMAIL_LENGTH, is_email_address, normalized_email
from leadq.service.ingest import Message
from leadq.service.keys import active_key_hashes, authorize, key_hash, required_key, unknown_key_error
from leadq.service.tracking_body import MESSAGE_LIMIT, SHRINK_MESSAGE, read_json_body
from leadq.service.tracking_writer import TrackingRequest, tracking_writer

TYPES = ("track", "page", "identify", "group")
# The maximum length of a userId, anonymousId, messageId or groupId, in characters after trimming.
MAX_ID_LENGTH = 512

router = APIRouter(prefix="/v1", tags=["tracking"])


def _body_doc(summary: str, required: list[str]) -> dict:
    schema = {
        "type": "object",
        "required": required,
        "properties": {
            "userId": {"type": "string"},
            "anonymousId": {"type": "string"},
            "messageId": {"type": "string", "description": "Makes delivery idempotent."},
            "timestamp": {"type": "string", "format": "date-time"},
            "event": {"type": "string"},
            "properties": {"type": "object"},
            "traits": {"type": "object"},
            "groupId": {"type": "string"},
            "batch": {"type": "array", "items": {"type": "object"}},
        },
    }
    body = {"required": True, "description": summary, "content": {"application/json": {"schema": schema}}}
    # A write key, as the HTTP Basic user name or a bearer token. The schemes
    # are declared here rather than as dependencies, which would run on
    # every tracking request.
    return {"requestBody": body, "security": [{"bearer": []}, {"basic": []}]}


@router.post("/track", openapi_extra=_body_doc("A Segment track call.", ["event"]))
async def track(request: Request) -> dict:
    return await _handle(request, "track")


@router.post("/page", openapi_extra=_body_doc("A Segment page call; stored as page_viewed.", []))
async def page(request: Request) -> dict:
    return await _handle(request, "page")


@router.post("/identify", openapi_extra=_body_doc("A Segment identify call.", []))
async def identify(request: Request) -> dict:
    return await _handle(request, "identify")


@router.post("/group", openapi_extra=_body_doc("A Segment group call.", ["groupId"]))
async def group(request: Request) -> dict:
    return await _handle(request, "group")


@router.post("/batch", openapi_extra=_body_doc("Up to 500 KB of Segment messages.", ["batch"]))
async def batch(request: Request) -> dict:
    return await _handle(request, "batch")


async def _handle(request: Request, kind: str) -> dict:
    hashed = await _authorize_tracking(request)
    document = await read_json_body(request, kind)
    if kind == "batch":
        messages, places = _batch_messages(document)
    else:
        messages, places = [parse_message(document, kind, "")], [""]
    writer = tracking_writer(request.app, screen_requests)
    result = await writer.write(TrackingRequest(messages, places, hashed))
    return {"success": True, "stored": result.stored, "repeated": result.repeated}


# Write keys seen to authorize tracking in this process, by hash. The set
# only saves a read per request: the writer checks every request's key
# again in the transaction that stores its events, so a revoked key stores nothing.
KNOWN_KEYS_LIMIT = 1_000


async def _authorize_tracking(request: Request) -> str:
    """Return the hash of the request's write key, or raise a 401 or 403."""
    hashed = key_hash(required_key(request))
    known = getattr(request.app.state, "tracking_keys", None)
    if known is None or len(known) >= KNOWN_KEYS_LIMIT:
        known = request.app.state.tracking_keys = set()
    if hashed not in known:
        await run_in_threadpool(authorize, request, "track")
        known.add(hashed)
    return hashed


def screen_requests(connection, active, requests: list[TrackingRequest]) -> list[Exception | None]:
    """Reject requests whose key is now revoked or whose numbers the active model cannot compare."""
    active_keys = active_key_hashes(connection, {request.key_hash for request in requests})
    layout = active.compiled.layout
    trait_fields = AttributeFields(active.model.columns, layout.lead_fields)
    errors: list[Exception | None] = []
    for request in requests:
        try:
            if request.key_hash not in active_keys:
                raise unknown_key_error()
            for message, where in zip(request.messages, request.places):
                check_numbers(message, where, layout, trait_fields)
        except ApiError as error:
            errors.append(error)
        else:
            errors.append(None)
    return errors


def _batch_messages(document: Any) -> tuple[list[Message], list[str]]:
    if not isinstance(document, dict):
        raise ApiError(400, "invalid_type", "the body must be a JSON object with a `batch` list", "batch")
    items = document.get("batch")
    if not isinstance(items, list) or not items:
        raise ApiError(400, "invalid_type", "`batch` must be a non-empty list of messages", "batch")
    messages, places = [], []
    for index, item in enumerate(items):
        where = f"batch[{index}]."
        places.append(where)
        if not isinstance(item, dict):
            raise ApiError(400, "invalid_type", f"{where[:-1]} must be a JSON object", where[:-1])
        # Counted as UTF-8, like the body of /v1/track, not with \u escapes.
        compact = json.dumps(item, separators=(",", ":"), ensure_ascii=False)
        size = len(compact.encode("utf-8", "surrogatepass"))
        if size > MESSAGE_LIMIT:
            raise ApiError(
                413,
                "too_large",
                f"{where[:-1]} has {size} bytes, over the limit of 32 KB ({MESSAGE_LIMIT} bytes) per message; "
                + SHRINK_MESSAGE,
                where[:-1],
            )
        kind = item.get("type")
        if kind is None:
            raise ApiError(
                400, "missing_field", f"{where}type is required: one of {', '.join(TYPES)}", where + "type"
            )
        if kind not in TYPES:
            raise ApiError(
                400, "invalid_type", f"{where}type is {kind!r}; expected one of {', '.join(TYPES)}", where + "type"
            )
        messages.append(parse_message(item, kind, where))
    return messages, places


def check_numbers(message: Message, where: str, layout: Layout, trait_fields: AttributeFields) -> None:
    """Reject a trait or property that the active model compares as a number
    but that is not one, as `leadq score` rejects such a cell.

    Traits become lead fields as stored leads' attributes do when they are
    scored (leadq.service.lead_tables).
    """
    tests = [
        ("traits", message.traits, layout.lead_fields, trait_fields.field_of),
        ("properties", message.properties, layout.properties, lambda name: name),
    ]
    for section, values, fields, field_of in tests:
        for name, value in values.items():
            bound = fields.get(field_of(name))
            if bound is None or bound.number is None or _is_number(value):
                continue
            raise ApiError(
                400,
                "invalid_value",
                f"{where}{section}.{name} is {json.dumps(value)[:60]}, but the model compares "
                f"{name!r} as a number; send a plain number such as 1200, or leave it out",
                f"{where}{section}.{name}",
            )


def _is_number(value: Any) -> bool:
    if value is None or (isinstance(value, str) and not value.strip()):
        return True
    return is_finite_number(value.strip() if isinstance(value, str) else value)


def parse_message(document: Any, kind: str, where: str) -> Message:
    """Check one Segment message; every error names its field."""
    if not isinstance(document, dict):
        raise ApiError(400, "invalid_type", "the body must be a JSON object", where[:-1] or None)
    user_id = _identifier(document, "userId", where)
    anonymous_id = _identifier(document, "anonymousId", where)
    if user_id is None and anonymous_id is None:
        raise ApiError(400, "missing_field", f"{where}userId or {where}anonymousId is required", where + "userId")
    message_id = _identifier(document, "messageId", where) or f"leadq-{uuid.uuid4()}"
    message = Message(kind, message_id, user_id, anonymous_id, timestamp=_timestamp(document, where))
    message.properties = _object(document, "properties", where)
    if kind == "group":
        # A group's traits describe the company, and its context.traits describe the person.
        message.traits = _object(document, "traits", where)
        _reject_blank_keys(message.traits, where + "traits")
    else:
        traits, traits_field = _traits(document, where)
        message.traits = _person_traits(traits, traits_field)
    if kind == "track":
        message.event = _event_name(document, where)
    if kind == "page" and document.get("name") is not None:
        message.properties.setdefault("name", _text(document, "name", where))
    if kind == "group":
        message.group_id = _identifier(document, "groupId", where)
        if message.group_id is None:
            raise ApiError(400, "missing_field", f"{where}groupId is required", where + "groupId")
    return message


def _identifier(document: dict, name: str, where: str) -> str | None:
    value = document.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise ApiError(
            400, "invalid_type", f"{where}{name} must be a string or an integer, got {json.dumps(value)[:60]}", where + name
        )
    text = str(value).strip()
    if len(text) > MAX_ID_LENGTH:
        message = (
            f"{where}{name} has {len(text)} characters, more than the limit of {MAX_ID_LENGTH}; "
            f"send an id of at most {MAX_ID_LENGTH} characters, "
            "such as a database key or a hash of a longer id"
        )
        raise ApiError(400, "invalid_value", message, where + name)
    return text or None


def _text(document: dict, name: str, where: str) -> str:
    value = document.get(name)
    if not isinstance(value, str):
        raise ApiError(400, "invalid_type", f"{where}{name} must be a string, got {json.dumps(value)[:60]}", where + name)
    return value


def _event_name(document: dict, where: str) -> str:
    if document.get("event") is None:
        raise ApiError(400, "missing_field", f"{where}event is required: the name of what the person did", where + "event")
    name = _text(document, "event", where).strip()
    if not name or len(name) > 200:
        raise ApiError(400, "invalid_value", f"{where}event must have 1 to 200 characters", where + "event")
    return name


def _object(document: dict, name: str, where: str) -> dict:
    value = document.get(name)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ApiError(400, "invalid_type", f"{where}{name} must be a JSON object, got {json.dumps(value)[:60]}", where + name)
    return value


def _traits(document: dict, where: str) -> tuple[dict, str]:
    """Return the message's traits and the field they came from (`traits` or `context.traits`)."""
    traits = _object(document, "traits", where)
    if traits:
        return traits, where + "traits"
    context = _object(document, "context", where)
    return _object(context, "traits", where + "context."), where + "context.traits"


def _person_traits(traits: dict, field: str) -> dict:
    """Check the keys of a person's traits and return them with the email trait normalized.

    Trait keys become lead fields without regard to case or surrounding
    spaces (leadq.lead_columns), so two keys that are equal once trimmed
    and lower-cased would be one field, and the value that scoring reads
    would depend on their order. A key such as `Email` or ` EMAIL ` is the
    email trait, and it is stored under the key `email`.
    """
    _reject_blank_keys(traits, field)
    spellings: dict[str, str] = {}
    for key in traits:
        first = spellings.setdefault(folded(key), key)
        if first != key:
            raise ApiError(
                400,
                "duplicate_key",
                f"{field} contains the keys {json.dumps(first)[:60]} and {json.dumps(key)[:60]}, "
                "which name one trait once trimmed and lower-cased; send one of them",
                f"{field}.{key}",
            )
    email_key = spellings.get("email")
    if email_key is None:
        return traits
    renamed = {("email" if key == email_key else key): value for key, value in traits.items()}
    renamed["email"] = _normalized_email_trait(traits[email_key], f"{field}.{email_key}")
    return renamed


def _reject_blank_keys(traits: dict, field: str) -> None:
    for key in traits:
        if not key.strip():
            raise ApiError(
                400,
                "invalid_value",
                f"{field} contains the blank key {json.dumps(key)[:60]}; "
                "name the trait, such as \"title\", or leave it out",
                field,
            )


def _normalized_email_trait(email: Any, field: str) -> str:
    """Return the email trait trimmed and lower-cased, as the lead's email is.

    An email trait that is not an email address, null included, is
    rejected, because the lead's email and its `email` attribute would
    then disagree. `field` is the trait's path as sent.
    """
    if not isinstance(email, str):
        raise ApiError(
            400,
            "invalid_type",
            f"{field} must be a string such as \"ada@example.com\", got {json.dumps(email)[:60]}",
            field,
        )
    normalized = normalized_email(email)
    size = len((normalized or "").encode("utf-8", "surrogatepass"))
    if size > MAX_EMAIL_LENGTH:
        raise ApiError(
            400,
            "invalid_value",
            f"{field} has {size} bytes, over the limit of {MAX_EMAIL_LENGTH} bytes for an email address; "
            "send the person's address, or leave the trait out",
            field,
        )
    if not is_email_address(normalized):
        raise ApiError(
            400,
            "invalid_value",
            f"{field} is {json.dumps(email)[:60]}, which is not an email address; "
            "send an address such as \"ada@example.com\", or leave the trait out",
            field,
        )
    return normalized


def _timestamp(document: dict, where: str) -> int | None:
    value = document.get("timestamp")
    if value is None:
        return None
    moment = None
    year_zero = False
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            # datetime has no year 0, so it rejects such a time as malformed.
            year_zero = value.strip().startswith("0000-")
    aware = moment is not None and moment.tzinfo is not None
    outside_years = aware and not _plausible(moment)
    if year_zero or outside_years:
        raise ApiError(
            400,
            "invalid_value",
            f"{where}timestamp {json.dumps(value)[:60]} {YEARS_PROBLEM}; "
            "send the time the event happened",
            where + "timestamp",
        )
    if moment is None or moment.tzinfo is None:
        raise ApiError(
            400,
            "invalid_value",
            f"{where}timestamp {json.dumps(value)[:60]} is not an ISO 8601 time with a UTC offset; "
            "write it like 2026-12-01T09:30:00Z",
            where + "timestamp",
        )
    micros = micros_since_epoch(moment)
    problem = future_time_problem(micros)
    if problem is not None:
        raise ApiError(400, "invalid_value", f"{where}timestamp {json.dumps(value)[:60]} {problem}", where + "timestamp")
    return micros


def _plausible(moment: datetime) -> bool:
    try:
        utc = moment.astimezone(timezone.utc)
    except OverflowError:
        return False
    return 1970 <= utc.year <= 9999
