"""Read a lead history from files: the leads file, its events and outcomes.

Outcomes come from an outcomes file (the lead key, `outcome`, `at` and
`value` columns, as `leadq import outcomes` reads them) or from columns of
the leads file. A lead is first seen at its creation time (a leads column
named by the caller) or at its first event, whichever is earlier.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from leadq.binding import normalized_keys, renamed_leads, required_column
from leadq.engines import EngineTables
from leadq.errors import InputError, OptionError
from leadq.evaluation.history import (
    LeadHistory,
    merge_outcome,
    outcome_fix,
    outcome_kind,
)
from leadq.inputs import SourceTable, read_source, to_utc_micros
from leadq.model.schema import ScoringModel


@dataclass(frozen=True)
class OutcomeSource:
    """The file and columns of outcomes.

    With `file` None, outcomes are columns of the leads file, and `outcome_column`
    is required. An outcomes file without the outcome column lists
    conversions only: each row is one.
    """

    file: Path | None = None
    outcome_column: str | None = None
    time_column: str | None = None
    value_column: str | None = None


@dataclass(frozen=True)
class LeadColumns:
    """Leads file columns that evaluation reads besides the model's fields."""

    created: str | None = None
    groups: tuple[str, ...] = ()
    # Columns to keep when the file has them, such as a default `source`.
    optional_groups: tuple[str, ...] = ()


def file_history(
    leads: SourceTable,
    model: ScoringModel,
    bound: EngineTables,
    outcomes: OutcomeSource,
    columns: LeadColumns = LeadColumns(),
    *,
    timezone: str | None = None,
    encoding: str | None = None,
) -> LeadHistory:
    """Build the history of the leads in `bound`, the leads file bound to a model."""
    table = renamed_leads(leads, model.columns)
    keys = normalized_keys(
        required_column(table, model.key, leads, "the lead key"), model.key
    )
    rows = _last_rows(keys)
    history = LeadHistory()
    _add_first_seen(history, table, keys, rows, leads, columns.created, timezone)
    _add_first_events(history, bound)
    history.unknown_start = len(rows) - len(history.first_seen)
    present = tuple(
        name for name in columns.optional_groups if name in table.column_names
    )
    history.fields = _group_fields(table, keys, rows, leads, columns.groups + present)
    if outcomes.file is not None:
        _add_outcome_file(history, model, outcomes, timezone, encoding, known=set(rows))
    else:
        _add_outcome_columns(history, table, keys, rows, leads, outcomes, timezone)
    history.latest = _latest(history, bound)
    return history


def _last_rows(keys) -> dict[str, int]:
    """Map each key to its last row, the row that binding keeps."""
    return {key: index for index, key in enumerate(keys.to_pylist())}


def _add_first_seen(history, table, keys, rows, source, column, timezone) -> None:
    if column is None:
        return
    values = required_column(
        table, column, source, "the time each lead was created (--created-column)"
    )
    times = _times(values, rows, source, column, timezone)
    history.first_seen.update(times)


def _times(
    values, rows: dict[str, int], source: SourceTable, column: str, timezone
) -> dict[str, int]:
    """Convert the non-blank times of the kept rows; blank cells are left out."""
    text = pc.utf8_trim_whitespace(pc.cast(values, pa.string()))
    present = [(key, row) for key, row in rows.items() if text[row].as_py()]
    if not present:
        return {}
    positions = [row for _, row in present]
    picked = pc.take(values, pa.array(positions, pa.int64()))
    # Errors about a picked value name the line of its row in the file.
    located = replace(
        source, line_numbers=lambda index: source.line_numbers(positions[index])
    )
    micros = to_utc_micros(picked, source=located, column=column, timezone=timezone)
    return dict(zip((key for key, _ in present), micros.to_pylist()))


def _add_first_events(history: LeadHistory, bound: EngineTables) -> None:
    events = bound.events.filter(pc.is_valid(bound.events["lead_code"]))
    if len(events) == 0:
        return
    first = events.group_by("lead_code", use_threads=False).aggregate([("ts", "min")])
    keys = pc.take(bound.leads["lead_key"], first["lead_code"]).to_pylist()
    for key, ts in zip(keys, first["ts_min"].to_pylist()):
        seen = history.first_seen.get(key)
        history.first_seen[key] = ts if seen is None else min(seen, ts)


def _group_fields(table, keys, rows, source, names: tuple[str, ...]) -> dict[str, dict]:
    fields: dict[str, dict] = {key: {} for key in rows}
    for name in names:
        values = required_column(
            table, name, source, "a lead field to group the report by"
        ).to_pylist()
        for key, row in rows.items():
            fields[key][name] = values[row]
    return fields


