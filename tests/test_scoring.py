"""The scoring pipeline: as-of times, duplicate keys and unknown leads."""

from __future__ import annotations

import csv
import json
from datetime import datetime, timezone

import pytest

from leadq.errors import InputError
from leadq.model.loading import parse_model
from leadq.scoring import micros_since_epoch, parse_as_of, score_files

MODEL = parse_model(
    "timezone: Asia/Tokyo\nengagement:\n  rules:\n    - {id: seen, event: page_viewed, points: 1}\n"
    "stages:\n  - id: all\n",
    source="m",
)


def score_folder(folder, model):
    """Score leads.csv and events.csv of `folder` as of 2026-02-01 UTC."""
    return score_files(
        folder / "leads.csv",
        folder / "events.csv",
        model=model,
        as_of=datetime(2026, 2, 1, tzinfo=timezone.utc),
    )


def test_as_of_with_offset():
    moment = parse_as_of("2026-03-01T09:30:00+01:00", MODEL)
    assert moment == datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc)


def test_as_of_without_offset_uses_model_zone():
    assert parse_as_of("2026-03-01", MODEL) == datetime(2026, 2, 28, 15, tzinfo=timezone.utc)


def test_as_of_invalid():
    with pytest.raises(InputError) as caught:
        parse_as_of("yesterday", MODEL)
    assert "invalid --as-of time 'yesterday'" in str(caught.value)


def test_micros_since_epoch():
    assert micros_since_epoch(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=timezone.utc)) == 1_000_005


