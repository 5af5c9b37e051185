"""Read and check every row of an import file before anything is written.

The checks follow `leadq score`: the same readers, column names, mappings
and value rules. A problem with the whole file (a missing key column, two
columns that become one field) raises InputError. A lead field that the
file lacks, under its own name or a mapped column's, keeps its stored
values. A problem in one row
rejects only that row: an empty key, an email key or email column that is
not an email address, a value the model compares as a number that is not
one, a bad time or an event time more than a day ahead, invalid JSON
properties or an empty event name.
The rejection names the row's line or row number, the column and the reason.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

import pyarrow as pa

from leadq.binding import (
    NUMBER_PATTERN,
    event_column_names,
    is_finite_number,
    renamed_leads,
    renamed_table,
    required_column,
    required_lead_key,
)
from leadq.compiler.layout import Layout, ValueColumns
from leadq.errors import ImportRowError, InputError
from leadq.inputs import SourceTable, to_utc_micros
from leadq.inputs.source import SURROGATE, Position, nul_message, shown_value, unpaired_surrogate_message
from leadq.json_properties import parse_properties
from leadq.lead_columns import lead_columns
from leadq.model.schema import ScoringModel
from leadq.evaluation.history import CONVERTED_VALUES, LOST_VALUES, OPEN_VALUES
from leadq.learning.labels import REOPENED
from leadq.service.event_times import event_time_problem
from leadq.service.identity import is_email_address
from leadq.store.database import now_micros

# Times are converted this many rows at a time. A chunk with a bad time is
# converted again row by row, so every bad row is found.
TIME_CHUNK_ROWS = 2000
# The largest text cell that an import stores. The tracking API takes
# messages of up to 32 KB. Imports allow more, for long CRM text fields such
# as notes, but every rescore and lead record reads the stored values.
MAX_VALUE_BYTES = 2**20
NOT_AN_EMAIL = "is not an email address; write an address such as ana@example.com"


@dataclass(frozen=True)
class Rejection:
    """A row left out of an import: where it is in the file, the column and why."""

    place: Position
    column: str | None
    reason: str

    @property
    def where(self) -> str:
        kind, number = self.place
        return f"{kind} {number}"


@dataclass
class LeadRow:
    key: str
    email: str | None
    # Cells by the file's column names; blank cells are left out.
    attributes: dict[str, object]
    # The row's line or row number in the file, set once the row is accepted.
    place: Position | None = None


@dataclass
class EventRow:
    key: str
    message_id: str
    name: str
    ts: int
    properties: dict[str, object]
    place: Position | None = None


@dataclass
class OutcomeRow:
    lead_id: int
    outcome: str
    at: int | None
    value: float | None
    place: Position | None = None


@dataclass
class CheckedFile:
    """The rows of a file that passed every check, and the ones that did not."""

    path: str
    rows: int
    accepted: list = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    # Rows replaced by a later row of the same lead key.
    superseded: int = 0
    # Lead fields that a rule reads and the file does not have, except
    # those of absent_columns.
    missing_fields: list[str] = field(default_factory=list)
    # Columns that the model's `columns:` maps to a field that a rule reads,
    # which the file does not have: column -> field.
    absent_columns: dict[str, str] = field(default_factory=dict)

    def reject(self, source: SourceTable, index: int, error: ImportRowError) -> None:
        """Reject a row; the error's column is named as in the file, before a CRM reader renamed it."""
        column = None if error.column is None else source.file_column(error.column)
        self.rejected.append(Rejection(source.line_numbers(index), column, error.reason))

    def reject_lines(self, errors: tuple[InputError, ...]) -> None:
        """Count and reject lines that the reader skipped, keeping rejections in line order.

        Only JSON lines files skip lines, and each of their rows has a line.
        """
        if not errors:
            return
        self.rows += len(errors)
        skipped = [Rejection(("line", error.line), error.column, error.message) for error in errors]
        self.rejected = sorted(self.rejected + skipped, key=lambda rejection: rejection.place[1])


