"""Turn a CRM contacts or leads export into leadq's standard lead columns.

The columns are renamed in this order of precedence: a `--map COLUMN=FIELD`
option; the model's `columns:`, whose columns get the model's spelling; a
column named exactly as a field that a rule reads, which keeps its name;
the vendor's column names (leadq.crm.vendors); and last a column whose
name differs from such a field only in case, which gets the field's name.
Names match without regard to case or surrounding spaces
(leadq.lead_columns). Columns none of them know keep their names.
leadq's own score columns, from an earlier `leadq export`, are left out
unless `--map` or the model names them. Values are then normalized:
HubSpot lifecycle stage labels become internal values, and dates become
ISO 8601 text (leadq.crm.dates). A value that cannot be read rejects its
row, never the file, and an empty cell stays empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import pyarrow as pa

from leadq.crm.dates import DATE_FORMATS, DateError, normalize_date
from leadq.crm.vendors import (
    DATE_FIELDS,
    FORMATS,
    HUBSPOT_LIFECYCLE,
    LEADQ_COLUMNS,
    LIFECYCLE_STAGE,
    SALESFORCE_LEADQ_COLUMNS,
    VENDORS,
    detect_format,
)
from leadq.binding import event_column_names, renamed_table
from leadq.compiler.layout import Layout
from leadq.errors import ImportRowError, InputError, OptionError
from leadq.inputs import SourceTable, read_source
from leadq.lead_columns import folded, match_names
from leadq.model.schema import ScoringModel


@dataclass(frozen=True)
class CrmOptions:
    """How to read a CRM export: its format, custom column mappings, date order."""

    # hubspot, salesforce or generic; None detects it from the header.
    format: str | None = None
    # File column -> lead field, from `--map COLUMN=FIELD`.
    maps: dict[str, str] = field(default_factory=dict)
    # day-first, month-first or ISO; None accepts only dates that cannot be misread.
    date_format: str | None = None

    def __post_init__(self) -> None:
        if self.format is not None and self.format not in FORMATS:
            raise OptionError(f"--format {self.format!r}: use one of {', '.join(FORMATS)}")
        if self.date_format is not None and self.date_format not in DATE_FORMATS:
            raise OptionError(f"--date-format {self.date_format!r}: use one of {', '.join(DATE_FORMATS)}")


@dataclass
class CrmLeads:
    """A leads file in leadq's columns, with the rows whose values cannot be read."""

    source: SourceTable
    format: str
    detected: bool
    # leadq's score columns of an earlier export, which were left out.
    score_columns: list[str] = field(default_factory=list)
    # Row index -> why the row is rejected; the file's own column is named.
    problems: dict[int, ImportRowError] = field(default_factory=dict)

    def raise_first_problem(self) -> None:
        """Raise InputError for the first unreadable row, as `leadq score` needs."""
        raise_first_problem(self.source, self.problems)


def raise_first_problem(source: SourceTable, problems: dict[int, ImportRowError]) -> None:
    """Raise InputError for the first row of `problems`, with its file position."""
    if not problems:
        return
    index = min(problems)
    problem = problems[index]
    raise InputError(problem.reason, file=source.path, column=problem.column, **source.position(index))


def parse_maps(options: list[str]) -> dict[str, str]:
    """Parse repeated `--map COLUMN=FIELD` options into a mapping."""
    maps: dict[str, str] = {}
    for option in options:
        column, sign, name = option.partition("=")
        if not sign or not column.strip() or not name.strip():
            raise OptionError(f"--map {option!r}: write COLUMN=FIELD, for example --map \"Lead Score=crm_score\"")
        if column.strip() in maps:
            raise OptionError(f"--map names the column {column.strip()!r} twice; map each column once")
        maps[column.strip()] = name.strip()
    return maps


@dataclass(frozen=True)
class ModelNames:
    """The names that a model reads in a leads file, which come before the vendor's column names."""

    # The model's `columns:` keys.
    columns: frozenset[str] = frozenset()
    # The lead fields that its rules read.
    fields: frozenset[str] = frozenset()
    # The model's `columns:`: column -> lead field, for messages to name the field.
    mapping: dict[str, str] = field(default_factory=dict, compare=False)


def model_names(model: ScoringModel, layout: Layout) -> ModelNames:
    """Return the names a model reads in a leads file: its `columns:` keys and its fields."""
    return ModelNames(frozenset(model.columns), frozenset(layout.lead_fields), dict(model.columns))


def read_crm_leads(source: SourceTable, options: CrmOptions, fixed_names: ModelNames) -> CrmLeads:
    """Rename a leads file's columns to leadq's fields and normalize its values.

    Columns that `fixed_names` (model_names) names get the model's spelling
    unless `--map` names them.
    """
    chosen = options.format or detect_format(source.table.column_names)
    source, score_columns = _without_score_columns(source, options.maps, fixed_names)
    header = source.table.column_names
    renames = _renames(source, chosen, options.maps, fixed_names)
    table = source.table.rename_columns([renames.get(column, column) for column in header])
    crm = CrmLeads(source, chosen, options.format is None, score_columns)

    original = {renames.get(column, column): column for column in header}
    if LIFECYCLE_STAGE in table.column_names:
        table = _set_column(table, LIFECYCLE_STAGE, _lifecycle_values(table[LIFECYCLE_STAGE].to_pylist()))
    for name in DATE_FIELDS:
        if name in table.column_names:
            values = _dates(table[name].to_pylist(), original[name], options.date_format, crm.problems)
            table = _set_column(table, name, values)
    renamed = {name: column for name, column in original.items() if name != column}
    crm.source = SourceTable(table, source.path, source.format, source.line_numbers, file_columns=renamed)
    return crm


