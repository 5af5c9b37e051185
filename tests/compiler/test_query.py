"""The compiled query: model text stays data, and dialects render one tree."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from leadq.compiler.query import compile_model
from leadq.model.loading import load_default_model, parse_model

HOSTILE = "x'); DROP TABLE leads; --"

MODEL = f"""
key: lead_id
fit:
  rules:
    - id: hostile_value
      field: "Company Name\\"; DROP"
      equals: "{HOSTILE}"
      points: 5
engagement:
  rules:
    - id: hostile_event
      event: "{HOSTILE}"
      where:
        "url'--": {{contains: "\\\\'"}}
      points: 1
stages:
  - id: all
"""


def test_identifiers_are_positional():
    compiled = compile_model(parse_model(MODEL, source="m"))
    columns = {column.name for column in compiled.query.find_all(exp.Column)}
    assert "Company Name\"; DROP" not in columns
    assert {"f0_l", "p0_l"} <= columns


def test_hostile_text_is_a_literal():
    compiled = compile_model(parse_model(MODEL, source="m"))
    strings = {literal.this for literal in compiled.query.find_all(exp.Literal) if literal.is_string}
    assert HOSTILE.lower() in strings
    assert HOSTILE in strings
    for dialect in ("duckdb", "sqlite", "postgres"):
        statements = sqlglot.parse(compiled.sql(dialect), read=dialect)
        assert len(statements) == 1
        assert statements[0].find(exp.Drop) is None


def test_one_parameter():
    compiled = compile_model(load_default_model())
    assert len(list(compiled.query.find_all(exp.Placeholder))) == 1


def test_rules_map_to_columns():
    compiled = compile_model(load_default_model())
    assert [rule.column for rule in compiled.rules] == [f"c{i}" for i in range(31)]
    assert compiled.rules[0].rule_id == "title_decision_maker"
    assert compiled.rules[-1].section == "product"


def test_visits_only_when_used():
    plain = compile_model(parse_model("stages:\n  - id: all\n", source="m"))
    assert "visits AS" not in plain.sql("duckdb")
    assert "visits AS" in compile_model(load_default_model()).sql("duckdb")
