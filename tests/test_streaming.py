"""Scoring events in batches on DuckDB gives what scoring them in memory gives."""

from __future__ import annotations

import json
import math
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given

from leadq.engines import EngineSettings
from leadq.errors import InputError, OptionError
from leadq.inputs import read_source
from leadq.model.loading import load_default_model, parse_model
from leadq.scoring import score_files, score_sources
from leadq.streaming import MemoryLimitExceeded, check_memory_limit, streams
from tests.test_corpus import CASES, require_valid
from tests.test_engine_agreement import AS_OF, events, models, tables_for

DEMO = Path(__file__).parents[1] / "examples" / "demo"
DEMO_AS_OF = datetime(2026, 12, 1, tzinfo=timezone.utc)
MODEL = parse_model(
    "engagement:\n  rules:\n"
    "    - {id: pricing, event: page_viewed, where: {seats: {at_least: 5}}, points: 1}\n"
    "stages:\n  - id: all\n",
    source="m",
)


def assert_same_tables(streamed: pa.Table, in_memory: pa.Table) -> None:
    """Rows in the same order; doubles within 1e-9, since the plans differ."""
    assert streamed.column_names == in_memory.column_names
    assert len(streamed) == len(in_memory)
    for name in streamed.column_names:
        left, right = streamed[name].to_pylist(), in_memory[name].to_pylist()
        if pa.types.is_floating(streamed.schema.field(name).type):
            for row, (a, b) in enumerate(zip(left, right)):
                same = a == b or math.isclose(a, b, rel_tol=0, abs_tol=1e-9)
                assert same, f"{name}, row {row}: {a!r} streamed, {b!r} in memory"
        else:
            assert left == right, name


def in_memory_run(leads: Path, events: Path, **options):
    return score_sources(read_source(leads), read_source(events), **options)


def test_demo_data_matches_in_memory(tmp_path):
    leads, events = DEMO / "leads.csv", DEMO / "events.csv"
    settings = EngineSettings(batch_rows=997, temp_directory=str(tmp_path))
    streamed = score_files(leads, events, as_of=DEMO_AS_OF, settings=settings)
    in_memory = in_memory_run(leads, events, as_of=DEMO_AS_OF)

    assert_same_tables(streamed.table, in_memory.table)
    assert streamed.report == in_memory.report
    assert streamed.report.events == 9843
    assert list(tmp_path.iterdir()) == []


def test_demo_json_lines_match_in_memory(tmp_path):
    # Nested properties: each batch must write them as the whole file does.
    rows = read_source(DEMO / "events.csv").table.to_pylist()
    lines = []
    for row in rows:
        properties = row.pop("properties")
        row["properties"] = json.loads(properties) if properties else None
        lines.append(json.dumps(row))
    events = tmp_path / "events.jsonl"
    events.write_text("\n".join(lines) + "\n", encoding="utf-8")
    leads = DEMO / "leads.csv"
    settings = EngineSettings(batch_rows=1000)
    streamed = score_files(leads, events, as_of=DEMO_AS_OF, settings=settings)
    in_memory = in_memory_run(leads, events, as_of=DEMO_AS_OF)

    assert_same_tables(streamed.table, in_memory.table)
    assert streamed.report == in_memory.report


# Cases without an events file read nothing in batches.
CASES_WITH_EVENTS = [case for case in CASES if getattr(case, "events", "") is not None]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES_WITH_EVENTS])
@pytest.mark.parametrize("batch_rows", [1, 3])
def test_corpus_matches_in_memory(case, batch_rows, tmp_path):
    require_valid(case)
    leads_path, events_path = case.write_inputs(tmp_path)
    settings = EngineSettings(batch_rows=batch_rows)
    options = {"model": case.model, "as_of": case.as_of, "timezone": case.timezone}
    streamed = score_files(leads_path, events_path, settings=settings, **options)
    in_memory = in_memory_run(leads_path, events_path, **options)

    assert_same_tables(streamed.table, in_memory.table)
    assert streamed.report == in_memory.report


@given(model=models, rows=events)
def test_random_models_match_in_memory(model, rows):
    leads, event_source = tables_for(rows)
    in_memory = score_sources(leads, event_source, model=model, as_of=AS_OF)
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        pq.write_table(leads.table, folder / "leads.parquet")
        pq.write_table(event_source.table, folder / "events.parquet")
        streamed = score_files(
            folder / "leads.parquet", folder / "events.parquet", model=model,
            as_of=AS_OF, settings=EngineSettings(batch_rows=7),
        )  # fmt: skip
    assert_same_tables(streamed.table, in_memory.table)
    assert streamed.report == in_memory.report


def write_files(folder: Path, events_text: str) -> tuple[Path, Path]:
    leads = folder / "leads.csv"
    leads.write_text("lead_id\na\nb\n", encoding="utf-8")
    events = folder / "events.csv"
    events.write_text(events_text, encoding="utf-8")
    return leads, events


