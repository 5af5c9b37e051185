"""Commands that learn from outcomes: backtest, suggest and report.

Each reads a history from files (a leads file as the first argument) or,
without one, from the service's store (`--database`). Files are scored on
the engine that `--engine` names, with the options of `leadq score`.
"""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from leadq.engine_options import Engine, SparkMasterOption, engine_settings
from leadq.errors import OptionError
from leadq.evaluation.file_history import LeadColumns, OutcomeSource
from leadq.evaluation.history import PROBABILITY
from leadq.evaluation.sources import FileInputs, open_files, open_store_history
from leadq.model.loading import load_model, parse_model
from leadq.output import console
from leadq.scoring import resolve_model
from leadq.service.commands import URL_VARIABLE, read_model_text
from leadq.service.stored_json import DamagedLeadRow


class Format(str, Enum):
    table = "table"
    json = "json"


LeadsArgument = Annotated[
    Optional[Path],
    typer.Argument(
        help="Leads file (CSV, Parquet or JSON lines). Without it, the store that --database names is read.",
        metavar="LEADS",
    ),
]
EventsOption = Annotated[
    Optional[Path],
    typer.Option("--events", "-e", help="Events file of the leads file."),
]
OutcomesOption = Annotated[
    Optional[Path],
    typer.Option(
        "--outcomes",
        help="Outcomes file: the lead key, `outcome` (won, lost, ...), `at` and `value` columns.",
    ),
]
OutcomeColumnOption = Annotated[
    Optional[str],
    typer.Option(
        "--outcome-column",
        help="Column with the outcome (won, lost, 1, 0, open, ...): of the outcomes file, or of the leads file "
        "without --outcomes.",
    ),
]
OutcomeTimeOption = Annotated[
    Optional[str],
    typer.Option(
        "--outcome-time-column",
        help="Column with the time of each outcome. Default in an outcomes file: at.",
    ),
]
ValueColumnOption = Annotated[
    Optional[str],
    typer.Option("--value-column", help="Column with the deal value of each outcome."),
]
CreatedOption = Annotated[
    Optional[str],
    typer.Option(
        "--created-column",
        help="Leads file column with the time each lead was created. Default: the lead's first event.",
    ),
]
CutoffOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--cutoff",
        help="Score as of this ISO 8601 time (UTC without an offset); repeat for more. "
        "Default: up to 6 month starts that leave a whole horizon.",
    ),
]
MaxAgeOption = Annotated[
    Optional[float],
    typer.Option(
        "--max-age",
        help="Leave out of a cut-off the leads first seen more than this many days before it. Default: no limit.",
    ),
]
HorizonOption = Annotated[
    float,
    typer.Option(
        "--horizon", help="Days after a cut-off in which a conversion counts."
    ),
]
EngineOption = Annotated[
    Optional[Engine],
    typer.Option(
        "--engine", help="SQL engine that scores the leads file. Default: duckdb."
    ),
]
DatabaseOption = Annotated[
    Optional[str],
    typer.Option(
        "--database",
        help="Without a leads file, the store's database URL (sqlite:///file or "
        f"postgresql://...; default ${URL_VARIABLE}, else sqlite:///leadq.db). With "
        "one, the PostgreSQL URL of --engine postgres.",
    ),
]
EncodingOption = Annotated[
    Optional[str],
    typer.Option(
        "--encoding", help="Text encoding of CSV files when not UTF-8, such as cp1252."
    ),
]
TimezoneOption = Annotated[
    Optional[str],
    typer.Option(
        "--timezone", help="IANA time zone of times written without an offset."
    ),
]
FormatOption = Annotated[Format, typer.Option("--format", "-f", help="Output format.")]