# Leads


def check_leads(
    source: SourceTable, model: ScoringModel, layout: Layout, problems: dict[int, ImportRowError] | None = None
) -> CheckedFile:
    """Check a leads file; the last accepted row of each lead key wins.

    `problems` rejects rows found unreadable before, such as a CRM export's
    ambiguous dates (leadq.crm.reading).
    """
    fields = _lead_fields(source, model)
    key_column = next(column for column, name in fields.items() if name == model.key)
    email_column = next((column for column, name in fields.items() if name == "email"), None)
    numbers = {column: name for column, name in fields.items() if _is_numeric(layout.lead_fields.get(name))}

    checked = CheckedFile(source.path, len(source.table))
    by_key: dict[str, LeadRow] = {}
    for index, row in enumerate(source.table.to_pylist()):
        if problems and index in problems:
            checked.reject(source, index, problems[index])
            continue
        try:
            check_storable_cells(row)
            lead = _lead_row(row, model.key, key_column, email_column, numbers)
        except ImportRowError as error:
            checked.reject(source, index, error)
            continue
        if by_key.pop(lead.key, None) is not None:
            checked.superseded += 1
        lead.place = source.line_numbers(index)
        by_key[lead.key] = lead
    checked.accepted = list(by_key.values())
    checked.absent_columns = _absent_mapped_columns(source, model, layout)
    missing = set(layout.lead_fields) - set(fields.values()) - set(checked.absent_columns.values())
    checked.missing_fields = sorted(missing)
    return checked


def _lead_fields(source: SourceTable, model: ScoringModel) -> dict[str, str]:
    """Map each column of the file to its field under the model's `columns:`."""
    renamed = renamed_leads(source, model.columns)
    required_lead_key(renamed, model, source)
    return dict(zip(source.table.column_names, renamed.column_names))


def _absent_mapped_columns(source: SourceTable, model: ScoringModel, layout: Layout) -> dict[str, str]:
    """Return the mapped columns that the file lacks, with their fields, where a rule reads the field."""
    names = lead_columns(source.table.column_names, model.columns)
    present = set(names.fields.values())
    return {
        column: field
        for column, field in names.absent.items()
        if field in layout.lead_fields and field not in present
    }


def _lead_row(row: dict, key_field: str, key_column: str, email_column: str | None, numbers: dict) -> LeadRow:
    key = _lead_key(row[key_column], key_field, key_column)
    for column, name in numbers.items():
        _check_number(row[column], column, name)
    attributes = {column: _json_value(value) for column, value in row.items() if not _is_blank(value)}
    if key_field == "email":
        email = key
    else:
        email = _email(row.get(email_column), email_column) if email_column else None
    return LeadRow(key, email, attributes)


def _email(value, column: str) -> str | None:
    """Return a lead's email, normalized; a blank cell is None and keeps the stored email."""
    email = _normalized_key(value, "email")
    if email is not None and not is_email_address(email):
        raise ImportRowError(column, f"{shown_value(_text(value))} {NOT_AN_EMAIL}, or leave the cell empty")
    return email


# Events


def check_events(
    source: SourceTable,
    model: ScoringModel,
    layout: Layout,
    timezone: str | None,
    problems: dict[int, ImportRowError] | None = None,
) -> CheckedFile:
    """Check an events file; an event without an id gets one made from its content.

    `problems` rejects rows found unreadable before, such as times that do
    not match the declared `--date-format` (leadq.crm.reading).
    """
    table = renamed_table(source, model.event_columns, "event_columns")
    names = event_column_names(table, model.key, source)
    columns = dict(zip(table.column_names, source.table.column_names))
    plain = [name for name in table.column_names if name not in names.values()]
    time_column = columns[names["timestamp"]]
    times = RowTimes.convert(source, table[names["timestamp"]], time_column, timezone)
    written_times = source.written_values.get(time_column, table[names["timestamp"]]).to_pylist()

    checked = CheckedFile(source.path, len(table))
    occurrences: Counter[str] = Counter()
    now = now_micros()
    for index, row in enumerate(table.to_pylist()):
        if problems and index in problems:
            checked.reject(source, index, problems[index])
            continue
        try:
            check_storable_cells(row, columns)
            event = _event_row(row, index, model.key, names, columns, plain, layout, times)
            check_storable(event.properties, columns.get(names.get("properties")), "properties")
            _check_time(event.ts, written_times[index], time_column, now)
        except ImportRowError as error:
            checked.reject(source, index, error)
            continue
        if not event.message_id:
            event.message_id = _content_id(event, occurrences)
        event.place = source.line_numbers(index)
        checked.accepted.append(event)
    return checked


