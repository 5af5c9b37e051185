"""The `leadq` command: a thin layer over the scoring library.

Exit codes: 0 success; 2 invalid input (a model file, a data file or an
option); 1 any other failure of the run.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from leadq.crm import commands as crm_commands
from leadq.dashboard import commands as dashboard_commands
from leadq.errors import LeadqError, OptionError
from leadq.evaluation import commands as evaluation_commands
from leadq.explain import explain_panel
from leadq.learning import commands as learning_commands
from leadq.model.loading import default_model_text, load_model
from leadq.model.schema import ScoringModel
from leadq.output import (
    check_output_path,
    console,
    counts_table,
    format_for,
    leads_table,
    plural,
    write_file,
    write_stdout,
)
from leadq.engine_options import Engine, SparkMasterOption, engine_settings, table_names
from leadq.qualification import commands as qualification_commands
from leadq.scoring import parse_as_of, resolve_model, score_files, score_tables
from leadq.service import commands as service_commands

app = typer.Typer(
    help="Score, classify and explain leads with a model file compiled to SQL.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
)


class Format(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    parquet = "parquet"


EventsOption = Annotated[
    Optional[Path],
    typer.Option(
        "--events",
        "-e",
        help="Events file: CSV, Parquet or JSON lines, or with --engine spark "
        "a folder of Parquet files.",
    ),
]
ModelOption = Annotated[
    Optional[Path],
    typer.Option("--model", "-m", help="Model file (YAML). Default: the built-in B2B model."),
]
AsOfOption = Annotated[
    Optional[str],
    typer.Option(
        "--as-of",
        help="Score as of this ISO 8601 time; without an offset it is in the "
        "model's time zone. Default: now.",
    ),
]
EngineOption = Annotated[Engine, typer.Option("--engine", help="SQL engine that runs the model.")]
EncodingOption = Annotated[
    Optional[str],
    typer.Option(
        "--encoding",
        help="Text encoding of CSV files when not UTF-8, such as cp1252.",
    ),
]
TimezoneOption = Annotated[
    Optional[str],
    typer.Option(
        "--timezone",
        help="IANA time zone of event timestamps written without an offset.",
    ),
]
DatabaseOption = Annotated[
    Optional[str],
    typer.Option(
        "--database",
        help="PostgreSQL URL for --engine postgres, such as postgresql://user@host:5432/name.",
    ),
]
LeadsTableOption = Annotated[
    Optional[str],
    typer.Option(
        "--leads-table",
        help="Table of leads to score when no LEADS file is given (--engine postgres "
        "or spark). Default: leads.",
    ),
]
EventsTableOption = Annotated[
    Optional[str],
    typer.Option(
        "--events-table",
        help="Table of events to read with --leads-table. Default: events.",
    ),
]
MemoryLimitOption = Annotated[
    Optional[str],
    typer.Option(
        "--memory-limit",
        help="Memory that DuckDB may use, such as 4GB or 512MB; beyond it DuckDB "
        "spills to the temporary folder (TMPDIR). Default: 4GB.",
    ),
]


@app.command()
def score(
    leads: Annotated[
        Optional[Path],
        typer.Argument(
            help="Leads file: CSV, Parquet or JSON lines. Without it, --engine "
            "postgres or spark reads tables.",
            metavar="[LEADS]",
        ),
    ] = None,
    events: EventsOption = None,
    model: ModelOption = None,
    as_of: AsOfOption = None,
    engine: EngineOption = Engine.duckdb,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write results to this file.")
    ] = None,
    fmt: Annotated[
        Optional[Format],
        typer.Option(
            "--format",
            "-f",
            help="Output format. Default: table on the terminal, or from the "
            "--output file's extension.",
        ),
    ] = None,
    limit: Annotated[
        int,
        typer.Option("--limit", min=0, help="Rows of the table format to show; 0 shows all."),
    ] = 20,
    encoding: EncodingOption = None,
    timezone: TimezoneOption = None,
    crm_format: crm_commands.ScoreCrmFormatOption = None,
    maps: crm_commands.MapOption = None,
    date_format: crm_commands.DateFormatOption = None,
    database: DatabaseOption = None,
    leads_table: LeadsTableOption = None,
    events_table: EventsTableOption = None,
    spark_master: SparkMasterOption = None,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Score and classify leads, ranked by stage and score, with reasons."""
    chosen = format_for(output, fmt.value if fmt else None)
    if chosen == "parquet" and output is None:
        raise typer.BadParameter("parquet output needs --output FILE", param_hint="--format")
    if output is not None:
        check_output_path(output, [leads, events, model])
    crm = crm_commands.crm_options(crm_format, maps, date_format)
    settings = engine_settings(engine.value, database, spark_master, memory_limit)
    tables = table_names(engine.value, leads, events, leads_table, events_table)
    run = _score(leads, events, model, as_of, engine, encoding, timezone, crm, settings, tables)
    _print_input_notes(run)
    if chosen == "table":
        _print_table(run, limit)
        if output is not None:
            write_file(run, output, "csv")
        return
    if output is None:
        write_stdout(run, chosen)
        return
    write_file(run, output, chosen)
    err = console(stderr=True)
    err.print(f"wrote {plural(len(run.table), 'lead', 'leads')} to {output}", markup=False)
    err.print(counts_table(run.stage_counts()))


