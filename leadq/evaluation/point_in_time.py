"""Score leads as of past cut-off times and label what happened next.

The method: for each cut-off T, the population is every lead first seen at
or before T that was not closed (won or lost) at or before T. Each is
scored as of T, so rules see only events up to T. Its label is whether it
converted in the horizon after T, that is at a time in (T, T + horizon].
Several cut-offs pool their (cut-off, lead) rows, so a lead open at two
cut-offs counts at both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa

from leadq.binding import bind
from leadq.compiler.query import CompiledModel, compile_model
from leadq.engines import EngineSettings, EngineTables, run, run_on_connection
from leadq.errors import OptionError
from leadq.evaluation.history import LeadHistory
from leadq.inputs import SourceTable
from leadq.learning import require_learning
from leadq.model.schema import ScoringModel
from leadq.results import rank_result
from leadq.scoring import micros_since_epoch

if TYPE_CHECKING:
    from leadq.learning.artefact import Artefact
    from leadq.learning.features import LeadData

DAY = 86_400_000_000
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Cut-offs chosen when none are given: the latest month starts that leave a
# whole horizon before the data ends.
DEFAULT_CUTOFFS = 6


@dataclass
class BoundLeads:
    """Leads bound for the engine; stored leads (StoredLeads) add their attributes."""

    tables: EngineTables


class Scorer:
    """Score one set of leads with any model as of any time.

    Each model is compiled and bound once; every cut-off reruns the query
    with its own as-of time. With a `predictive` section, each cut-off
    also predicts the probabilities as of the cut-off, from the features
    that `leadq train` uses and the rule contributions of that run, and
    binds them for the stage conditions that test them.
    """

    def __init__(self) -> None:
        self._compiled: dict[int, CompiledModel] = {}
        self._bound: dict[tuple[int, int | None], BoundLeads] = {}
        self._artefacts: dict[int, Artefact] = {}
        self._lead_data: dict[int, LeadData] = {}

    def bound(
        self, model: ScoringModel, as_of: int | None = None
    ) -> tuple[CompiledModel, EngineTables]:
        compiled, bound = self._bound_leads(model, as_of)
        return compiled, bound.tables

    def _bound_leads(
        self, model: ScoringModel, as_of: int | None
    ) -> tuple[CompiledModel, BoundLeads]:
        if id(model) not in self._compiled:
            self._compiled[id(model)] = compile_model(model)
        compiled = self._compiled[id(model)]
        key = (id(model), as_of if self._binds_per_cut_off(compiled) else None)
        if key not in self._bound:
            self._bound[key] = self._bind(model, compiled, as_of)
        return compiled, self._bound[key]

    def score(self, model: ScoringModel, as_of: int) -> tuple[CompiledModel, pa.Table]:
        """Return the compiled model and the ranked result as of `as_of` (microseconds)."""
        compiled, bound = self._bound_leads(model, as_of)
        result = self._run(compiled, bound.tables, as_of)
        if model.predictive is not None:
            result = self._with_probability(compiled, bound, as_of, result)
        return compiled, rank_result(compiled, result)

    def _with_probability(
        self, compiled: CompiledModel, bound: BoundLeads, as_of: int, result: pa.Table
    ) -> pa.Table:
        from leadq.learning.predictive import predict_as_of, with_prediction

        artefact = self._artefact(compiled)
        if id(bound) not in self._lead_data:
            self._lead_data[id(bound)] = self._predictive_data(compiled, bound, artefact)
        data = self._lead_data[id(bound)]
        prediction = predict_as_of(artefact, data, as_of, result)
        rerun = partial(self._run, compiled, as_of=as_of)
        return with_prediction(compiled, bound.tables, result, prediction, rerun)

    def _artefact(self, compiled: CompiledModel) -> Artefact:
        if id(compiled) not in self._artefacts:
            self._artefacts[id(compiled)] = self._load_artefact(compiled)
        return self._artefacts[id(compiled)]

    def _binds_per_cut_off(self, compiled: CompiledModel) -> bool:
        """Return whether the bound tables depend on the as-of time, beyond the query's parameter."""
        return False

    def _bind(
        self, model: ScoringModel, compiled: CompiledModel, as_of: int | None
    ) -> BoundLeads:
        raise NotImplementedError

    def _run(
        self, compiled: CompiledModel, tables: EngineTables, as_of: int
    ) -> pa.Table:
        raise NotImplementedError

    def _load_artefact(self, compiled: CompiledModel) -> Artefact:
        raise NotImplementedError

    def _predictive_data(
        self, compiled: CompiledModel, bound: BoundLeads, artefact: Artefact
    ) -> LeadData:
        raise NotImplementedError


