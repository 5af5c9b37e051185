"""Commands of the service: serve, import, keys, model, rescore, webhooks, erase."""

from __future__ import annotations

import errno
import logging
import math
import os
import socket
import time
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from leadq.crm.commands import CrmFormatOption, DateFormatOption, MapOption, crm_options
from leadq.errors import OptionError
from leadq.store import MAX_ID

# The service's modules load inside each command, so that `leadq score`
# starts without SQLAlchemy, Alembic and FastAPI.
URL_VARIABLE = "LEADQ_DATABASE_URL"
KINDS = ("write", "read", "admin")
EVENT_TYPES = ("lead.created", "lead.stage_changed", "lead.merged", "qualification.recorded")

DatabaseOption = Annotated[
    Optional[str],
    typer.Option(
        "--database",
        help=f"Database URL (sqlite:///file or postgresql://...). Default: "
        f"${URL_VARIABLE}, else sqlite:///leadq.db.",
    ),
]
ArtefactsOption = Annotated[
    Optional[Path],
    typer.Option(
        "--artefacts",
        help="Folder that the predictive model artefacts of stored models must be in. "
        "Default: $LEADQ_ARTEFACTS_DIR, else the folder `artefacts` beside a SQLite "
        "database, else ./artefacts.",
    ),
]


class ImportKind(str, Enum):
    leads = "leads"
    events = "events"
    outcomes = "outcomes"


keys_app = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
model_app = typer.Typer(help="Manage the service's scoring model.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Subscribe URLs to lead events.", no_args_is_help=True)
# The command-line spelling of each field that SubscriptionError names.
WEBHOOK_OPTIONS = {"url": "URL", "event_types": "--event", "secret": "--secret"}


def serve(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    rescore_every: Annotated[
        float, typer.Option(help="Seconds between rescoring every lead for time decay.")
    ] = 3600.0,
    artefacts: ArtefactsOption = None,
    workers: Annotated[
        int,
        typer.Option(
            help="Processes that serve HTTP requests. With more than 1, this process "
            "runs webhook delivery and scheduled rescoring and starts the others.",
        ),
    ] = 1,
) -> None:
    """Run the tracking API, the leads API, webhook delivery and the dashboard."""
    import uvicorn

    from leadq.dashboard.users import ensure_admin_user

    from leadq.service.app import create_app, writes_groups_in_own_process
    from leadq.store.database import open_store

    from leadq.service.delivery import settings_from_environment

    if not 1 <= port <= 65535:
        raise OptionError(f"--port {port}: give a TCP port from 1 to 65535, such as 8000")
    if not math.isfinite(rescore_every) or rescore_every <= 0:
        raise OptionError(f"--rescore-every {rescore_every:g}: give a number of seconds above 0, such as 3600")
    if workers < 1:
        raise OptionError(f"--workers {workers}: give a number of processes of 1 or more, such as 2")
    _check_can_listen(host, port)
    webhook_settings = settings_from_environment()
    log_like_the_service()
    store = open_store(database, artefacts=artefacts)
    password = ensure_admin_user(store)
    if password is not None:
        typer.echo(f"dashboard user admin created with password {password}; it is shown only this once", err=True)
    processes = f" in {workers} processes" if workers > 1 else ""
    typer.echo(f"leadq serves {_shown(store.url)} on http://{host}:{port}{processes}", err=True)
    typer.echo(f"predictive model artefacts load from {store.artefacts} only", err=True)
    typer.echo(f"dashboard: http://{host}:{port}/dashboard/leads", err=True)
    if workers > 1:
        _serve_in_processes(store, host, port, workers, rescore_every, webhook_settings)
        return
    app = create_app(
        store,
        rescore_every=rescore_every,
        webhook_settings=webhook_settings,
        groups_in_own_process=writes_groups_in_own_process(store),
    )
    uvicorn.run(app, host=host, port=port, log_level="warning")