def backtest(
    leads: LeadsArgument = None,
    model: Annotated[
        Path, typer.Option("--model", "-m", help="Model A, the current model (YAML).")
    ] = ...,
    vs: Annotated[
        Path, typer.Option("--vs", help="Model B, the candidate (YAML).")
    ] = ...,
    events: EventsOption = None,
    outcomes: OutcomesOption = None,
    outcome_column: OutcomeColumnOption = None,
    outcome_time_column: OutcomeTimeOption = None,
    created_column: CreatedOption = None,
    cutoff: CutoffOption = None,
    horizon: HorizonOption = 90.0,
    max_age: MaxAgeOption = None,
    qualified: Annotated[
        Optional[str],
        typer.Option(
            "--qualified",
            help="Comma-separated stages that count as MQL or better. Default: mql, sql, pql.",
        ),
    ] = None,
    database: DatabaseOption = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    fmt: FormatOption = Format.table,
    limit: Annotated[
        int,
        typer.Option(
            "--limit", min=0, help="Leads with a changed stage to list; 0 lists all."
        ),
    ] = 20,
    encoding: EncodingOption = None,
    timezone: TimezoneOption = None,
) -> None:
    """Compare two models over past cut-offs: stages, conversions, precision, recall."""
    from leadq.evaluation.backtest import run_backtest
    from leadq.evaluation.point_in_time import parse_cutoff, plan_cutoffs, take_snapshot
    from leadq.evaluation.terminal import backtest_tables

    model_a, model_b = load_model(model), load_model(vs)
    if model_a.key != model_b.key:
        raise OptionError(
            f"{model} keys leads by {model_a.key!r} but {vs} by {model_b.key!r}; "
            "a backtest compares the same leads, so give both models the same `key:`"
        )
    moments = [parse_cutoff(text) for text in cutoff or []]
    stages = (
        [s.strip() for s in qualified.split(",") if s.strip()] if qualified else None
    )
    history = HistoryOptions(
        leads=leads,
        events=events,
        outcomes=OutcomeSource(outcomes, outcome_column, outcome_time_column),
        created_column=created_column,
        database=database,
        engine=engine,
        spark_master=spark_master,
        encoding=encoding,
        timezone=timezone,
    )
    with history.open(model_a) as evaluation:
        plan = plan_cutoffs(evaluation.history, moments, horizon, max_age_days=max_age)
        snapshots = [
            take_snapshot(evaluation.history, evaluation.scorer, m, plan)
            for m in (model_a, model_b)
        ]
        result = run_backtest(
            *snapshots, plan, evaluation.history.label, (str(model), str(vs)), stages
        )
    result.notes += evaluation.history.notes
    if fmt is Format.json:
        _print_json(result.as_dict())
        return
    out = console()
    out.print(
        f"backtest of {evaluation.source}: cut-offs {', '.join(result.cutoffs)}; "
        f"conversions within {horizon:g} days after each",
        markup=False,
    )
    for table in backtest_tables(result, limit):
        out.print(table)
    _print_notes(result.notes)


