"""The qualification form of a lead's page: its fields, checks and history.

The form has one field per criterion of the chosen framework, by answer
type, and a note per criterion. Answers are checked one criterion at a
time with `leadq.qualification.answers`, so each invalid answer is shown
next to its criterion. Valid answers are recorded with
`leadq.qualification.records`, as POST /api/leads/{id}/qualifications
records them, and the lead is rescored in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sqlalchemy import Connection

from leadq.model.qualification import (
    BUILTIN_FRAMEWORKS,
    SCALE_MAX,
    Criterion,
    Framework,
)
from leadq.qualification.answers import InvalidAnswers, check_answers
from leadq.qualification.records import (
    Qualification,
    Recorded,
    framework_of,
    list_qualifications,
    record_for_lead,
)
from leadq.service.model_versions import ensure_active_model

ANSWER_FIELD = "answer."
NOTE_FIELD = "note."
UNIT_FIELD = "unit."
HISTORY_SHOWN = 10


@dataclass(frozen=True)
class QualificationForm:
    """The content of the form: the framework, the sent values, errors and history."""

    frameworks: dict[str, Framework]  # by id, built-ins first
    framework_id: str
    # Form field name -> the text that was sent, to fill the fields again.
    values: dict[str, str] = field(default_factory=dict)
    # Criterion id -> why its answer is invalid.
    errors: dict[str, str] = field(default_factory=dict)
    history: list[Qualification] = field(default_factory=list)

    @property
    def framework(self) -> Framework:
        return self.frameworks[self.framework_id]

    def choices(self, criterion: Criterion) -> list[tuple[str, str]]:
        """Return the (value, label) radio buttons of a criterion, unknown aside."""
        if criterion.answer == "status":
            return [("confirmed", "Confirmed"), ("not_confirmed", "Not confirmed")]
        if criterion.answer == "scale":
            return [(str(value), str(value)) for value in range(SCALE_MAX + 1)]
        return [(option.id, option.label) for option in criterion.options]

    def framework_name(self, framework_id: str) -> str:
        found = self.frameworks.get(framework_id)
        return found.name if found else framework_id


@dataclass(frozen=True)
class Submission:
    """A sent form: the recorded qualification, or the errors by criterion."""

    recorded: Recorded | None
    errors: dict[str, str]


def ordered_frameworks(model) -> dict[str, Framework]:
    """Return the model's frameworks, BANT and CHAMP first, then by id."""
    found = model.all_frameworks()
    builtins = [name for name in BUILTIN_FRAMEWORKS if name in found]
    others = sorted(name for name in found if name not in BUILTIN_FRAMEWORKS)
    return {name: found[name] for name in builtins + others}


def build_form(
    connection: Connection,
    model,
    lead_id: int,
    framework_id: str | None,
    values: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> QualificationForm:
    """Build the form of a lead; an unknown framework id shows the first one."""
    frameworks = ordered_frameworks(model)
    chosen = framework_id if framework_id in frameworks else next(iter(frameworks))
    history = list_qualifications(connection, lead_id)[:HISTORY_SHOWN]
    return QualificationForm(
        frameworks, chosen, dict(values or {}), dict(errors or {}), history
    )


def raw_answers(framework: Framework, fields: Mapping[str, str]) -> dict[str, dict]:
    """Turn form fields into raw answers: criterion id -> {value, note}.

    An empty field is an unknown answer. A number is its amount field and
    its unit field joined, such as "50000 EUR".
    """
    raw = {}
    for criterion in framework.criteria:
        value = fields.get(ANSWER_FIELD + criterion.id, "").strip()
        if criterion.answer == "number" and value:
            value = f"{value} {fields.get(UNIT_FIELD + criterion.id, '').strip()}"
        note = fields.get(NOTE_FIELD + criterion.id, "")
        raw[criterion.id] = {"value": value or None, "note": note or None}
    return raw


def answer_errors(framework: Framework, raw: dict[str, dict]) -> dict[str, str]:
    """Check every answer and return the errors by criterion id."""
    try:
        check_answers(framework, raw)
    except InvalidAnswers as invalid:
        return {error.criterion: error.message for error in invalid.errors}
    return {}


def submit_qualification(
    store, lead_id: int, fields: Mapping[str, str], author: str
) -> Submission:
    """Check the sent form and, when every answer is valid, record it.

    Raises UnknownFramework for a framework the active model does not have,
    and LeadNotFound when no lead has the id.
    """
    model = ensure_active_model(store).model
    framework_id = fields.get("framework", "")
    framework = framework_of(model, framework_id)
    raw = raw_answers(framework, fields)
    errors = answer_errors(framework, raw)
    if errors:
        return Submission(None, errors)

    recorded = record_for_lead(store, lead_id, framework_id, raw, author)
    return Submission(recorded, {})
