"""Check the answers of one qualification and decide its result.

An answer is checked against its criterion's answer type. The result is
`passed` when the pass rule holds even if every unknown answer turned out
unmet, `failed` when it fails even if every unknown answer turned out met,
and `incomplete` when the unknown answers decide it.
"""

from __future__ import annotations

import json
import math
import re
import sys
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from leadq.errors import LeadqError
from leadq.model.qualification import MAX_AMOUNT, SCALE_MAX, UNKNOWN, Criterion, Framework

PASSED, FAILED, INCOMPLETE = "passed", "failed", "incomplete"
COMPLETE_RESULTS = (PASSED, FAILED)
MAX_NOTE_LENGTH = 2000
AMOUNT_WITH_UNIT = re.compile(
    r"^\s*([+-]?[0-9][0-9_]*(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*([A-Za-z]{1,16})\s*$"
)
DOUBLE_RANGE = "a double's range of about ±1.8e308"


class AnswerError(LeadqError):
    """An invalid answer: the criterion at fault, the value and the fix."""

    exit_code = 2

    def __init__(self, criterion: str, message: str) -> None:
        super().__init__(f"answer {criterion!r}: {message}")
        self.criterion = criterion
        self.message = message


class InvalidAnswers(LeadqError):
    """Every invalid answer of one qualification, in the order they were written."""

    exit_code = 2

    def __init__(self, errors: list[AnswerError]) -> None:
        super().__init__("\n".join(str(error) for error in errors))
        self.errors = errors


@dataclass(frozen=True)
class Answer:
    """A checked answer: its value (None when unknown) and a free-text note."""

    value: Any
    note: str | None = None

    def as_json(self) -> dict:
        return {"value": self.value, "note": self.note}


@dataclass(frozen=True)
class Evaluation:
    result: str
    reasons: list[str]
    # Weighted total (0-100) with unknown answers counted as unmet.
    score: float
    met: dict[str, bool | None] = field(default_factory=dict)


def check_answers(framework: Framework, raw: dict[str, Any]) -> dict[str, Answer]:
    """Check raw answers, keyed by criterion id; unanswered criteria are unknown.

    A raw answer is a value, or a mapping with `value` and `note`. Raises
    InvalidAnswers with one AnswerError for each invalid answer.
    """
    if not isinstance(raw, dict):
        raise InvalidAnswers(
            [
                AnswerError(
                    "answers",
                    "write the answers as a mapping of criterion id to answer",
                )
            ]
        )
    criteria = {criterion.id: criterion for criterion in framework.criteria}
    checked: dict[str, Answer] = {}
    errors = []
    for name, answer in raw.items():
        try:
            checked[name] = _known_answer(framework, criteria, name, answer)
        except AnswerError as error:
            errors.append(error)
    if errors:
        raise InvalidAnswers(errors)
    return {name: checked.get(name, Answer(None)) for name in criteria}


def _known_answer(
    framework: Framework, criteria: dict[str, Criterion], name: Any, raw: Any
) -> Answer:
    if name not in criteria:
        raise AnswerError(
            str(name),
            f"{framework.name} has no criterion {name!r}; its criteria are: {', '.join(criteria)}",
        )
    return _answer(criteria[name], raw)


def _answer(criterion: Criterion, raw: Any) -> Answer:
    note = None
    if isinstance(raw, dict) and ("value" in raw or "note" in raw):
        extra = sorted(set(raw) - {"value", "note"})
        if extra:
            raise AnswerError(
                criterion.id,
                f"unknown key {extra[0]!r}; an answer has `value` and `note`",
            )
        note = _note(criterion, raw.get("note"))
        raw = raw.get("value")
    return Answer(value_of(criterion, raw), note)


def _note(criterion: Criterion, note: Any) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str):
        raise AnswerError(criterion.id, f"the note must be text, got {note!r}")
    if "\x00" in note:
        raise AnswerError(criterion.id, "the note contains a NUL character (\\u0000); remove it")
    if len(note) > MAX_NOTE_LENGTH:
        raise AnswerError(
            criterion.id,
            f"the note has {len(note)} characters; the maximum is {MAX_NOTE_LENGTH}",
        )
    return note.strip() or None


def value_of(criterion: Criterion, raw: Any) -> Any:
    """Check one answer value; return it in its stored form (None: unknown)."""
    if raw is None or raw == UNKNOWN or raw == "":
        return None
    _check_numbers(criterion, raw)
    checker = _CHECKERS[criterion.answer]
    return checker(criterion, raw)