def event_lines(count: int) -> str:
    rows = [f"a,page_viewed,2026-01-01T00:00:{i % 60:02d}Z,{i}" for i in range(count)]
    return "lead_id,event,timestamp,seats\n" + "\n".join(rows) + "\n"


def test_bad_number_in_later_batch_names_line(tmp_path):
    text = event_lines(10).replace(",7\n", ",seven\n")
    leads, events = write_files(tmp_path, text)
    settings = EngineSettings(batch_rows=3, temp_directory=str(tmp_path / "spool"))
    (tmp_path / "spool").mkdir()
    with pytest.raises(InputError) as caught:
        score_files(leads, events, model=MODEL, as_of=DEMO_AS_OF, settings=settings)
    assert str(caught.value).startswith(
        f"{events}, line 9, column 'seats': 'seven' is not a number"
    )
    assert list((tmp_path / "spool").iterdir()) == []


def test_bad_timestamp_in_later_batch_names_line(tmp_path):
    text = event_lines(10).replace("2026-01-01T00:00:05Z", "2026-13-01T00:00:05Z")
    leads, events = write_files(tmp_path, text)
    with pytest.raises(InputError) as caught:
        score_files(leads, events, model=MODEL, as_of=DEMO_AS_OF, settings=EngineSettings(batch_rows=4))
    assert str(caught.value).startswith(f"{events}, line 7, column 'timestamp':")


def test_bad_json_line_names_line(tmp_path):
    leads, _ = write_files(tmp_path, "")
    events = tmp_path / "events.jsonl"
    good = '{"lead_id": "a", "event": "page_viewed", "timestamp": "2026-01-01T00:00:00Z"}\n'
    events.write_text(good * 5 + "{oops\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        score_files(leads, events, model=MODEL, as_of=DEMO_AS_OF, settings=EngineSettings(batch_rows=2))
    assert str(caught.value).startswith(f"{events}, line 6: invalid JSON")


def test_missing_column_in_header_only_file(tmp_path):
    leads, events = write_files(tmp_path, "lead_id,timestamp\n")
    with pytest.raises(InputError) as caught:
        score_files(leads, events, model=MODEL, as_of=DEMO_AS_OF)
    assert "missing the event column (expected 'event')" in str(caught.value)


def test_event_ids_without_value_distinct_across_batches(tmp_path):
    text = "lead_id,event,timestamp\n" + "a,page_viewed,2026-01-01T00:00:00Z\n" * 5
    leads, events = write_files(tmp_path, text)
    scored = score_files(leads, events, model=parse_model(
        "engagement:\n  rules:\n    - {id: seen, event: page_viewed, points: 1}\n"
        "stages:\n  - id: all\n", source="m",
    ), as_of=DEMO_AS_OF, settings=EngineSettings(batch_rows=2))  # fmt: skip
    assert scored.find("a").engagement_score == 5.0


def test_small_memory_limit_same_scores(tmp_path):
    leads, events = DEMO / "leads.csv", DEMO / "events.csv"
    # DuckDB's operators for this query need about 60 MB whatever the data,
    # so 64MB ran out of memory on two threads. 256MB is still far below
    # the 4GB default.
    settings = EngineSettings(memory_limit="256MB", temp_directory=str(tmp_path))
    streamed = score_files(leads, events, as_of=DEMO_AS_OF, settings=settings)
    in_memory = in_memory_run(leads, events, as_of=DEMO_AS_OF)
    assert_same_tables(streamed.table, in_memory.table)


def test_memory_limit_exceeded(tmp_path):
    leads, events = DEMO / "leads.csv", DEMO / "events.csv"
    settings = EngineSettings(memory_limit="1MB", temp_directory=str(tmp_path))
    with pytest.raises(MemoryLimitExceeded) as caught:
        score_files(leads, events, as_of=DEMO_AS_OF, settings=settings)
    message = str(caught.value)
    assert message.startswith("DuckDB ran out of memory within --memory-limit 1MB (Out of Memory Error: ")
    assert message.endswith("); raise --memory-limit, for example to 8GB")
    assert caught.value.exit_code == 1
    assert list(tmp_path.iterdir()) == []


def test_memory_limit_checked():
    assert check_memory_limit("512MB") == "512MB"
    with pytest.raises(OptionError) as caught:
        check_memory_limit("lots")
    assert str(caught.value).startswith("invalid --memory-limit 'lots': ")
    assert str(caught.value).endswith("write a size such as 4GB or 512MB")


def test_streams_only_duckdb_without_predictive():
    model = load_default_model()
    assert streams("duckdb", model)
    assert not streams("sqlite", model)
    predictive = model.model_copy(update={"predictive": object()})
    assert not streams("duckdb", predictive)
