"""Funnel volumes and conversion rates by stage, grade, source and month.

Each lead scored as of the report time has a status then: converted (a
conversion at or before that time, or one without a time), lost (closed
without converting), or open. The conversion rate of a group is its
converted leads over all its leads.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from leadq.evaluation.history import LeadHistory

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
MISSING = "(none)"
STATUSES = ("converted", "lost", "open")


@dataclass(frozen=True)
class GroupCounts:
    group: str
    leads: int
    converted: int
    lost: int
    open: int

    @property
    def rate(self) -> float | None:
        return self.converted / self.leads if self.leads else None

    def as_dict(self) -> dict:
        return {
            "group": self.group,
            "leads": self.leads,
            "converted": self.converted,
            "lost": self.lost,
            "open": self.open,
            "rate": self.rate,
        }


@dataclass
class Breakdown:
    """Counts per value of one dimension, such as stage, in a fixed order."""

    dimension: str
    groups: list[GroupCounts]

    def total(self) -> GroupCounts:
        return GroupCounts(
            "all",
            sum(g.leads for g in self.groups),
            sum(g.converted for g in self.groups),
            sum(g.lost for g in self.groups),
            sum(g.open for g in self.groups),
        )

    def as_dict(self) -> dict:
        return {
            "dimension": self.dimension,
            "groups": [g.as_dict() for g in self.groups],
            "total": self.total().as_dict(),
        }


def lead_status(history: LeadHistory, lead_id: str, as_of: int) -> str:
    """Return "converted", "lost" or "open" for a lead as of a time (microseconds)."""
    outcome = history.outcome(lead_id)
    if outcome is None:
        return "open"
    if outcome.converted and (
        outcome.converted_at is None or outcome.converted_at <= as_of
    ):
        return "converted"
    # Closed by then without a conversion yet; a loss without a time counts as closed.
    if outcome.closed_at is None or outcome.closed_at <= as_of:
        return "lost"
    return "open"


def breakdown(
    dimension: str,
    groups: list[str],
    statuses: list[str],
    order: list[str] | None = None,
) -> Breakdown:
    """Count statuses per group; `order` lists groups first, the rest follow sorted."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(STATUSES, 0))
    for group, status in zip(groups, statuses):
        counts[group][status] += 1
    names = [name for name in order or [] if name in counts]
    names += sorted(name for name in counts if name not in names)
    rows = [
        GroupCounts(
            name, sum(counts[name].values()), *(counts[name][s] for s in STATUSES)
        )
        for name in names
    ]
    return Breakdown(dimension, rows)


def month_of(micros: int | None) -> str:
    if micros is None:
        return MISSING
    return (EPOCH + timedelta(microseconds=micros)).strftime("%Y-%m")


def group_value(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return MISSING
    return str(value).strip()