def _check_can_listen(host: str, port: int) -> None:
    """Raise OptionError if this process cannot listen on `host` and `port`, before the store opens.

    uvicorn 0.55 reports a port in use only after the service started, and then
    exits with status 3. The check binds the way uvicorn does, with
    SO_REUSEADDR, so a port whose last connections wait in TIME_WAIT passes.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise OptionError(
                f"--host {host} --port {port}: cannot listen there "
                f"({error.strerror or error}); {_listen_fix(error)}"
            ) from None


def _listen_fix(error: OSError) -> str:
    if error.errno == errno.EADDRINUSE:
        return "stop the program that uses the port, or choose another --port"
    if error.errno == errno.EACCES:
        return "choose a --port above 1023, or run as a user allowed to use ports below 1024"
    return "give --host an address of this machine, such as 127.0.0.1 or 0.0.0.0"


def _serve_in_processes(store, host: str, port: int, workers: int, rescore_every: float, webhook_settings) -> None:
    """Serve HTTP in `workers` processes and run the background workers in this one.

    Each process writes tracking requests in its own groups. Webhook
    delivery leases outbox rows, so it could run anywhere, but one delivery
    worker and one rescore schedule are enough for the whole service.
    """
    import uvicorn

    from leadq.service.app import PARENT_VARIABLE, start_workers, stop_workers
    from leadq.service.model_versions import ensure_active_model, warn_beyond_limits
    from leadq.store.database import ARTEFACTS_VARIABLE

    warn_beyond_limits(ensure_active_model(store))
    # The worker processes start fresh (spawn) and open the same store from these variables.
    os.environ[URL_VARIABLE] = store.url
    os.environ[ARTEFACTS_VARIABLE] = str(store.artefacts)
    os.environ[PARENT_VARIABLE] = str(os.getpid())
    running = start_workers(store, rescore_every, webhook_settings)
    try:
        uvicorn.run(
            "leadq.service.app:create_worker_process_app",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_level="warning",
        )
    finally:
        stop_workers(running)
        store.dispose()


@model_app.command("activate")
def activate(
    path: Annotated[Path, typer.Argument(help="Model file (YAML).")],
    database: DatabaseOption = None,
    artefacts: ArtefactsOption = None,
) -> None:
    """Check, store and activate a model; `leadq serve` rescores every lead with it.

    Activating the active version's file again changes nothing, and the
    file of an earlier version makes that version active again. A changed
    file under a stored name and version is rejected: raise its `version:`.
    """
    from leadq.model.loading import parse_model
    from leadq.service.model_versions import activate_model_version
    from leadq.store.database import open_store

    text = read_model_text(path)
    # An invalid file is reported before a store is created for it.
    parse_model(text, source=str(path))
    store = open_store(database, artefacts=artefacts)
    try:
        with store.write() as connection:
            activation = activate_model_version(connection, text, str(path), path.parent)
    finally:
        store.dispose()
    typer.echo(activation_summary(activation))


def activation_summary(activation) -> str:
    from leadq.service.model_versions import ActivationResult

    label = activation.active.label
    rescored = "leads are rescored by `leadq serve` or `leadq rescore`"
    if activation.result is ActivationResult.UNCHANGED:
        return f"{label} is active already with this content; nothing changed, so no lead is rescored"
    if activation.result is ActivationResult.REACTIVATED:
        stored = _utc_text(activation.created_at)
        return f"reactivated {label}, stored at {stored}; {rescored}"
    return f"activated {label}; {rescored}"


@model_app.command("show")
def show(database: DatabaseOption = None) -> None:
    """Print the active model's YAML text."""
    from sqlalchemy import select

    from leadq.service.model_versions import ensure_active_model, warn_beyond_limits
    from leadq.store.database import open_store
    from leadq.store.tables import model_versions

    store = open_store(database, create=False)
    try:
        active = ensure_active_model(store)
        warn_beyond_limits(active)
        with store.read() as connection:
            body = connection.execute(select(model_versions.c.body).where(model_versions.c.id == active.id)).scalar_one()
    finally:
        store.dispose()
    typer.echo(body, nl=False)