def suggest(
    leads: LeadsArgument = None,
    model: Annotated[
        Path,
        typer.Option(
            "--model", "-m", help="Model file (YAML) whose points to suggest."
        ),
    ] = ...,
    events: EventsOption = None,
    outcomes: OutcomesOption = None,
    outcome_column: OutcomeColumnOption = None,
    outcome_time_column: OutcomeTimeOption = None,
    created_column: CreatedOption = None,
    cutoff: CutoffOption = None,
    horizon: HorizonOption = 90.0,
    max_age: MaxAgeOption = None,
    min_leads: Annotated[
        int,
        typer.Option(
            "--min-leads",
            min=1,
            help="Leads a rule must fire for, and not fire for, to change.",
        ),
    ] = 50,
    min_conversions: Annotated[
        int,
        typer.Option(
            "--min-conversions",
            min=1,
            help="Converted leads a rule must fire for to change.",
        ),
    ] = 5,
    regularization: Annotated[
        float,
        typer.Option(
            "--regularization",
            min=1e-6,
            help="Inverse L2 penalty of the logistic fit (scikit-learn's C).",
        ),
    ] = 1.0,
    write: Annotated[
        bool, typer.Option("--write", help="Apply the changes to the model file.")
    ] = False,
    database: DatabaseOption = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    fmt: FormatOption = Format.table,
    encoding: EncodingOption = None,
    timezone: TimezoneOption = None,
) -> None:
    """Suggest rule points from outcomes, as a diff of the model file to review."""
    from leadq.evaluation.model_edits import edit_points, unified_diff, write_model
    from leadq.evaluation.point_in_time import parse_cutoff, plan_cutoffs, take_snapshot
    from leadq.evaluation.suggestions import FitSettings, suggest_points
    from leadq.evaluation.terminal import evidence_table

    text = read_model_text(model)
    scoring_model = parse_model(text, source=str(model))
    moments = [parse_cutoff(value) for value in cutoff or []]
    settings = FitSettings(min_leads, min_conversions, regularization)
    history = HistoryOptions(
        leads=leads,
        events=events,
        outcomes=OutcomeSource(outcomes, outcome_column, outcome_time_column),
        created_column=created_column,
        database=database,
        engine=engine,
        spark_master=spark_master,
        encoding=encoding,
        timezone=timezone,
    )
    with history.open(scoring_model) as evaluation:
        plan = plan_cutoffs(evaluation.history, moments, horizon, max_age_days=max_age)
        snapshot = take_snapshot(
            evaluation.history, evaluation.scorer, scoring_model, plan
        )
    suggestions = suggest_points(snapshot, settings)
    suggestions.notes += plan.notes + evaluation.history.notes
    changes = {
        (r.section, r.rule_id): {
            "points": r.suggested_points,
            "max_points": r.suggested_max_points,
        }
        for r in suggestions.changes()
    }
    edited = edit_points(text, str(model), changes)
    diff = unified_diff(text, edited, str(model))
    if write and changes:
        write_model(model, edited)
    if fmt is Format.json:
        _print_json(
            {**suggestions.as_dict(), "diff": diff, "written": write and bool(changes)}
        )
        return
    err = console(stderr=True)
    err.print(evidence_table(suggestions))
    _print_notes(suggestions.notes)
    sys.stdout.write(diff)
    if write and changes:
        err.print(f"wrote {len(changes)} changed rule(s) to {model}", markup=False)
    elif not changes:
        err.print("no rule changes: the data supports the current points", markup=False)


def report(
    leads: LeadsArgument = None,
    model: Annotated[
        Optional[Path],
        typer.Option(
            "--model",
            "-m",
            help="Model file (YAML). Default: the store's active model, or the built-in model.",
        ),
    ] = None,
    events: EventsOption = None,
    outcomes: OutcomesOption = None,
    outcome_column: OutcomeColumnOption = None,
    outcome_time_column: OutcomeTimeOption = None,
    value_column: ValueColumnOption = None,
    created_column: CreatedOption = None,
    source_column: Annotated[
        Optional[str],
        typer.Option(
            "--source-column",
            help="Lead field to group by as the source. Default: `source` if leads have it.",
        ),
    ] = None,
    as_of: Annotated[
        Optional[str],
        typer.Option(
            "--as-of",
            help="Report as of this ISO 8601 time (UTC without an offset). Default: now.",
        ),
    ] = None,
    horizon: HorizonOption = 90.0,
    max_age: MaxAgeOption = None,
    html: Annotated[
        Optional[Path],
        typer.Option(
            "--html", help="Also write the report as HTML with charts to this file."
        ),
    ] = None,
    database: DatabaseOption = None,
    engine: EngineOption = None,
    spark_master: SparkMasterOption = None,
    fmt: FormatOption = Format.table,
    encoding: EncodingOption = None,
    timezone: TimezoneOption = None,
) -> None:
    """Funnel by stage, grade, source and month; score calibration; forecast of open leads."""
    from leadq.evaluation.point_in_time import parse_cutoff
    from leadq.evaluation.report import ReportSettings, build_report
    from leadq.evaluation.terminal import report_tables
    from leadq.output import check_output_path
    from leadq.store.database import now_micros

    if html is not None:
        check_output_path(html, [leads, events, outcomes], option="--html")
    moment = parse_cutoff(as_of, "--as-of") if as_of else now_micros()
    groups = (source_column,) if source_column else ()
    history = HistoryOptions(
        leads=leads,
        events=events,
        outcomes=OutcomeSource(outcomes, outcome_column, outcome_time_column, value_column),
        created_column=created_column,
        database=database,
        engine=engine,
        spark_master=spark_master,
        encoding=encoding,
        timezone=timezone,
    )
    if leads is None:
        history.check_store_options()
        opened = _open_store_report(model, database, groups or ("source",), moment)
    else:
        scoring_model = resolve_model(model)
        opened = _with_model(history.open(scoring_model, groups), scoring_model)
    with opened as (evaluation, scoring_model, stage_times):
        field = source_column or _default_source(evaluation.history)
        settings = ReportSettings(moment, horizon, field, max_age_days=max_age)
        result = build_report(evaluation, scoring_model, settings, stage_times)
    if html is not None:
        from leadq.evaluation.html_report import write_html

        write_html(result, html)
    if fmt is Format.json:
        _print_json(result.as_dict())
    else:
        out = console()
        out.print(
            f"funnel report of {result.source} with {result.model!r} as of {result.as_of}",
            markup=False,
        )
        for table in report_tables(result):
            out.print(table)
        _print_notes(result.notes)
    if html is not None:
        console(stderr=True).print(f"wrote the HTML report to {html}", markup=False)


