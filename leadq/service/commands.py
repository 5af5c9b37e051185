"""Commands of the service: serve, keys, erase."""

from __future__ import annotations

from typing import Annotated, Optional

import typer
from sqlalchemy.exc import DBAPIError

from leadq.output import plural
from leadq.service.erasure import ErasureFailed, ErasureRecord, erase_email
from leadq.service.keys import KINDS, create_key
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


def serve(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Run the tracking API, the leads API and webhook delivery."""
    import uvicorn

    from leadq.service.app import create_app

    store = open_store(database)
    typer.echo(f"leadq serves {_shown(store.url)} on http://{host}:{port}", err=True)
    uvicorn.run(create_app(store), host=host, port=port, log_level="warning")


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


def erase(
    email: Annotated[str, typer.Argument(help="Email address of the person to erase.")],
    database: DatabaseOption = None,
) -> None:
    """Erase a person's leads and all data stored about them, by email."""
    store = open_store(database)
    try:
        with store.write() as connection:
            records = erase_email(connection, email, now_micros())
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0]
        message = f"the erasure failed and changed nothing: {reason}"
        raise ErasureFailed(message) from None
    finally:
        store.dispose()
    for record in records:
        typer.echo(erasure_summary(record))


def erasure_summary(record: ErasureRecord) -> str:
    removed = ", ".join(
        [
            plural(record.leads_removed, "lead", "leads"),
            plural(record.events_removed, "event", "events"),
            plural(record.identities_removed, "identity", "identities"),
            plural(record.stage_changes_removed, "stage change", "stage changes"),
            plural(record.score_snapshots_removed, "score snapshot", "score snapshots"),
            plural(record.outcomes_removed, "outcome", "outcomes"),
            plural(record.webhooks_removed, "pending webhook", "pending webhooks"),
        ]
    )
    redacted = plural(record.webhooks_redacted, "sent webhook", "sent webhooks")
    return f"erased lead {record.lead_id}: removed {removed}; redacted {redacted}"


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(erase)
    app.add_typer(keys_app, name="keys")
