"""A stage condition on the bound probability column, on every engine."""

from __future__ import annotations

import pyarrow as pa
from sqlalchemy import create_engine

from leadq.binding import bind, with_probability
from leadq.compiler.query import compile_model
from leadq.engines import ENGINES, run, run_on_connection
from leadq.inputs import SourceTable
from leadq.model.loading import parse_model
from leadq.results import rank_result

MODEL = """
predictive: {artefact: unused}
fit:
  rules:
    - {id: large_company, field: size, at_least: 100, points: 50}
stages:
  - id: likely
    when: {probability: {at_least: 0.6}}
  - id: unlikely
    when:
      any:
        - {probability: {below: 0.2}}
        - {not: {score: fit, at_least: 0}}
  - id: big
    when: {score: fit, at_least: 50}
  - id: rest
"""
LEADS = {"lead_id": ["a", "b", "c", "d", "e"], "size": ["500", "10", "500", "10", "5"]}
PROBABILITIES = [0.6, 0.95, 0.59, 0.1, None]
EXPECTED = {"a": "likely", "b": "likely", "c": "big", "d": "unlikely", "e": "rest"}

# PostgreSQL runs in a test of its own, on the test session's schema.
FILE_ENGINES = tuple(engine for engine in ENGINES if engine != "postgres")


def _tables():
    model = parse_model(MODEL, source="test model")
    compiled = compile_model(model)
    source = SourceTable(pa.table(LEADS), "leads.csv", "csv", lambda row: ("line", row + 2))
    tables, _ = bind(model, compiled.layout, source, None)
    tables.leads = with_probability(tables.leads, compiled.layout, PROBABILITIES)
    return compiled, tables


def _stages(compiled, result) -> dict:
    ranked = rank_result(compiled, result)
    return dict(zip(ranked["lead_id"].to_pylist(), ranked["stage"].to_pylist()))


def test_probability_stage_files_engines():
    compiled, tables = _tables()
    for engine in FILE_ENGINES:
        assert _stages(compiled, run(compiled, tables, 0, engine)) == EXPECTED, engine


def test_probability_stage_postgres(postgres_url):
    compiled, tables = _tables()
    engine = create_engine(postgres_url)
    try:
        with engine.begin() as connection:
            result = run_on_connection(connection, compiled, tables, 0)
    finally:
        engine.dispose()
    assert _stages(compiled, result) == EXPECTED


def test_probability_output_column():
    compiled, tables = _tables()
    ranked = rank_result(compiled, run(compiled, tables, 0, "duckdb"))
    by_id = dict(zip(ranked["lead_id"].to_pylist(), ranked["probability"].to_pylist()))
    assert by_id["b"] == 0.95
    assert by_id["e"] is None