def _check_numbers(criterion: Criterion, raw: Any, path: str = "") -> None:
    """Raise AnswerError for a number in an answer that is not a finite double.

    Python's json module and ruamel.yaml read a number beyond a double's
    range, such as 1e400, as infinity, and both accept NaN. A whole number beyond that range
    stays an int until the amount is converted to a double.
    """
    if isinstance(raw, dict):
        for key, item in raw.items():
            _check_numbers(criterion, item, f"{path}.{key}" if path else str(key))
        return
    if isinstance(raw, list):
        for index, item in enumerate(raw):
            _check_numbers(criterion, item, f"{path}[{index}]")
        return
    reason = _non_finite_reason(raw)
    if reason is not None:
        raise AnswerError(criterion.id, f"{path or 'the value'} {reason}")


def _non_finite_reason(number: Any) -> str | None:
    if isinstance(number, float) and math.isnan(number):
        return "is NaN, which is not a number; send a finite number"
    if isinstance(number, float) and math.isinf(number):
        return f"is {json.dumps(number)}, beyond {DOUBLE_RANGE}; send a finite number"
    if isinstance(number, int) and abs(number) > sys.float_info.max:
        return f"is a whole number beyond {DOUBLE_RANGE}; send a smaller number"
    return None


def _status(criterion: Criterion, raw: Any) -> str:
    text = (
        str(raw).strip().lower().replace(" ", "_") if not isinstance(raw, bool) else ""
    )
    if text in ("confirmed", "not_confirmed"):
        return text
    raise AnswerError(
        criterion.id,
        f"{raw!r} is not an answer; use confirmed, not_confirmed or unknown",
    )


def _scale(criterion: Criterion, raw: Any) -> int:
    if isinstance(raw, str) and raw.strip().isdigit():
        raw = int(raw.strip())
    if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= SCALE_MAX:
        return raw
    raise AnswerError(
        criterion.id,
        f"{raw!r} is not on the scale; use a whole number from 0 to {SCALE_MAX}, or unknown",
    )


def _choice(criterion: Criterion, raw: Any) -> str:
    if isinstance(raw, str) and raw.strip() in criterion.option_ids():
        return raw.strip()
    options = ", ".join(criterion.option_ids())
    raise AnswerError(
        criterion.id, f"{raw!r} is not an option; use one of: {options}, or unknown"
    )


def _number(criterion: Criterion, raw: Any) -> dict:
    amount, unit = _amount_and_unit(criterion, raw)
    if unit not in criterion.units:
        raise AnswerError(
            criterion.id,
            f"unit {unit!r} is not accepted; use one of: {', '.join(criterion.units)}",
        )
    return {"amount": amount, "unit": unit}


def _amount_and_unit(criterion: Criterion, raw: Any) -> tuple[float, str]:
    example = f"write an amount and a unit, such as 50000 {criterion.units[0]}"
    if isinstance(raw, dict) and set(raw) == {"amount", "unit"}:
        amount, unit = raw["amount"], raw["unit"]
        written = repr(amount)
    elif isinstance(raw, str) and (match := AMOUNT_WITH_UNIT.match(raw)):
        written = match.group(1)
        amount, unit = float(written.replace("_", "")), match.group(2)
    else:
        raise AnswerError(
            criterion.id, f"{raw!r} is not an amount with a unit; {example}"
        )
    if (
        isinstance(amount, bool)
        or not isinstance(amount, (int, float))
        or amount != amount
    ):
        raise AnswerError(criterion.id, f"amount {amount!r} is not a number; {example}")
    if not isinstance(unit, str):
        raise AnswerError(
            criterion.id, f"{raw!r} is not an amount with a unit; {example}"
        )
    _check_amount_range(criterion, amount, written)
    # Adding 0.0 turns an amount of -0 into 0.
    return float(amount) + 0.0, unit.strip().upper()


def _check_amount_range(criterion: Criterion, amount: float, written: str) -> None:
    if amount < 0:
        raise AnswerError(
            criterion.id,
            f"amount {written} is negative, but amounts cannot be negative; "
            f"write 0 or more, such as 50000 {criterion.units[0]}",
        )
    if amount > MAX_AMOUNT:
        raise AnswerError(
            criterion.id,
            f"amount {written} is too large; the maximum is 10^12 "
            f"({MAX_AMOUNT:,}), so write a smaller amount",
        )


