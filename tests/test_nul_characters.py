"""NUL characters in leads and events files: `leadq score` stops with the message of `leadq import`."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadq.engines import EngineSettings
from leadq.errors import InputError
from leadq.inputs.source import SourceTable, _has_zero_byte, raise_first_nul
from leadq.scoring import score_files
from tests.test_cli import leadq

AS_OF = datetime(2026, 12, 1, tzinfo=timezone.utc)
LEADS_HEADER = "email,title,company_size,industry,country,phone,company\n"
EVENTS_HEADER = "email,event,timestamp,properties\n"


def error_of(leads: Path, events: Path | None = None, engine="duckdb", settings=None) -> str:
    with pytest.raises(InputError) as caught:
        score_files(leads, events, as_of=AS_OF, engine=engine, settings=settings or EngineSettings())
    return str(caught.value)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def leads_csv(folder: Path, country: str = "Germany") -> Path:
    rows = [
        "ana@acme.example,CEO,100,software,Germany,1,Acme",
        f"bob@acme.example,CTO,50,software,{country},2,Acme",
    ]
    return write(folder, "leads.csv", LEADS_HEADER + "\n".join(rows) + "\n")


def event_lines(events: list[str]) -> str:
    """Write CSV page views of ana, one a minute, with these event names."""
    rows = [f"ana@acme.example,{name},2026-11-20T10:{i:02d}:00Z," for i, name in enumerate(events)]
    return EVENTS_HEADER + "\n".join(rows) + "\n"


@pytest.mark.parametrize("engine", ["duckdb", "sqlite", "postgres", "spark"])
def test_leads_cell_rejected_on_every_engine(tmp_path, engine, engine_settings):
    leads = leads_csv(tmp_path, "Ger\x00many")
    message = error_of(leads, engine=engine, settings=engine_settings(engine))
    assert message == f"{leads}, line 3, column 'country': the value 'Ger\\x00many' contains a NUL character; remove it"


@pytest.mark.parametrize(("engine", "batch_rows"), [("duckdb", 2), ("duckdb", 1_000_000), ("sqlite", 1_000_000)])
def test_event_cell_rejected_in_batches(tmp_path, engine, batch_rows):
    events = write(tmp_path, "events.csv", event_lines(["page_viewed"] * 3 + ["page\x00viewed"]))
    message = error_of(leads_csv(tmp_path), events, engine, EngineSettings(batch_rows=batch_rows))
    assert message == f"{events}, line 5, column 'event': the value 'page\\x00viewed' contains a NUL character; remove it"


@pytest.mark.parametrize("batch_rows", [1, 1_000_000])
def test_properties_escape_rejected(tmp_path, batch_rows):
    events = write(
        tmp_path,
        "events.csv",
        EVENTS_HEADER
        + 'ana@acme.example,page_viewed,2026-11-20T10:00:00Z,"{""url"": ""/pricing""}"\n'
        + 'ana@acme.example,page_viewed,2026-11-20T10:01:00Z,"{""note"": ""a\\u0000b""}"\n',
    )
    message = error_of(leads_csv(tmp_path), events, settings=EngineSettings(batch_rows=batch_rows))
    assert message == f"{events}, line 3, column 'properties': properties.note 'a\\x00b' contains a NUL character; remove it"


def test_properties_key_escape_rejected(tmp_path):
    line = '{"email": "ana@acme.example", "event": "page_viewed", "timestamp": "2026-11-20T10:00:00Z", "properties": %s}\n'
    events = write(tmp_path, "events.jsonl", line % '{"url": "/a"}' + line % '{"u\\u0000rl": "/b"}')
    message = error_of(leads_csv(tmp_path), events)
    assert message == (
        f"{events}, line 2, column 'properties': a key of properties 'u\\x00rl' contains a NUL character; remove it"
    )


def test_escaped_backslash_accepted(tmp_path):
    events = write(
        tmp_path,
        "events.csv",
        EVENTS_HEADER + 'ana@acme.example,page_viewed,2026-11-20T10:00:00Z,"{""path"": ""C:\\\\u0000""}"\n',
    )
    run = score_files(leads_csv(tmp_path), events, as_of=AS_OF)
    assert run.report.events == 1


def test_first_row_of_any_column_reported(tmp_path):
    rows = "ana@acme.example,CEO,100,software,Ger\x00many,1,Acme\nbob@acme.example,C\x00TO,50,software,France,2,Acme\n"
    leads = write(tmp_path, "leads.csv", LEADS_HEADER + rows)
    message = error_of(leads)
    assert message.startswith(f"{leads}, line 2, column 'country': ")


def test_column_unread_by_rules_rejected(tmp_path):
    leads = write(tmp_path, "leads.csv", "email,notes\nana@acme.example,call\x00back\n")
    message = error_of(leads)
    assert message == f"{leads}, line 2, column 'notes': the value 'call\\x00back' contains a NUL character; remove it"


def test_parquet_row_group_rejected(tmp_path):
    events = tmp_path / "events.parquet"
    names = ["page_viewed"] * 4 + ["demo\x00requested"]
    table = pa.table({
        "email": ["ana@acme.example"] * 5,
        "event": names,
        "timestamp": [f"2026-11-20T10:0{i}:00Z" for i in range(5)],
    })  # fmt: skip
    pq.write_table(table, events, row_group_size=2)
    message = error_of(leads_csv(tmp_path), events, settings=EngineSettings(batch_rows=2))
    assert message.startswith(f"{events}, row 5, column 'event': the value 'demo\\x00requested' contains")


def test_renamed_column_named_as_in_file(tmp_path):
    leads = write(tmp_path, "leads.csv", "email,Job Title\nana@acme.example,C\x00EO\n")
    message = error_of(leads)
    assert message.startswith(f"{leads}, line 2, column 'Job Title': the value 'C\\x00EO'")


def test_zero_byte_outside_slice_ignored():
    values = pa.array(["a\x00", "bc", "d", "\x00e"])
    assert not _has_zero_byte(values.slice(1, 2))
    assert _has_zero_byte(values.slice(0, 2))
    assert _has_zero_byte(values.slice(3, 1))
    assert not _has_zero_byte(values.slice(4, 0))
    assert _has_zero_byte(pa.array(["x", "\x00"], pa.large_string()))


def test_zero_byte_under_null_slot_passes():
    # Arrow lets a null slot cover any bytes, so the byte scan can find a
    # zero byte that belongs to no value.
    offsets = pa.py_buffer(np.array([0, 2, 4], np.int32).tobytes())
    validity = pa.py_buffer(np.packbits([0, 1], bitorder="little").tobytes())
    values = pa.Array.from_buffers(pa.string(), 2, [validity, offsets, pa.py_buffer(b"a\x00bc")], null_count=1)
    table = pa.table({"country": values})
    raise_first_nul(table, SourceTable(table, "leads.csv", "csv", lambda row: ("line", row + 2)))


def test_score_command_exits_2(tmp_path):
    leads_csv(tmp_path, "Ger\x00many")
    done = leadq("score", "leads.csv", "--format", "csv", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "line 3, column 'country': the value 'Ger\\x00many' contains a NUL character; remove it" in done.stderr


def test_clean_file_scored(tmp_path):
    run = score_files(leads_csv(tmp_path), as_of=AS_OF)
    assert run.report.leads == 2
