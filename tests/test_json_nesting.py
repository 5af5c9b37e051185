"""JSON values nested too deeply: `leadq score` rejects them with an input error, on every engine."""

from __future__ import annotations

import csv
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from leadq.errors import InputError
from leadq.json_nesting import MAX_NESTING, nesting_depth
from leadq.model.loading import parse_model
from leadq.scoring import score_files

MODEL_TEXT = (
    "key: email\n"
    "engagement:\n  rules:\n"
    "    - {id: seats, event: page_viewed, where: {seats: {at_least: 5}}, points: 1}\n"
    "stages:\n  - id: all\n"
)
AS_OF = datetime(2026, 2, 1, tzinfo=timezone.utc)
NESTING_MESSAGE = (
    "the JSON value is nested too deeply, with objects or arrays more than 32 levels deep; "
    "flatten it to at most 32 levels"
)
DEEP = "[" * 100_000


def score(folder: Path, *args: str) -> subprocess.CompletedProcess:
    (folder / "model.yaml").write_text(MODEL_TEXT, encoding="utf-8")
    return subprocess.run(
        [sys.executable, "-m", "leadq", "score", *args, "--model", "model.yaml", "--as-of", "2026-02-01T00:00:00Z"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def write_events_csv(path: Path, properties: str) -> Path:
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(["email", "event", "timestamp", "properties"])
        writer.writerow(["a@x.co", "page_viewed", "2026-01-01T00:00:00Z", '{"seats": 6}'])
        writer.writerow(["a@x.co", "page_viewed", "2026-01-02T00:00:00Z", properties])
    return path


def nested_object(levels: int) -> str:
    """Return a JSON object that nests `levels` levels, the object itself counted."""
    return '{"a": ' * levels + "1" + "}" * levels


def write_deep_lead_line(folder: Path) -> tuple[list[str], str]:
    """Write a leads file with a deep line. Return the score arguments and the place the error names."""
    text = '{"email": "a@x.co"}\n{"email": "b@x.co", "x": ' + DEEP + "\n"
    (folder / "leads.jsonl").write_text(text, encoding="utf-8")
    return ["leads.jsonl"], "leads.jsonl, line 2"


def write_deep_property_cell(folder: Path) -> tuple[list[str], str]:
    (folder / "leads.csv").write_text("email\na@x.co\n", encoding="utf-8")
    write_events_csv(folder / "events.csv", '{"a": ' + DEEP)
    return ["leads.csv", "--events", "events.csv"], "events.csv, line 3, column 'properties'"


def write_deep_event_line(folder: Path) -> tuple[list[str], str]:
    (folder / "leads.csv").write_text("email\na@x.co\n", encoding="utf-8")
    line = '{"email": "a@x.co", "event": "page_viewed", "timestamp": "2026-01-01T00:00:00Z", "properties": '
    (folder / "events.jsonl").write_text(line + '{"a": ' + DEEP + "\n", encoding="utf-8")
    return ["leads.csv", "--events", "events.jsonl"], "events.jsonl, line 1"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
@pytest.mark.parametrize("write_files", [write_deep_lead_line, write_deep_property_cell, write_deep_event_line])
def test_score_deep_json_rejected(tmp_path, engine, write_files):
    arguments, place = write_files(tmp_path)
    done = score(tmp_path, *arguments, "--engine", engine)
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr == f"error: {place}: {NESTING_MESSAGE}\n"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_property_cell_nesting_limit(tmp_path, engine):
    leads = tmp_path / "leads.csv"
    leads.write_text("email\na@x.co\n", encoding="utf-8")
    model = parse_model(MODEL_TEXT, source="model.yaml")
    deepest = write_events_csv(tmp_path / "deepest.csv", nested_object(MAX_NESTING))
    deeper = write_events_csv(tmp_path / "deeper.csv", nested_object(MAX_NESTING + 1))

    run = score_files(leads, deepest, model=model, as_of=AS_OF, engine=engine)
    with pytest.raises(InputError) as caught:
        score_files(leads, deeper, model=model, as_of=AS_OF, engine=engine)

    assert run.table.num_rows == 1
    assert str(caught.value) == f"{deeper}, line 3, column 'properties': {NESTING_MESSAGE}"


@pytest.mark.parametrize(
    ("value", "depth"),
    [(1, 0), ([], 1), ({"a": [1, {"b": []}]}, 4), ([[]] * 3, 2), ([[[[]]]], 4)],
)
def test_nesting_depth(value, depth):
    assert nesting_depth(value) == depth
