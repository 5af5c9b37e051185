"""Commands of the service: serve, keys, webhooks."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from leadq.service.delivery import settings_from_environment
from leadq.service.keys import KINDS, create_key
from leadq.service.webhooks import (
    EVENT_TYPES,
    SubscriptionError,
    SubscriptionNotFound,
    create_subscription,
    delete_subscription,
    list_subscriptions,
)
from leadq.store.database import URL_VARIABLE, now_micros, open_store

DatabaseOption = Annotated[
    Optional[str],
    typer.Option(
        "--database",
        help=f"Database URL (sqlite:///file or postgresql://...). Default: "
        f"${URL_VARIABLE}, else sqlite:///leadq.db.",
    ),
]

keys_app = typer.Typer(help="Create API keys.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Subscribe URLs to lead events.", no_args_is_help=True)
# The command-line spelling of each field that SubscriptionError names.
WEBHOOK_OPTIONS = {"url": "URL", "event_types": "--event", "secret": "--secret"}


def serve(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the tracking API, the leads API and webhook delivery."""
    import uvicorn

    from leadq.service.app import create_app

    webhook_settings = settings_from_environment()
    store = open_store(database)
    typer.echo(f"leadq serves {_shown(store.url)} on http://{host}:{port}", err=True)
    app = create_app(store, webhook_settings=webhook_settings)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@keys_app.command("create")
def create(
    kind: Annotated[str, typer.Argument(help=f"Kind of key: {', '.join(KINDS)}.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    database: DatabaseOption = None,
) -> None:
    """Create a key and print it; it is shown only this once."""
    store = open_store(database)
    try:
        with store.write() as connection:
            key = create_key(connection, kind, name or f"{kind} key")
    finally:
        store.dispose()
    typer.echo(key)


@webhooks_app.command("add")
def add_webhook(
    url: Annotated[
        str, typer.Argument(help="Where to POST the webhooks (http:// or https://).")
    ],
    event: Annotated[
        list[str],
        typer.Option(
            "--event",
            help=f"Event type to send; repeat for more: {', '.join(EVENT_TYPES)}.",
        ),
    ],
    secret: Annotated[
        Optional[str],
        typer.Option(help="Signing secret, 24 to 256 characters. Default: generated."),
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Subscribe a URL to events and print its id and signing secret."""
    store = open_store(database)
    try:
        with store.write() as connection:
            subscription, secret = create_subscription(
                connection, url, event, secret, now_micros()
            )
    except SubscriptionError as error:
        option = WEBHOOK_OPTIONS[error.field.partition(".")[0]]
        raise SubscriptionError(error.field, f"{option}: {error.message}") from None
    finally:
        store.dispose()
    typer.echo(f"id: {subscription.id}")
    typer.echo(f"secret: {secret}")
    typer.echo(
        "The secret is shown only this once; receivers need it to verify signatures.",
        err=True,
    )


@webhooks_app.command("list")
def list_webhooks(database: DatabaseOption = None) -> None:
    """Print the active subscriptions, one a line: id, URL and event types."""
    store = open_store(database)
    try:
        with store.read() as connection:
            subscriptions = list_subscriptions(connection)
    finally:
        store.dispose()
    for subscription in subscriptions:
        event_types = ",".join(subscription.event_types)
        typer.echo(f"{subscription.id}\t{subscription.url}\t{event_types}")


@webhooks_app.command("remove")
def remove_webhook(
    webhook_id: Annotated[
        int, typer.Argument(metavar="ID", help="Id from `leadq webhooks list`.")
    ],
    database: DatabaseOption = None,
) -> None:
    """Delete a subscription and cancel its webhooks not yet delivered."""
    store = open_store(database)
    try:
        with store.write() as connection:
            removed = delete_subscription(connection, webhook_id)
    finally:
        store.dispose()
    if not removed:
        raise SubscriptionNotFound(webhook_id)
    typer.echo(f"removed webhook subscription {webhook_id}")


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(keys_app, name="keys")
    app.add_typer(webhooks_app, name="webhooks")
