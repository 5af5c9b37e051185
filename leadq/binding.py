"""Bind leads and events files to a compiled model's engine tables.

Binding renames columns by the model's mappings and checks that every field
a rule reads exists. It turns values that rules compare as numbers into
doubles, normalizes keys, and converts event times to UTC microseconds with
the local day and week in the model's time zone. Every engine reads the result.
"""

from __future__ import annotations

import json
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadq.compiler.layout import VISIT_EVENT, Layout, ValueColumns, counted_event_names
from leadq.engines import EngineTables
from leadq.errors import InputError
from leadq.inputs import SourceTable, local_days, to_utc_micros, week_of_day
from leadq.inputs.source import raise_first_nul, shown_value
from leadq.json_properties import check_properties_column, json_property
from leadq.lead_columns import LeadColumns, folded, lead_columns
from leadq.model.qualification import UNKNOWN
from leadq.model.schema import ScoringModel

# Events file columns by role. `messageId` is the id of a Segment message;
# other names need a mapping under `event_columns:` in the model.
EVENT_COLUMN_NAMES = {
    "event_id": ("event_id", "messageId"),
    "event": ("event",),
    "timestamp": ("timestamp",),
    "properties": ("properties",),
}
NUMBER_PATTERN = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?$"


def is_finite_number(value) -> bool:
    """Return whether a JSON value or a trimmed text is a number within a double's finite range.

    Text such as `1e400` matches NUMBER_PATTERN but overflows to infinity.
    """
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and re.fullmatch(NUMBER_PATTERN, value) is None:
        return False
    if not isinstance(value, (int, float, str)):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


@dataclass
class BindReport:
    leads: int = 0
    duplicate_keys: int = 0
    events: int = 0
    events_without_lead: int = 0
    # Event names that a rule or stage counts but no event in the file has.
    unseen_events: list[str] = field(default_factory=list)


def bind(
    model: ScoringModel,
    layout: Layout,
    leads: SourceTable,
    events: SourceTable | None,
    *,
    timezone: str | None = None,
) -> tuple[EngineTables, BindReport]:
    report = BindReport()
    lead_table = bind_leads(model, layout, leads, report)
    if events is None:
        event_table = empty_events(layout)
    else:
        event_table = bind_events(model, layout, events, timezone, report)
        event_table = _with_lead_codes(event_table, lead_table, report)
        report.unseen_events = unseen_events(model, event_names(event_table))
    return EngineTables(lead_table, event_table), report


def event_names(events: pa.Table) -> set[str]:
    """Return the distinct names of bound events."""
    return set(pc.unique(events["event_name"]).to_pylist())


def unseen_events(model: ScoringModel, seen: set[str]) -> list[str]:
    """List the event names that a rule or stage counts but `seen` lacks."""
    if model.visits.event in seen:
        seen = seen | {VISIT_EVENT}
    return sorted(set(counted_event_names(model)) - seen)


def _with_lead_codes(events: pa.Table, leads: pa.Table, report: BindReport) -> pa.Table:
    """Replace each event's lead key by its lead's row (NULL for unknown leads).

    The compiled query ignores events whose lead_code is NULL.
    """
    codes = pc.index_in(events["lead_key"], value_set=leads["lead_key"])
    report.events_without_lead += codes.null_count
    position = events.schema.get_field_index("lead_key")
    return events.set_column(position, "lead_code", pc.cast(codes, pa.int64()))


# Leads


def bind_leads(model, layout: Layout, source: SourceTable, report: BindReport) -> pa.Table:
    table = renamed_leads(source, model.columns)
    raise_first_nul(table, source)
    names = lead_columns(source.table.column_names, model.columns)
    key = required_lead_key(table, model, source)
    keys = _lead_keys(key, model.key, source, source.file_column(names.column_of(model.key)))
    columns = {"lead_key": keys}
    for name, value_columns in layout.lead_fields.items():
        values = _field_values(table, name, source, names)
        column = source.file_column(names.column_of(name))
        columns.update(_value_columns(values, value_columns, source, name, column))
    columns.update(absent_qualification_columns(layout, len(keys)))
    bound = pa.table(columns)
    bound, report.duplicate_keys = _last_row_per_key(bound)
    report.leads = len(bound)
    codes = pa.array(np.arange(len(bound), dtype=np.int64))
    return with_probability(bound.add_column(0, "lead_code", codes), layout)


