"""Settings: API keys (create, revoke) and webhook subscriptions with their
delivery log and a test webhook. A new secret is shown once, on the page
returned for the form that created it.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse

from leadq.dashboard.path_ids import PageKeyId, PageSubscriptionId
from leadq.dashboard.rendering import PAGE_METHODS, render
from leadq.dashboard.sessions import PageError, Session, current_session, editor_session
from leadq.errors import OptionError
from leadq.service.keys import KINDS, MAX_NAME_LENGTH, create_key, list_keys, revoke_key
from leadq.service.webhooks import (
    EVENT_TYPES,
    SubscriptionError,
    create_subscription,
    delete_subscription,
    delivery_log,
    enqueue_test,
    find_subscription,
    list_subscriptions,
)
from leadq.store.database import now_micros

router = APIRouter(prefix="/dashboard/settings", include_in_schema=False)
LOG_ROWS = 10
NOTICES = {
    "revoked": "The key was revoked; requests with it now fail.",
    "test": "A test webhook was queued; its attempts show in the delivery log.",
    "removed": "The subscription was removed and its unsent webhooks cancelled.",
}


@router.api_route("", methods=PAGE_METHODS)
def settings_page(
    request: Request, session: Annotated[Session, Depends(current_session)]
):
    return _settings(request, notice=NOTICES.get(request.query_params.get("done", "")))


@router.post("/keys")
def create_api_key(
    request: Request,
    session: Annotated[Session, Depends(editor_session)],
    kind: Annotated[str, Form()],
    # create_key checks the name's length, and Starlette stops a form field at 1 MiB.
    name: Annotated[str, Form()] = "",
):
    try:
        with request.app.state.store.write() as connection:
            secret = create_key(connection, kind, name.strip() or f"{kind} key")
    except OptionError as error:
        raise PageError(422, f"The key was not created: {error}.") from None
    return _settings(request, secret=("key", secret))


@router.post("/keys/{key_id}/revoke")
def revoke_api_key(
    request: Request,
    session: Annotated[Session, Depends(editor_session)],
    key_id: PageKeyId,
):
    with request.app.state.store.write() as connection:
        if not revoke_key(connection, key_id, now_micros()):
            raise PageError(404, f"No unrevoked API key has the id {key_id}.")
    return RedirectResponse("/dashboard/settings?done=revoked", status_code=303)


@router.post("/webhooks")
def add_webhook(
    request: Request,
    session: Annotated[Session, Depends(editor_session)],
    url: Annotated[str, Form(max_length=2048)],
    event_type: Annotated[list[str] | None, Form()] = None,
):
    try:
        with request.app.state.store.write() as connection:
            _, secret = create_subscription(
                connection, url, event_type or [], None, now_micros()
            )
    except SubscriptionError as error:
        return _settings(
            request,
            status_code=422,
            error=f"The subscription was not added: {error.message}",
        )
    return _settings(request, secret=("signing secret", secret))


@router.post("/webhooks/{subscription_id}/test")
def send_test(
    request: Request,
    session: Annotated[Session, Depends(editor_session)],
    subscription_id: PageSubscriptionId,
):
    with request.app.state.store.write() as connection:
        if find_subscription(connection, subscription_id) is None:
            raise PageError(
                404, f"No active webhook subscription has the id {subscription_id}."
            )
        enqueue_test(connection, subscription_id, now_micros())
    return RedirectResponse("/dashboard/settings?done=test", status_code=303)


@router.post("/webhooks/{subscription_id}/remove")
def remove_webhook(
    request: Request,
    session: Annotated[Session, Depends(editor_session)],
    subscription_id: PageSubscriptionId,
):
    with request.app.state.store.write() as connection:
        if not delete_subscription(connection, subscription_id, now_micros()):
            raise PageError(
                404, f"No active webhook subscription has the id {subscription_id}."
            )
    return RedirectResponse("/dashboard/settings?done=removed", status_code=303)


def _settings(request: Request, status_code: int = 200, **context):
    with request.app.state.store.read() as connection:
        keys = list_keys(connection)
        subscriptions = [
            (subscription, delivery_log(connection, subscription.id, limit=LOG_ROWS))
            for subscription in list_subscriptions(connection)
        ]
    return render(
        request,
        "settings.html",
        status_code=status_code,
        keys=keys,
        kinds=KINDS,
        key_name_length=MAX_NAME_LENGTH,
        subscriptions=subscriptions,
        event_types=EVENT_TYPES,
        **context,
    )