def _event_row(row, index, key_field, names, columns, plain, layout, times) -> EventRow:
    key = _lead_key(row[names["key"]], key_field, columns[names["key"]])
    name = _text(row[names["event"]])
    if name is None:
        message = "the event name is empty; every event needs one, such as page_viewed"
        raise ImportRowError(columns[names["event"]], message)
    ts = times.get(index)
    properties = _json_properties(row.get(names.get("properties")), columns.get(names.get("properties")))
    # A non-blank plain column wins over the same name in the JSON column.
    properties.update({name: _json_value(row[name]) for name in plain if not _is_blank(row[name])})
    for property_name, value in properties.items():
        if _is_numeric(layout.properties.get(property_name)):
            own_cell = property_name in plain and not _is_blank(row[property_name])
            source_name = property_name if own_cell else names["properties"]
            _check_number(value, columns[source_name], property_name)
    event_id = _text(row.get(names.get("event_id"))) or ""
    return EventRow(key, event_id, name, ts, properties)


def _check_time(ts: int, value, column: str, now: int, label: str = "timestamp") -> None:
    """Reject a time that the tracking API rejects: outside its years or too far ahead."""
    problem = event_time_problem(ts, now)
    if problem is not None:
        raise ImportRowError(column, f"{label} {shown_value(_text(value))} {problem}")


def _json_properties(value, column: str | None) -> dict:
    """Return a `properties` cell as a dict, checked as `leadq score` checks it (leadq.json_properties)."""
    if _is_blank(value):
        return {}
    if isinstance(value, dict):
        return dict(value)
    try:
        parsed = parse_properties(value if isinstance(value, str) else json.dumps(value, default=str))
    except ValueError as error:
        raise ImportRowError(column, str(error)) from None
    return parsed or {}


def _content_id(event: EventRow, occurrences: Counter) -> str:
    """Make an event id from the event's content, so a second import of the
    same file finds the same ids. The n-th copy of one event in a file gets
    its own id, as it counts separately in `leadq score`."""
    content = json.dumps([event.key, event.name, event.ts, event.properties], sort_keys=True, default=str)
    occurrences[content] += 1
    digest = hashlib.sha256(f"{occurrences[content]}:{content}".encode()).hexdigest()
    return f"import-{digest[:40]}"


# Outcomes

# Values of the outcome column, compared lower-cased. Training reads `reopened`
# (leadq.learning.labels) and reports read the open values as reopening a deal.
OUTCOME_VALUES = CONVERTED_VALUES | LOST_VALUES | OPEN_VALUES | {REOPENED}


def check_outcomes(
    source: SourceTable, model: ScoringModel, timezone: str | None, find_lead: Callable[[str], int | None]
) -> CheckedFile:
    """Check an outcomes file: key, `outcome`, optional `at` and `value`.

    `find_lead` returns the stored lead of a key; a key without one rejects
    the row.
    """
    table = source.table
    key_column = _outcome_key_column(source, model)
    required_column(table, "outcome", source, "the outcome, such as won, lost or converted")
    has_at = "at" in table.column_names
    times = RowTimes.convert(source, table["at"], "at", timezone, skip_blank=True) if has_at else RowTimes()

    checked = CheckedFile(source.path, len(table))
    for index, row in enumerate(table.to_pylist()):
        try:
            check_storable_cells(row)
            outcome = _outcome_row(row, index, model.key, key_column, times, find_lead)
        except ImportRowError as error:
            checked.reject(source, index, error)
            continue
        outcome.place = source.line_numbers(index)
        checked.accepted.append(outcome)
    return checked


