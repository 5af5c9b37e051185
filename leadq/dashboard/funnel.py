"""The funnel report: volumes, conversion between stages, time in stage,
stage entries by source and month, and conversion by score decile.

The funnel runs through the active model's stages from the lowest rank to
the highest (the reverse of `rank_order`), without stages marked
`recycle`, such as disqualified. A lead counts as having reached a stage
when its stage history or its current stage names that stage or one
further along the funnel, so a lead that skipped a stage still counts.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone

from sqlalchemy import Connection, Integer, cast, exists, func, literal, select, union

from leadq.model.schema import ScoringModel
from leadq.service.lead_listing import attribute_text
from leadq.store.tables import leads, outcomes, stage_history

# Outcome values that count as a conversion, as in `leadq report`.
CONVERTED = ("won", "converted", "1", "true", "yes", "y")
UNKNOWN_SOURCE = "(no source)"


@dataclass(frozen=True)
class Step:
    stage: str
    current: int
    reached: int
    conversion: float | None  # share of this step's leads that reached the next


@dataclass(frozen=True)
class StageTime:
    stage: str
    stays: int
    median_days: float
    mean_days: float


@dataclass(frozen=True)
class Decile:
    decile: int
    leads: int
    converted: int
    low: float
    high: float

    @property
    def rate(self) -> float:
        return self.converted / self.leads if self.leads else 0.0


@dataclass(frozen=True)
class Entries:
    """Stage entries per group (a source or a month), by stage."""

    groups: list[str]
    counts: dict[str, Counter]


def funnel_stages(model: ScoringModel) -> list[str]:
    recycled = {stage.id for stage in model.stages if stage.recycle}
    return [
        stage for stage in reversed(model.ranked_stage_ids()) if stage not in recycled
    ]


def funnel_steps(connection: Connection, stages: list[str]) -> list[Step]:
    current = Counter(
        dict(
            connection.execute(
                select(leads.c.stage, func.count())
                .where(leads.c.merged_into.is_(None))
                .group_by(leads.c.stage)
            ).all()
        )
    )
    furthest = _furthest_positions(connection, stages)
    reached = [
        sum(1 for position in furthest if position >= index)
        for index in range(len(stages))
    ]
    steps = []
    for index, stage in enumerate(stages):
        following = reached[index + 1] if index + 1 < len(stages) else None
        rate = (
            following / reached[index]
            if following is not None and reached[index]
            else None
        )
        steps.append(Step(stage, current[stage], reached[index], rate))
    return steps


def _furthest_positions(connection: Connection, stages: list[str]) -> list[int]:
    """Return, per lead that reached a funnel stage, the furthest one's index.

    The stages in the history of a lead merged into another count for that
    survivor, whose own history does not contain them.
    """
    visits = union(
        select(
            _survivor_id(leads).label("lead_id"), stage_history.c.new_stage.label("stage")
        ).select_from(stage_history.join(leads, leads.c.id == stage_history.c.lead_id)),
        select(leads.c.id, leads.c.stage).where(
            leads.c.stage.is_not(None), leads.c.merged_into.is_(None)
        ),
    ).subquery()
    position = {stage: index for index, stage in enumerate(stages)}
    furthest: dict[int, int] = {}
    for lead_id, stage in connection.execute(select(visits.c.lead_id, visits.c.stage)):
        if stage in position:
            furthest[lead_id] = max(furthest.get(lead_id, -1), position[stage])
    return list(furthest.values())


def _survivor_id(table):
    """Return the id of the lead that a row of `table` (leads or an alias) is, or was merged into.

    A merge points every lead merged into the merged lead to the survivor
    as well (leadq.service.identity.merge), so one step reaches it.
    """
    return func.coalesce(table.c.merged_into, table.c.id)


def time_in_stage(connection: Connection, stages: list[str]) -> list[StageTime]:
    """Measure finished stays: from entering a stage to the lead's next change.

    A stay that has not ended yet is not counted.
    """
    following = func.lead(stage_history.c.at).over(
        partition_by=stage_history.c.lead_id,
        order_by=(stage_history.c.at, stage_history.c.id),
    )
    stays = select(
        stage_history.c.new_stage, stage_history.c.at, following.label("left_at")
    ).subquery()
    durations: dict[str, list[float]] = defaultdict(list)
    query = select(stays.c.new_stage, stays.c.left_at - stays.c.at).where(
        stays.c.left_at.is_not(None)
    )
    for stage, micros in connection.execute(query):
        durations[stage].append(micros / 86_400e6)
    ordered = [stage for stage in stages if stage in durations]
    ordered += sorted(set(durations) - set(stages))
    return [
        StageTime(
            stage,
            len(durations[stage]),
            statistics.median(durations[stage]),
            statistics.fmean(durations[stage]),
        )
        for stage in ordered
    ]


def stage_entries(connection: Connection, stages: list[str]) -> tuple[Entries, Entries]:
    """Count entries into each stage by lead source and by month (UTC).

    An entry of a lead merged into another counts with the survivor's source.
    """
    source = func.coalesce(attribute_text("source"), literal(UNKNOWN_SOURCE))
    history_lead = leads.alias("history_lead")
    joined = stage_history.join(history_lead, history_lead.c.id == stage_history.c.lead_id).join(
        leads, leads.c.id == _survivor_id(history_lead)
    )
    query = select(stage_history.c.new_stage, stage_history.c.at, source).select_from(joined)
    by_source: dict[str, Counter] = defaultdict(Counter)
    by_month: dict[str, Counter] = defaultdict(Counter)
    for stage, at, lead_source in connection.execute(query):
        month = datetime.fromtimestamp(at / 1e6, tz=timezone.utc).strftime("%Y-%m")
        by_source[str(lead_source)][stage] += 1
        by_month[month][stage] += 1
    sources = sorted(by_source, key=lambda name: -sum(by_source[name].values()))
    return Entries(sources, dict(by_source)), Entries(sorted(by_month), dict(by_month))


def conversion_by_decile(connection: Connection) -> list[Decile]:
    """Split scored leads into ten equal groups by total score; count conversions.

    Decile 10 contains the highest scores. A lead converted when one of its
    outcome rows is won or converted.
    """
    converted = exists().where(
        outcomes.c.lead_id == leads.c.id, func.lower(outcomes.c.outcome).in_(CONVERTED)
    )
    ranked = (
        select(
            func.ntile(10).over(order_by=(leads.c.total, leads.c.id)).label("decile"),
            leads.c.total,
            converted.label("converted"),
        )
        .where(leads.c.total.is_not(None), leads.c.merged_into.is_(None))
        .subquery()
    )
    query = (
        select(
            ranked.c.decile,
            func.count(),
            func.sum(cast(ranked.c.converted, Integer)),
            func.min(ranked.c.total),
            func.max(ranked.c.total),
        )
        .group_by(ranked.c.decile)
        .order_by(ranked.c.decile.desc())
    )
    return [
        Decile(int(d), n, int(c or 0), low, high)
        for d, n, c, low, high in connection.execute(query)
    ]
