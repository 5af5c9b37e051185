"""The synthetic data generator: schema, counts, mix and reproducibility."""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from benchmarks.generate import generate

AS_OF = "2026-06-01T00:00:00+00:00"


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("generated")
    generate(
        out,
        leads=500,
        events=30_000,
        seed=7,
        as_of=AS_OF,
        properties="both",
        chunk_rows=8_000,
    )
    return out


def test_events_schema(folder):
    schema = pq.read_schema(folder / "events.parquet")

    columns = ["event_id", "email", "event", "timestamp", "url", "asset", "form"]
    assert schema.names == [*columns, "feature", "properties"]
    assert schema.field("timestamp").type == pa.timestamp("us", tz="UTC")


def test_event_and_lead_counts(folder):
    events = pq.read_table(folder / "events.parquet")
    leads = pq.read_table(folder / "leads.parquet")
    keys = pc.utf8_lower(pc.utf8_trim_whitespace(leads["email"]))

    assert len(events) == 30_000
    assert len(pc.unique(keys)) == 500
    assert len(leads) >= 500


def test_repeated_event_ids(folder):
    meta = json.loads((folder / "meta.json").read_text())
    ids = pq.read_table(folder / "events.parquet", columns=["event_id"])["event_id"]

    # Four chunks of 8000, 8000, 8000 and 6000 rows, each with 0.1% copies.
    assert meta["duplicate_rows"] == 8 + 8 + 8 + 6
    assert len(ids) - len(pc.unique(ids)) == meta["duplicate_rows"]


def test_events_after_as_of(folder):
    timestamps = pq.read_table(folder / "events.parquet")["timestamp"]
    as_of = pa.scalar(datetime.fromisoformat(AS_OF), pa.timestamp("us", tz="UTC"))
    after = pc.sum(pc.greater(timestamps, as_of)).as_py()

    assert 0 < after < 0.05 * len(timestamps)


def test_page_views_dominate(folder):
    names = pq.read_table(folder / "events.parquet")["event"]
    counts = {
        row["values"]: row["counts"] for row in pc.value_counts(names).to_pylist()
    }

    assert max(counts, key=counts.get) == "page_viewed"
    assert counts["page_viewed"] > 0.5 * len(names)


def test_properties_json_matches_columns(folder):
    events = pq.read_table(folder / "events.parquet").slice(0, 2_000).to_pylist()

    for row in events:
        properties = json.loads(row["properties"])
        for name in ("url", "asset", "form", "feature"):
            assert properties.get(name) == row[name], row


def test_same_seed_same_files(tmp_path):
    for name in ("one", "two"):
        generate(tmp_path / name, leads=50, events=2_000, seed=11, as_of=AS_OF)
    first = pq.read_table(tmp_path / "one" / "events.parquet")
    second = pq.read_table(tmp_path / "two" / "events.parquet")

    assert first.equals(second)


def test_invalid_properties_rejected(tmp_path):
    with pytest.raises(ValueError, match="invalid properties 'xml'"):
        generate(tmp_path, leads=10, events=100, properties="xml")
