"""SQL expressions for value tests (equals, in, between, regex, ...).

Every test is null-safe: a missing value makes a test false, never NULL, so
`not` and CASE behave as a reader of the model expects. Model values become
sqlglot literals, which sqlglot quotes for each dialect. Text arrives trimmed
and, for case-insensitive tests, lower-cased (see compiler.layout), so no
engine's TRIM or LOWER decides a result.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
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


def fold(value: Any) -> str:
    """Lower-case a model value as binding folds data: with Arrow's utf8_lower."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return pc.utf8_lower(pa.scalar(str(value), pa.string())).as_py()


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class _Operands:
    folded: exp.Column | None
    number: exp.Column | None
    matches: dict[str, exp.Column]
    present: exp.Column
    lists: dict[str, list[str]]


def test_sql(
    test: Test, columns: ValueColumns, lists: dict[str, list[str]], table: str | None
) -> exp.Expression:
    """Build the boolean expression of `test` on one value's columns."""

    def column(name: str | None) -> exp.Column | None:
        return exp.column(name, table=table) if name else None

    operands = _Operands(
        folded=column(columns.folded),
        number=column(columns.number),
        matches={pattern: column(name) for pattern, name in columns.matches.items()},
        present=column(columns.present()),
        lists=lists,
    )
    condition = _BUILDERS[test.operator](test.operand, operands)
    return exp.Coalesce(this=exp.Paren(this=condition), expressions=[exp.false()])


# Spellings of a boolean in leads and events files, such as a Yes/No column.
TRUE_SPELLINGS = ("1", "t", "true", "y", "yes")
FALSE_SPELLINGS = ("0", "f", "false", "n", "no")


def _equals(value, operands: _Operands):
    if isinstance(value, bool):
        spellings = TRUE_SPELLINGS if value else FALSE_SPELLINGS
        return exp.In(this=operands.folded, expressions=[literal(s) for s in spellings])
    if _is_number(value):
        return exp.EQ(this=operands.number, expression=number(value))
    return exp.EQ(this=operands.folded, expression=literal(fold(value).strip()))


def _in(values, operands: _Operands):
    if values and all(_is_number(v) for v in values):
        return exp.In(this=operands.number, expressions=[number(v) for v in values])
    options = sorted({fold(v).strip() for v in values})
    return exp.In(this=operands.folded, expressions=[literal(v) for v in options])


def _not_in(values, operands: _Operands):
    present = exp.Not(this=exp.Is(this=operands.present, expression=exp.Null()))
    inside = _in(values, operands)
    return exp.And(this=present, expression=exp.Not(this=exp.Paren(this=inside)))


def _between(bounds, operands: _Operands):
    low, high = bounds
    return exp.And(
        this=exp.GTE(this=operands.number, expression=number(low)),
        expression=exp.LTE(this=operands.number, expression=number(high)),
    )


def _at_least(value, operands: _Operands):
    return exp.GTE(this=operands.number, expression=number(value))


def _at_most(value, operands: _Operands):
    return exp.LTE(this=operands.number, expression=number(value))


def _regex(pattern, operands: _Operands):
    # Binding matched the pattern (RE2, in Arrow): 1 for a match, 0 for none.
    return exp.EQ(this=operands.matches[pattern], expression=integer(1))


def _contains(fragment, operands: _Operands):
    # The fragment keeps its spaces: `contains: " ceo"` needs the space.
    position = exp.StrPosition(this=operands.folded, substr=literal(fold(fragment)))
    return exp.GT(this=position, expression=integer(0))


def _missing(expected, operands: _Operands):
    absent = exp.Is(this=operands.present, expression=exp.Null())
    return absent if expected else exp.Not(this=absent)


def _email_domain_in(names, operands: _Operands):
    """Test the text after the `@`; a value without one has no email domain."""
    domains = resolve_domains(names, operands.lists)
    address = operands.folded
    at_sign = exp.StrPosition(this=address, substr=literal("@"))
    domain = exp.Substring(
        this=address, start=exp.Add(this=at_sign, expression=integer(1))
    )
    has_at = exp.GT(this=at_sign, expression=integer(0))
    listed = exp.In(this=domain, expressions=[literal(d) for d in domains])
    return exp.And(this=has_at, expression=listed)


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
    return sorted({fold(value.strip()).lstrip("@") for value in values})


def builtin_list(name: str) -> list[str]:
    text = (resources.files("leadq.model") / "lists" / f"{name}.txt").read_text("utf-8")
    lines = (line.split("#", 1)[0].strip() for line in text.splitlines())
    return [line for line in lines if line]