def test_last_row_wins_and_unknown_leads(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id,name\na,first\nb,x\na,second\n", encoding="utf-8")
    (tmp_path / "events.csv").write_text(
        "lead_id,event,timestamp\na,page_viewed,2026-01-01T00:00:00Z\n"
        "zzz,page_viewed,2026-01-01T00:00:00Z\n",
        encoding="utf-8",
    )
    run = score_folder(tmp_path, MODEL)
    assert [lead.lead_id for lead in run.leads] == ["a", "b"]
    assert run.report.duplicate_keys == 1
    assert run.report.events_without_lead == 1
    assert run.leads[0].engagement_score == 1.0


def test_empty_lead_key_names_line(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id,name\na,x\n  ,y\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        score_files(tmp_path / "leads.csv", model=MODEL)
    assert str(caught.value).endswith(
        "leads.csv, line 3, column 'lead_id': the lead key 'lead_id' is empty; "
        "every lead needs one. Fill it in or remove the row"
    )


def test_empty_event_name_names_line(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id\na\n", encoding="utf-8")
    (tmp_path / "events.csv").write_text(
        "lead_id,event,timestamp\na,page_viewed,2026-01-01T00:00:00Z\na, ,2026-01-02T00:00:00Z\n",
        encoding="utf-8",
    )
    with pytest.raises(InputError) as caught:
        score_folder(tmp_path, MODEL)
    assert str(caught.value).endswith(
        "events.csv, line 3, column 'event': the event name is empty; every event needs one, "
        "such as page_viewed. Fill it in or remove the row"
    )


def test_as_of_skipped_local_time():
    model = parse_model("timezone: Europe/Berlin\nstages:\n  - id: all\n", source="m")
    with pytest.raises(InputError) as caught:
        parse_as_of("2026-03-29T02:30:00", model)
    assert "is not one moment in Europe/Berlin" in str(caught.value)


def test_property_column_and_json_merge(tmp_path):
    model = parse_model(
        "engagement:\n  rules:\n    - {id: pricing, event: page_viewed, where: {url: /pricing}, points: 1}\n"
        "stages:\n  - id: all\n",
        source="m",
    )
    (tmp_path / "leads.csv").write_text("lead_id\na\n", encoding="utf-8")
    (tmp_path / "events.csv").write_text(
        "lead_id,event,timestamp,properties,url\n"
        'a,page_viewed,2026-01-01T00:00:00Z,"{""url"": ""/pricing""}",\n'
        "a,page_viewed,2026-01-02T00:00:00Z,,/pricing\n"
        'a,page_viewed,2026-01-03T00:00:00Z,"{""url"": ""/pricing""}",/docs\n',
        encoding="utf-8",
    )
    run = score_folder(tmp_path, model)
    assert run.leads[0].engagement_score == 2.0


RENAMING_MODEL = parse_model(
    "key: email\ncolumns:\n  Email Address: email\n  Employees: employees\n"
    "event_columns:\n  When: timestamp\n  Who: email\n"
    "fit:\n  rules:\n    - {id: big, field: employees, between: [100, 1000], points: 5}\n"
    "stages:\n  - id: all\n",
    source="m",
)


def test_errors_name_the_files_own_columns(tmp_path):
    (tmp_path / "leads.csv").write_text("Email Address,Employees\na@x.co,12\nb@x.co,about 50\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        score_files(tmp_path / "leads.csv", model=RENAMING_MODEL)
    message = str(caught.value)
    assert "line 3, column 'Employees'" in message
    assert "'employees' (mapped from column 'Employees')" in message


def test_empty_renamed_key_names_its_column(tmp_path):
    (tmp_path / "leads.csv").write_text("Email Address,Employees\n ,12\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        score_files(tmp_path / "leads.csv", model=RENAMING_MODEL)
    assert "line 2, column 'Email Address'" in str(caught.value)


def test_bad_renamed_time_names_its_column(tmp_path):
    (tmp_path / "leads.csv").write_text("Email Address,Employees\na@x.co,12\n", encoding="utf-8")
    (tmp_path / "events.csv").write_text("Who,event,When\na@x.co,page_viewed,soon\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        score_folder(tmp_path, RENAMING_MODEL)
    assert "column 'When'" in str(caught.value)


def test_missing_field_lists_the_files_columns(tmp_path):
    model = parse_model(
        "key: email\ncolumns:\n  Email Address: email\n"
        "fit:\n  rules:\n    - {id: ceo, field: title, equals: CEO, points: 5}\nstages:\n  - id: all\n",
        source="m",
    )
    (tmp_path / "leads.csv").write_text("Email Address,Seats\na@x.co,12\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        score_files(tmp_path / "leads.csv", model=model)
    assert "its columns are: 'Email Address', 'Seats'" in str(caught.value)


def write_events_parquet(path, **columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    base = {"email": ["a@x.co"], "event": ["page_viewed"], "timestamp": ["2026-01-10T00:00:00Z"]}
    pq.write_table(pa.table(base | columns), path)


def test_properties_not_an_object_are_rejected(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id,email\na,a@x.co\n", encoding="utf-8")
    model = parse_model(
        "key: email\nengagement:\n  rules:\n    - {id: pricing, event: page_viewed, where: {url: {contains: pricing}}, points: 5}\n"
        "stages:\n  - id: all\n",
        source="m",
    )
    write_events_parquet(tmp_path / "events.parquet", properties=['["/pricing"]'])
    with pytest.raises(InputError) as caught:
        score_files(tmp_path / "leads.csv", tmp_path / "events.parquet", model=model)
    message = str(caught.value)
    assert "row 1, column 'properties'" in message
    assert """'["/pricing"]' is JSON but not an object""" in message


PRICING_MODEL = (
    "key: email\nengagement:\n  rules:\n    - {id: pricing, event: page_viewed, where: {url: {contains: pricing}}, points: 5}\n"
    "stages:\n  - id: all\n"
)


def test_properties_surrogate_rejected(tmp_path):
    # Python's json module reads the escape of an unpaired surrogate; DuckDB rejects it.
    (tmp_path / "leads.csv").write_text("lead_id,email\na,a@x.co\n", encoding="utf-8")
    model = parse_model(PRICING_MODEL, source="m")
    write_events_parquet(tmp_path / "events.parquet", properties=['{"url": "/pricing\\ud800"}'])
    with pytest.raises(InputError) as caught:
        score_files(tmp_path / "leads.csv", tmp_path / "events.parquet", model=model)
    assert str(caught.value) == (
        f"{tmp_path / 'events.parquet'}, row 1, column 'properties': properties.url '/pricing\\ud800' contains "
        "an unpaired UTF-16 surrogate (\\ud800), which is not valid Unicode text; remove it or replace it "
        "with the intended character"
    )


PROPERTIES_MODEL = (
    "key: email\nengagement:\n  rules:\n    - {id: seen, event: page_viewed, points: 1}\n"
    "    - {id: pricing, event: page_viewed, where: {url: {contains: pricing}}, points: 5}\n"
    "stages:\n  - id: all\n"
)


def write_properties_events(path, cells: list[str]) -> None:
    """Write events of a@x.co with these `properties` cells, then one that visits /pricing."""
    rows = [
        {"email": "a@x.co", "event": "page_viewed", "timestamp": f"2026-01-10T00:0{minute}:00Z", "properties": cell}
        for minute, cell in enumerate([*cells, '{"url": "/pricing"}'])
    ]
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    else:
        with path.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.DictWriter(stream, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
@pytest.mark.parametrize("name", ["events.csv", "events.jsonl", "events.parquet"])
def test_blank_properties_cell_has_none(tmp_path, engine, name):
    (tmp_path / "leads.csv").write_text("lead_id,email\na,a@x.co\n", encoding="utf-8")
    write_properties_events(tmp_path / name, ["", " ", "\t \u00a0"])
    model = parse_model(PROPERTIES_MODEL, source="m")
    as_of = datetime(2026, 2, 1, tzinfo=timezone.utc)
    run = score_files(tmp_path / "leads.csv", tmp_path / name, model=model, as_of=as_of, engine=engine)
    # Each event scores 1 point, and the visit of /pricing 5 more.
    assert run.leads[0].engagement_score == 9.0


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ('{"url": "/a", "url": "/pricing"}', "properties contains the key 'url' more than once"),
        ('{"url": "/pricing", "x": {"y": [1, {"q": 1, "q": 2}]}}', "properties.x.y[1] contains the key 'q' more than once"),
    ],
)  # fmt: skip
def test_properties_repeated_key_rejected(tmp_path, engine, cell, problem):
    (tmp_path / "leads.csv").write_text("lead_id,email\na,a@x.co\n", encoding="utf-8")
    write_properties_events(tmp_path / "events.csv", [cell])
    model = parse_model(PROPERTIES_MODEL, source="m")
    with pytest.raises(InputError) as caught:
        score_files(tmp_path / "leads.csv", tmp_path / "events.csv", model=model, engine=engine)
    assert str(caught.value) == f"{tmp_path / 'events.csv'}, line 2, column 'properties': {problem}; write each key once"


def test_properties_same_key_in_two_objects_valid(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id,email\na,a@x.co\n", encoding="utf-8")
    cells = ['{"a": {"url": 1}, "b": {"url": 2}, "url": "url"}', '{"url": "/a", "list": [{"url": 1}, {"url": 2}]}']
    write_properties_events(tmp_path / "events.csv", cells)
    model = parse_model(PROPERTIES_MODEL, source="m")
    as_of = datetime(2026, 2, 1, tzinfo=timezone.utc)
    run = score_files(tmp_path / "leads.csv", tmp_path / "events.csv", model=model, as_of=as_of)
    # Each event scores 1 point, and the visit of /pricing 5 more.
    assert run.leads[0].engagement_score == 8.0


def test_bytes_that_are_not_utf8_are_rejected(tmp_path):
    (tmp_path / "leads.csv").write_text("lead_id,email\na,a@x.co\n", encoding="utf-8")
    write_events_parquet(tmp_path / "events.parquet", email=[b"caf\xe9@x.co"])
    with pytest.raises(InputError) as caught:
        score_files(tmp_path / "leads.csv", tmp_path / "events.parquet", model=MODEL)
    message = str(caught.value)
    assert "row 1, column 'email'" in message
    assert "is not UTF-8 text" in message