def _date(criterion: Criterion, raw: Any) -> str:
    if isinstance(raw, datetime):
        raw = raw.date()
    if isinstance(raw, date):
        return raw.isoformat()
    try:
        return date.fromisoformat(str(raw).strip()).isoformat()
    except ValueError:
        raise AnswerError(
            criterion.id,
            f"{raw!r} is not a date; write it as YYYY-MM-DD, such as 2027-03-31",
        ) from None


_CHECKERS = {
    "status": _status,
    "scale": _scale,
    "choice": _choice,
    "number": _number,
    "date": _date,
}


def bound_value(value: Any) -> Any:
    """Return what an answer condition compares: a number's amount, or `unknown`."""
    if value is None:
        return UNKNOWN
    if isinstance(value, dict):
        return value["amount"]
    return value


# Deciding the result


def evaluate(
    framework: Framework, answers: dict[str, Answer], at_micros: int
) -> Evaluation:
    """Decide passed, failed or incomplete, with a reason for each rule part."""
    day = utc_day(at_micros)
    met = {c.id: _met(c, answers[c.id].value, day) for c in framework.criteria}
    credits = {
        c.id: _credit(c, answers[c.id].value, met[c.id]) for c in framework.criteria
    }
    worst = _Outcome.of(framework, met, credits, unknown_met=False)
    best = _Outcome.of(framework, met, credits, unknown_met=True)
    if worst.passes(framework):
        result = PASSED
    elif not best.passes(framework):
        result = FAILED
    else:
        result = INCOMPLETE
    reasons = _reasons(framework, met, worst, best)
    return Evaluation(result, reasons, round(worst.weighted, 1), met)


def utc_day(micros: int) -> date:
    """Return the UTC calendar day of a time in microseconds since the epoch."""
    return datetime.fromtimestamp(micros / 1e6, timezone.utc).date()


def _met(criterion: Criterion, value: Any, day: date) -> bool | None:
    if value is None:
        return None
    if criterion.answer == "status":
        return value == "confirmed"
    if criterion.answer == "scale":
        return value >= criterion.scale_meets
    if criterion.answer == "choice":
        return value in criterion.meets
    if criterion.answer == "number":
        return value["amount"] >= criterion.at_least
    days = (date.fromisoformat(value) - day).days
    return 0 <= days <= criterion.within_days


def _credit(criterion: Criterion, value: Any, met: bool | None) -> float | None:
    """Return the share of the weight an answer earns (None: unknown)."""
    if met is None:
        return None
    if criterion.answer == "scale":
        return value / SCALE_MAX
    return 1.0 if met else 0.0


@dataclass(frozen=True)
class _Outcome:
    """Counts under one assumption about the unknown answers."""

    met: list[str]
    weighted: float
    required_met: bool

    @classmethod
    def of(
        cls, framework: Framework, met: dict, credits: dict, *, unknown_met: bool
    ) -> _Outcome:
        assumed = {
            name: unknown_met if value is None else value for name, value in met.items()
        }
        total = sum(c.weight for c in framework.criteria)
        earned = sum(
            c.weight * (float(unknown_met) if credits[c.id] is None else credits[c.id])
            for c in framework.criteria
        )
        required = all(assumed[name] for name in framework.pass_rule.required)
        return cls(
            [name for name, value in assumed.items() if value],
            100 * earned / total,
            required,
        )

    def passes(self, framework: Framework) -> bool:
        rule = framework.pass_rule
        if rule.at_least is not None and len(self.met) < rule.at_least:
            return False
        if (
            rule.weighted_at_least is not None
            and self.weighted < rule.weighted_at_least
        ):
            return False
        return self.required_met


def _reasons(
    framework: Framework, met: dict, worst: _Outcome, best: _Outcome
) -> list[str]:
    rule = framework.pass_rule
    labels = {c.id: c.label for c in framework.criteria}
    unknown = [labels[name] for name, value in met.items() if value is None]
    reasons = []
    if rule.at_least is not None:
        names = ", ".join(labels[name] for name in worst.met) or "none"
        reasons.append(
            f"{len(worst.met)} of {len(labels)} criteria met ({names}); the rule needs {rule.at_least}"
        )
    for name in rule.required:
        state = {True: "met", False: "not met", None: "unknown"}[met[name]]
        reasons.append(f"{labels[name]} is required and {state}")
    if rule.weighted_at_least is not None:
        text = f"weighted total {worst.weighted:.1f} of 100; the rule needs {rule.weighted_at_least:g}"
        if unknown:
            text += f" ({best.weighted:.1f} if every unknown answer were met)"
        reasons.append(text)
    if unknown:
        reasons.append(f"unknown: {', '.join(unknown)}")
    return reasons
