"""The engine tables a compiled model reads, with engine-safe column names.

User field and property names never become SQL identifiers. Each one maps to
positional columns, f0 for lead fields and p0 for event properties, in the
forms that its tests read. Those are trimmed and lower-cased text (f0_l), a
number (f0_n) and, for each regular expression a rule tests, whether the
trimmed text matches it (f0_r0, 1 or 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from leadq.model.schema import (
    AllOf,
    AnswerCondition,
    AnyOf,
    EventCondition,
    FieldTest,
    NotOf,
    QualificationCondition,
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
# text NULL; `folded` is also lower-cased. Binding also matches regular
# expressions, with RE2 in Arrow. All of it happens outside the engines, so
# no engine's LOWER, TRIM or regular expression dialect decides a result.
FOLDED, NUMBER, MATCHES = "folded", "number", "matches"


@dataclass(frozen=True)
class ValueColumns:
    """The engine columns of one lead field or event property."""

    name: str
    folded: str | None
    number: str | None
    # Regular expression -> a column that is 1 where the trimmed text matches.
    matches: dict[str, str] = field(default_factory=dict)

    def present(self) -> str:
        """Return a column that is NULL exactly when the value is missing."""
        return self.folded or self.number or next(iter(self.matches.values()))

    def names(self) -> list[str]:
        named = [column for column in (self.folded, self.number) if column]
        return named + list(self.matches.values())


@dataclass(frozen=True)
class QualificationColumns:
    """The lead columns of the latest complete qualification with a framework.

    `result` is the text passed or failed, `at` its time in microseconds;
    both are NULL for a lead without a complete qualification.
    """

    framework: str
    result: str
    at: str


@dataclass
class Layout:
    lead_fields: dict[str, ValueColumns] = field(default_factory=dict)
    properties: dict[str, ValueColumns] = field(default_factory=dict)
    uses_visits: bool = False
    calendar_units: set[str] = field(default_factory=set)
    # Frameworks and (framework, criterion) answers that stage conditions read.
    qualifications: dict[str, QualificationColumns] = field(default_factory=dict)
    answers: dict[tuple[str, str], ValueColumns] = field(default_factory=dict)

    @classmethod
    def from_model(cls, model: ScoringModel) -> Layout:
        layout = cls()
        field_needs: dict[str, list] = {}
        property_needs: dict[str, list] = {}
        for test in _field_tests(model):
            _add_need(field_needs, test.field, test)
        for names, tests, unique_by in _event_filters(model):
            layout.uses_visits |= VISIT_EVENT in names
            for name, test in tests.items():
                _add_need(property_needs, name, test)
            if unique_by in CALENDAR_UNITS:
                layout.calendar_units.add(unique_by)
            elif unique_by:
                property_needs.setdefault(unique_by, []).append(FOLDED)
        layout.lead_fields = _columns(field_needs, "f")
        layout.properties = _columns(property_needs, "p")
        layout._add_qualifications(model)
        return layout

    def _add_qualifications(self, model: ScoringModel) -> None:
        frameworks: list[str] = []
        answer_needs: dict[tuple[str, str], list] = {}
        for stage in model.stages:
            if stage.when is None:
                continue
            for condition in _conditions_of(stage.when, QualificationCondition):
                frameworks.append(condition.qualification.framework)
            for condition in _conditions_of(stage.when, AnswerCondition):
                test = condition.answer
                frameworks.append(test.framework)
                _add_need(answer_needs, (test.framework, test.criterion), test.as_test())
        for index, name in enumerate(dict.fromkeys(frameworks)):
            self.qualifications[name] = QualificationColumns(name, f"q{index}_result", f"q{index}_at")
        self.answers = _columns(answer_needs, "a")

    def lead_column_names(self) -> list[str]:
        """Return the leads table's columns after lead_code and lead_key."""
        names = [name for columns in self.lead_fields.values() for name in columns.names()]
        for columns in self.qualifications.values():
            names += [columns.result, columns.at]
        return names + [name for columns in self.answers.values() for name in columns.names()]

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
        return MATCHES
    if test.operator == "missing":
        return None
    return FOLDED


def _add_need(needs: dict[str, list], name: str, test: Test) -> None:
    form = value_form(test)
    needs.setdefault(name, []).append((MATCHES, test.regex) if form == MATCHES else form)


def _numeric_list(test: Test) -> bool:
    values = test.in_ if test.in_ is not None else test.not_in
    if not values:
        return False
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _columns(needs: dict[str, list], prefix: str) -> dict[str, ValueColumns]:
    columns = {}
    for index, (name, forms) in enumerate(needs.items()):
        base = f"{prefix}{index}"
        patterns = list(dict.fromkeys(form[1] for form in forms if isinstance(form, tuple)))
        if not patterns and not set(forms) - {None}:
            forms = [FOLDED]
        columns[name] = ValueColumns(
            name,
            folded=f"{base}_l" if FOLDED in forms else None,
            number=f"{base}_n" if NUMBER in forms else None,
            matches={pattern: f"{base}_r{n}" for n, pattern in enumerate(patterns)},
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