@app.command()
def explain(
    lead_ids: Annotated[
        list[str], typer.Argument(help="Lead ids (or emails) to explain.", metavar="LEAD_ID")
    ],
    leads: Annotated[Path, typer.Option("--leads", "-l", help="Leads file.")],
    events: EventsOption = None,
    model: ModelOption = None,
    as_of: AsOfOption = None,
    engine: EngineOption = Engine.duckdb,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of tables.")] = False,
    encoding: EncodingOption = None,
    timezone: TimezoneOption = None,
    database: DatabaseOption = None,
    spark_master: SparkMasterOption = None,
    memory_limit: MemoryLimitOption = None,
) -> None:
    """Print every rule's contribution and the rule that decided the stage."""
    settings = engine_settings(engine.value, database, spark_master, memory_limit)
    run = _score(leads, events, model, as_of, engine, encoding, timezone, settings=settings)
    found = []
    for lead_id in lead_ids:
        lead = run.find(lead_id)
        if lead is None:
            # A usage error (exit 2), because the id is an argument that names
            # no lead of the file the user gave.
            raise OptionError(
                f"lead {lead_id!r} is not in {leads}; lead ids are matched on the "
                f"model's key field {run.model.key!r}"
            )
        found.append(lead)
    if as_json:
        _print_explanations_json(run, found)
        return
    out = console()
    for lead in found:
        out.print(explain_panel(run, lead))


@app.command()
def validate(
    model: Annotated[Path, typer.Argument(help="Model file to check.", metavar="MODEL")],
) -> None:
    """Check a model file; errors name the line, the field and the fix."""
    checked = load_model(model)
    sections = _rule_counts(checked)
    console().print(f"{model}: valid ({sections})", markup=False)
    last = checked.stages[-1]
    if last.when is not None:
        console().print(
            f"note: the last stage, {last.id!r}, has a `when`, so a lead may match no stage; "
            "`leadq score` leaves it without one, and `leadq model activate` rejects the "
            "model, because the service stores a stage for every lead",
            markup=False,
        )