def with_probability(leads: pa.Table, layout: Layout, values=None) -> pa.Table:
    """Set the leads table's probability column, NULL without `values`, if the layout has one."""
    if not layout.uses_probability:
        return leads
    column = pa.array(values if values is not None else [None] * len(leads), pa.float64())
    if "probability" in leads.column_names:
        return leads.set_column(leads.column_names.index("probability"), "probability", column)
    return leads.append_column("probability", column)


def renamed_leads(source: SourceTable, mapping: dict[str, str]) -> pa.Table:
    """Rename a leads file's columns to lead fields by the model's `columns:` (leadq.lead_columns).

    A mapped column that the file lacks is left out, so its field is missing.
    Raises InputError when two columns end up as one field.
    """
    fields = lead_columns(source.table.column_names, mapping).fields
    for name in dict.fromkeys(fields.values()):
        columns = [source.file_column(column) for column, field in fields.items() if field == name]
        if len(columns) > 1:
            raise InputError(_one_field_message(columns, name), file=source.path)
    return _decoded_binary(source.table, source).rename_columns(list(fields.values()))


def _one_field_message(columns: list[str], name: str) -> str:
    """Say that the file's `columns` all become the lead field `name`, and how to keep one."""
    become = f"the columns {_list(columns)} all become the lead field {name!r}"
    if len({folded(column) for column in columns}) == 1:
        return (
            f"{become}; their names differ only in case, which leadq ignores, "
            "so rename or remove all but one of them"
        )
    return (
        f"{become} under the model's `columns:`, whose names match without regard to case; "
        "keep one of them, or change the mapping"
    )


def renamed_table(source: SourceTable, mapping: dict[str, str], section: str) -> pa.Table:
    """Rename a file's columns by a model mapping, as events files are by `event_columns:`.

    Names match exactly. Raises InputError when the mapping names a column
    the file lacks, or when two columns end up with one name. Leads files
    use renamed_leads instead.
    """
    table = source.table
    names = list(table.column_names)
    for column in mapping:
        if column not in names:
            raise InputError(
                f"the model's `{section}:` maps column {column!r}, which the file "
                f"does not have; its columns are: {_list(names)}. Fix the mapping "
                "or the file's header",
                file=source.path,
            )
    renamed = [mapping.get(name, name) for name in names]
    duplicates = sorted({name for name in renamed if renamed.count(name) > 1})
    if duplicates:
        raise InputError(
            f"after the model's `{section}:` mapping, several columns are named "
            f"{_list(duplicates)}; map only one column to each field",
            file=source.path,
        )
    return _decoded_binary(table, source).rename_columns(renamed)


def _decoded_binary(table: pa.Table, source: SourceTable) -> pa.Table:
    """Decode binary columns (Parquet byte arrays) as UTF-8 text."""
    for index, column in enumerate(table.schema):
        if pa.types.is_binary(column.type) or pa.types.is_large_binary(column.type):
            text = _utf8_text(table[column.name], source, column.name)
            table = table.set_column(index, column.name, text)
    return table


def _utf8_text(values, source: SourceTable, column: str) -> pa.ChunkedArray:
    """Cast bytes to text; raise InputError naming the first value that is not UTF-8."""
    try:
        return pc.cast(values, pa.string())
    except pa.ArrowInvalid:
        row, value = next((row, value) for row, value in enumerate(values.to_pylist()) if not _is_utf8(value))
        raise InputError(
            f"{shown_value(value)} is not UTF-8 text; write the column's text in UTF-8",
            file=source.path,
            column=column,
            **source.position(row),
        ) from None


def _is_utf8(value: bytes | None) -> bool:
    try:
        value is None or value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def required_column(table: pa.Table, name: str, source: SourceTable, role: str):
    if name not in table.column_names:
        raise InputError(
            f"missing column {name!r}, {role}; the file's columns are: "
            f"{_list(source.file_header())}",
            file=source.path,
        )
    return table[name]


def required_lead_key(table: pa.Table, model: ScoringModel, source: SourceTable):
    """Return the lead key column of a renamed leads table; raise InputError naming the column it lacks."""
    if model.key in table.column_names:
        return table[model.key]
    names = lead_columns(source.table.column_names, model.columns)
    column = names.column_of(model.key)
    if column in names.absent:
        raise InputError(
            f"missing column {column!r}, which the model's `columns:` maps to the lead key "
            f"{model.key!r}; the file's columns are: {_list(source.file_header())}",
            file=source.path,
        )
    return required_column(table, model.key, source, "the lead key (`key:` in the model)")


