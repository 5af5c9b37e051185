"""The floor benchmark: each required step alone, on a tiny generated set."""

from __future__ import annotations

import json
import re

import duckdb

from benchmarks import floor
from benchmarks.generate import generate


def test_floor_reports_every_step_and_records(tmp_path, capsys):
    data = tmp_path / "data"
    generate(data, leads=100, events=5000, seed=42)
    results = tmp_path / "RESULTS.md"
    argv = ["--data", str(data), "--repeat", "1", "--no-pandas", "--record", str(results)]

    assert floor.main(argv) == 0
    report = capsys.readouterr().out

    for step in floor.steps():
        assert re.search(rf"^\| {re.escape(step.name)} \| [0-9.]+ \| [0-9.]+x \|$", report, re.MULTILINE)
    assert re.search(r"The costliest required step alone \((repeated event ids|visits|rule sums)\) takes [0-9.]+x", report)
    assert "Command: `python -m benchmarks.floor --data" in results.read_text()


def test_repeated_ids_step_finds_the_generated_repeats(tmp_path):
    data = tmp_path / "data"
    generate(data, leads=100, events=5000, seed=7)
    repeats = json.loads((data / "meta.json").read_text())["duplicate_rows"]
    step = next(s for s in floor.steps() if s.name.startswith("repeated event ids"))

    connection = duckdb.connect(":memory:")
    found = connection.execute(step.query, {"events": str(data / "events.parquet")}).fetchone()

    assert found == (repeats,)