@app.command()
def schema(
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Write the schema to this file.")
    ] = None,
) -> None:
    """Print the JSON Schema of model files, for editors."""
    document = ScoringModel.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "leadq scoring model"
    text = json.dumps(document, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


@app.command()
def init(
    path: Annotated[
        Path, typer.Argument(help="Where to write the model.", metavar="PATH")
    ] = Path("model.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write the built-in default model, with comments, to edit."""
    if path.is_dir():
        raise typer.BadParameter(f"{path} is a directory; name a file", param_hint="PATH")
    if path.exists() and not force:
        raise typer.BadParameter(
            f"{path} already exists; pass --force to overwrite it", param_hint="PATH"
        )
    if not path.parent.is_dir():
        raise typer.BadParameter(
            f"folder {path.parent} does not exist; create it first", param_hint="PATH"
        )
    path.write_text(default_model_text(), encoding="utf-8")
    console().print(f"wrote the default model to {path}; check it with `leadq validate {path}`", markup=False)


def _score(
    leads, events, model_path, as_of, engine, encoding, timezone, crm=None, settings=None,
    tables=None,
):
    model = resolve_model(model_path)
    moment = parse_as_of(as_of, model)
    options = {"model": model, "as_of": moment, "engine": engine.value, "timezone": timezone}
    with _progress() as step:
        if tables is not None:
            return score_tables(*tables, settings=settings, step=step, **options)
        return score_files(
            leads, events, encoding=encoding, step=step, crm=crm, settings=settings, **options
        )


@contextmanager
def _progress():
    """Show the pipeline's steps on stderr once a run has taken a second."""
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console(stderr=True),
        transient=True,
    )
    task = progress.add_task("starting", total=None)
    # A spinner is for a person at a terminal; in a pipe or a log it is noise.
    start = progress.start if progress.console.is_terminal else (lambda: None)
    timer = threading.Timer(1.0, start)
    timer.daemon = True

    @contextmanager
    def step(name: str):
        progress.update(task, description=name)
        yield

    timer.start()
    try:
        yield step
    finally:
        timer.cancel()
        if progress.live.is_started:
            progress.stop()


def _print_table(run, limit: int) -> None:
    out = console()
    as_of = run.as_of.isoformat().replace("+00:00", "Z")
    scored = plural(len(run.table), "lead", "leads")
    out.print(
        f"{scored} scored as of {as_of} with {run.model.name!r} on {run.engine}",
        markup=False,
    )
    shown = run.top(limit or None)
    probabilities = None
    if run.probability_reasons is not None:
        probabilities = run.table["probability"].to_pylist()[: len(shown)]
    out.print(leads_table(shown, probabilities))
    if limit and len(run.table) > limit:
        out.print(f"showing {limit} of {len(run.table):,} leads; --limit 0 shows all", markup=False)
    out.print(counts_table(run.stage_counts()))


def _print_input_notes(run) -> None:
    err = console(stderr=True)
    report = run.report
    if report.duplicate_keys:
        rows = plural(report.duplicate_keys, "row repeats", "rows repeat")
        err.print(f"note: {rows} an earlier lead key; the last row of each key was used", markup=False)
    if report.unseen_events:
        names = ", ".join(repr(name) for name in report.unseen_events)
        err.print(
            f"note: no events named {names}; the rules and conditions on them "
            "count nothing (check the spelling if that is a surprise)",
            markup=False,
        )
    if report.events_without_lead:
        events = plural(report.events_without_lead, "event names", "events name")
        err.print(f"note: {events} a lead that is not in the leads file; they were ignored", markup=False)


def _print_explanations_json(run, leads) -> None:
    records = []
    for lead in leads:
        records.append(
            {
                "lead_id": lead.lead_id,
                "stage": lead.stage,
                "stage_rule": lead.stage_rule,
                "fit_score": lead.fit_score,
                "grade": lead.grade,
                "engagement_score": lead.engagement_score,
                "product_score": lead.product_score,
                "contributions": [
                    {"section": c.section, "rule": c.rule_id, "points": c.points}
                    for c in lead.contributions
                ],
            }
        )
    sys.stdout.write(json.dumps(records, indent=2, ensure_ascii=False) + "\n")


def _rule_counts(model: ScoringModel) -> str:
    rules = len(model.fit.rules) + len(model.engagement.rules) + len(model.product.rules)
    return (
        f"{len(model.fit.rules)} fit, {len(model.engagement.rules)} engagement, "
        f"{len(model.product.rules)} product {'rule' if rules == 1 else 'rules'}; "
        f"{plural(len(model.stages), 'stage', 'stages')}"
    )


service_commands.register(app)
evaluation_commands.register(app)
crm_commands.register(app)
qualification_commands.register(app)
learning_commands.register(app)
dashboard_commands.register(app)


def main() -> None:
    configure_logging()
    try:
        app()
    except LeadqError as error:
        _fail(error.lines(), error.exit_code)
    except OSError as error:
        _fail([f"{error.strerror or error}: {error.filename or ''}".rstrip(": ")], 1)


def configure_logging() -> None:
    """Log warnings and errors to stderr, without psycopg's echo of an error leadq reports."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("psycopg").addFilter(_EchoedPipelineError())


class _EchoedPipelineError(logging.Filter):
    """A filter for psycopg's warning that a pipeline failed while an error
    from inside it was being raised, which repeats an error leadq reports."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("error ignored terminating")


def _fail(lines: list[str], code: int) -> None:
    out = console(stderr=True)
    for line in lines:
        out.print(f"error: {line}", markup=False, soft_wrap=True)
    sys.exit(code)


if __name__ == "__main__":
    main()
