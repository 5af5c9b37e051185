"""Match a leads file's column names, and stored attribute names, to the model's names.

Names match without regard to case or surrounding spaces, as CRM column
names do (leadq.crm.vendors). A column that the model's `columns:` maps
but the file lacks leaves its lead field missing, as any other field the
file lacks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


def folded(name: str) -> str:
    """Return a column name as names are compared: trimmed and lower-cased."""
    return name.strip().lower()


class _Names:
    """Names that columns match: an equal name, or else the one name that
    differs from the column only in case or surrounding spaces."""

    def __init__(self, names: Iterable[str]):
        self.exact = set(names)
        self.by_folded: dict[str, list[str]] = {}
        for name in sorted(self.exact):
            self.by_folded.setdefault(folded(name), []).append(name)

    def match(self, column: str) -> str | None:
        if column in self.exact:
            return column
        candidates = self.by_folded.get(folded(column), [])
        return candidates[0] if len(candidates) == 1 else None


def match_names(header: list[str], names: Iterable[str]) -> dict[str, str]:
    """Return each column of `header` that matches one of `names`, with that name.

    A column matches an equal name, or else the one name that differs from
    it only in case or surrounding spaces. When several names differ from a
    column only in that way, the column matches none of them. Two columns
    that differ only in case both match a name, which callers reject as two
    columns for one field.
    """
    known = _Names(names)
    matched = {}
    for column in header:
        name = known.match(column)
        if name is not None:
            matched[column] = name
    return matched


@dataclass(frozen=True)
class LeadColumns:
    """A leads file's columns under the model's `columns:` mapping."""

    # Every file column -> its lead field; unmapped columns keep their names.
    fields: dict[str, str]
    # `columns:` entries that no file column matches: mapped column -> lead field.
    absent: dict[str, str]

    def column_of(self, field: str) -> str:
        """Return the file column of a lead field, or the mapped column the file lacks, or the field."""
        columns = [column for column, name in self.fields.items() if name == field]
        absent = [column for column, name in self.absent.items() if name == field]
        return next(iter(columns + absent), field)


def lead_columns(header: list[str], mapping: dict[str, str]) -> LeadColumns:
    """Map a leads file's columns to lead fields by the model's `columns:`."""
    matched = match_names(header, mapping)
    fields = {column: mapping[matched[column]] if column in matched else column for column in header}
    found = set(matched.values())
    absent = {column: field for column, field in mapping.items() if column not in found}
    return LeadColumns(fields, absent)


class AttributeFields:
    """The lead field of each stored attribute name, as leadq.crm.reading names a column.

    A name that a `columns:` key matches gets that key's field. Otherwise a
    name that matches one of `fields`, the fields that rules read, gets
    that field's name. Other names stay. Several names can get one field,
    such as `Title`, stored before names matched without regard to case,
    and `title`.
    """

    def __init__(self, mapping: dict[str, str], fields: Iterable[str]):
        self.mapping = mapping
        self._columns = _Names(mapping)
        self._fields = _Names(fields)
        # Names looked up before: the leads of a rescore share most names.
        self._known: dict[str, str] = {}

    def field_of(self, name: str) -> str:
        field = self._known.get(name)
        if field is None:
            column = self._columns.match(name)
            field = self.mapping[column] if column is not None else self._fields.match(name) or name
            self._known[name] = field
        return field