def _field_values(table: pa.Table, field: str, source: SourceTable, names: LeadColumns):
    if field in table.column_names:
        return table[field]
    read = f"the lead field {field!r}"
    column = names.column_of(field)
    if column in names.absent:
        read += f" from the column {column!r} (the model's `columns:` maps it)"
    raise InputError(
        f"a rule of the model reads {read}, which the file does not have; "
        f"its columns are: {_list(source.file_header())}. Add the "
        f"column, or map an existing one to {field!r} under `columns:` in the model",
        file=source.path,
    )


def _lead_keys(values, key_name: str, source: SourceTable, column: str) -> pa.ChunkedArray:
    keys = normalized_keys(values, key_name)
    empty = pc.or_kleene(pc.is_null(keys), pc.equal(keys, ""))
    if pc.any(empty).as_py():
        row = _first_true(empty)
        raise InputError(
            f"the lead key {_field_name(key_name, column)} is empty; every lead needs "
            "one. Fill it in or remove the row",
            file=source.path,
            column=column,
            **source.position(row),
        )
    return keys


def _event_names(values, source: SourceTable, column: str) -> pa.ChunkedArray:
    """Return the event names trimmed; raise InputError at the first empty one, as an import rejects it."""
    names = pc.utf8_trim_whitespace(_as_text(values))
    empty = pc.or_kleene(pc.is_null(names), pc.equal(names, ""))
    if pc.any(empty).as_py():
        raise InputError(
            "the event name is empty; every event needs one, such as page_viewed. Fill it in or remove the row",
            file=source.path,
            column=column,
            **source.position(_first_true(empty)),
        )
    return names


def _last_row_per_key(table: pa.Table) -> tuple[pa.Table, int]:
    """Keep the last row of each lead key, as an import would."""
    indexed = table.append_column("_position", pa.array(range(len(table)), pa.int64()))
    last = indexed.group_by("lead_key", use_threads=False).aggregate([("_position", "max")])
    if len(last) == len(table):
        return table, 0
    keep = pc.sort_indices(last["_position_max"])
    positions = pc.take(last["_position_max"], keep)
    return table.take(positions), len(table) - len(last)


# Qualifications


@dataclass(frozen=True)
class LatestQualification:
    """A lead's latest complete qualification with one framework, for binding.

    `answers` maps each criterion to the value that answer conditions test:
    the answer, a number's amount, or `unknown`.
    """

    result: str
    at: int
    answers: dict


def absent_qualification_columns(layout: Layout, count: int) -> dict:
    """Bind leads that have no qualification: files carry none."""
    columns = {}
    for framework in layout.qualifications.values():
        columns[framework.result] = pa.nulls(count, pa.string())
        columns[framework.at] = pa.nulls(count, pa.int64())
    for value_columns in layout.answers.values():
        for name in value_columns.names():
            columns[name] = pa.nulls(count, column_type(value_columns, name))
    return columns


def qualification_columns(layout: Layout, latest: list[dict[str, LatestQualification]]) -> dict:
    """Bind each lead's latest complete qualification per framework."""
    columns = {}
    for name, framework in layout.qualifications.items():
        found = [per_lead.get(name) for per_lead in latest]
        columns[framework.result] = pa.array([q.result if q else None for q in found], pa.string())
        columns[framework.at] = pa.array([q.at if q else None for q in found], pa.int64())
    answers = [
        ([_answer_of(per_lead.get(name), criterion) for per_lead in latest], value_columns)
        for (name, criterion), value_columns in layout.answers.items()
    ]
    columns.update(stored_value_columns(answers))
    return columns


def _answer_of(found: LatestQualification | None, criterion: str):
    if found is None:
        return None
    return found.answers.get(criterion, UNKNOWN)


# Events


def empty_events(layout: Layout) -> pa.Table:
    fields = [
        pa.field("event_row", pa.int64()),
        pa.field("event_id", pa.string()),
        pa.field("lead_code", pa.int64()),
        pa.field("event_name", pa.string()),
        pa.field("ts", pa.int64()),
        pa.field("local_day", pa.int32()),
        pa.field("local_week", pa.int32()),
    ]
    for columns in layout.properties.values():
        for name in columns.names():
            fields.append(pa.field(name, column_type(columns, name)))
    return pa.schema(fields).empty_table()


