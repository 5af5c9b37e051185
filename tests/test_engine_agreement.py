"""Every engine gives the same scores and stages for random models and events.

The number of examples comes from the Hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadq.binding import bind
from leadq.compiler.query import compile_model
from leadq.engines import EngineSettings, run
from leadq.inputs.files import SourceTable
from leadq.model.schema import ScoringModel
from leadq.scoring import micros_since_epoch

AS_OF = datetime(2024, 3, 1, 12, tzinfo=timezone.utc)
EVENT_NAMES = ["page_viewed", "email_opened", "demo_requested", "logged_in"]
PATHS = ["/pricing", "/docs", "/PRICING/plans", None]

decays = st.one_of(
    st.just("none"),
    st.builds(lambda h: {"half_life_days": h}, st.sampled_from([0.5, 7, 30, 45.5])),
    st.builds(
        lambda first, factor: {
            "steps": [
                {"after_days": first, "factor": factor},
                {"after_days": first * 3, "factor": 0},
            ]
        },
        st.sampled_from([1, 7, 30]),
        st.sampled_from([0.25, 0.5]),
    ),
)

event_rules = st.builds(
    lambda index, event, points, cap, unique, window, decay, pricing: {
        "id": f"rule_{index}",
        "event": event,
        "points": points,
        **({"max_points": cap} if cap else {}),
        **({"unique_by": unique} if unique else {}),
        **({"within_days": window} if window else {}),
        **({"decay": decay} if decay else {}),
        **({"where": {"path": {"contains": "pricing"}}} if pricing else {}),
    },
    st.integers(0, 10_000),
    st.sampled_from(EVENT_NAMES + ["visit"]),
    st.sampled_from([-7, 1, 2.5, 10]),
    st.sampled_from([None, 3, 12]),
    st.sampled_from([None, "day", "week", "path"]),
    st.sampled_from([None, 1, 14, 30]),
    st.one_of(st.none(), decays),
    st.booleans(),
)


@st.composite
def models(draw) -> ScoringModel:
    rules = draw(st.lists(event_rules, min_size=1, max_size=6, unique_by=lambda r: r["id"]))
    half = len(rules) // 2
    threshold = draw(st.sampled_from([1, 5, 20]))
    document = {
        "timezone": draw(st.sampled_from(["UTC", "America/New_York", "Asia/Tokyo"])),
        "fit": {
            "min": -50,
            "rules": [
                {"id": "fit_size", "field": "size", "at_least": 50, "points": 30},
                {"id": "fit_free", "field": "email", "email_domain_in": "free_email", "points": -10},
            ],
        },
        "engagement": {"decay": draw(decays), "rules": rules[:half] or rules},
        "product": {"rules": rules[half:] if half else []},
        "stages": [
            {"id": "hot", "when": {"all": [{"score": "engagement", "at_least": threshold}, {"grade": ["A", "B", "C"]}]}},
            {"id": "active", "when": {"events": EVENT_NAMES[:2], "within_days": 7, "at_least": 2}},
            {"id": "cold"},
        ],
    }
    return ScoringModel.model_validate(document)


events = st.lists(
    st.tuples(
        st.integers(0, 5),  # lead
        st.sampled_from(EVENT_NAMES),
        st.integers(-120 * 24 * 60, 2 * 24 * 60),  # minutes from the as-of time
        st.sampled_from(PATHS),
        st.integers(0, 40),  # event id; repeats are duplicates
    ),
    max_size=60,
)


def source(table: pa.Table) -> SourceTable:
    return SourceTable(table, "generated", "parquet", lambda row: ("row", row + 1))


def tables_for(rows):
    leads = pa.table(
        {
            "lead_id": [f"lead{i}" for i in range(6)],
            "size": ["10", "60", None, "500", "49", "50"],
            "email": ["a@gmail.com", "b@acme.example", "", "d@GMAIL.COM ", None, "f@x.example"],
        }
    )
    base = AS_OF.replace(tzinfo=None)
    event_table = pa.table(
        {
            "event_id": [str(row[4]) for row in rows],
            "lead_id": [f"lead{row[0]}" for row in rows],
            "event": [row[1] for row in rows],
            "timestamp": pa.array(
                [base + timedelta(minutes=row[2]) for row in rows], pa.timestamp("us", tz="UTC")
            ),
            "path": pa.array([row[3] for row in rows], pa.string()),
        }
    )
    return source(leads), source(event_table)


def run_engines(model, rows, engines, engine_settings) -> list[list[dict]]:
    compiled = compile_model(model)
    leads, event_source = tables_for(rows)
    tables, _ = bind(model, compiled.layout, leads, event_source)
    as_of = micros_since_epoch(AS_OF)
    results = []
    for engine in engines:
        table = run(compiled, tables, as_of, engine, engine_settings[engine])
        results.append(table.sort_by("lead_key").to_pylist())
    return results


def assert_same_results(engines, results) -> None:
    first = results[0]
    for engine, other in zip(engines[1:], results[1:]):
        assert len(other) == len(first), engine
        for expected, actual in zip(first, other):
            label = f"{engines[0]} and {engine}, lead {expected['lead_key']}"
            assert expected["stage_index"] == actual["stage_index"], label
            assert expected["stage_branch"] == actual["stage_branch"], label
            assert expected["grade"] == actual["grade"], label
            for name, value in expected.items():
                if isinstance(value, float):
                    assert math.isclose(value, actual[name], rel_tol=0, abs_tol=1e-9), (
                        f"{label}: {name} is {value!r} and {actual[name]!r}"
                    )


@pytest.fixture(scope="module")
def embedded_and_postgres(postgres_url):
    url = postgres_url
    return {"duckdb": EngineSettings(), "sqlite": EngineSettings(),
            "postgres": EngineSettings(database_url=url)}  # fmt: skip


@given(model=models(), rows=events)
def test_engines_agree(model, rows, embedded_and_postgres):
    engines = ("duckdb", "sqlite", "postgres")
    assert_same_results(engines, run_engines(model, rows, engines, embedded_and_postgres))


# Spark takes a second or more per query, so it gets a few examples only.
@settings(max_examples=min(4, settings.default.max_examples))
@given(model=models(), rows=events)
def test_spark_agrees(model, rows, spark_session):
    engines = ("duckdb", "spark")
    engine_settings = {"duckdb": EngineSettings(), "spark": EngineSettings()}
    assert_same_results(engines, run_engines(model, rows, engines, engine_settings))
