"""Command-line options for CRM files, and `leadq export`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

# The CRM modules load inside each command, so that these options cost
# `leadq --help` nothing.


class CrmFormat(str, Enum):
    hubspot = "hubspot"
    salesforce = "salesforce"
    generic = "generic"


class DateFormat(str, Enum):
    day_first = "day-first"
    month_first = "month-first"
    iso = "ISO"


FORMAT_HELP = "CRM export format of the leads file. Default: detected from the header."
CrmFormatOption = Annotated[Optional[CrmFormat], typer.Option("--format", help=FORMAT_HELP)]
# `leadq score` has its own --format, for its output.
ScoreCrmFormatOption = Annotated[Optional[CrmFormat], typer.Option("--crm-format", help=FORMAT_HELP)]
MapOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--map",
        metavar="COLUMN=FIELD",
        help="Read a leads file column as this lead field; repeat for more columns.",
    ),
]
DateFormatOption = Annotated[
    Optional[DateFormat],
    typer.Option(
        "--date-format",
        help="Order of day and month in dates such as 11/03/2026. Default: such dates are rejected as ambiguous.",
    ),
]


def crm_options(crm_format, maps, date_format):
    """Return CrmOptions for the options given, or None when none was given."""
    from leadq.crm.reading import CrmOptions, parse_maps

    if crm_format is None and not maps and date_format is None:
        return None
    return CrmOptions(
        format=crm_format.value if crm_format else None,
        maps=parse_maps(maps or []),
        date_format=date_format.value if date_format else None,
    )


def export(
    crm_format: Annotated[CrmFormat, typer.Option("--format", help="CRM whose import format the file follows.")],
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write the CSV file here. Default: standard output.")
    ] = None,
    database: Annotated[
        Optional[str],
        typer.Option(
            "--database",
            help="Database URL of the store to export (sqlite:///file or postgresql://...). "
            "Default: $LEADQ_DATABASE_URL, else sqlite:///leadq.db.",
        ),
    ] = None,
    leads: Annotated[
        Optional[Path], typer.Option("--leads", help="Score this leads file and export it, instead of the store.")
    ] = None,
    events: Annotated[Optional[Path], typer.Option("--events", "-e", help="Events file for --leads.")] = None,
    model: Annotated[
        Optional[Path], typer.Option("--model", "-m", help="Model file for --leads. Default: the built-in B2B model.")
    ] = None,
    as_of: Annotated[
        Optional[str], typer.Option("--as-of", help="Score --leads as of this ISO 8601 time. Default: now.")
    ] = None,
    maps: MapOption = None,
    date_format: DateFormatOption = None,
    stage_values: Annotated[
        Optional[list[str]],
        typer.Option(
            "--stage-value",
            metavar="STAGE=VALUE",
            help="CRM value of a leadq stage (HubSpot lifecycle stage, Salesforce Lead Status); repeat for more.",
        ),
    ] = None,
    grade_values: Annotated[
        Optional[list[str]],
        typer.Option(
            "--grade-value",
            metavar="GRADE=VALUE",
            help="CRM value of a leadq grade (Salesforce Rating); repeat for more.",
        ),
    ] = None,
) -> None:
    """Write scored leads as a CSV file that HubSpot or Salesforce imports as it is."""
    from leadq.crm.export import build_export, parse_values, value_maps
    from leadq.errors import OptionError
    from leadq.output import check_output_path

    if leads is None and (events or model or as_of or maps or date_format):
        raise OptionError("--events, --model, --as-of, --map and --date-format need --leads FILE")
    if leads is not None and database is not None:
        raise OptionError("--leads scores a file and --database exports the store; pass one of them")
    if output is not None:
        check_output_path(output, [leads, events, model])
    maps_by_format = value_maps(
        crm_format.value,
        parse_values(stage_values or [], "--stage-value"),
        parse_values(grade_values or [], "--grade-value"),
    )
    if leads is None:
        exported = _stored_leads(database)
    else:
        exported = _scored_leads(leads, events, model, as_of, crm_options(None, maps, date_format))
    built = build_export(crm_format.value, exported, maps_by_format)
    _write(built, output)
    _print_export_notes(built, len(exported), crm_format.value, output)


def _stored_leads(database):
    from leadq.crm.export_sources import leads_from_store
    from leadq.store.database import open_store

    store = open_store(database, create=False)
    try:
        return leads_from_store(store)
    finally:
        store.dispose()


def _scored_leads(leads, events, model_path, as_of, crm):
    from leadq.crm.export_sources import leads_from_run
    from leadq.crm.reading import CrmOptions
    from leadq.scoring import parse_as_of, resolve_model, score_files

    model = resolve_model(model_path)
    crm = crm or CrmOptions()
    run = score_files(leads, events, model=model, as_of=parse_as_of(as_of, model), crm=crm)
    return leads_from_run(run, leads, None, crm)


def _write(built, output: Path | None) -> None:
    """Write to a temporary file, then rename, so a failed run leaves no half file."""
    import sys

    from leadq.crm.export import write_export

    if output is None:
        write_export(built, sys.stdout)
        return
    partial = output.with_name(output.name + ".partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as stream:
            write_export(built, stream)
        partial.replace(output)
    finally:
        partial.unlink(missing_ok=True)


def _print_export_notes(built, count: int, crm_format: str, output: Path | None) -> None:
    from leadq.crm.vendors import FORMAT_NAMES
    from leadq.output import console, plural

    err = console(stderr=True)
    where = output if output is not None else "standard output"
    kind = FORMAT_NAMES[crm_format].replace("export", "import file")
    err.print(f"wrote {plural(count, 'lead', 'leads')} to {where} as {kind}", markup=False)
    for stage, leads in built.unmapped_stages.items():
        err.print(
            f"note: stage {stage!r} ({plural(leads, 'lead', 'leads')}) has no {crm_format} value, so the "
            f"cell is empty; set one with --stage-value {stage}=VALUE",
            markup=False,
        )
    if built.missing_required:
        needed = MISSING_REQUIRED[crm_format]
        err.print(f"note: {plural(built.missing_required, 'lead lacks', 'leads lack')} {needed}", markup=False)


# The fields a CRM needs to match or create a lead's record, by format.
MISSING_REQUIRED = {
    "hubspot": "an email, by which HubSpot matches contacts, so each import creates a new contact",
    "salesforce": "an Id, and a last name or company, which Salesforce needs to create a lead",
}


def register(app: typer.Typer) -> None:
    app.command()(export)