def bind_events(
    model, layout: Layout, source: SourceTable, timezone, report, first_row: int = 0
) -> pa.Table:
    """Bind events with their lead keys; `first_row` is the source's first row in its file.

    Rows are numbered from `first_row` (`event_row`, and the ids of events
    without one), so batches of one file bind as the whole file does.
    """
    table = renamed_table(source, model.event_columns, "event_columns")
    raise_first_nul(table, source)
    file_columns = {field: column for column, field in model.event_columns.items()}
    names = event_column_names(table, model.key, source)
    count = len(table)

    time_column = names["timestamp"]
    micros = to_utc_micros(
        table[time_column], source=source, column=file_columns.get(time_column, time_column), timezone=timezone
    )
    days, weeks = calendar_columns(micros, model.timezone, layout.calendar_units)
    columns = {
        "event_row": pa.array(np.arange(first_row, first_row + count, dtype=np.int64)),
        "event_id": _event_ids(table, names.get("event_id"), count, first_row),
        "lead_key": normalized_keys(table[names["key"]], model.key),
        "event_name": _event_names(table[names["event"]], source, file_columns.get(names["event"], names["event"])),
        "ts": micros,
        "local_day": days,
        "local_week": weeks,
    }
    columns.update(_property_columns(layout, table, names.get("properties"), source, file_columns))
    report.events += count
    return pa.table(columns)


def _property_columns(layout: Layout, table: pa.Table, json_column: str | None, source, file_columns) -> dict:
    """Bind the properties that rules read; the JSON column is checked first, when one is read."""
    json_text = None
    if json_column is not None and layout.properties:
        json_text = _blank_as_null(_as_text(table[json_column]))
        file_column = file_columns.get(json_column, json_column)
        check_properties_column(json_text, source, file_column)
    columns = {}
    for name, value_columns in layout.properties.items():
        values = _property_values(table, name, json_text)
        column = file_columns.get(name, name)
        columns.update(_value_columns(values, value_columns, source, name, column))
    return columns


def column_type(columns: ValueColumns, name: str) -> pa.DataType:
    if name == columns.number:
        return pa.float64()
    if name in columns.matches.values():
        return pa.int64()
    return pa.string()


def calendar_columns(micros, timezone: str, units: set[str]) -> tuple[pa.Array, pa.Array]:
    """Return local days and weeks; a unit that no rule uses stays NULL (cheaper)."""
    empty = pa.nulls(len(micros), pa.int32())
    if not units:
        return empty, empty
    days = local_days(micros, timezone)
    weeks = week_of_day(days) if "week" in units else empty
    return (days if "day" in units else empty), weeks


def event_column_names(table: pa.Table, key: str, source: SourceTable) -> dict[str, str]:
    """Map each role (key, event, timestamp, event_id, properties) to its column.

    Raises InputError when the key, event or timestamp column is missing.
    """
    present = table.column_names
    names: dict[str, str] = {}
    for role, candidates in EVENT_COLUMN_NAMES.items():
        found = next((name for name in candidates if name in present), None)
        if found:
            names[role] = found
    if key in present:
        names["key"] = key
    required = {"key": key, "event": "event", "timestamp": "timestamp"}
    for role, default in required.items():
        if role not in names:
            raise InputError(
                f"missing the {role if role != 'key' else 'lead key'} column "
                f"(expected {default!r}); the file's columns are: {_list(source.file_header())}. "
                "Rename it, or map it under `event_columns:` in the model",
                file=source.path,
            )
    return names


def event_id_column(column_names: list[str], mapping: dict[str, str]) -> str | None:
    """Return the input column of event ids, after `event_columns:` maps the names, or None."""
    renamed = {mapping.get(name, name): name for name in column_names}
    candidates = EVENT_COLUMN_NAMES["event_id"]
    return next((renamed[name] for name in candidates if name in renamed), None)


def lead_key_column(model: ScoringModel) -> str:
    """Return the input column of the lead key: the one that `columns:` maps to it, or the key."""
    mapped = (column for column, field in model.columns.items() if field == model.key)
    return next(mapped, model.key)


