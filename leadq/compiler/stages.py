"""SQL for grades and stage conditions, evaluated on one row per lead."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp

from leadq.compiler.layout import Layout
from leadq.compiler.predicates import integer, literal, number, test_sql
from leadq.model.schema import (
    AllOf,
    AnswerCondition,
    AnyOf,
    EventCondition,
    FieldTest,
    Grades,
    GradeCondition,
    NotOf,
    QualificationCondition,
    ScoreCondition,
    ScoringModel,
)

DAY_MICROS = 86_400_000_000

SCORE_COLUMNS = {
    "fit": exp.column("fit_score"),
    "engagement": exp.column("engagement_score"),
    "product": exp.column("product_score"),
}


def total_score() -> exp.Expression:
    """Build fit + engagement + product, rounded as each section score is."""
    total = exp.Add(
        this=exp.Add(this=SCORE_COLUMNS["fit"], expression=SCORE_COLUMNS["engagement"]),
        expression=SCORE_COLUMNS["product"],
    )
    return exp.Round(this=total, decimals=integer(TOTAL_DECIMALS))


# The decimals of section scores (query.SCORE_DECIMALS, which imports this module).
TOTAL_DECIMALS = 6


def grade_sql(grades: Grades) -> exp.Expression:
    fit = SCORE_COLUMNS["fit"]
    case = exp.Case()
    for letter in ("A", "B", "C"):
        bound = number(getattr(grades, letter))
        case = case.when(exp.GTE(this=fit, expression=bound), literal(letter))
    return case.else_(literal("D"))


@dataclass
class EventCounts:
    """Event count conditions of the stages; each becomes an aggregate column."""

    conditions: list[EventCondition] = field(default_factory=list)

    def alias_of(self, condition: EventCondition) -> str:
        for index, known in enumerate(self.conditions):
            if known is condition:
                return f"n{index}"
        self.conditions.append(condition)
        return f"n{len(self.conditions) - 1}"


@dataclass
class ConditionCompiler:
    layout: Layout
    lists: dict[str, list[str]]
    counts: EventCounts

    def compile(self, condition) -> exp.Expression:
        if isinstance(condition, AllOf):
            return exp.and_(*[exp.Paren(this=self.compile(c)) for c in condition.all])
        if isinstance(condition, AnyOf):
            return exp.or_(*[exp.Paren(this=self.compile(c)) for c in condition.any])
        if isinstance(condition, NotOf):
            return exp.Not(this=exp.Paren(this=self.compile(condition.not_)))
        if isinstance(condition, ScoreCondition):
            return _score_sql(condition)
        if isinstance(condition, GradeCondition):
            letters = [literal(letter) for letter in condition.grade]
            return exp.In(this=exp.column("grade"), expressions=letters)
        if isinstance(condition, EventCondition):
            return self._count_sql(condition)
        if isinstance(condition, QualificationCondition):
            return self._qualification_sql(condition)
        if isinstance(condition, AnswerCondition):
            test = condition.answer
            columns = self.layout.answers[(test.framework, test.criterion)]
            return test_sql(test.as_test(), columns, self.lists, None)
        assert isinstance(condition, FieldTest)
        columns = self.layout.lead_column(condition.field)
        return test_sql(condition, columns, self.lists, None)

    def _count_sql(self, condition: EventCondition) -> exp.Expression:
        count = exp.column(self.counts.alias_of(condition))
        parts = []
        if condition.at_least is not None:
            parts.append(exp.GTE(this=count, expression=integer(condition.at_least)))
        if condition.at_most is not None:
            parts.append(exp.LTE(this=count, expression=integer(condition.at_most)))
        return exp.and_(*parts)


    def _qualification_sql(self, condition: QualificationCondition) -> exp.Expression:
        """Test the result and age of the latest complete qualification.

        A qualification after the as-of time does not count, so a score as
        of T reads only what was known at T.
        """
        test = condition.qualification
        columns = self.layout.qualifications[test.framework]
        at = exp.column(columns.at)
        as_of = exp.select(exp.column("as_of")).from_("params").subquery()
        parts = [
            exp.EQ(this=exp.column(columns.result), expression=literal(test.result)),
            exp.LTE(this=at, expression=as_of),
        ]
        if test.within_days is not None:
            window = integer(round(test.within_days * DAY_MICROS))
            oldest = exp.Sub(this=as_of.copy(), expression=window)
            parts.append(exp.GTE(this=at, expression=oldest))
        condition_sql = exp.and_(*parts)
        return exp.Coalesce(this=exp.Paren(this=condition_sql), expressions=[exp.false()])


def _score_sql(condition: ScoreCondition) -> exp.Expression:
    if condition.score == "total":
        score = exp.Paren(this=total_score())
    else:
        score = SCORE_COLUMNS[condition.score]
    parts = []
    if condition.at_least is not None:
        parts.append(exp.GTE(this=score, expression=number(condition.at_least)))
    if condition.below is not None:
        parts.append(exp.LT(this=score, expression=number(condition.below)))
    return exp.and_(*parts)


def stage_sql(model: ScoringModel, compiler: ConditionCompiler) -> exp.Expression:
    """Build the 0-based index of the first stage whose condition holds."""
    case = exp.Case()
    for index, stage in enumerate(model.stages):
        if stage.when is None:
            # A CASE needs a WHEN: a model whose only stage is a catch-all
            # gives every lead that stage.
            return case.else_(integer(index)) if index else integer(index)
        case = case.when(compiler.compile(stage.when), integer(index))
    return case.else_(exp.Null())


def branch_sql(model: ScoringModel, compiler: ConditionCompiler) -> exp.Expression:
    """Build the index of the first `any` branch that held, for the decided stage.

    Only a stage whose condition is a top-level `any` has branches; the value
    is NULL otherwise.
    """
    case = exp.Case()
    has_branches = False
    for index, stage in enumerate(model.stages):
        if not isinstance(stage.when, AnyOf):
            continue
        has_branches = True
        for position, branch in enumerate(stage.when.any):
            decided = exp.and_(
                exp.EQ(this=exp.column("stage_index"), expression=integer(index)),
                exp.Paren(this=compiler.compile(branch)),
            )
            case = case.when(decided, integer(position))
    return case.else_(exp.Null()) if has_branches else exp.Null()