def _outcome_key_column(source: SourceTable, model: ScoringModel) -> str:
    """Return the key column: named as the key field, or mapped to it under `columns:`."""
    names = source.table.column_names
    mapped = [column for column, name in model.columns.items() if name == model.key and column in names]
    if model.key not in names and mapped:
        return mapped[0]
    required_column(source.table, model.key, source, "the lead key (`key:` in the model)")
    return model.key


def _outcome_row(row, index, key_field, key_column, times, find_lead) -> OutcomeRow:
    key = _lead_key(row[key_column], key_field, key_column)
    outcome = _text(row["outcome"])
    if outcome is None:
        raise ImportRowError("outcome", "the outcome is empty; write what happened, such as won, lost or converted")
    if outcome.lower() not in OUTCOME_VALUES:
        accepted = ", ".join(sorted(OUTCOME_VALUES - {""}))
        raise ImportRowError("outcome", f"{shown_value(outcome)} is not an outcome; write one of {accepted}")
    at = None
    if not _is_blank(row.get("at")):
        at = times.get(index)
        _check_time(at, row["at"], "at", now_micros(), "outcome time")
    value = row.get("value")
    if not _is_blank(value):
        _check_number(value, "value", "value", "an outcome's value is an amount of money")
        value = float(value.strip()) if isinstance(value, str) else float(value)
    lead_id = find_lead(key)
    if lead_id is None:
        message = f"no lead has the key {shown_value(key)}; import the lead first with `leadq import leads`"
        raise ImportRowError(key_column, message)
    return OutcomeRow(lead_id, outcome, at, None if _is_blank(value) else value)


# Times


@dataclass
class RowTimes:
    """Times of a column in UTC microseconds, and the reason for each bad one."""

    column: str | None = None
    times: dict[int, int] = field(default_factory=dict)
    reasons: dict[int, str] = field(default_factory=dict)

    @classmethod
    def convert(cls, source: SourceTable, values, column: str, timezone: str | None, *, skip_blank=False) -> RowTimes:
        rows = [index for index, value in enumerate(values.to_pylist()) if not (skip_blank and _is_blank(value))]
        converted = cls(column)
        for start in range(0, len(rows), TIME_CHUNK_ROWS):
            converted._convert_chunk(source, values, rows[start : start + TIME_CHUNK_ROWS], timezone)
        return converted

    def get(self, index: int) -> int:
        """Return the row's time, or raise ImportRowError with why it is invalid."""
        if index in self.reasons:
            raise ImportRowError(self.column, self.reasons[index])
        return self.times[index]

    def _convert_chunk(self, source, values, rows: list[int], timezone) -> None:
        try:
            self.times.update(zip(rows, _utc_micros(source, values, self.column, rows, timezone)))
            return
        except InputError:
            pass
        for row in rows:
            try:
                self.times[row] = _utc_micros(source, values, self.column, [row], timezone)[0]
            except InputError as error:
                self.reasons[row] = error.message


def _utc_micros(source: SourceTable, values, column: str, rows: list[int], timezone) -> list[int]:
    """Convert the times of some rows, with errors citing the rows' own positions."""
    indices = pa.array(rows, pa.int64())
    taken = values.take(indices)
    written = {name: file_values.take(indices) for name, file_values in source.written_values.items()}
    positions = SourceTable(
        source.table, source.path, source.format, lambda index: source.line_numbers(rows[index]), written_values=written
    )
    return to_utc_micros(taken, source=positions, column=column, timezone=timezone).to_pylist()


# Values