class FileScorer(Scorer):
    """Score a leads file and its events on any engine, as `leadq score` does."""

    def __init__(
        self,
        leads: SourceTable,
        events: SourceTable | None,
        *,
        engine: str = "duckdb",
        settings: EngineSettings | None = None,
        timezone: str | None = None,
    ):
        super().__init__()
        self.leads = leads
        self.events = events
        self.engine = engine
        self.settings = settings or EngineSettings()
        self.timezone = timezone

    def _bind(
        self, model: ScoringModel, compiled: CompiledModel, as_of: int | None
    ) -> BoundLeads:
        tables, _ = bind(
            model, compiled.layout, self.leads, self.events, timezone=self.timezone
        )
        return BoundLeads(tables)

    def _run(
        self, compiled: CompiledModel, tables: EngineTables, as_of: int
    ) -> pa.Table:
        return run(compiled, tables, as_of, self.engine, self.settings)

    def _load_artefact(self, compiled: CompiledModel) -> Artefact:
        """Load the artefact that the model file names, as `leadq score` does."""
        require_learning()
        from leadq.learning.artefact import load_artefact

        return load_artefact(Path(compiled.model.artefact_path()))

    def _predictive_data(
        self, compiled: CompiledModel, bound: BoundLeads, artefact: Artefact
    ) -> LeadData:
        from leadq.learning.features import lead_data

        return lead_data(
            compiled, self.leads, self.events, timezone=self.timezone,
            created_column=artefact.spec.created, tables=bound.tables,
        )  # fmt: skip


class StoreScorer(Scorer):
    """Score stored leads inside the store's database, as the service does."""

    def __init__(self, connection, lead_ids: list[int]):
        super().__init__()
        self.connection = connection
        self.lead_ids = lead_ids

    def _binds_per_cut_off(self, compiled: CompiledModel) -> bool:
        # A qualification counts from the time it was recorded.
        return bool(compiled.layout.qualifications)

    def _bind(
        self, model: ScoringModel, compiled: CompiledModel, as_of: int | None
    ) -> BoundLeads:
        # NOTE: stored attributes are current values and events before a
        # lead's recycle are left out, so the past is not replayed exactly.
        from leadq.service.lead_tables import read_stored_leads

        return read_stored_leads(self.connection, compiled, self.lead_ids, as_of)

    def _run(
        self, compiled: CompiledModel, tables: EngineTables, as_of: int
    ) -> pa.Table:
        return run_on_connection(self.connection, compiled, tables, as_of)

    def _load_artefact(self, compiled: CompiledModel) -> Artefact:
        """Load the artefact from inside the store's artefacts folder, as the service does."""
        from leadq.service.artefacts import check_artefact
        from leadq.store.database import artefacts_folder_of

        folder = artefacts_folder_of(self.connection)
        return check_artefact(compiled, folder, f"model {compiled.model.name!r}")

    def _predictive_data(
        self, compiled: CompiledModel, bound: BoundLeads, artefact: Artefact
    ) -> LeadData:
        from leadq.service.predictions import stored_lead_data

        return stored_lead_data(compiled, bound, artefact.spec)


@dataclass
class Snapshot:
    """One model's scores at each cut-off, with the label of every row.

    `rows` has the ranked columns of `leadq score` (lead_id, scores, grade,
    stage, one column per rule) plus `cutoff` (microseconds), `converted`
    (in the horizon) and `days_to_conversion` (from the cut-off, or null).
    """

    model: ScoringModel
    compiled: CompiledModel
    rows: pa.Table
    cutoffs: list[int]
    horizon_days: float


@dataclass
class CutoffPlan:
    """The cut-offs of an evaluation, the horizon and notes for the reader."""

    cutoffs: list[int]
    horizon_days: float
    notes: list[str] = field(default_factory=list)
    # Leads first seen longer ago than this at a cut-off are left out of it.
    max_age_days: float | None = None


