"""SQL for engagement and product rules: matching, windows, decay and caps.

Times are integer microseconds since the Unix epoch (UTC), so window and step
boundaries compare exactly; decay uses the age in days as a double.
"""

from __future__ import annotations

from sqlglot import exp

from leadq.compiler.layout import CALENDAR_UNITS, Layout
from leadq.compiler.predicates import integer, literal, number, test_sql
from leadq.model.schema import ActivityRule, HalfLife, StepDecay, Test

MICROS_PER_DAY = 86_400_000_000
AS_OF = exp.column("as_of", table="params")
# PostgreSQL raises "value out of range: underflow" when POWER's result is
# too small for a double (after about 1,075 half-lives), where DuckDB,
# SQLite and Spark return 0. An event this many half-lives old decays to 0
# on every engine; 0.5 ** 1000 is about 1e-301, which rounding removes anyway.
MAX_HALF_LIVES = 1000
# No event is older than this: times run from the year 1 to 9999.
MAX_EVENT_AGE_MICROS = 10_000 * 366 * MICROS_PER_DAY


def age_micros(ts: exp.Expression) -> exp.Expression:
    return exp.Paren(this=exp.Sub(this=AS_OF, expression=ts))


def days_in_micros(days: float) -> exp.Literal:
    return integer(round(days * MICROS_PER_DAY))


def decay_sql(decay, ts: exp.Expression) -> exp.Expression:
    """Build the decay factor of an event at time `ts` (1 when there is none)."""
    if decay is None or decay == "none":
        return number(1)
    if isinstance(decay, HalfLife):
        return _half_life_sql(decay.half_life_days, ts)
    assert isinstance(decay, StepDecay)
    case = exp.Case()
    for step in reversed(decay.steps):
        reached = exp.GTE(this=age_micros(ts), expression=days_in_micros(step.after_days))
        case = case.when(reached, number(step.factor))
    return case.else_(number(1))


def _half_life_sql(half_life_days: float, ts: exp.Expression) -> exp.Expression:
    half_lives = exp.Div(
        this=exp.cast(age_micros(ts), "DOUBLE"),
        expression=number(half_life_days * MICROS_PER_DAY),
    )
    factor = exp.Pow(this=number(0.5), expression=half_lives)
    oldest = round(half_life_days * MAX_HALF_LIVES * MICROS_PER_DAY)
    if oldest >= MAX_EVENT_AGE_MICROS:
        return factor
    too_old = exp.GTE(this=age_micros(ts), expression=integer(oldest))
    return exp.Case().when(too_old, number(0)).else_(factor)


def match_sql(
    names: list[str],
    tests: dict[str, Test],
    within_days: float | None,
    layout: Layout,
    lists: dict[str, list[str]],
) -> exp.Expression:
    """Build the condition that an event row matches a rule or count."""
    name_column = exp.column("event_name")
    if len(names) == 1:
        parts = [exp.EQ(this=name_column, expression=literal(names[0]))]
    else:
        parts = [exp.In(this=name_column, expressions=[literal(n) for n in names])]
    for name, test in tests.items():
        parts.append(test_sql(test, layout.property_column(name), lists, None))
    if within_days is not None:
        oldest = exp.Sub(this=AS_OF, expression=days_in_micros(within_days))
        parts.append(exp.GTE(this=exp.column("ts"), expression=oldest))
    return exp.and_(*parts)


def effective_decay(rule: ActivityRule, section_decay):
    return section_decay if rule.decay is None else rule.decay


def rule_sum_sql(rule: ActivityRule, section_decay, layout, lists) -> exp.Expression:
    """SUM over a lead's events of points times decay, for rules without unique_by."""
    match = match_sql(rule.events, rule.property_tests(), rule.within_days, layout, lists)
    weight = exp.Mul(
        this=number(rule.points),
        expression=decay_sql(effective_decay(rule, section_decay), exp.column("ts")),
    )
    return exp.Sum(this=exp.Case().when(match, weight).else_(number(0)))


def unique_rule_sql(
    rule: ActivityRule, section_decay, layout: Layout, lists, alias: str
) -> exp.Select:
    """Score one event per distinct key: the earliest event of each key counts."""
    match = match_sql(rule.events, rule.property_tests(), rule.within_days, layout, lists)
    key = _unique_key(rule.unique_by, layout)
    firsts = (
        exp.select(exp.column("lead_code"), exp.Min(this=exp.column("ts")).as_("first_ts"))
        .from_("events_all")
        .join("params", join_type="cross")
        .where(match)
        .group_by(exp.column("lead_code"), key)
    )
    weight = exp.Mul(
        this=number(rule.points),
        expression=decay_sql(
            effective_decay(rule, section_decay), exp.column("first_ts")
        ),
    )
    return (
        exp.select(exp.column("lead_code"), exp.Sum(this=weight).as_(alias))
        .from_(firsts.subquery("firsts"))
        .join("params", join_type="cross")
        .group_by(exp.column("lead_code"))
    )


def _unique_key(unique_by: str, layout: Layout) -> exp.Expression:
    if unique_by in CALENDAR_UNITS:
        return exp.column(CALENDAR_UNITS[unique_by])
    return exp.column(layout.property_column(unique_by).folded)


def count_sql(names, tests, within_days, layout, lists) -> exp.Expression:
    match = match_sql(names, tests, within_days, layout, lists)
    return exp.Sum(this=exp.Case().when(match, integer(1)).else_(integer(0)))


def capped_sql(total: exp.Expression, rule: ActivityRule) -> exp.Expression:
    """Cap a rule's total after decay; for negative points the cap bounds the loss."""
    if rule.max_points is None:
        return total
    if rule.points >= 0:
        limit = number(rule.max_points)
        return exp.Case().when(exp.GT(this=total, expression=limit), limit).else_(total)
    limit = number(-rule.max_points)
    return exp.Case().when(exp.LT(this=total, expression=limit), limit).else_(total)
