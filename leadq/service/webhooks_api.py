"""The webhooks API under /api/webhooks: subscriptions and their delivery log.

Every route needs an admin key. A subscription's secret is returned once,
in the response that creates it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, Field

from leadq.service.api_json import StrictJsonRoute
from leadq.service.errors import ApiError
from leadq.service.keys import authorize
from leadq.service.lead_schemas import ErrorBody, ErrorDetail
from leadq.service.leads_api import KEY_SCHEMES
from leadq.service.webhooks import (
    DELIVERED,
    EVENT_TYPES,
    FAILED,
    PENDING,
    SENDING,
    Attempt,
    OutboxEntry,
    Subscription,
    SubscriptionError,
    create_subscription,
    delete_subscription,
    delivery_log,
    find_subscription,
    list_subscriptions,
    retry_delivery,
    stored_subscription,
)
from leadq.store import MAX_ID
from leadq.store.database import now_micros

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
StatusName = Literal["pending", "sending", "delivered", "failed", "cancelled"]
WebhookId = Annotated[
    int, Path(ge=1, le=MAX_ID, description="Webhook subscription id.")
]


def require_admin(request: Request) -> None:
    authorize(request, "manage")


class DeletedWebhookDetail(ErrorDetail):
    deleted_at: str | None = Field(
        description="When the subscription was deleted; null when it was deleted "
        "before leadq recorded the time of deletions."
    )


class DeletedWebhookBody(BaseModel):
    """The body of a 410 response for a deleted subscription."""

    error: DeletedWebhookDetail


def _errors(*statuses: int) -> dict:
    """Return the documented error responses: the key's 401 and 403, and `statuses`."""
    responses: dict = {status: {"model": ErrorBody} for status in (401, 403, *statuses)}
    if 410 in statuses:
        responses[410] = {
            "model": DeletedWebhookBody,
            "description": "The subscription was deleted; `deleted_at` says when.",
        }
    return responses


router = APIRouter(
    prefix="/api/webhooks",
    tags=["webhooks"],
    dependencies=[*KEY_SCHEMES, Depends(require_admin)],
    route_class=StrictJsonRoute,
)


class WebhookCreate(BaseModel):
    url: str = Field(
        description="Where to POST the webhooks: an http:// or https:// URL."
    )
    event_types: list[str] = Field(
        description=f"Event types to send: any of {', '.join(EVENT_TYPES)}."
    )
    secret: str | None = Field(
        default=None,
        description="Key for the HMAC-SHA256 signatures, 24 to 256 characters. "
        "Leave it out to have one generated.",
    )


class WebhookPublic(BaseModel):
    id: int
    url: str
    event_types: list[str]
    created_at: str


class WebhookCreated(WebhookPublic):
    secret: str = Field(
        description="The signing secret. It is returned only in this response."
    )


class WebhookList(BaseModel):
    data: list[WebhookPublic]
    count: int


class AttemptPublic(BaseModel):
    attempt: int
    at: str
    status_code: int | None
    error: str | None = Field(
        description="The transport error, or the start of a non-2xx response body."
    )
    duration_ms: float


class DeliveryPublic(BaseModel):
    id: int = Field(
        description="Position in the outbox, to pass as `before` for older rows."
    )
    delivery_id: str
    event_type: str
    status: str
    created_at: str
    next_attempt_at: str | None = Field(
        description="When the next attempt is due, while one is."
    )
    delivered_at: str | None
    attempts: list[AttemptPublic]


class DeliveryList(BaseModel):
    data: list[DeliveryPublic]
    next_before: int | None = Field(
        description="The `before` value of the next, older page; null on the last."
    )


class RetryAccepted(BaseModel):
    delivery_id: str
    status: str


@router.post("", status_code=201, response_model=WebhookCreated, responses=_errors(422))
def create_webhook(body: WebhookCreate, request: Request) -> WebhookCreated:
    """Subscribe a URL to event types and return the signing secret once."""
    try:
        with request.app.state.store.write() as connection:
            subscription, secret = create_subscription(
                connection, body.url, body.event_types, body.secret, now_micros()
            )
    except SubscriptionError as error:
        raise ApiError(
            422, "invalid_webhook", f"{error.field}: {error.message}", error.field
        ) from None
    return WebhookCreated(**_public(subscription).model_dump(), secret=secret)


@router.get("", response_model=WebhookList, responses=_errors())
def list_webhooks(request: Request) -> WebhookList:
    """List the active subscriptions, oldest first."""
    with request.app.state.store.read() as connection:
        subscriptions = list_subscriptions(connection)
    return WebhookList(
        data=[_public(item) for item in subscriptions], count=len(subscriptions)
    )


@router.get(
    "/{webhook_id}", response_model=WebhookPublic, responses=_errors(404, 410, 422)
)
def get_webhook(webhook_id: WebhookId, request: Request) -> WebhookPublic:
    with request.app.state.store.read() as connection:
        return _public(_found(connection, webhook_id))