def plan_cutoffs(
    history: LeadHistory,
    cutoffs: list[int],
    horizon_days: float,
    end: int | None = None,
    max_age_days: float | None = None,
) -> CutoffPlan:
    """Check given cut-offs, or choose month starts that leave a whole horizon.

    `end` limits the data to a time, such as a report's as-of time: chosen
    horizons end by then. By default the data ends at its latest time.
    """
    if horizon_days <= 0:
        raise OptionError(
            f"--horizon {horizon_days:g}: give a number of days above 0, such as 90"
        )
    if max_age_days is not None and max_age_days <= 0:
        raise OptionError(
            f"--max-age {max_age_days:g}: give a number of days above 0, such as 30"
        )
    check_outcome_times(history)
    if not history.first_seen and not history.unknown_start:
        raise OptionError("there are no leads to evaluate; import or add leads first")
    if not history.first_seen or history.latest is None:
        raise OptionError(
            "no lead has a creation time or an event, so no cut-off can include one; "
            "pass --created-column with the leads file's creation time column"
        )
    latest = history.latest if end is None else min(end, history.latest)
    chosen = sorted(set(cutoffs)) or _month_starts(history, horizon_days, latest)
    plan = CutoffPlan(chosen, horizon_days, max_age_days=max_age_days)
    late = [c for c in plan.cutoffs if c + horizon_days * DAY > latest]
    if late:
        plan.notes.append(
            f"the data ends at {format_time(latest)}, before the horizon of "
            f"{len(late)} cut-off(s) ends ({', '.join(format_time(c) for c in late)}); "
            "conversions after the end are not in the data, so those rates are too low"
        )
    if history.unknown_start:
        plan.notes.append(
            f"{history.unknown_start:,} leads have no creation time and no events, so no cut-off includes them"
        )
    return plan


def check_outcome_times(history: LeadHistory) -> None:
    untimed = sum(1 for o in history.outcomes.values() if o.closed_at is None)
    if untimed:
        raise OptionError(
            f"{untimed:,} outcomes have no time, so it is unknown whether they came before "
            "or after a cut-off; give each outcome a time (the `at` column of an outcomes "
            "file, or --outcome-time-column)"
        )


def _month_starts(history: LeadHistory, horizon_days: float, latest: int) -> list[int]:
    """Return month starts after the first lead and by the last, with a whole horizon."""
    start = _as_datetime(min(history.first_seen.values()))
    # A cut-off after the last new lead would only see leads already open before.
    last = min(latest - horizon_days * DAY, max(history.first_seen.values()))
    months = []
    year, month = start.year, start.month
    while True:
        month += 1
        if month == 13:
            year, month = year + 1, 1
        moment = micros_since_epoch(datetime(year, month, 1, tzinfo=timezone.utc))
        if moment > last:
            break
        months.append(moment)
    if not months:
        raise OptionError(
            f"the data runs from {format_time(min(history.first_seen.values()))} to "
            f"{format_time(latest)}, too short for a month start followed by a "
            f"horizon of {horizon_days:g} days; pass --cutoff TIME or a shorter --horizon"
        )
    return months[-DEFAULT_CUTOFFS:]


def take_snapshot(
    history: LeadHistory, scorer, model: ScoringModel, plan: CutoffPlan
) -> Snapshot:
    """Score the model at every cut-off and keep each cut-off's population."""
    tables = []
    compiled = None
    for cutoff in plan.cutoffs:
        compiled, ranked = scorer.score(model, cutoff)
        tables.append(_labelled(history, ranked, cutoff, plan))
    rows = pa.concat_tables(tables) if tables else pa.table({})
    return Snapshot(model, compiled, rows, plan.cutoffs, plan.horizon_days)


def _labelled(
    history: LeadHistory, ranked: pa.Table, cutoff: int, plan: CutoffPlan
) -> pa.Table:
    end = cutoff + plan.horizon_days * DAY
    oldest = cutoff - plan.max_age_days * DAY if plan.max_age_days is not None else None
    keep, converted, days = [], [], []
    for index, lead_id in enumerate(ranked["lead_id"].to_pylist()):
        seen = history.first_seen.get(lead_id)
        outcome = history.outcomes.get(lead_id)
        if seen is None or seen > cutoff or (oldest is not None and seen < oldest):
            continue
        if (
            outcome is not None
            and outcome.closed_at is not None
            and outcome.closed_at <= cutoff
        ):
            continue
        at = outcome.converted_at if outcome is not None else None
        hit = at is not None and cutoff < at <= end
        keep.append(index)
        converted.append(hit)
        days.append((at - cutoff) / DAY if hit else None)
    table = ranked.take(pa.array(keep, pa.int64()))
    table = table.add_column(0, "cutoff", pa.array([cutoff] * len(keep), pa.int64()))
    table = table.append_column("converted", pa.array(converted, pa.bool_()))
    return table.append_column("days_to_conversion", pa.array(days, pa.float64()))


def parse_cutoff(text: str, option: str = "--cutoff") -> int:
    """Parse an ISO 8601 time; a date or a time without an offset is in UTC."""
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise OptionError(
            f"{option} {text!r} is not a time; use ISO 8601, such as 2026-10-01 or 2026-10-01T00:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return micros_since_epoch(moment)


def format_time(micros: int) -> str:
    moment = _as_datetime(micros)
    if moment.hour == moment.minute == moment.second == moment.microsecond == 0:
        return moment.date().isoformat()
    return moment.isoformat().replace("+00:00", "Z")


def _as_datetime(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)
