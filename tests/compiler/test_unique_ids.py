"""The query for inputs whose event ids never repeat scores as the full query."""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import create_engine

from leadq.binding import bind
from leadq.compiler.query import compile_model
from leadq.engines import run_on_connection
from leadq.inputs import read_source
from leadq.model.loading import load_default_model
from leadq.scoring import micros_since_epoch

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"
AS_OF = micros_since_epoch(datetime(2026, 11, 1, tzinfo=timezone.utc))


def test_unique_ids_query_skips_repeat_search():
    compiled = compile_model(load_default_model())

    assert "repeated_ids" in compiled.sql("sqlite")
    assert "repeated_ids" not in compiled.sql("sqlite", ids_unique=True)


def _first_copies(source: Path, target: Path) -> Path:
    """Write the events file without the repeats of an event id that it contains."""
    seen = set()
    with source.open(newline="") as reader, target.open("w", newline="") as writer:
        rows = csv.reader(reader)
        out = csv.writer(writer)
        out.writerow(next(rows))
        for row in rows:
            if row[0] not in seen:
                seen.add(row[0])
                out.writerow(row)
    return target


def test_unique_ids_query_scores_demo_alike(tmp_path):
    model = load_default_model()
    compiled = compile_model(model)
    events = _first_copies(DEMO / "events.csv", tmp_path / "events.csv")
    tables, _ = bind(model, compiled.layout, read_source(DEMO / "leads.csv"), read_source(events))
    engine = create_engine("sqlite://")
    try:
        with engine.begin() as connection:
            full = run_on_connection(connection, compiled, tables, AS_OF)
            unique = run_on_connection(connection, compiled, tables, AS_OF, ids_unique=True)
    finally:
        engine.dispose()

    assert full.num_rows == 300
    assert unique.sort_by("lead_key").equals(full.sort_by("lead_key"))