def _lead_key(value, key_field: str, column: str) -> str:
    key = _normalized_key(value, key_field)
    if key is None:
        raise ImportRowError(
            column, f"the lead key {key_field!r} is empty; every lead needs one. Fill it in or remove the row"
        )
    if key_field == "email" and not is_email_address(key):
        raise ImportRowError(column, f"the lead key {shown_value(_text(value))} {NOT_AN_EMAIL}, or remove the row")
    return key


def _normalized_key(value, key_field: str) -> str | None:
    """Trim a key; an email is also lower-cased, as `leadq score` compares it."""
    text = _text(value)
    if text is not None and key_field == "email":
        return text.lower()
    return text


def _is_numeric(columns: ValueColumns | None) -> bool:
    return columns is not None and columns.number is not None


def _check_number(value, column: str | None, name: str, reason: str | None = None) -> None:
    """Reject a value that is not a finite number; `reason` gives why it must be one."""
    if _is_blank(value) or is_finite_number(value.strip() if isinstance(value, str) else value):
        return
    problem = "is not a number"
    if _is_written_as_number(value):
        problem = "is not a finite number (a double ranges from about -1.8e308 to 1.8e308)"
    raise ImportRowError(
        column,
        f"{shown_value(_text(value))} {problem}, but {reason or f'a rule compares {name!r} as one'}; "
        "write a plain number such as 1200 (no thousands separators, currency or units), "
        "or leave the cell empty",
    )


def _is_written_as_number(value) -> bool:
    if isinstance(value, str):
        return re.fullmatch(NUMBER_PATTERN, value.strip()) is not None
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_blank(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    return isinstance(value, float) and math.isnan(value)


def check_storable_cells(row: dict, columns: dict[str, str] | None = None) -> None:
    """Reject a row with a cell that the database cannot store; `columns` maps names to the file's own.

    A float cell is left to the number checks: NaN is a blank cell, and
    infinity is kept as text unless a rule compares the column.
    """
    for name, value in row.items():
        if isinstance(value, float):
            continue
        column = (columns or {}).get(name, name)
        _check_value_size(value, column)
        check_storable(value, column, "the value")


def _check_value_size(value, column: str) -> None:
    """Reject text over MAX_VALUE_BYTES in UTF-8, which would bloat every read of its lead."""
    if not isinstance(value, str) or len(value) * 4 <= MAX_VALUE_BYTES:
        return
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > MAX_VALUE_BYTES:
        raise ImportRowError(
            column,
            f"the value is {size / 2**20:.1f} MiB ({size:,} bytes), more than the "
            f"{MAX_VALUE_BYTES // 2**20} MiB that an import stores in one value; "
            "shorten it or leave it out of the file",
        )


def check_storable(value, column: str | None, where: str) -> None:
    """Reject text with NUL characters or unpaired surrogates, which PostgreSQL cannot store,
    and infinite or NaN numbers, which JSON cannot write, naming where they sit."""
    if isinstance(value, str):
        _check_storable_text(value, column, where)
    elif isinstance(value, float) and not math.isfinite(value):
        message = f"{where} is {value}, which leadq cannot store; write a finite number or leave it out"
        raise ImportRowError(column, message)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable_text(str(key), column, f"a key of {where}")
            check_storable(item, column, f"{where}.{key}")
    elif isinstance(value, list):
        for position, item in enumerate(value):
            check_storable(item, column, f"{where}[{position}]")


def _check_storable_text(text: str, column: str | None, where: str) -> None:
    if "\x00" in text:
        raise ImportRowError(column, nul_message(where, text))
    found = SURROGATE.search(text)
    if found:
        raise ImportRowError(column, unpaired_surrogate_message(where, text, found.group()))


def _text(value) -> str | None:
    """Return a cell as trimmed text; blank cells are None."""
    if _is_blank(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


def _json_value(value) -> object:
    """Return a cell as a JSON value: text trimmed, numbers and booleans as they are."""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, float) and math.isinf(value):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, dict, list)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)