def rescore(
    database: DatabaseOption = None,
    as_of: Annotated[Optional[str], typer.Option("--as-of", help="Rescore as of this ISO 8601 time. Default: now.")] = None,
    artefacts: ArtefactsOption = None,
) -> None:
    """Rescore every stored lead with the active model: decay, new versions (for cron)."""
    from leadq.scoring import micros_since_epoch, parse_as_of
    from leadq.service.model_versions import ensure_active_model, warn_beyond_limits
    from leadq.service.schedule import rescore_all
    from leadq.store.database import open_store

    store = open_store(database, artefacts=artefacts, create=False)
    try:
        active = ensure_active_model(store)
        warn_beyond_limits(active)
        _check_active_artefact(active, store.artefacts, "nothing was rescored")
        moment = micros_since_epoch(parse_as_of(as_of, active.model)) if as_of else None
        report = rescore_all(store, as_of=moment)
    finally:
        store.dispose()
    typer.echo(f"rescored {report.leads} leads with {active.label}; {report.stage_changes} stage changes")
    if report.failed:
        for lead_id, error in sorted(report.failed.items()):
            typer.echo(f"rescore of lead {lead_id} failed, so it keeps its old scores: {error}", err=True)
        typer.echo(f"{len(report.failed)} of the leads failed and the others were rescored", err=True)
        raise typer.Exit(1)


def _check_active_artefact(active, artefacts: Path | None, nothing_done: str) -> None:
    """Raise LeadqError, before anything is written, when the active version's
    artefact does not load or is not the one it was activated with.

    The service scores without probabilities then, and logs the error. A
    rescore or import run by hand or by cron reports it instead, because it
    would replace the stored probabilities of every lead it scores with none.
    `nothing_done` begins the message, such as "nothing was rescored".
    """
    from leadq.errors import LeadqError
    from leadq.service.artefacts import artefact_error

    if active.model.predictive is None:
        return
    error = artefact_error(active.id, active.compiled, artefacts)
    if error is not None:
        raise LeadqError(
            f"{nothing_done}, because the predictive artefact of {active.label} "
            f"did not load: {error}"
        )


def import_(
    kind: Annotated[
        ImportKind, typer.Argument(help="What the file contains: leads, events or outcomes.", metavar="KIND")
    ],
    path: Annotated[Path, typer.Argument(help="File to import: CSV, Parquet or JSON lines.", metavar="FILE")],
    database: DatabaseOption = None,
    encoding: Annotated[
        Optional[str], typer.Option("--encoding", help="Text encoding of CSV files when not UTF-8, such as cp1252.")
    ] = None,
    timezone: Annotated[
        Optional[str], typer.Option("--timezone", help="IANA time zone of timestamps written without an offset.")
    ] = None,
    crm_format: CrmFormatOption = None,
    maps: MapOption = None,
    date_format: DateFormatOption = None,
    artefacts: ArtefactsOption = None,
) -> None:
    """Import a file into the store, then rescore the leads it touched.

    Rows with a problem are rejected and listed; the other rows are imported.
    A leads file may be a HubSpot or Salesforce export (docs/crm.md).
    """
    from leadq.errors import InputError
    from leadq.inputs.files import checked_file
    from leadq.output import plural
    from leadq.service.imports import import_file
    from leadq.service.model_versions import ensure_active_model, warn_beyond_limits
    from leadq.store.database import open_store

    crm = crm_options(crm_format, maps, date_format)
    if kind != ImportKind.leads and (crm_format is not None or maps):
        raise OptionError("--format and --map apply to `leadq import leads` only")
    if kind == ImportKind.outcomes and date_format is not None:
        raise OptionError("--date-format applies to leads and events files; outcome times are ISO 8601")
    # A missing or unsupported file is reported before a store is created for it.
    checked_file(path)
    store = open_store(database, artefacts=artefacts)
    try:
        active = ensure_active_model(store)
        warn_beyond_limits(active)
        _check_active_artefact(active, store.artefacts, "nothing was imported")
        report = import_file(store, kind.value, path, encoding=encoding, timezone=timezone, crm=crm)
    finally:
        store.dispose()
    _print_import_report(report)
    if report.rows and not report.accepted:
        raise InputError("every row was rejected, so nothing was imported; fix the rows listed above", file=report.path)
    if report.rejected:
        # A cron job notices a partial import by the exit code.
        rows = plural(len(report.rejected), "row was", "rows were")
        typer.echo(f"{report.path}: {rows} rejected and the other rows imported; fix the rows listed above", err=True)
        raise typer.Exit(1)


