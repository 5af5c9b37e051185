"""`leadq users add`: add a user who signs in to the dashboard."""

from __future__ import annotations

from typing import Annotated

import typer

from leadq.service.commands import DatabaseOption

users_app = typer.Typer(
    help="Manage the users who sign in to the dashboard.", no_args_is_help=True
)


@users_app.command("add")
def add_user(
    username: Annotated[str, typer.Argument(help="Name to sign in with.")],
    role: Annotated[
        str,
        typer.Option(
            help="viewer (reads) or editor (also recycles, erases and changes settings)."
        ),
    ] = "viewer",
    database: DatabaseOption = None,
) -> None:
    """Add a user; the password is read from the terminal, or from stdin when piped."""
    from sqlalchemy.exc import IntegrityError

    from leadq.dashboard.users import create_user
    from leadq.errors import OptionError
    from leadq.store.database import open_store

    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    store = open_store(database)
    try:
        with store.write() as connection:
            create_user(connection, username, password, role)
    except IntegrityError:
        raise OptionError(
            f"a user named {username!r} exists already; choose another name"
        ) from None
    finally:
        store.dispose()
    typer.echo(f"added {role} {username}")


def register(app: typer.Typer) -> None:
    app.add_typer(users_app, name="users")
