"""Time in stage from the store's stage history.

A stay in a stage starts at the change that entered it and ends at the
lead's next change. A stay with no next change is still going at the
report time. Its days so far are reported apart, because they are only a
lower bound of its length.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import asdict, dataclass

from sqlalchemy import Connection, select

from leadq.store.tables import leads, stage_history

DAY = 86_400_000_000


@dataclass(frozen=True)
class StageTime:
    stage: str
    ended_stays: int
    median_days: float | None
    current_stays: int
    median_days_so_far: float | None

    def as_dict(self) -> dict:
        return asdict(self)


def stage_times(
    connection: Connection, as_of: int, order: list[str]
) -> list[StageTime]:
    """Summarize every stay of the leads that were not merged, up to `as_of`."""
    rows = connection.execute(
        select(stage_history.c.lead_id, stage_history.c.at, stage_history.c.new_stage)
        .join(leads, leads.c.id == stage_history.c.lead_id)
        .where(leads.c.merged_into.is_(None), stage_history.c.at <= as_of)
        .order_by(stage_history.c.lead_id, stage_history.c.at, stage_history.c.id)
    ).all()
    ended: dict[str, list[float]] = defaultdict(list)
    current: dict[str, list[float]] = defaultdict(list)
    for index, row in enumerate(rows):
        following = rows[index + 1] if index + 1 < len(rows) else None
        if following is not None and following.lead_id == row.lead_id:
            ended[row.new_stage].append((following.at - row.at) / DAY)
        else:
            current[row.new_stage].append((as_of - row.at) / DAY)
    stages = [s for s in order if s in ended or s in current]
    stages += sorted(s for s in set(ended) | set(current) if s not in stages)
    return [_summary(stage, ended[stage], current[stage]) for stage in stages]


def _summary(stage: str, ended: list[float], current: list[float]) -> StageTime:
    return StageTime(stage, len(ended), _median(ended), len(current), _median(current))


def _median(days: list[float]) -> float | None:
    return round(statistics.median(days), 2) if days else None
