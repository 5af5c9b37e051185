"""Values that rules compare as numbers: infinity and NaN are rejected, in memory and in batches."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import csv

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadq.engines import EngineSettings
from leadq.errors import InputError
from leadq.model.loading import parse_model
from leadq.scoring import score_files

MODEL = parse_model(
    "key: email\n"
    "fit:\n  rules:\n    - {id: big, field: company_size, between: [100, 1000], points: 10}\n"
    "engagement:\n  rules:\n"
    "    - {id: seats, event: page_viewed, where: {seats: {at_least: 5}}, points: 1}\n"
    "stages:\n  - id: all\n",
    source="m",
)
AS_OF = datetime(2026, 2, 1, tzinfo=timezone.utc)
INFINITE = "is not a finite number, but a rule compares 'company_size' as one"
FIX = "write a number between -1.8e308 and 1.8e308"
BEYOND_DOUBLE = "a number beyond the range of a double; write numbers between -1.8e308 and 1.8e308"
NOT_JSON = "which is not valid JSON; write a number or null"
EVENT_HEADER = "email,event,timestamp,seats\n"


def event_rows(seats: list[str]) -> str:
    """Write CSV events of a@x.co, one a minute, with these seat counts."""
    rows = [f"a@x.co,page_viewed,2026-01-01T00:{i:02d}:00Z,{value}" for i, value in enumerate(seats)]
    return EVENT_HEADER + "\n".join(rows) + "\n"


def error_of(leads: Path, events: Path | None = None, engine: str = "duckdb", model=MODEL, **settings) -> str:
    with pytest.raises(InputError) as caught:
        score_files(leads, events, model=model, as_of=AS_OF, engine=engine,
                    settings=EngineSettings(**settings))  # fmt: skip
    return str(caught.value)


def leads_csv(folder: Path, size: str) -> Path:
    path = folder / "leads.csv"
    path.write_text(f"email,company_size\na@x.co,5\nb@x.co,{size}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
@pytest.mark.parametrize("size", ["1e400", "-1e400", "1.5e309"])
def test_csv_cell_beyond_double_rejected(tmp_path, engine, size):
    message = error_of(leads_csv(tmp_path, size), engine=engine)
    assert message.startswith(f"{tmp_path / 'leads.csv'}, line 3, column 'company_size': '{size}' {INFINITE}")
    assert FIX in message


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
@pytest.mark.parametrize("size", ["inf", "nan", "-Infinity", "NaN"])
def test_csv_infinity_words_rejected(tmp_path, engine, size):
    message = error_of(leads_csv(tmp_path, size), engine=engine)
    assert message.startswith(f"{tmp_path / 'leads.csv'}, line 3, column 'company_size': '{size}' is not a number")


def test_largest_double_accepted(tmp_path):
    run = score_files(leads_csv(tmp_path, "1.7e308"), model=MODEL, as_of=AS_OF)
    assert run.table.num_rows == 2


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_json_lines_beyond_double_rejected(tmp_path, engine, number):
    leads = tmp_path / "leads.jsonl"
    leads.write_text(
        '{"email": "a@x.co", "company_size": 5}\n\n'
        f'{{"email": "b@x.co", "company_size": {number}}}\n',
        encoding="utf-8",
    )
    message = error_of(leads, engine=engine)
    assert message == f"{leads}, line 3, column 'company_size': the value is {number}, {BEYOND_DOUBLE}"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_parquet_nan_and_infinity_rejected(tmp_path, engine):
    leads = tmp_path / "leads.parquet"
    pq.write_table(pa.table({"email": ["a@x.co", "b@x.co"], "company_size": [5.0, float("nan")]}), leads)
    message = error_of(leads, engine=engine)
    assert message.startswith(
        f"{leads}, row 2, column 'company_size': the value is NaN (not a number), "
        "but a rule compares 'company_size' as one; write a number, or leave the cell empty"
    )

    pq.write_table(pa.table({"email": ["a@x.co", "b@x.co"], "company_size": [float("-inf"), 5.0]}), leads)
    message = error_of(leads, engine=engine)
    assert message.startswith(f"{leads}, row 1, column 'company_size': -inf {INFINITE}")


def test_infinity_in_mapped_column_names_both(tmp_path):
    model = parse_model(
        "key: email\ncolumns:\n  Employees: company_size\n"
        "fit:\n  rules:\n    - {id: big, field: company_size, at_least: 100, points: 10}\n"
        "stages:\n  - id: all\n",
        source="m",
    )
    leads = tmp_path / "leads.csv"
    leads.write_text("email,Employees\na@x.co,1e999\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        score_files(leads, model=model, as_of=AS_OF)
    assert str(caught.value).startswith(
        f"{leads}, line 2, column 'Employees': '1e999' is not a finite number, "
        "but a rule compares 'company_size' (mapped from column 'Employees') as one"
    )


@pytest.mark.parametrize(("engine", "batch_rows"), [("duckdb", 2), ("duckdb", 1_000_000), ("sqlite", 1_000_000)])
def test_csv_event_property_beyond_double(tmp_path, engine, batch_rows):
    leads = leads_csv(tmp_path, "5")
    events = tmp_path / "events.csv"
    events.write_text(event_rows(["1", "2", "3", "4", "1e400", "6"]), encoding="utf-8")
    message = error_of(leads, events, engine=engine, batch_rows=batch_rows)
    assert message.startswith(
        f"{events}, line 6, column 'seats': '1e400' is not a finite number, but a rule compares 'seats' as one"
    )


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_json_property_beyond_double(tmp_path, engine):
    leads = leads_csv(tmp_path, "5")
    events = tmp_path / "events.csv"
    events.write_text(
        "email,event,timestamp,properties\n"
        'a@x.co,page_viewed,2026-01-01T00:00:00Z,"{""seats"": 3}"\n'
        'a@x.co,page_viewed,2026-01-01T00:01:00Z,"{""seats"": -1e400}"\n',
        encoding="utf-8",
    )
    message = error_of(leads, events, engine=engine, batch_rows=1)
    assert message == f"{events}, line 3, column 'properties': properties.seats is -1e400, {BEYOND_DOUBLE}"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_json_property_nan_rejected(tmp_path, engine):
    leads = leads_csv(tmp_path, "5")
    events = tmp_path / "events.csv"
    events.write_text(
        'email,event,timestamp,properties\na@x.co,page_viewed,2026-01-01T00:00:00Z,"{""seats"": NaN}"\n',
        encoding="utf-8",
    )
    message = error_of(leads, events, engine=engine)
    assert message == f"{events}, line 2, column 'properties': properties.seats is NaN, {NOT_JSON}"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_json_lines_event_beyond_double(tmp_path, engine):
    leads = leads_csv(tmp_path, "5")
    events = tmp_path / "events.jsonl"
    line = '{{"email": "a@x.co", "event": "page_viewed", "timestamp": "2026-01-01T00:0{0}:00Z", "seats": {1}}}\n'
    events.write_text(line.format(0, 3) + line.format(1, 4.5) + line.format(2, "1e400"), encoding="utf-8")
    message = error_of(leads, events, engine=engine, batch_rows=2)
    assert message == f"{events}, line 3, column 'seats': the value is 1e400, {BEYOND_DOUBLE}"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_parquet_event_nan_in_later_batch(tmp_path, engine):
    leads = leads_csv(tmp_path, "5")
    events = tmp_path / "events.parquet"
    seats = [1.0, 2.0, 3.0, float("nan"), 5.0]
    table = pa.table({
        "email": ["a@x.co"] * 5,
        "event": ["page_viewed"] * 5,
        "timestamp": [f"2026-01-01T00:0{i}:00Z" for i in range(5)],
        "seats": seats,
    })  # fmt: skip
    pq.write_table(table, events, row_group_size=2)
    message = error_of(leads, events, engine=engine, batch_rows=2)
    assert message.startswith(f"{events}, row 4, column 'seats': the value is NaN (not a number)")


def test_json_lines_nested_beyond_double(tmp_path):
    leads = leads_csv(tmp_path, "5")
    events = tmp_path / "events.jsonl"
    line = '{{"email": "a@x.co", "event": "page_viewed", "timestamp": "2026-01-01T00:00:00Z", "properties": {0}}}\n'
    events.write_text(line.format('{"seats": 3}') + line.format('{"seats": 1e400}'), encoding="utf-8")
    message = error_of(leads, events)
    assert message == f"{events}, line 2, column 'properties': properties.seats is 1e400, {BEYOND_DOUBLE}"


def test_first_bad_number_reported(tmp_path):
    leads = tmp_path / "leads.csv"
    leads.write_text("email,company_size\na@x.co,1e400\nb@x.co,lots\n", encoding="utf-8")
    message = error_of(leads)
    assert message.startswith(f"{leads}, line 2, column 'company_size': '1e400' {INFINITE}")


# A model that reads the property `plan` as text, so no rule compares the
# numbers of the cells below.
PLAN_MODEL = parse_model(
    "key: email\n"
    "engagement:\n  rules:\n    - {id: team, event: page_viewed, where: {plan: team}, points: 1}\n"
    "stages:\n  - id: all\n",
    source="m",
)
PROPERTIES_FIX = 'write the properties as a JSON object, for example {"url": "/pricing"}'


def properties_csv(folder: Path, cells: list[str]) -> Path:
    """Write CSV events of a@x.co, one a minute, with these `properties` cells."""
    path = folder / "events.csv"
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(["email", "event", "timestamp", "properties"])
        for minute, cell in enumerate(cells):
            writer.writerow(["a@x.co", "page_viewed", f"2026-01-01T00:{minute:02d}:00Z", cell])
    return path


@pytest.mark.parametrize(("engine", "batch_rows"), [("duckdb", 1), ("duckdb", 1_000_000), ("sqlite", 1_000_000)])
@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ('{"plan": "team", "seats": NaN}', f"properties.seats is NaN, {NOT_JSON}"),
        ('{"plan": "team", "n": [1, -Infinity]}', f"properties.n[1] is -Infinity, {NOT_JSON}"),
        ('{"plan": "team", "seats": 1e400}', f"properties.seats is 1e400, {BEYOND_DOUBLE}"),
        ('{"plan": "team", "n": {"max": -1.9E+308}}', f"properties.n.max is -1.9E+308, {BEYOND_DOUBLE}"),
        ('{"plan": "team", "id": 2' + "0" * 308 + "}", f"properties.id is 2{'0' * 36}..., {BEYOND_DOUBLE}"),
        ('{"plan": "team", "seats": nan}', f"""invalid JSON '{{"plan": "team", "seats": nan}}'; {PROPERTIES_FIX}"""),
        ('{"plan": "team", "seats": -INF}', f"""invalid JSON '{{"plan": "team", "seats": -INF}}'; {PROPERTIES_FIX}"""),
        ('{"plan": "team",}', f"""invalid JSON '{{"plan": "team",}}'; {PROPERTIES_FIX}"""),
    ],
)
def test_property_json_numbers_rejected(tmp_path, engine, batch_rows, cell, problem):
    events = properties_csv(tmp_path, ['{"plan": "team"}', cell])
    message = error_of(leads_csv(tmp_path, "5"), events, engine=engine, model=PLAN_MODEL, batch_rows=batch_rows)
    assert message == f"{events}, line 3, column 'properties': {problem}"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_property_json_large_numbers_accepted(tmp_path, engine):
    cells = [
        '{"plan": "team", "note": "a: nan, b: [inf", "seats": 1.7e308}',
        '{"plan": "team", "tiny": 1e-400, "id": ' + "9" * 300 + "}",
    ]
    events = properties_csv(tmp_path, cells)
    run = score_files(leads_csv(tmp_path, "5"), events, model=PLAN_MODEL, as_of=AS_OF, engine=engine)
    scores = dict(zip(run.table["lead_id"].to_pylist(), run.table["engagement_score"].to_pylist()))
    assert scores == {"a@x.co": 2, "b@x.co": 0}
