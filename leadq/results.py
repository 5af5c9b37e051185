"""Scored leads: explanations, the decided stage's rule, and the ranking."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from leadq.compiler.query import SCORE_DECIMALS, CompiledModel
from leadq.model.schema import (
    AllOf,
    AnyOf,
    AnswerCondition,
    EventCondition,
    FieldTest,
    GradeCondition,
    NotOf,
    QualificationCondition,
    ProbabilityCondition,
    ScoreCondition,
    Stage,
)



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


def rank_result(compiled: CompiledModel, result: pa.Table) -> pa.Table:
    """Return one ranked row per lead: scores, stage, stage rule, contributions.

    Ranking is by stage (in the model's rank order), then total score (highest
    first), then lead id. Contributions are rounded as the scores are.
    """
    stage_ids, stage_rules = _stage_columns(compiled, result)
    columns = {
        "lead_id": result["lead_key"],
        "fit_score": result["fit_score"],
        "grade": result["grade"],
        "engagement_score": result["engagement_score"],
        "product_score": result["product_score"],
        "stage": pa.array(stage_ids, pa.string()),
        "stage_rule": pa.array(stage_rules, pa.string()),
    }
    if "probability" in result.column_names:
        columns["probability"] = result["probability"]
    rule_columns = [rule.column for rule in compiled.rules]
    columns.update(zip(rule_columns, _rounded_columns(result, rule_columns)))
    table = pa.table(columns)

    positions = {stage: index for index, stage in enumerate(compiled.model.ranked_stage_ids())}
    stage_rank = pa.array([positions.get(stage, len(positions)) for stage in stage_ids], pa.int32())
    total = _rounded(pc.add(pc.add(table["fit_score"], table["engagement_score"]), table["product_score"]))
    keys = pa.table({"stage_rank": stage_rank, "total": total, "lead_id": table["lead_id"]})
    order = pc.sort_indices(
        keys,
        sort_keys=[("stage_rank", "ascending"), ("total", "descending"), ("lead_id", "ascending")],
    )
    return table.take(order)


def _stage_columns(compiled: CompiledModel, result: pa.Table) -> tuple[list, list]:
    stages = compiled.model.stages
    described: dict[tuple, tuple[str | None, str]] = {}
    stage_ids, stage_rules = [], []
    indexes = result["stage_index"].to_pylist()
    branches = result["stage_branch"].to_pylist()
    for key in zip(indexes, branches):
        if key not in described:
            stage = stages[key[0]] if key[0] is not None else None
            described[key] = (stage.id if stage else None, describe_stage(stage, key[1]))
        stage_ids.append(described[key][0])
        stage_rules.append(described[key][1])
    return stage_ids, stage_rules


# Rule columns are rounded in blocks of about this many values. A rescore of
# a few leads then rounds all its columns with one call per step, and a
# result of millions of leads rounds one column at a time, with no large copy.
ROUNDING_BLOCK_VALUES = 1_000_000


def _rounded_columns(result: pa.Table, names: list[str]) -> list[pa.ChunkedArray]:
    """Round the named columns as `_rounded` does, several columns per call."""
    rows = len(result)
    per_block = max(1, ROUNDING_BLOCK_VALUES // max(rows, 1))
    rounded = []
    for start in range(0, len(names), per_block):
        block = [_as_doubles(result[name]) for name in names[start : start + per_block]]
        combined = pa.chunked_array([chunk for column in block for chunk in column.chunks], pa.float64())
        done = _rounded(combined)
        rounded += [done.slice(index * rows, rows) for index in range(len(block))]
    return rounded


def _as_doubles(values: pa.ChunkedArray) -> pa.ChunkedArray:
    return values if values.type == pa.float64() else pc.cast(values, pa.float64())


def _rounded(values) -> pa.ChunkedArray:
    """Round to SCORE_DECIMALS; NULL becomes 0 and -0.0 becomes 0.0."""
    filled = pc.fill_null(pc.cast(values, pa.float64()), 0.0)
    return pc.add(pc.round(filled, SCORE_DECIMALS), 0.0)


def lead_from_row(compiled: CompiledModel, row: dict) -> ScoredLead:
    contributions = [
        Contribution(rule.section, rule.rule_id, row[rule.column]) for rule in compiled.rules
    ]
    return ScoredLead(
        lead_id=row["lead_id"],
        fit_score=row["fit_score"],
        grade=row["grade"],
        engagement_score=row["engagement_score"],
        product_score=row["product_score"],
        stage=row["stage"],
        stage_rule=row["stage_rule"],
        contributions=contributions,
    )


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
    if isinstance(condition, QualificationCondition):
        return _describe_qualification(condition.qualification)
    if isinstance(condition, AnswerCondition):
        test = condition.answer
        return describe_test(f"{test.framework} {test.criterion}", test.as_test())
    if isinstance(condition, ProbabilityCondition):
        return _describe_probability(condition)
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


def _describe_qualification(test) -> str:
    text = f"{test.framework} {test.result}"
    if test.within_days is not None:
        text += f" in {test.within_days:g} days"
    return text


def _describe_probability(condition: ProbabilityCondition) -> str:
    bounds = condition.probability
    parts = []
    if bounds.at_least is not None:
        parts.append(f"probability >= {bounds.at_least:g}")
    if bounds.below is not None:
        parts.append(f"probability < {bounds.below:g}")
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
