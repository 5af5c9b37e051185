"""Every engine gives the same scores and stages for random models and events.

The number of examples comes from the Hypothesis profile (tests/conftest.py).
"""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from leadq.binding import bind
from leadq.compiler.query import compile_model
from leadq.engines import EngineSettings, run
from leadq.inputs.files import SourceTable
from leadq.model.schema import ScoringModel
from leadq.scoring import micros_since_epoch, score_sources
from leadq.service.ingest import Message, apply_messages
from leadq.service.model_versions import activate_model
from leadq.store.database import open_store
from leadq.store import tables as store_tables
from tests.test_spark import executor_bound_result

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
def model_documents(draw) -> dict:
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
    return document


models = model_documents().map(ScoringModel.model_validate)


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


def tables_for(rows, as_of: datetime = AS_OF):
    leads = pa.table(
        {
            "lead_id": [f"lead{i}" for i in range(6)],
            "size": ["10", "60", None, "500", "49", "50"],
            "email": ["a@gmail.com", "b@acme.example", "", "d@GMAIL.COM ", None, "f@x.example"],
        }
    )
    base = as_of.replace(tzinfo=None)
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


@given(model=models, rows=events)
def test_engines_agree(model, rows, embedded_and_postgres):
    engines = ("duckdb", "sqlite", "postgres")
    assert_same_results(engines, run_engines(model, rows, engines, embedded_and_postgres))


def test_ancient_events_decay_to_zero(embedded_and_postgres):
    # Two years are 1,460 half-lives of half a day: 0.5 ** 1460 underflows a double.
    document = {
        "engagement": {
            "decay": {"half_life_days": 0.5},
            "rules": [{"id": "opened", "event": "email_opened", "points": 5}],
        },
        "stages": [{"id": "hot", "when": {"score": "engagement", "at_least": 1}}, {"id": "cold"}],
    }
    two_years = -2 * 365 * 24 * 60
    rows = [(0, "email_opened", two_years, None, 1), (1, "email_opened", -60, None, 2)]
    engines = ("duckdb", "sqlite", "postgres")
    results = run_engines(ScoringModel.model_validate(document), rows, engines, embedded_and_postgres)
    assert_same_results(engines, results)
    for result in results:
        scores = {row["lead_key"]: row["engagement_score"] for row in result}
        assert scores["lead0"] == 0
        assert scores["lead1"] > 4.7


# Spark takes a second or more per query, so it gets a few examples only. Its
# executors bind the events, read from a Parquet file.
@settings(max_examples=min(4, settings.default.max_examples))
@given(model=models, rows=events)
def test_spark_agrees(model, rows, spark_session):
    (on_duckdb,) = run_engines(model, rows, ("duckdb",), {"duckdb": EngineSettings()})
    leads, events = tables_for(rows)
    with tempfile.TemporaryDirectory(prefix="leadq-agreement-") as folder:
        table, _ = executor_bound_result(model, leads, events.table, AS_OF, None, Path(folder))
    on_spark = table.sort_by("lead_key").to_pylist()
    assert_same_results(("duckdb", "spark"), [on_duckdb, on_spark])


# The service's per-event path. apply_messages scores as of the later of the
# time it is given and the clock, so an as-of time after the clock is exact.
SERVICE_AS_OF = datetime(2100, 1, 1, 12, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def fresh_sqlite_store(sqlite_template):
    """Return a function that opens an empty, migrated SQLite store."""
    opened = []

    def open_fresh():
        folder = Path(tempfile.mkdtemp(prefix="leadq-agreement-"))
        path = folder / "leadq.db"
        shutil.copyfile(sqlite_template, path)
        store = open_store(f"sqlite:///{path}", upgrade=False)
        opened.append((store, folder))
        return store

    yield open_fresh
    for store, folder in opened:
        store.dispose()
        shutil.rmtree(folder)


def service_rows(rows):
    """Give every copy of an event id the first copy's content.

    The store keeps the first message it receives under an id, and a batch
    run the earliest copy, so they agree only when the copies are identical.
    """
    first = {}
    for row in rows:
        first.setdefault(row[4], row)
    return [first[row[4]] for row in rows]


def messages_for(rows) -> list[Message]:
    leads, _ = tables_for([])
    identifies = [
        Message(type="identify", message_id=f"identify-{lead['lead_id']}",
                user_id=lead["lead_id"], traits={"size": lead["size"], "email": lead["email"]})
        for lead in leads.table.to_pylist()
    ]  # fmt: skip
    base = micros_since_epoch(SERVICE_AS_OF)
    tracks = [
        Message(type="track", message_id=str(event_id), user_id=f"lead{lead}", event=name,
                properties={} if path is None else {"path": path},
                timestamp=base + minutes * 60_000_000)
        for lead, name, minutes, path, event_id in rows
    ]  # fmt: skip
    return identifies + tracks


def ingest_one_by_one(store, document: dict, messages) -> dict[str, dict]:
    with store.write() as connection:
        active = activate_model(connection, json.dumps(document), "generated")
    now = micros_since_epoch(SERVICE_AS_OF)
    for message in messages:
        with store.write() as connection:
            apply_messages(connection, active, [message], now)
    with store.read() as connection:
        stored = connection.execute(select(store_tables.leads)).all()
    return {row.lead_key: row._asdict() for row in stored}


@given(document=model_documents(), rows=events)
def test_per_event_ingest_matches_batch(document, rows, fresh_sqlite_store):
    rows = service_rows(rows)
    store = fresh_sqlite_store()
    stored = ingest_one_by_one(store, document, messages_for(rows))
    model = ScoringModel.model_validate(document)

    leads_source, events_source = tables_for(rows, as_of=SERVICE_AS_OF)
    batch = score_sources(leads_source, events_source, model=model, as_of=SERVICE_AS_OF)
    assert sorted(stored) == sorted(batch.table["lead_id"].to_pylist())
    for lead in batch.leads:
        row = stored[lead.lead_id]
        label = f"lead {lead.lead_id}"
        assert row["stage"] == lead.stage, label
        assert row["stage_rule"] == lead.stage_rule, label
        assert row["grade"] == lead.grade, label
        for column, score in (("fit", lead.fit_score), ("engagement", lead.engagement_score),
                              ("product", lead.product_score)):  # fmt: skip
            assert math.isclose(row[column], score, rel_tol=0, abs_tol=1e-9), (
                f"{label}: {column} is {row[column]!r} after each event and {score!r} in a batch"
            )
        batch_reasons = [(c.section, c.rule_id, round(c.points, 6)) for c in lead.reasons()]
        stored_reasons = [(r["section"], r["rule"], r["points"]) for r in json.loads(row["reasons"])]
        assert stored_reasons == batch_reasons, label
