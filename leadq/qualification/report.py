"""Which answers predict deals: conversion rates per framework, criterion and answer.

Each lead counts once per framework, with its latest complete qualification.
A lead converted when it has an outcome such as won or converted at or after
that qualification's time.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date

from rich.table import Table
from sqlalchemy import Connection, func, select

from leadq.model.qualification import UNKNOWN, Criterion, Framework
from leadq.outcomes import CONVERTED_VALUES
from leadq.output import plural
from leadq.qualification.answers import COMPLETE_RESULTS, utc_day
from leadq.qualification.records import COMPLETE_QUALIFICATIONS
from leadq.service.stored_json import qualification_answers
from leadq.store.tables import outcomes, qualifications


@dataclass
class AnswerRate:
    answer: str
    leads: int = 0
    converted: int = 0

    @property
    def conversion_rate(self) -> float | None:
        return round(self.converted / self.leads, 4) if self.leads else None


@dataclass
class CriterionRates:
    criterion: str
    label: str
    answers: list[AnswerRate] = field(default_factory=list)


@dataclass
class FrameworkRates:
    framework: str
    name: str
    leads: int
    results: list[AnswerRate]
    criteria: list[CriterionRates]

    def as_json(self) -> dict:
        def rates(items: list[AnswerRate]) -> list[dict]:
            return [
                {**asdict(item), "conversion_rate": item.conversion_rate}
                for item in items
            ]

        return {
            "framework": self.framework,
            "name": self.name,
            "leads": self.leads,
            "results": rates(self.results),
            "criteria": [
                {
                    "criterion": c.criterion,
                    "label": c.label,
                    "answers": rates(c.answers),
                }
                for c in self.criteria
            ],
        }


def framework_report(
    connection: Connection, frameworks: dict[str, Framework], only: str | None = None
) -> list[FrameworkRates]:
    """Count leads and conversions per answer of each framework that has qualifications."""
    latest = _latest_per_lead(connection, only)
    converted_at = _first_conversions(connection)
    reports = []
    for framework_id in sorted(latest):
        framework = frameworks.get(framework_id)
        if framework is None:
            continue
        rows = list(latest[framework_id].values())
        reports.append(_rates(framework_id, framework, rows, converted_at))
    return reports


def _latest_per_lead(
    connection: Connection, only: str | None
) -> dict[str, dict[int, object]]:
    query = COMPLETE_QUALIFICATIONS
    if only is not None:
        query = query.where(qualifications.c.framework == only)
    latest: dict[str, dict[int, object]] = defaultdict(dict)
    for row in connection.execute(query):
        latest[row.framework][row.lead_id] = row
    return latest


def _first_conversions(connection: Connection) -> dict[int, list[int]]:
    """Return, per lead, the times of its conversion outcomes."""
    rows = connection.execute(
        select(outcomes.c.lead_id, outcomes.c.at).where(
            func.lower(outcomes.c.outcome).in_(sorted(CONVERTED_VALUES))
        )
    ).all()
    times: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        times[row.lead_id].append(row.at)
    return times


def _rates(
    framework_id: str, framework: Framework, rows: list, converted_at: dict
) -> FrameworkRates:
    results = {name: AnswerRate(name) for name in COMPLETE_RESULTS}
    buckets = {c.id: {} for c in framework.criteria}
    for row in rows:
        converted = any(at >= row.at for at in converted_at.get(row.lead_id, []))
        _count(results[row.result], converted)
        answers = qualification_answers(row.answers, row.id, row.lead_id)
        for criterion in framework.criteria:
            value = answers.get(criterion.id, {}).get("value")
            name = answer_bucket(criterion, value, row.at)
            _count(buckets[criterion.id].setdefault(name, AnswerRate(name)), converted)
    criteria = [
        CriterionRates(c.id, c.label, _ordered(c, buckets[c.id]))
        for c in framework.criteria
    ]
    return FrameworkRates(
        framework_id, framework.name, len(rows), list(results.values()), criteria
    )


def _count(rate: AnswerRate, converted: bool) -> None:
    rate.leads += 1
    rate.converted += int(converted)


def answer_bucket(criterion: Criterion, value, at_micros: int) -> str:
    """Name the group an answer falls in; amounts and dates group by the criterion's bound."""
    if value is None:
        return UNKNOWN
    if criterion.answer == "number":
        meets = value["amount"] >= criterion.at_least
        return f">= {criterion.at_least:g}" if meets else f"< {criterion.at_least:g}"
    if criterion.answer == "date":
        days = (date.fromisoformat(value) - utc_day(at_micros)).days
        inside = 0 <= days <= criterion.within_days
        return (
            f"within {criterion.within_days} days"
            if inside
            else f"not within {criterion.within_days} days"
        )
    return str(value)


def _ordered(criterion: Criterion, found: dict[str, AnswerRate]) -> list[AnswerRate]:
    """Order answers as the criterion lists them, unknown last."""
    order = {
        "status": ["confirmed", "not_confirmed"],
        "scale": ["3", "2", "1", "0"],
        "choice": criterion.option_ids(),
    }.get(criterion.answer, sorted(name for name in found if name != UNKNOWN))
    names = [name for name in order if name in found] + [UNKNOWN] * (UNKNOWN in found)
    return [found[name] for name in names]


def report_tables(reports: list[FrameworkRates]) -> list[Table]:
    return [_table(report) for report in reports]


def _table(report: FrameworkRates) -> Table:
    leads = plural(report.leads, "lead", "leads")
    table = Table(
        title=f"{report.name} ({report.framework}): {leads}",
        caption="Each lead counts once, with its latest complete qualification.",
    )
    for column in ("criterion", "answer"):
        table.add_column(column)
    for column in ("leads", "converted", "rate"):
        table.add_column(column, justify="right")
    for rate in report.results:
        table.add_row("result", rate.answer, *_numbers(rate))
    for criterion in report.criteria:
        table.add_section()
        for index, rate in enumerate(criterion.answers):
            table.add_row(
                criterion.label if index == 0 else "", rate.answer, *_numbers(rate)
            )
    return table


def _numbers(rate: AnswerRate) -> list[str]:
    percent = "-" if rate.conversion_rate is None else f"{rate.conversion_rate:.1%}"
    return [str(rate.leads), str(rate.converted), percent]