def _add_outcome_columns(
    history, table, keys, rows, source, outcomes: OutcomeSource, timezone
) -> None:
    if outcomes.outcome_column is None:
        raise OptionError(
            "no outcomes: pass --outcomes FILE, or --outcome-column COLUMN to read "
            "them from a column of the leads file"
        )
    kinds = _kinds(table, outcomes.outcome_column, rows, source)
    times = {}
    if outcomes.time_column is not None:
        column = required_column(
            table, outcomes.time_column, source, "the time of each outcome"
        )
        times = _times(column, rows, source, outcomes.time_column, timezone)
    values = _values(table, outcomes.value_column, rows, source)
    for key, kind in kinds.items():
        outcome = merge_outcome(None, kind, times.get(key), values.get(key))
        if outcome is not None:
            history.outcomes[key] = outcome


def _kinds(
    table, column: str, rows: dict[str, int], source: SourceTable
) -> dict[str, str]:
    values = required_column(
        table, column, source, "the outcome of each lead"
    ).to_pylist()
    kinds = {}
    for key, row in rows.items():
        kind = outcome_kind(values[row])
        if kind is None:
            raise InputError(
                f"{values[row]!r} is not an outcome; {outcome_fix()}",
                file=source.path,
                column=column,
                **source.position(row),
            )
        kinds[key] = kind
    return kinds


def _values(
    table, column: str | None, rows: dict[str, int], source: SourceTable
) -> dict[str, float]:
    if column is None:
        return {}
    values = required_column(
        table, column, source, "the value of each deal"
    ).to_pylist()
    numbers = {}
    for key, row in rows.items():
        number = _number(values[row], source, column, row)
        if number is not None:
            numbers[key] = number
    return numbers


def _number(value, source: SourceTable, column: str, row: int) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is not None and math.isfinite(number):
        return number
    problem = "is not a number" if number is None else "is not a finite number"
    raise InputError(
        f"{value!r} {problem}; write the deal value as a plain number, such as 1200.50",
        file=source.path,
        column=column,
        **source.position(row),
    )


def _add_outcome_file(
    history: LeadHistory,
    model: ScoringModel,
    outcomes: OutcomeSource,
    timezone,
    encoding,
    known: set[str],
) -> None:
    """Add the outcomes of the leads in `known`; those of other keys are counted in a note."""
    source = read_source(outcomes.file, encoding=encoding)
    table = source.table
    keys = normalized_keys(table[_key_column(source, model)], model.key).to_pylist()
    rows = {index: index for index in range(len(table))}
    time_column = outcomes.time_column or "at"
    times = _times(
        required_column(table, time_column, source, "the time of each outcome"),
        rows,
        source,
        time_column,
        timezone,
    )
    kinds = _file_kinds(table, outcomes.outcome_column, source, rows)
    value_column = outcomes.value_column or (
        "value" if "value" in table.column_names else None
    )
    values = _values(table, value_column, rows, source)
    unknown = sum(key not in known for key in keys)
    if unknown:
        history.notes.append(
            f"outcomes file rows whose lead key the leads file does not have (or that have none): "
            f"{unknown:,}; they are left out"
        )
    for index, key in enumerate(keys):
        if key not in known:
            continue
        merged = merge_outcome(
            history.outcomes.get(key), kinds[index], times.get(index), values.get(index)
        )
        if merged is not None:
            history.outcomes[key] = merged


def _key_column(source: SourceTable, model: ScoringModel) -> str:
    """Return the outcomes file's key column: named as the key, or mapped to it under `columns:`."""
    names = source.table.column_names
    mapped = [
        column
        for column, name in model.columns.items()
        if name == model.key and column in names
    ]
    if model.key not in names and mapped:
        return mapped[0]
    required_column(
        source.table, model.key, source, "the lead key (`key:` in the model)"
    )
    return model.key


def _file_kinds(
    table, column: str | None, source: SourceTable, rows: dict
) -> dict[int, str]:
    name = column or "outcome"
    if column is None and name not in table.column_names:
        return {index: "converted" for index in rows}
    return _kinds(table, name, rows, source)


def _latest(history: LeadHistory, bound: EngineTables) -> int | None:
    times = list(history.first_seen.values())
    for outcome in history.outcomes.values():
        times += [t for t in (outcome.converted_at, outcome.closed_at) if t is not None]
    if len(bound.events):
        times.append(pc.max(bound.events["ts"]).as_py())
    return max(times) if times else None
