"""The engine tables a compiled model reads, with engine-safe column names.

User field and property names never become SQL identifiers. Each one maps to
positional columns, f0 for lead fields and p0 for event properties, in the
forms that its tests read. Those are trimmed text (f0), trimmed and
lower-cased text (f0_l), and a number (f0_n).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leadq.model.schema import (
    AllOf,
    AnyOf,
    EventCondition,
    FieldTest,
    NotOf,
    ScoringModel,
    Test,
)

CALENDAR_UNITS = {"day": "local_day", "week": "local_week"}
VISIT_EVENT = "visit"

# Fixed columns of the engine's events table. `event_row` is the 0-based
# position in the input, which breaks ties between events at the same time.
# `lead_code` is the row of the event's lead in the leads table, because an
# integer partitions and groups much faster than a text key.
EVENT_COLUMNS = (
    "event_row", "event_id", "lead_code", "event_name", "ts", "local_day", "local_week",
)  # fmt: skip


# The forms of a value that tests read. Binding trims text and makes blank
# text NULL; `folded` is also lower-cased. Both happen in Arrow, outside the
# engines, so that every engine compares the same strings.
TEXT, FOLDED, NUMBER = "text", "folded", "number"


@dataclass(frozen=True)
class ValueColumns:
    """The engine columns of one lead field or event property."""

    name: str
    text: str | None
    folded: str | None
    number: str | None

    def present(self) -> str:
        """Return a column that is NULL exactly when the value is missing."""
        return self.folded or self.text or self.number

    def names(self) -> list[str]:
        return [column for column in (self.text, self.folded, self.number) if column]


@dataclass
class Layout:
    lead_fields: dict[str, ValueColumns] = field(default_factory=dict)
    properties: dict[str, ValueColumns] = field(default_factory=dict)
    uses_visits: bool = False
    calendar_units: set[str] = field(default_factory=set)

    @classmethod
    def from_model(cls, model: ScoringModel) -> Layout:
        layout = cls()
        field_needs: dict[str, set[str]] = {}
        property_needs: dict[str, set[str]] = {}
        for test in _field_tests(model):
            field_needs.setdefault(test.field, set()).add(value_form(test))
        for names, tests, unique_by in _event_filters(model):
            layout.uses_visits |= VISIT_EVENT in names
            for name, test in tests.items():
                property_needs.setdefault(name, set()).add(value_form(test))
            if unique_by in CALENDAR_UNITS:
                layout.calendar_units.add(unique_by)
            elif unique_by:
                property_needs.setdefault(unique_by, set()).add(FOLDED)
        layout.lead_fields = _columns(field_needs, "f")
        layout.properties = _columns(property_needs, "p")
        return layout

    def lead_column(self, name: str) -> ValueColumns:
        return self.lead_fields[name]

    def property_column(self, name: str) -> ValueColumns:
        return self.properties[name]

    def event_column_names(self) -> list[str]:
        names = list(EVENT_COLUMNS)
        for columns in self.properties.values():
            names.extend(columns.names())
        return names


def value_form(test: Test) -> str | None:
    """Return the form of a value that `test` reads (None: any form will do)."""
    if test.is_numeric or _numeric_list(test):
        return NUMBER
    if test.operator == "regex":
        return TEXT
    if test.operator == "missing":
        return None
    return FOLDED


def _numeric_list(test: Test) -> bool:
    values = test.in_ if test.in_ is not None else test.not_in
    if not values:
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _columns(needs: dict[str, set[str]], prefix: str) -> dict[str, ValueColumns]:
    columns = {}
    for index, (name, forms) in enumerate(needs.items()):
        base = f"{prefix}{index}"
        if not forms - {None}:
            forms = {FOLDED}
        columns[name] = ValueColumns(
            name,
            text=base if TEXT in forms else None,
            folded=f"{base}_l" if FOLDED in forms else None,
            number=f"{base}_n" if NUMBER in forms else None,
        )
    return columns


def _field_tests(model: ScoringModel):
    yield from model.fit.rules
    for section in (model.engagement, model.product):
        yield from (rule for rule in section.rules if isinstance(rule, FieldTest))
    for stage in model.stages:
        if stage.when is not None:
            yield from _conditions_of(stage.when, FieldTest)


def _event_filters(model: ScoringModel):
    for section in (model.engagement, model.product):
        for rule in section.event_rules():
            yield rule.events, rule.property_tests(), rule.unique_by
    for stage in model.stages:
        if stage.when is not None:
            for condition in _conditions_of(stage.when, EventCondition):
                yield condition.names, condition.property_tests(), None


def counted_event_names(model: ScoringModel) -> list[str]:
    """Return every event name that a rule or a stage condition counts."""
    names: list[str] = []
    for event_names, _, _ in _event_filters(model):
        names.extend(name for name in event_names if name not in names)
    return names


def _conditions_of(condition, kind):
    if isinstance(condition, kind):
        yield condition
    elif isinstance(condition, AllOf):
        for child in condition.all:
            yield from _conditions_of(child, kind)
    elif isinstance(condition, AnyOf):
        for child in condition.any:
            yield from _conditions_of(child, kind)
    elif isinstance(condition, NotOf):
        yield from _conditions_of(condition.not_, kind)
