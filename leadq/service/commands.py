"""Commands of the service: serve, keys."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from leadq.service.keys import KINDS, create_key
from leadq.store.database import URL_VARIABLE, open_store

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


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.add_typer(keys_app, name="keys")
