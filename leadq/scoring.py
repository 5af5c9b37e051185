"""Score leads from files: read, bind, compile, run, explain and rank."""

from __future__ import annotations

import logging
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass
from functools import cached_property
from datetime import datetime, timezone as dt_timezone
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Callable, ContextManager
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.compute as pc

from leadq.binding import (
    BindReport,
    bind,
    bind_leads,
    event_id_column,
    lead_key_column,
    with_probability,
)
from leadq.compiler.query import CompiledModel, compile_model
from leadq.crm.reading import CrmOptions, declared_event_times, model_names, read_lead_file
from leadq.engines import EngineSettings, postgres_url, run
from leadq.errors import InputError, OptionError
from leadq.inputs import SourceTable, read_source
from leadq.inputs.batches import read_source_batches
from leadq.inputs.database import read_postgres_table
from leadq.inputs.source import with_row_keys
from leadq.learning.predictive import predict_leads
from leadq.model.loading import load_default_model, load_model
from leadq.model.schema import ScoringModel
from leadq.results import ScoredLead, lead_from_row, rank_result
from leadq.spark_binding import EventBinder, SparkEvents, binds_on_spark
from leadq.streaming import run_duckdb_spooled, spool_events, streams

log = logging.getLogger("leadq.scoring")

# A step reporter receives the name of each pipeline step as it starts.
StepReporter = Callable[[str], ContextManager]


@dataclass
class ScoreRun:
    """A finished run: the ranked result table and what binding reported."""

    model: ScoringModel
    compiled: CompiledModel
    as_of: datetime
    engine: str
    table: pa.Table
    report: BindReport
    # Lead key -> the predictive model's reasons as JSON text (with `predictive`).
    probability_reasons: dict[str, str] | None = None

    @cached_property
    def leads(self) -> list[ScoredLead]:
        return self.top(None)

    def top(self, count: int | None) -> list[ScoredLead]:
        rows = self.table if count is None else self.table.slice(0, count)
        return [lead_from_row(self.compiled, row) for row in rows.to_pylist()]

    def stage_counts(self) -> dict[str, int]:
        counts = Counter(self.table["stage"].to_pylist())
        ordered = {stage.id: counts.get(stage.id, 0) for stage in self.model.stages}
        if counts.get(None):
            ordered["(none)"] = counts[None]
        return ordered

    def find(self, lead_id: str) -> ScoredLead | None:
        key = lead_id.strip()
        if self.model.key == "email":
            key = key.lower()
        rows = self.table.filter(pc.equal(self.table["lead_id"], key)).to_pylist()
        return lead_from_row(self.compiled, rows[0]) if rows else None


def resolve_model(path: str | Path | None) -> ScoringModel:
    return load_default_model() if path is None else load_model(path)


def parse_as_of(text: str | None, model: ScoringModel) -> datetime:
    """Parse an ISO 8601 time; without an offset it is in the model's time zone."""
    if text is None:
        return datetime.now(dt_timezone.utc)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InputError(
            f"invalid --as-of time {text!r}; use ISO 8601, for example "
            "2026-12-01 or 2026-12-01T09:30:00+01:00",
        ) from None
    if moment.tzinfo is None:
        moment = _local_moment(moment, ZoneInfo(model.timezone), text)
    return moment.astimezone(dt_timezone.utc)


def _local_moment(naive: datetime, zone: ZoneInfo, text: str) -> datetime:
    """Attach `zone` to a wall-clock time; reject one that is skipped or repeated."""
    first = naive.replace(tzinfo=zone, fold=0)
    second = naive.replace(tzinfo=zone, fold=1)
    round_trip = first.astimezone(dt_timezone.utc).astimezone(zone).replace(tzinfo=None)
    if round_trip != naive or first.utcoffset() != second.utcoffset():
        raise InputError(
            f"--as-of {text!r} is not one moment in {zone.key}: clocks skip or "
            "repeat that local time; add the UTC offset, for example "
            "2026-03-29T03:30:00+02:00",
        )
    return first


