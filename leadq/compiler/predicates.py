"""SQL expressions for value tests (equals, in, between, regex, ...).

Every test is null-safe: a missing value makes a test false, never NULL, so
`not` and CASE behave as a reader of the model expects. Model values become
sqlglot literals, which sqlglot quotes for each dialect.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from sqlglot import exp

from leadq.compiler.layout import ValueColumns
from leadq.model.schema import Test


def literal(value: Any) -> exp.Expression:
    if isinstance(value, bool):
        return exp.Literal.string("true" if value else "false")
    if isinstance(value, (int, float)):
        return number(value)
    return exp.Literal.string(str(value))


def number(value: float | int) -> exp.Expression:
    """Build a DOUBLE constant; a bare 30.0 would be a DECIMAL in DuckDB."""
    return exp.cast(exp.Literal.number(repr(float(value))), "DOUBLE")


def integer(value: int) -> exp.Literal:
    return exp.Literal.number(str(int(value)))


def normalized(column: exp.Expression) -> exp.Expression:
    return exp.Lower(this=exp.Trim(this=column))


def _normalized_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip().lower()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def test_sql(
    test: Test, columns: ValueColumns, lists: dict[str, list[str]], table: str | None
) -> exp.Expression:
    """Build the boolean expression of `test` on one field's columns."""
    text = exp.column(columns.text, table=table)
    numeric = exp.column(columns.number, table=table) if columns.number else None
    builder = _BUILDERS[test.operator]
    condition = builder(test.operand, text, numeric, lists)
    return exp.Coalesce(this=exp.Paren(this=condition), expressions=[exp.false()])


# Spellings of a boolean in leads and events files, such as a Yes/No column.
TRUE_SPELLINGS = ("1", "t", "true", "y", "yes")
FALSE_SPELLINGS = ("0", "f", "false", "n", "no")


def _equals(value, text, numeric, lists):
    if isinstance(value, bool):
        spellings = TRUE_SPELLINGS if value else FALSE_SPELLINGS
        return exp.In(this=normalized(text), expressions=[literal(s) for s in spellings])
    if _is_number(value):
        return exp.EQ(this=numeric, expression=number(value))
    return exp.EQ(this=normalized(text), expression=literal(_normalized_value(value)))


def _in(values, text, numeric, lists):
    if values and all(_is_number(v) for v in values):
        return exp.In(this=numeric, expressions=[number(v) for v in values])
    options = sorted({_normalized_value(v) for v in values})
    return exp.In(this=normalized(text), expressions=[literal(v) for v in options])


def _not_in(values, text, numeric, lists):
    present = exp.Not(this=_missing(True, text, numeric, lists))
    inside = _in(values, text, numeric, lists)
    return exp.And(this=present, expression=exp.Not(this=exp.Paren(this=inside)))


def _between(bounds, text, numeric, lists):
    low, high = bounds
    return exp.And(
        this=exp.GTE(this=numeric, expression=number(low)),
        expression=exp.LTE(this=numeric, expression=number(high)),
    )


def _at_least(value, text, numeric, lists):
    return exp.GTE(this=numeric, expression=number(value))


def _at_most(value, text, numeric, lists):
    return exp.LTE(this=numeric, expression=number(value))


def _regex(pattern, text, numeric, lists):
    return exp.RegexpLike(this=exp.Trim(this=text), expression=literal(pattern))


def _contains(fragment, text, numeric, lists):
    position = exp.StrPosition(
        this=normalized(text), substr=literal(_normalized_value(fragment))
    )
    return exp.GT(this=position, expression=integer(0))


def _missing(expected, text, numeric, lists):
    empty = exp.Or(
        this=exp.Is(this=text, expression=exp.Null()),
        expression=exp.EQ(this=exp.Trim(this=text), expression=literal("")),
    )
    return exp.Paren(this=empty) if expected else exp.Not(this=exp.Paren(this=empty))


def _email_domain_in(names, text, numeric, lists):
    domains = resolve_domains(names, lists)
    address = normalized(text)
    at_sign = exp.StrPosition(this=address, substr=literal("@"))
    domain = exp.Substring(
        this=address, start=exp.Add(this=at_sign, expression=integer(1))
    )
    return exp.In(this=domain, expressions=[literal(d) for d in domains])


_BUILDERS = {
    "equals": _equals,
    "in_": _in,
    "not_in": _not_in,
    "between": _between,
    "at_least": _at_least,
    "at_most": _at_most,
    "regex": _regex,
    "contains": _contains,
    "missing": _missing,
    "email_domain_in": _email_domain_in,
}


def resolve_domains(names: str | list[str], lists: dict[str, list[str]]) -> list[str]:
    """Return the lower-cased domains of a list name or an inline list."""
    if isinstance(names, str):
        values = lists[names] if names in lists else builtin_list(names)
    else:
        values = names
    return sorted({value.strip().lower().lstrip("@") for value in values})


def builtin_list(name: str) -> list[str]:
    text = (resources.files("leadq.model") / "lists" / f"{name}.txt").read_text("utf-8")
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]