def _event_ids(table: pa.Table, column: str | None, count: int, first_row: int) -> pa.Array:
    """Return event ids; an event without one gets `leadq-row-N`, so it is distinct."""
    if column is None:
        return _row_ids(np.arange(first_row, first_row + count))
    # Ids compare exactly, untrimmed: ids are machine-made, and trimming ten
    # million of them costs more than a second.
    ids = _as_text(table[column]).combine_chunks()
    missing = pc.or_kleene(pc.is_null(ids), pc.equal(ids, ""))
    if not pc.any(missing).as_py():
        return ids
    rows = np.flatnonzero(missing.to_numpy(zero_copy_only=False))
    return pc.replace_with_mask(ids, missing, _row_ids(first_row + rows))


def _row_ids(rows) -> pa.Array:
    return pa.array([f"leadq-row-{row}" for row in rows.tolist()], pa.string())


def normalized_keys(values, key_name: str):
    """Trim keys; emails are also lower-cased, so addresses match in any case."""
    if key_name == "email":
        return _per_chunk(lambda chunk: pc.utf8_lower(pc.utf8_trim_whitespace(chunk)), values)
    return _per_chunk(pc.utf8_trim_whitespace, values)


def _per_chunk(kernel, values, kind: pa.DataType = pa.string()) -> pa.ChunkedArray:
    """Run an Arrow string kernel on the chunks of a column in parallel threads.

    Arrow runs one call on one thread; its kernels release the GIL, so the
    chunks of a ten-million-row column convert several times faster this way.
    """
    text = _as_text(values)
    if not isinstance(text, pa.ChunkedArray):
        return kernel(text)
    if text.num_chunks < 2:
        return pa.chunked_array([kernel(chunk) for chunk in text.chunks], kind)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        return pa.chunked_array(list(pool.map(kernel, text.chunks)), kind)


def _property_values(table: pa.Table, name: str, json_text: pa.ChunkedArray | None):
    """Return a property's values from its own column and the checked JSON text.

    A file with neither has no such property on any event: the values are
    NULL, so rules that test the property match none of its events.
    """
    if json_text is None:
        if name in table.column_names:
            return table[name]
        return pa.nulls(len(table), pa.string())
    from_json = json_property(json_text, name)
    if name not in table.column_names:
        return from_json
    # Both forms: a row's own column wins, and a blank cell falls back to JSON.
    own = _trimmed_text(table[name])
    return pc.coalesce(own, from_json)


# Values


def _value_columns(values, columns: ValueColumns, source: SourceTable, name: str, column: str) -> dict:
    """Bind one field's values; `column` is the file's name for the field `name`."""
    text = _trimmed_text(values)
    bound = {}
    for pattern, column in columns.matches.items():
        bound[column] = _matches(text, pattern)
    if columns.folded:
        bound[columns.folded] = _per_chunk(pc.utf8_lower, text)
    if columns.number:
        bound[columns.number] = _as_number(values, text, source, name, column)
    return bound


def stored_value_columns(fields: list[tuple[list, ValueColumns]]) -> dict:
    """Bind values read from the service's store, as `_value_columns` binds files.

    `fields` pairs each field's values, one per row, with its columns. The
    fields are bound together, one Arrow call per step, because a rescore
    binds many fields of a few rows, where each call's own cost dominates.
    The service checks numbers when it stores them; a value that a newer
    model compares as a number but is not one counts as missing.
    """
    if not fields:
        return {}
    rows = len(fields[0][0])
    texts = [_stored_text(value) for values, _ in fields for value in values]
    text = _trimmed_text(pa.chunked_array([pa.array(texts, pa.string())]))
    folded = _per_chunk(pc.utf8_lower, text) if any(c.folded for _, c in fields) else None
    numbers = _stored_numbers(text) if any(c.number for _, c in fields) else None
    bound = {}
    for index, (_, columns) in enumerate(fields):
        part = text.slice(index * rows, rows)
        bound.update({column: _matches(part, pattern) for pattern, column in columns.matches.items()})
        if columns.folded:
            bound[columns.folded] = folded.slice(index * rows, rows)
        if columns.number:
            bound[columns.number] = numbers.slice(index * rows, rows)
    return bound


