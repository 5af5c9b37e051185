"""Scored leads: explanations, the decided stage's rule, and the ranking."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa

from leadq.compiler.query import CompiledModel
from leadq.model.schema import (
    AllOf,
    AnyOf,
    EventCondition,
    FieldTest,
    GradeCondition,
    NotOf,
    ScoreCondition,
    Stage,
)

# Scores are rounded to this many decimals for output and ranking, so that
# engines whose sums differ in the last bits of a double rank leads alike.
SCORE_DECIMALS = 6


@dataclass(frozen=True)
class Contribution:
    section: str
    rule_id: str
    points: float

    def as_text(self) -> str:
        return f"{round(self.points, 1):+g} {self.rule_id}"


@dataclass
class ScoredLead:
    lead_id: str
    fit_score: float
    grade: str
    engagement_score: float
    product_score: float
    stage: str | None
    stage_rule: str
    contributions: list[Contribution] = field(default_factory=list)

    @property
    def total_score(self) -> float:
        return round(self.fit_score + self.engagement_score + self.product_score, SCORE_DECIMALS)

    def reasons(self, limit: int | None = None) -> list[Contribution]:
        """Non-zero contributions, largest effect first, then by rule id."""
        ordered = sorted(
            (c for c in self.contributions if c.points != 0),
            key=lambda c: (-abs(c.points), c.rule_id),
        )
        return ordered if limit is None else ordered[:limit]


def scored_leads(compiled: CompiledModel, result: pa.Table) -> list[ScoredLead]:
    stages = compiled.model.stages
    leads = []
    for row in result.to_pylist():
        stage_index = row["stage_index"]
        stage = stages[stage_index] if stage_index is not None else None
        contributions = [
            Contribution(rule.section, rule.rule_id, _rounded(row[rule.column]))
            for rule in compiled.rules
        ]
        leads.append(
            ScoredLead(
                lead_id=row["lead_key"],
                fit_score=_rounded(row["fit_score"]),
                grade=row["grade"],
                engagement_score=_rounded(row["engagement_score"]),
                product_score=_rounded(row["product_score"]),
                stage=stage.id if stage else None,
                stage_rule=describe_stage(stage, row["stage_branch"]),
                contributions=contributions,
            )
        )
    return rank(leads, compiled.model.ranked_stage_ids())


def rank(leads: list[ScoredLead], stage_order: list[str]) -> list[ScoredLead]:
    """Order by stage (in the model's rank order), then total score, then lead id."""
    position = {stage: index for index, stage in enumerate(stage_order)}
    last = len(stage_order)
    return sorted(
        leads,
        key=lambda lead: (position.get(lead.stage, last), -lead.total_score, lead.lead_id),
    )


def _rounded(value: float | None) -> float:
    rounded = round(float(value or 0.0), SCORE_DECIMALS)
    return rounded + 0.0  # turns -0.0 into 0.0


def describe_stage(stage: Stage | None, branch: int | None) -> str:
    if stage is None:
        return "no stage condition held"
    if stage.when is None:
        return f"{stage.id}: no earlier stage matched"
    condition = stage.when
    if isinstance(condition, AnyOf) and branch is not None:
        condition = condition.any[branch]
    return f"{stage.id}: {describe(condition)}"


def describe(condition) -> str:
    """Write a condition as a short phrase, such as `total >= 80`."""
    if isinstance(condition, AllOf):
        return " and ".join(_grouped(c) for c in condition.all)
    if isinstance(condition, AnyOf):
        return " or ".join(_grouped(c) for c in condition.any)
    if isinstance(condition, NotOf):
        return f"not {_grouped(condition.not_)}"
    if isinstance(condition, ScoreCondition):
        return _describe_score(condition)
    if isinstance(condition, GradeCondition):
        return "grade " + "/".join(condition.grade)
    if isinstance(condition, EventCondition):
        return _describe_events(condition)
    assert isinstance(condition, FieldTest)
    return describe_test(condition.field, condition)


def _grouped(condition) -> str:
    text = describe(condition)
    return f"({text})" if isinstance(condition, (AllOf, AnyOf)) else text


def _describe_score(condition: ScoreCondition) -> str:
    parts = []
    if condition.at_least is not None:
        parts.append(f"{condition.score} >= {condition.at_least:g}")
    if condition.below is not None:
        parts.append(f"{condition.score} < {condition.below:g}")
    return " and ".join(parts)


def _describe_events(condition: EventCondition) -> str:
    names = ", ".join(condition.names)
    bounds = []
    if condition.at_least is not None:
        bounds.append(f">= {condition.at_least}")
    if condition.at_most is not None:
        bounds.append(f"<= {condition.at_most}")
    text = f"{names} {' and '.join(bounds)}"
    if condition.where:
        text += " where " + ", ".join(sorted(condition.where))
    if condition.within_days is not None:
        text += f" in {condition.within_days:g} days"
    return text


def describe_test(name: str, test) -> str:
    operator = test.operator.rstrip("_")
    operand = test.operand
    if operator == "missing":
        return f"{name} {'missing' if operand else 'present'}"
    if operator == "email_domain_in":
        listed = operand if isinstance(operand, str) else ", ".join(operand)
        return f"{name} domain in {listed}"
    if isinstance(operand, (list, tuple)):
        operand = ", ".join(_shown(value) for value in operand)
    return f"{name} {operator.replace('_', ' ')} {_shown(operand)}"


def _shown(value) -> str:
    """Write a number without a needless `.0`, and anything else as text."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
