"""The compiled query in Spark's form: the as-of parameter and the cached views."""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from leadq.compiler.query import compile_model
from leadq.compiler.spark import spark_statements
from leadq.model.loading import load_default_model, parse_model

INPUTS = {"leads": "leadq_leads_run1", "events": "leadq_events_run1"}

# One unique_by rule and no visits: events_all is read twice.
SMALL_MODEL = """
key: email
engagement:
  rules:
    - {id: demo, event: demo_requested, points: 30, within_days: 30}
    - {id: pages, event: page_viewed, points: 1, unique_by: day}
stages:
  - id: sql
    when: {score: engagement, at_least: 30}
  - id: unqualified
"""


def _tables_read(sql: str) -> list[str]:
    tree = sqlglot.parse_one(sql, read="spark")
    return [table.name for table in tree.find_all(exp.Table)]


def _ctes(sql: str) -> list[str]:
    tree = sqlglot.parse_one(sql, read="spark")
    return [cte.alias for cte in tree.find_all(exp.CTE)]


def _subqueries(sql: str) -> list[str]:
    tree = sqlglot.parse_one(sql, read="spark")
    return [query.alias for query in tree.find_all(exp.Subquery) if query.alias]


def test_default_model_views():
    compiled = compile_model(load_default_model())

    statements = spark_statements(compiled, INPUTS, "run1")

    assert [view for view, _ in statements.views] == [
        "leadq_repeated_ids_run1",
        "leadq_events_unique_run1",
        "leadq_events_all_run1",
    ]
    events_all = statements.views[2][1]
    # A cached plan with a CTE is not matched to its view, so none has one.
    assert _ctes(events_all) == []
    assert "visits" in _subqueries(events_all)
    assert set(_tables_read(events_all)) == {"leadq_events_unique_run1"}


def test_final_query_reads_views():
    compiled = compile_model(load_default_model())

    statements = spark_statements(compiled, INPUTS, "run1")

    ctes = _ctes(statements.query)
    assert "events_unique" not in ctes
    assert "events_all" not in ctes
    assert ctes[0] == "activity"
    assert ctes[-1] == "staged"
    read = _tables_read(statements.query)
    assert read.count("leadq_events_all_run1") == 6
    assert "leadq_leads_run1" in read


def test_as_of_is_only_parameter():
    compiled = compile_model(load_default_model())

    statements = spark_statements(compiled, INPUTS, "run1")

    for sql in [query for _, query in statements.views] + [statements.query]:
        assert "params" not in _tables_read(sql)
        assert "params" not in _ctes(sql)
        assert "?" not in sql
        tree = sqlglot.parse_one(sql, read="spark")
        names = {node.name for node in tree.find_all(exp.Placeholder)}
        assert names <= {"as_of"}
    assert "CAST(:as_of AS BIGINT)" in statements.views[0][1]


def test_single_reads_stay_ctes():
    compiled = compile_model(parse_model(SMALL_MODEL, source="small.yaml"))

    statements = spark_statements(compiled, INPUTS, "run1")

    assert [view for view, _ in statements.views] == [
        "leadq_repeated_ids_run1",
        "leadq_events_all_run1",
    ]
    # events_unique is read once, by events_all, so it is a subquery there.
    assert "events_unique" in _subqueries(statements.views[1][1])
    assert "leadq_events_unique_run1" not in _tables_read(statements.query)


def test_other_dialects_unchanged():
    compiled = compile_model(load_default_model())

    spark_statements(compiled, INPUTS, "run1")

    assert "CROSS JOIN params" in compiled.sql("duckdb")
    assert "params" in _ctes(compiled.sql("spark"))