def read_lead_file(
    path: str | Path, *, encoding: str | None, options: CrmOptions, fixed_names: ModelNames
) -> SourceTable:
    """Read a leads file for scoring; the first unreadable value raises InputError."""
    crm = read_crm_leads(read_source(path, encoding=encoding), options, fixed_names)
    crm.raise_first_problem()
    return crm.source


def read_event_times(
    source: SourceTable, model: ScoringModel, order: str
) -> tuple[SourceTable, dict[int, ImportRowError]]:
    """Rewrite an events file's time column as ISO 8601 text, in the declared order.

    `--date-format` opts events files in to Excel serials and day/month
    text. Returns the rewritten table and the rows whose time cannot be read.
    """
    renamed = renamed_table(source, model.event_columns, "event_columns")
    name = event_column_names(renamed, model.key, source)["timestamp"]
    column = source.table.column_names[renamed.column_names.index(name)]
    problems: dict[int, ImportRowError] = {}
    times = _dates(source.table[column].to_pylist(), column, order, problems)
    table = _set_column(source.table, column, times)
    written = {**source.written_values, column: source.table[column]}
    rewritten = SourceTable(table, source.path, source.format, source.line_numbers, written_values=written)
    return rewritten, problems


def declared_event_times(source: SourceTable, model: ScoringModel, order: str) -> SourceTable:
    """Read an events file's times in the declared order; the first bad one raises InputError."""
    rewritten, problems = read_event_times(source, model, order)
    raise_first_problem(rewritten, problems)
    return rewritten


def _without_score_columns(
    source: SourceTable, maps: dict[str, str], fixed_names: ModelNames
) -> tuple[SourceTable, list[str]]:
    """Leave out leadq's score columns, which leadq computes itself, unless `--map` or the model names them."""
    header = source.table.column_names
    named = set(match_names(header, {*maps, *fixed_names.columns, *fixed_names.fields}))
    exported = {folded(name) for name in LEADQ_COLUMNS + SALESFORCE_LEADQ_COLUMNS}
    dropped = [column for column in header if folded(column) in exported and column not in named]
    if not dropped:
        return source, []
    table = source.table.drop_columns(dropped)
    return SourceTable(table, source.path, source.format, source.line_numbers), dropped


def _renames(source: SourceTable, chosen: str, maps: dict[str, str], fixed_names: ModelNames) -> dict[str, str]:
    """Return each column's new name, by the order of precedence in the module's docstring.

    A field that differs from a column only in case comes after the
    vendor's names, so `Employees` becomes the vendor's company_size, the
    column that the built-in model maps to its field `employees`.
    """
    header = source.table.column_names
    mapped = match_names(header, maps)
    for column in maps:
        if column not in mapped.values():
            raise InputError(
                f"--map names the column {column!r}, which the file does not have; "
                f"its columns are: {_listed(header)}",
                file=source.path,
            )
    model_columns = match_names(header, fixed_names.columns)
    fields = match_names(header, fixed_names.fields)
    vendor = VENDORS[chosen]
    renames = {}
    for column in header:
        if column in mapped:
            renames[column] = maps[mapped[column]]
        elif column in model_columns:
            renames[column] = model_columns[column]
        elif column in fixed_names.fields:
            renames[column] = column
        else:
            renames[column] = vendor.columns.get(folded(column), fields.get(column, column))
    _check_unique(source, [renames.get(column, column) for column in header], fixed_names.mapping)
    return renames


def _check_unique(source: SourceTable, names: list[str], mapping: dict[str, str]) -> None:
    """Raise InputError when two columns get one name; the message names the field that `mapping` makes of it."""
    header = source.table.column_names
    for name in dict.fromkeys(names):
        columns = [column for column, renamed in zip(header, names) if renamed == name]
        if len(columns) > 1:
            field_name = mapping.get(name, name)
            raise InputError(
                f"the columns {_listed(columns)} all become the lead field {field_name!r}; {_keep_one(columns)}",
                file=source.path,
            )


def _keep_one(columns: list[str]) -> str:
    if len({folded(column) for column in columns}) == 1:
        return "their names differ only in case, which leadq ignores, so rename or remove all but one of them"
    return "keep one of them, or map the others elsewhere with --map COLUMN=FIELD"


def _set_column(table: pa.Table, name: str, values: list) -> pa.Table:
    position = table.column_names.index(name)
    return table.set_column(position, name, pa.array(values, pa.string()))


def _lifecycle_values(values: list) -> list[str | None]:
    """Return HubSpot lifecycle stages as internal values; custom stages stay as written."""
    stages = []
    for value in values:
        text = _text(value)
        stages.append(None if text is None else HUBSPOT_LIFECYCLE.get(text.lower(), text))
    return stages


# NOTE: dates and lifecycle stages are converted row by row in Python: 0.9 s
# for 200,000 rows with two date columns and a lifecycle stage column, on a
# shared 2-core x86_64 machine. Files without those columns skip this step.
def _dates(values: list, column: str, order: str | None, problems: dict[int, ImportRowError]) -> list[str | None]:
    normalized: list[str | None] = []
    for index, value in enumerate(values):
        text = _text(value)
        if isinstance(value, (datetime, date)):
            normalized.append(value.isoformat())
            continue
        if text is None:
            normalized.append(None)
            continue
        try:
            normalized.append(normalize_date(text, order))
        except DateError as error:
            problems.setdefault(index, ImportRowError(column, str(error)))
            normalized.append(None)
    return normalized


def _text(value) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _listed(names) -> str:
    return ", ".join(repr(str(name)) for name in names) or "(none)"