@router.delete("/{webhook_id}", status_code=204, responses=_errors(404, 410, 422))
def delete_webhook(webhook_id: WebhookId, request: Request) -> Response:
    """Delete a subscription and cancel its webhooks not yet delivered.

    A subscription deleted before gets 410 with the time of its deletion.
    """
    with request.app.state.store.write() as connection:
        if not delete_subscription(connection, webhook_id, now_micros()):
            raise _missing(connection, webhook_id)
    return Response(status_code=204)


@router.get(
    "/{webhook_id}/deliveries", response_model=DeliveryList, responses=_errors(404, 422)
)
def list_deliveries(
    webhook_id: WebhookId,
    request: Request,
    limit: Annotated[int, Query(ge=1, le=500, description="Webhooks per page.")] = 50,
    before: Annotated[
        int | None,
        Query(ge=1, le=MAX_ID, description="Only webhooks older than this id."),
    ] = None,
    status: Annotated[
        StatusName | None, Query(description="Only webhooks in this state.")
    ] = None,
) -> DeliveryList:
    """Return a subscription's delivery log: webhooks, newest first, and attempts.

    The log of a deleted subscription stays readable, with its cancelled webhooks.
    """
    with request.app.state.store.read() as connection:
        if stored_subscription(connection, webhook_id) is None:
            raise _missing(connection, webhook_id)
        entries = delivery_log(
            connection, webhook_id, limit=limit, before=before, status=status
        )
    next_before = entries[-1].id if len(entries) == limit else None
    return DeliveryList(
        data=[_delivery(entry) for entry in entries], next_before=next_before
    )


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/retry",
    status_code=202,
    response_model=RetryAccepted,
    responses=_errors(404, 409, 410, 422),
)
def retry_webhook(
    webhook_id: WebhookId, delivery_id: str, request: Request
) -> RetryAccepted:
    """Send a delivered or failed webhook again, with the same delivery id."""
    with request.app.state.store.write() as connection:
        _found(connection, webhook_id)
        previous = retry_delivery(connection, webhook_id, delivery_id, now_micros())
    if previous is None:
        raise ApiError(
            404,
            "not_found",
            f"webhook subscription {webhook_id} has no delivery {delivery_id!r}",
        )
    if previous not in (DELIVERED, FAILED):
        raise ApiError(
            409,
            "not_retryable",
            f"delivery {delivery_id} is {previous}; only delivered or failed ones "
            "can be sent again",
        )
    return RetryAccepted(delivery_id=delivery_id, status=PENDING)


def _found(connection, webhook_id: int) -> Subscription:
    """Return the active subscription with this id, or raise the error of `_missing`."""
    subscription = find_subscription(connection, webhook_id)
    if subscription is None:
        raise _missing(connection, webhook_id)
    return subscription


def _missing(connection, webhook_id: int) -> ApiError:
    """Return the error of an id that no active subscription has.

    That is 404 for an id that no subscription ever had, and 410 with the
    time of the deletion, pointing to the delivery log, for a deleted one.
    """
    subscription = stored_subscription(connection, webhook_id)
    if subscription is None:
        return ApiError(404, "not_found", f"no webhook subscription has id {webhook_id}")
    deleted_at = subscription.deleted_at
    when = "at a time that leadq did not record"
    if deleted_at is not None:
        when = f"at {_iso(deleted_at)}"
    return ApiError(
        410,
        "webhook_deleted",
        f"webhook subscription {webhook_id} was deleted {when}; its delivery log stays "
        f"readable at GET /api/webhooks/{webhook_id}/deliveries",
        details={"deleted_at": None if deleted_at is None else _iso(deleted_at)},
    )


def _public(subscription: Subscription) -> WebhookPublic:
    return WebhookPublic(
        id=subscription.id,
        url=subscription.url,
        event_types=list(subscription.event_types),
        created_at=_iso(subscription.created_at),
    )


def _delivery(entry: OutboxEntry) -> DeliveryPublic:
    waiting = entry.status in (PENDING, SENDING)
    return DeliveryPublic(
        id=entry.id,
        delivery_id=entry.delivery_id,
        event_type=entry.event_type,
        status=entry.status,
        created_at=_iso(entry.created_at),
        next_attempt_at=_iso(entry.next_attempt_at) if waiting else None,
        delivered_at=_iso(entry.delivered_at)
        if entry.delivered_at is not None
        else None,
        attempts=[_attempt(item) for item in entry.attempts],
    )


def _attempt(attempt: Attempt) -> AttemptPublic:
    return AttemptPublic(
        attempt=attempt.attempt,
        at=_iso(attempt.at),
        status_code=attempt.status_code,
        error=attempt.error,
        duration_ms=round(attempt.duration_ms, 3),
    )


def _iso(micros: int) -> str:
    """Format int64 UTC microseconds as ISO 8601 with a Z."""
    moment = EPOCH + timedelta(microseconds=micros)
    return moment.isoformat().replace("+00:00", "Z")