def _print_import_report(report) -> None:
    from rich.table import Table

    from leadq.crm.vendors import read_format_name
    from leadq.errors import InputError
    from leadq.output import console

    out = console()
    out.print(f"imported {report.kind} from {report.path} with {report.model}", markup=False)
    if report.crm_format is not None:
        chosen_by = "detected from the header; --format overrides it" if report.crm_detected else "as --format names"
        name = read_format_name(report.crm_format, report.file_format)
        out.print(f"read as {name} ({chosen_by})", markup=False)
    table = Table(show_header=False)
    table.add_column("count")
    table.add_column("rows", justify="right")
    for label, count in _import_counts(report):
        table.add_row(label, f"{count:,}")
    out.print(table)
    for rejection in report.rejected:
        error = InputError(rejection.reason, file=report.path, column=rejection.column, **dict([rejection.place]))
        out.print(f"rejected: {error}", markup=False, soft_wrap=True)
    for note in _import_notes(report):
        out.print(f"note: {note}", markup=False)


def _import_notes(report) -> list[str]:
    from leadq.output import plural

    notes = []
    if report.superseded:
        rows = plural(report.superseded, "row repeats", "rows repeat")
        notes.append(f"{rows} an earlier lead key; the last row of each key was imported")
    missing = "stored values stay, and rules see a field as missing for leads without a stored value"
    if report.missing_fields:
        fields = "fields" if len(report.missing_fields) > 1 else "field"
        names = ", ".join(repr(name) for name in report.missing_fields)
        notes.append(f"the model reads the lead {fields} {names}, which the file lacks; {missing}")
    for column, field in report.absent_columns.items():
        notes.append(
            f"the file lacks the column {column!r}, which the model's `columns:` maps to the lead "
            f"field {field!r}; {missing}"
        )
    if report.score_columns:
        names = ", ".join(repr(name) for name in report.score_columns)
        notes.append(
            f"the columns {names} hold scores of an earlier leadq export; they were not imported, "
            "because leadq scores the leads itself"
        )
    return notes


def _import_counts(report) -> list[tuple[str, int]]:
    counts = [("rows read", report.rows)]
    if report.kind == "leads":
        counts += [("leads created", report.created), ("leads updated", report.updated)]
        counts += [("rows superseded", report.superseded)]
    elif report.kind == "events":
        counts += [("events stored", report.stored), ("events repeated", report.repeated)]
        counts += [("leads created", report.created)]
    else:
        counts += [("outcomes stored", report.stored), ("outcomes repeated", report.repeated)]
    counts += [("rows rejected", len(report.rejected)), ("leads rescored", report.rescored)]
    return counts + [("stage changes", report.stage_changes)]


@keys_app.command("create")
def create(
    kind: Annotated[str, typer.Argument(help=f"Kind of key: {', '.join(KINDS)}.")],
    name: Annotated[str, typer.Option(help="What the key is for.")] = "",
    database: DatabaseOption = None,
) -> None:
    """Create a key and print it; it is shown only this once."""
    from leadq.service.keys import check_new_key, create_key
    from leadq.store.database import open_store

    check_new_key(kind, name or f"{kind} key")
    store = open_store(database)
    try:
        with store.write() as connection:
            key = create_key(connection, kind, name or f"{kind} key")
    finally:
        store.dispose()
    typer.echo(key)


@keys_app.command("list")
def list_api_keys(database: DatabaseOption = None) -> None:
    """Print every key, newest first: id, kind, name, first characters, created, revoked."""
    from leadq.service.keys import list_keys
    from leadq.store.database import open_store

    store = open_store(database, create=False)
    try:
        with store.read() as connection:
            stored = list_keys(connection)
    finally:
        store.dispose()
    for key in stored:
        revoked = f"revoked {_utc_text(key.revoked_at)}" if key.revoked_at else "active"
        created = _utc_text(key.created_at)
        typer.echo(f"{key.id}\t{key.kind}\t{key.name}\t{key.prefix}...\t{created}\t{revoked}")