def _default_source(history) -> str | None:
    has_source = any(
        fields.get("source") not in (None, "") for fields in history.fields.values()
    )
    return "source" if has_source else None


@dataclass(frozen=True)
class HistoryOptions:
    """The source of a command's history: files and their engine, or the store."""

    leads: Path | None
    events: Path | None
    outcomes: OutcomeSource
    created_column: str | None
    database: str | None
    engine: Engine | None
    spark_master: str | None
    encoding: str | None
    timezone: str | None

    def open(self, model, groups: tuple[str, ...] = ()):
        """Open the files' history, or the store's when no leads file is given."""
        if self.leads is None:
            self.check_store_options()
            return open_store_history(self.database, groups)
        engine = (self.engine or Engine.duckdb).value
        inputs = FileInputs(
            leads=self.leads,
            events=self.events,
            outcomes=self.outcomes,
            columns=LeadColumns(
                self.created_column, groups, optional_groups=("source", PROBABILITY)
            ),
            engine=engine,
            settings=engine_settings(engine, self.database, self.spark_master),
            encoding=self.encoding,
            timezone=self.timezone,
        )
        return open_files(inputs, model)

    def check_store_options(self) -> None:
        """Reject the options of files, since the store's models run in its database."""
        _reject_file_options(
            events=self.events,
            outcomes=self.outcomes.file,
            created_column=self.created_column,
            engine=self.engine,
            spark_master=self.spark_master,
        )


@contextmanager
def _open_store_report(model_path, database, groups, as_of):
    """Open the store's history with the model and the stages' times in it."""
    from leadq.evaluation.sources import store_evaluation
    from leadq.evaluation.stage_times import stage_times
    from leadq.service.model_versions import ensure_active_model
    from leadq.store.database import open_store

    store = open_store(database, create=False)
    try:
        scoring_model = (
            load_model(model_path) if model_path else ensure_active_model(store).model
        )
        with store_evaluation(store, groups, scoring_model.columns) as evaluation:
            times = stage_times(
                evaluation.scorer.connection, as_of, scoring_model.ranked_stage_ids()
            )
            yield evaluation, scoring_model, times
    except DamagedLeadRow:
        _raise_every_damaged_row(store)
        raise
    finally:
        store.dispose()


def _raise_every_damaged_row(store) -> None:
    """Raise DamagedLeads naming every damaged row that the report reads, when there are several."""
    from leadq.service.damaged_leads import damaged_rows, raise_damaged

    with store.read() as connection:
        damaged = damaged_rows(connection)
    raise_damaged(damaged, "no report was written")


@contextmanager
def _with_model(opened, model):
    with opened as evaluation:
        yield evaluation, model, None


def _reject_file_options(**options) -> None:
    given = [
        name.replace("_", "-") for name, value in options.items() if value is not None
    ]
    if given:
        raise OptionError(
            f"--{given[0]} applies to files, but no leads file was given, so the store is read; "
            "pass the leads file as the first argument, or leave the option out"
        )


def _print_json(document: dict) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _print_notes(notes: list[str]) -> None:
    err = console(stderr=True)
    for note in notes:
        err.print(f"note: {note}", markup=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    app.command()(backtest)
    app.command()(suggest)
    app.command()(report)
