"""Conversion times from outcomes, with reopened deals taken back out.

An outcome row records what happened to a lead at a time: `won` or
`converted` (also 1, true, yes), `lost` (also 0, false, no), or `reopened`.
A `reopened` row cancels every closed outcome of the same lead at or before
its time, so a deal that was won and then reopened is not a conversion in
training data. A later `won` row counts again. The store keeps outcomes as
rows, so reopening needs no new column: `leadq import outcomes` stores a
`reopened` row like any other.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, select

from leadq.binding import renamed_leads, required_column
from leadq.inputs import read_source, to_utc_micros
from leadq.outcomes import CONVERTED_VALUES, NOT_CONVERTED_VALUES
from leadq.store.tables import leads, outcomes

REOPENED = "reopened"


@dataclass(frozen=True)
class Outcome:
    lead_key: str
    outcome: str
    at: int  # microseconds since the epoch, UTC

    @property
    def kind(self) -> str:
        text = self.outcome.strip().lower()
        if text == REOPENED:
            return REOPENED
        if text in CONVERTED_VALUES:
            return "converted"
        if text in NOT_CONVERTED_VALUES:
            return "lost"
        return "other"


def conversion_times(history: Iterable[Outcome]) -> dict[str, int]:
    """Return each lead's first conversion time that no reopening cancelled."""
    by_lead: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in history:
        by_lead[outcome.lead_key].append(outcome)
    converted = {}
    for lead_key, rows in by_lead.items():
        standing = _standing_outcomes(rows)
        times = [row.at for row in standing if row.kind == "converted"]
        if times:
            converted[lead_key] = min(times)
    return converted


def _standing_outcomes(rows: list[Outcome]) -> list[Outcome]:
    """Drop closed outcomes that a reopening at the same time or later cancels."""
    standing: list[Outcome] = []
    # A reopening sorts after a closed outcome of the same time, so it cancels it.
    for row in sorted(rows, key=lambda row: (row.at, row.kind == REOPENED)):
        if row.kind == REOPENED:
            standing = []
        else:
            standing.append(row)
    return standing


def stored_outcomes(connection: Connection) -> list[Outcome]:
    """Read the store's outcomes with each lead's key."""
    query = select(leads.c.lead_key, outcomes.c.outcome, outcomes.c.at).join(
        leads, leads.c.id == outcomes.c.lead_id
    )
    return [Outcome(row.lead_key, row.outcome, row.at) for row in connection.execute(query)]


def read_outcome_file(path, model, timezone: str | None, encoding: str | None) -> list[Outcome]:
    """Read an outcomes file: the lead key, `outcome` and `at`, as `leadq import outcomes` reads."""
    source = read_source(path, encoding=encoding)
    table = renamed_leads(source, model.columns)
    keys = required_column(table, model.key, source, "the lead key (`key:` in the model)")
    kinds = required_column(table, "outcome", source, "the outcome, such as won, lost or reopened")
    times = required_column(table, "at", source, "the time of the outcome")
    micros = to_utc_micros(times, source=source, column="at", timezone=timezone)
    keys = pc.utf8_trim_whitespace(pc.cast(keys, pa.string()))
    if model.key == "email":
        keys = pc.utf8_lower(keys)
    return [
        Outcome(key, str(kind), at)
        for key, kind, at in zip(keys.to_pylist(), pc.cast(kinds, pa.string()).to_pylist(), micros.to_pylist())
        if key and kind
    ]