@keys_app.command("revoke")
def revoke(
    key_id: Annotated[
        int,
        typer.Argument(metavar="ID", min=1, max=MAX_ID, help="Id from `leadq keys list`."),
    ],
    database: DatabaseOption = None,
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from leadq.service.keys import KeyAlreadyRevoked, KeyNotFound, revoke_key, revoked_time
    from leadq.store.database import now_micros, open_store

    store = open_store(database, create=False)
    try:
        with store.write() as connection:
            revoked = revoke_key(connection, key_id, now_micros())
            earlier = None if revoked else revoked_time(connection, key_id)
    finally:
        store.dispose()
    if earlier is not None:
        raise KeyAlreadyRevoked(key_id, _utc_text(earlier))
    if not revoked:
        raise KeyNotFound(key_id)
    typer.echo(f"revoked key {key_id}")


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
    from leadq.service.webhooks import SubscriptionError, checked_subscription, create_subscription
    from leadq.store.database import now_micros, open_store

    # Bad options are reported before a store is created for them.
    try:
        checked_subscription(url, event, secret)
    except SubscriptionError as error:
        option = WEBHOOK_OPTIONS[error.field.partition(".")[0]]
        raise SubscriptionError(error.field, f"{option}: {error.message}") from None
    store = open_store(database)
    try:
        with store.write() as connection:
            subscription, secret = create_subscription(connection, url, event, secret, now_micros())
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
    from leadq.service.webhooks import list_subscriptions
    from leadq.store.database import open_store

    store = open_store(database, create=False)
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
        int,
        typer.Argument(
            metavar="ID", min=1, max=MAX_ID, help="Id from `leadq webhooks list`."
        ),
    ],
    database: DatabaseOption = None,
) -> None:
    """Delete a subscription and cancel its webhooks not yet delivered."""
    from leadq.service.webhooks import (
        SubscriptionAlreadyRemoved,
        SubscriptionNotFound,
        delete_subscription,
        stored_subscription,
    )
    from leadq.store.database import now_micros, open_store

    store = open_store(database, create=False)
    try:
        with store.write() as connection:
            removed = delete_subscription(connection, webhook_id, now_micros())
            earlier = None if removed else stored_subscription(connection, webhook_id)
    finally:
        store.dispose()
    if earlier is not None:
        removed_at = _utc_text(earlier.deleted_at) if earlier.deleted_at is not None else None
        raise SubscriptionAlreadyRemoved(webhook_id, removed_at)
    if not removed:
        raise SubscriptionNotFound(webhook_id)
    typer.echo(f"removed webhook subscription {webhook_id}")


def erase(
    email: Annotated[str, typer.Argument(help="Email address of the person to erase.")],
    database: DatabaseOption = None,
) -> None:
    """Erase a person's leads and all data stored about them, by email."""
    from sqlalchemy.exc import DBAPIError

    from leadq.service.erasure import ErasureFailed, erase_email
    from leadq.store.database import now_micros, open_store

    store = open_store(database, create=False)
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


def erasure_summary(record) -> str:
    from leadq.output import plural

    removed = ", ".join(
        [
            plural(record.leads_removed, "lead", "leads"),
            plural(record.events_removed, "event", "events"),
            plural(record.identities_removed, "identity", "identities"),
            plural(record.stage_changes_removed, "stage change", "stage changes"),
            plural(record.score_snapshots_removed, "score snapshot", "score snapshots"),
            plural(record.outcomes_removed, "outcome", "outcomes"),
            plural(record.qualifications_removed, "qualification", "qualifications"),
            plural(record.webhooks_removed, "pending webhook", "pending webhooks"),
        ]
    )
    redacted = plural(record.webhooks_redacted, "sent webhook", "sent webhooks")
    return f"erased lead {record.lead_id}: removed {removed}; redacted {redacted}"


def _utc_text(micros: int) -> str:
    """Format UTC microseconds since the epoch as the CLI writes times: ISO 8601 with a Z."""
    from leadq.service.lead_records import as_datetime

    return as_datetime(micros).isoformat().replace("+00:00", "Z")


def log_like_the_service() -> None:
    """Log leadq's INFO lines and start each line with its UTC time, since a service runs for days.

    A service logs its background work, starts and stops, which are INFO lines.
    """
    logging.getLogger("leadq").setLevel(logging.INFO)
    formatter = logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s", "%Y-%m-%dT%H:%M:%SZ"
    )
    formatter.converter = time.gmtime
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)


def _shown(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def read_model_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OptionError(f"{path}: no such model file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise OptionError(f"{path}: cannot read the model file ({error}); save it as UTF-8 text") from None


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command("import")(import_)
    app.command()(rescore)
    app.command()(erase)
    app.add_typer(keys_app, name="keys")
    app.add_typer(model_app, name="model")
    app.add_typer(webhooks_app, name="webhooks")
