"""The engine tables a compiled model reads, with engine-safe column names.

User field and property names never become SQL identifiers: each one maps to
a positional column (f0, f1 for lead fields, p0, p1 for event properties),
with a numeric twin (f0_n) when a rule compares it as a number.
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

# Fixed columns of the engine's events table; `event_row` is the 0-based
# position in the input, which breaks ties between events at the same time.
EVENT_COLUMNS = (
    "event_row", "event_id", "lead_key", "event_name", "ts", "local_day", "local_week",
)  # fmt: skip


@dataclass(frozen=True)
class ValueColumns:
    """The engine columns of one lead field or event property."""

    name: str
    text: str
    number: str | None


@dataclass
class Layout:
    lead_fields: dict[str, ValueColumns] = field(default_factory=dict)
    properties: dict[str, ValueColumns] = field(default_factory=dict)
    uses_visits: bool = False

    @classmethod
    def from_model(cls, model: ScoringModel) -> Layout:
        layout = cls()
        numeric_fields: dict[str, bool] = {}
        numeric_properties: dict[str, bool] = {}
        for test in _field_tests(model):
            _note_use(numeric_fields, test.field, test)
        for names, tests, unique_by in _event_filters(model):
            layout.uses_visits |= VISIT_EVENT in names
            for name, test in tests.items():
                _note_use(numeric_properties, name, test)
            if unique_by and unique_by not in CALENDAR_UNITS:
                numeric_properties.setdefault(unique_by, False)
        layout.lead_fields = _columns(numeric_fields, "f")
        layout.properties = _columns(numeric_properties, "p")
        return layout

    def lead_column(self, name: str) -> ValueColumns:
        return self.lead_fields[name]

    def property_column(self, name: str) -> ValueColumns:
        return self.properties[name]

    def event_column_names(self) -> list[str]:
        names = list(EVENT_COLUMNS)
        for columns in self.properties.values():
            names.append(columns.text)
            if columns.number:
                names.append(columns.number)
        return names


def _note_use(uses: dict[str, bool], name: str, test: Test) -> None:
    uses[name] = uses.get(name, False) or test.is_numeric or _numeric_list(test)


def _numeric_list(test: Test) -> bool:
    values = test.in_ if test.in_ is not None else test.not_in
    if not values:
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _columns(uses: dict[str, bool], prefix: str) -> dict[str, ValueColumns]:
    columns = {}
    for index, (name, numeric) in enumerate(uses.items()):
        text = f"{prefix}{index}"
        columns[name] = ValueColumns(name, text, f"{text}_n" if numeric else None)
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