def _stored_numbers(text) -> pa.ChunkedArray:
    """Convert trimmed text to doubles; text that is not a number becomes NULL."""
    numeric = pc.match_substring_regex(text, NUMBER_PATTERN)
    numeric_text = pc.if_else(numeric, text, pa.scalar(None, pa.string()))
    return pc.cast(numeric_text, pa.float64())


def _stored_text(value) -> str | None:
    """Write a JSON value as its text: true, 1200, 1.5, or JSON for lists."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _matches(text, pattern: str) -> pa.ChunkedArray:
    """Return 1 where the text matches (RE2 search), 0 where not, NULL if missing."""
    return _per_chunk(
        lambda chunk: pc.cast(pc.match_substring_regex(chunk, pattern), pa.int64()),
        text,
        pa.int64(),
    )


def _trimmed_text(values) -> pa.ChunkedArray:
    """Trim Unicode white space; blank text becomes NULL, a missing value."""

    def trim(chunk):
        trimmed = pc.utf8_trim_whitespace(chunk)
        return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)

    return _per_chunk(trim, values)


def _blank_as_null(text: pa.ChunkedArray) -> pa.ChunkedArray:
    """Make blank text NULL and keep other text as it is."""
    return pc.if_else(pc.is_null(_trimmed_text(text)), pa.scalar(None, pa.string()), text)


def _as_text(values) -> pa.ChunkedArray:
    if pa.types.is_string(values.type):
        return values
    return pc.cast(values, pa.string())


def _as_number(values, text, source: SourceTable, name: str, column: str):
    """Convert to doubles; `text` is the trimmed text with blanks as NULL.

    Raises InputError for the first value that is not a number, or whose
    double is infinite or NaN.
    """
    if pa.types.is_integer(values.type) or pa.types.is_floating(values.type):
        numbers = pc.cast(values, pa.float64())
        _check_finite(numbers, numbers, source, name, column)
        return numbers
    valid = pc.or_kleene(pc.is_null(text), pc.match_substring_regex(text, NUMBER_PATTERN))
    if not _all_true(valid):
        row = _first_true(pc.invert(valid))
        # A number before that row may be out of range, such as 1e400; the first problem is reported.
        numbers = pc.cast(pc.if_else(valid, text, pa.scalar(None, pa.string())), pa.float64())
        _check_finite(numbers.slice(0, row), text, source, name, column)
        raise InputError(
            f"{shown_value(text[row].as_py())} is not a number, but a rule compares "
            f"{_field_name(name, column)} as one; write a plain number such as 1200 "
            "(no thousands separators, currency or units), or leave the cell empty",
            file=source.path,
            column=column,
            **source.position(row),
        )
    numbers = pc.cast(text, pa.float64())
    _check_finite(numbers, text, source, name, column)
    return numbers


def _check_finite(numbers, written, source: SourceTable, name: str, column: str) -> None:
    """Raise InputError for the first infinite or NaN double; `written` contains the values to show.

    A float column of a Parquet or JSON lines file, or of a table, can hold
    infinity and NaN, and text such as 1e400 converts to infinity. Engines
    compare them without an error, but infinity passes every lower bound,
    and NaN is greater than every number on DuckDB and NULL on SQLite.
    """
    finite = pc.or_kleene(pc.is_null(numbers), pc.is_finite(numbers))
    if _all_true(finite):
        return
    row = _first_true(pc.invert(finite))
    if math.isnan(numbers[row].as_py()):
        problem, fix = "the value is NaN (not a number)", "write a number"
    else:
        problem = f"{shown_value(written[row].as_py())} is not a finite number"
        fix = "write a number between -1.8e308 and 1.8e308 (a larger one, such as 1e400, reads as infinity)"
    raise InputError(
        f"{problem}, but a rule compares "
        f"{_field_name(name, column)} as one; {fix}, or leave the cell empty",
        file=source.path,
        column=column,
        **source.position(row),
    )


def _field_name(name: str, column: str) -> str:
    """Name a field as the model does, with the file's column when the model renames it."""
    if name == column:
        return repr(name)
    return f"{name!r} (mapped from column {column!r})"


def _all_true(mask) -> bool:
    """Tell whether every value of a mask is true; an empty mask counts as all true."""
    return pc.all(mask, min_count=0).as_py()


def _first_true(mask) -> int:
    return pc.index(mask, True).as_py()


def _list(names) -> str:
    return ", ".join(repr(str(name)) for name in names) or "(none)"