def micros_since_epoch(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=dt_timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def score_files(
    leads_path: str | Path,
    events_path: str | Path | None = None,
    *,
    model: ScoringModel | None = None,
    as_of: datetime | None = None,
    engine: str = "duckdb",
    encoding: str | None = None,
    timezone: str | None = None,
    step: StepReporter | None = None,
    crm: CrmOptions | None = None,
    settings: EngineSettings | None = None,
) -> ScoreRun:
    """Score a leads file and an optional events file.

    The leads file may be a CRM export (`crm`; by default its format is
    detected from the header), read as `leadq import leads` reads it. The
    events file's times follow `crm.date_format` when it is set. On DuckDB,
    unless the model has a `predictive` section, the events file is read and
    bound in batches of `settings.batch_rows` (leadq.streaming), so memory
    does not grow with the number of events. On Spark, Spark's executors
    read and bind a Parquet events file or folder (leadq.spark_binding).
    """
    model = model or load_default_model()
    step = step or (lambda name: nullcontext())
    with step("compiling the model"):
        compiled = compile_model(model)
    with step("reading leads"):
        fixed_names = model_names(model, compiled.layout)
        leads = read_lead_file(leads_path, encoding=encoding, options=crm or CrmOptions(), fixed_names=fixed_names)
    if events_path is not None and binds_on_spark(engine, model, events_path):
        events = SparkEvents(str(events_path), "parquet")
        date_format = crm.date_format if crm is not None else None
        return _score_with_spark_events(
            leads, events, model=model, compiled=compiled, as_of=as_of, timezone=timezone,
            date_format=date_format, step=step, settings=settings or EngineSettings(),
        )  # fmt: skip
    if events_path is not None and streams(engine, model):
        return _score_streamed(
            leads, events_path, model=model, compiled=compiled, as_of=as_of,
            timezone=timezone, encoding=encoding, crm=crm, step=step,
            settings=settings or EngineSettings(),
        )  # fmt: skip
    events = None
    if events_path is not None:
        with step("reading events"):
            events = read_source(events_path, encoding=encoding)
            if crm is not None and crm.date_format is not None:
                events = declared_event_times(events, model, crm.date_format)
    return score_sources(
        leads, events, model=model, as_of=as_of, engine=engine,
        timezone=timezone, step=step, settings=settings, compiled=compiled,
    )  # fmt: skip


def _score_streamed(
    leads: SourceTable,
    events_path: str | Path,
    *,
    model: ScoringModel,
    compiled: CompiledModel,
    as_of: datetime | None,
    timezone: str | None,
    encoding: str | None,
    crm: CrmOptions | None,
    step: StepReporter,
    settings: EngineSettings,
) -> ScoreRun:
    """Score on DuckDB with the events read, bound and spooled in batches."""
    as_of = as_of or datetime.now(dt_timezone.utc)
    started = time.perf_counter()
    lead_table, report = _bound_leads(model, compiled, leads, step)
    batches = read_source_batches(events_path, encoding, settings.batch_rows)
    if crm is not None and crm.date_format is not None:
        order = crm.date_format
        batches = (declared_event_times(batch, model, order) for batch in batches)

    with TemporaryDirectory(prefix="leadq-", dir=settings.temp_directory) as name:
        folder = Path(name)
        with step("reading and checking events in batches"):
            spooled = spool_events(model, compiled.layout, batches, timezone, report, folder)
        with step("scoring on duckdb"):
            as_of_micros = micros_since_epoch(as_of)
            result, report.events_without_lead = run_duckdb_spooled(
                compiled, lead_table, spooled, as_of_micros, settings, folder
            )
    run = ScoreRun(model, compiled, as_of, "duckdb", result, report)
    return _ranked(run, step, started, "in batches on duckdb")


def _bound_leads(
    model: ScoringModel, compiled: CompiledModel, leads: SourceTable, step: StepReporter
) -> tuple[pa.Table, BindReport]:
    """Bind the leads alone, for runs that bind the events apart from them."""
    with step("checking columns and values of leads"):
        report = BindReport()
        return bind_leads(model, compiled.layout, leads, report), report


def _score_with_spark_events(
    leads: SourceTable,
    events: SparkEvents,
    *,
    model: ScoringModel,
    compiled: CompiledModel | None,
    step: StepReporter,
    settings: EngineSettings,
    as_of: datetime | None = None,
    timezone: str | None = None,
    date_format: str | None = None,
) -> ScoreRun:
    """Score on Spark with the leads bound on the driver and the events on the executors.

    NOTE: the leads stay on the driver, where they are read and bound, as
    they are far fewer than the events.
    """
    from leadq.spark import run_spark_events

    as_of = as_of or datetime.now(dt_timezone.utc)
    started = time.perf_counter()
    if compiled is None:
        with step("compiling the model"):
            compiled = compile_model(model)
    lead_table, report = _bound_leads(model, compiled, leads, step)
    binder = EventBinder(model, compiled.layout, events, timezone, date_format)
    with step("binding events and scoring on spark"):
        as_of_micros = micros_since_epoch(as_of)
        master = settings.spark_master
        result = run_spark_events(compiled, lead_table, binder, as_of_micros, master, report)
    run = ScoreRun(model, compiled, as_of, "spark", result, report)
    return _ranked(run, step, started, "bound on spark executors")


def _ranked(run: ScoreRun, step: StepReporter, started: float, how: str) -> ScoreRun:
    """Rank the raw result of a run in place, and log its counts and duration."""
    with step("ranking"):
        run.table = rank_result(run.compiled, run.table)
    log.info(
        "scored %d leads from %d events %s in %.2f s",
        run.report.leads, run.report.events, how, time.perf_counter() - started,
    )  # fmt: skip
    return run


def score_tables(
    leads_table: str = "leads",
    events_table: str | None = "events",
    *,
    engine: str,
    settings: EngineSettings,
    step: StepReporter | None = None,
    **options,
) -> ScoreRun:
    """Score leads and events read from tables of the engine's own database.

    PostgreSQL tables need `settings.database_url`; Spark tables come from
    the catalog of the Spark session, and Spark's executors bind the events
    table unless the model has a `predictive` section. `options` are those
    of score_sources.
    """
    step = step or (lambda name: nullcontext())
    read = _table_reader(engine, settings)
    model = options.pop("model", None) or load_default_model()
    with step("reading leads"):
        leads = with_row_keys(read(leads_table), lead_key_column(model), "lead_id")
    if events_table is not None and binds_on_spark(engine, model):
        events = SparkEvents(events_table, "table")
        return _score_with_spark_events(
            leads, events, model=model, compiled=None, step=step, settings=settings, **options
        )  # fmt: skip
    events = None
    if events_table is not None:
        with step("reading events"):
            events = read(events_table)
        id_column = event_id_column(events.table.column_names, model.event_columns)
        events = with_row_keys(events, id_column, "event_id")
    return score_sources(
        leads, events, model=model, engine=engine, settings=settings, step=step, **options
    )


def _table_reader(engine: str, settings: EngineSettings) -> Callable[[str], SourceTable]:
    if engine == "postgres":
        url = postgres_url(settings.database_url)
        return lambda name: read_postgres_table(url, name)
    if engine == "spark":
        from leadq.spark import read_spark_table

        return lambda name: read_spark_table(name, settings.spark_master)
    raise OptionError(
        f"--engine {engine} reads files only; give a LEADS file, or read tables "
        "with --engine postgres or --engine spark"
    )


def score_sources(
    leads: SourceTable,
    events: SourceTable | None = None,
    *,
    model: ScoringModel | None = None,
    as_of: datetime | None = None,
    engine: str = "duckdb",
    timezone: str | None = None,
    step: StepReporter | None = None,
    settings: EngineSettings | None = None,
    compiled: CompiledModel | None = None,
) -> ScoreRun:
    """Score leads and events already read from files or database tables.

    `compiled` is the model's compiled query when the caller has it already.
    """
    model = model or load_default_model()
    as_of = as_of or datetime.now(dt_timezone.utc)
    step = step or (lambda name: nullcontext())
    started = time.perf_counter()

    if compiled is None:
        with step("compiling the model"):
            compiled = compile_model(model)
    with step("checking columns and values"):
        tables, report = bind(model, compiled.layout, leads, events, timezone=timezone)
    prediction = None
    if model.predictive is not None:
        with step("predicting conversion probabilities"):
            prediction = predict_leads(compiled, leads, events, tables, micros_since_epoch(as_of), timezone)
            tables.leads = with_probability(tables.leads, compiled.layout, prediction.probabilities)
    # NOTE: the sources, the bound tables and the engine's work all stay in
    # memory here, about 6 GB at 10M events (benchmarks/RESULTS.md). Only
    # score_files on DuckDB reads events in batches (leadq.streaming), and
    # Spark binds Parquet and table events on its executors (leadq.spark_binding).
    with step(f"scoring on {engine}"):
        result = run(compiled, tables, micros_since_epoch(as_of), engine, settings)
    with step("ranking"):
        ranked = rank_result(compiled, result)

    log.info(
        "scored %d leads from %d events on %s in %.2f s",
        report.leads, report.events, engine, time.perf_counter() - started,
    )
    reasons = prediction.reasons if prediction else None
    return ScoreRun(model, compiled, as_of, engine, ranked, report, reasons)
