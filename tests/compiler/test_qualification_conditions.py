"""Qualification and answer conditions give the same stages on every engine."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from sqlalchemy import create_engine

from leadq.binding import LatestQualification, empty_events, qualification_columns
from leadq.compiler.query import compile_model
from leadq.engines import ENGINES, EngineTables, run, run_on_connection
from leadq.model.loading import parse_model

T0 = 1_777_593_600_000_000  # 2026-05-01T00:00:00Z in microseconds
DAY = 86_400_000_000
AS_OF = T0 + 100 * DAY

MODEL = parse_model(
    """
stages:
  - id: sql
    when:
      qualification: {framework: bant, result: passed, within_days: 90}
  - id: lost_authority
    when:
      answer: {framework: bant, criterion: authority, is: [influencer, no_role]}
  - id: strong_need
    when:
      answer: {framework: bant, criterion: need, at_least: 3}
  - id: not_passed
    when:
      not:
        qualification: {framework: bant}
  - id: rest
""",
    source="conditions.yaml",
)

BANT_PASSED = {
    "budget": "confirmed",
    "authority": "decision_maker",
    "need": 2,
    "timeline": "this_quarter",
}
# Lead key -> its latest complete BANT qualification, or None.
LATEST = {
    "recent_pass": LatestQualification("passed", T0 + 50 * DAY, BANT_PASSED),
    "window_edge": LatestQualification("passed", T0 + 10 * DAY, BANT_PASSED),
    "old_pass": LatestQualification("passed", T0 + 9 * DAY, {**BANT_PASSED, "need": 3}),
    "influencer": LatestQualification(
        "failed", T0 + 60 * DAY, {**BANT_PASSED, "authority": "influencer"}
    ),
    "unknown_need": LatestQualification(
        "failed", T0 + 60 * DAY, {"budget": "confirmed", "need": "unknown"}
    ),
    "after_as_of": LatestQualification("passed", AS_OF + 1, BANT_PASSED),
    "none": None,
}
EXPECTED = {
    "recent_pass": "sql",
    "window_edge": "sql",
    "old_pass": "strong_need",
    "influencer": "lost_authority",
    "unknown_need": "not_passed",
    "after_as_of": "not_passed",
    "none": "not_passed",
}

# PostgreSQL runs in a test of its own, on the test session's schema.
FILE_ENGINES = tuple(engine for engine in ENGINES if engine != "postgres")


def bound_tables(compiled) -> EngineTables:
    keys = list(LATEST)
    latest = [{"bant": found} if found else {} for found in LATEST.values()]
    columns = {
        "lead_code": pa.array(np.arange(len(keys), dtype=np.int64)),
        "lead_key": pa.array(keys, pa.string()),
        **qualification_columns(compiled.layout, latest),
    }
    return EngineTables(pa.table(columns), empty_events(compiled.layout))


def stages_of(compiled, result: pa.Table) -> dict[str, str]:
    ids = [stage.id for stage in compiled.model.stages]
    rows = result.to_pylist()
    return {row["lead_key"]: ids[row["stage_index"]] for row in rows}


@pytest.mark.parametrize("engine", FILE_ENGINES)
def test_conditions_on_engine(engine):
    compiled = compile_model(MODEL)
    result = run(compiled, bound_tables(compiled), AS_OF, engine)
    assert stages_of(compiled, result) == EXPECTED


def test_conditions_on_postgres(postgres_url):
    compiled = compile_model(MODEL)
    database = create_engine(postgres_url)
    try:
        with database.begin() as connection:
            result = run_on_connection(
                connection, compiled, bound_tables(compiled), AS_OF
            )
    finally:
        database.dispose()
    assert stages_of(compiled, result) == EXPECTED


def test_no_model_text_in_sql():
    sql = compile_model(MODEL).sql("sqlite")
    assert "bant" not in sql
    assert "authority" not in sql
    assert "'influencer'" in sql
