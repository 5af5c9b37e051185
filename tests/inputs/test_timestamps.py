"""Tests of leadq.inputs.timestamps, with event times read from real files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadq.errors import InputError
from leadq.inputs import local_days, read_source, to_utc_micros, week_of_day
from leadq.inputs.files import SourceTable

EXPECTED = (
    "expected ISO 8601 with an offset, for example 2026-03-01T09:30:00+01:00"
)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def micros(text: str) -> int:
    """Return the UTC microseconds of an ISO 8601 time with an offset."""
    return (dt.datetime.fromisoformat(text) - EPOCH) // dt.timedelta(microseconds=1)


def days(date: str) -> int:
    return (dt.date.fromisoformat(date) - dt.date(1970, 1, 1)).days


def events_csv(tmp_path: Path, *times: str) -> SourceTable:
    """Write an events CSV with one row per time, so row i is on line i + 2."""
    rows = "".join(f'L{i},"{time}"\n' for i, time in enumerate(times))
    path = tmp_path / "events.csv"
    path.write_text("lead_id,occurred_at\n" + rows, encoding="utf-8")
    return read_source(path)


def convert(source: SourceTable, timezone: str | None = None) -> list[int]:
    values = source.table.column("occurred_at")
    result = to_utc_micros(
        values, source=source, column="occurred_at", timezone=timezone
    )
    assert result.type == pa.int64()
    return result.to_pylist()


def convert_error(source: SourceTable, timezone: str | None = None) -> InputError:
    with pytest.raises(InputError) as caught:
        convert(source, timezone)
    return caught.value


# --- Strings ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T10:00:00Z", "2026-03-01T10:00:00+00:00"),
        ("2026-03-01T10:00:00+02:00", "2026-03-01T08:00:00+00:00"),
        ("2026-03-01T10:00:00+0200", "2026-03-01T08:00:00+00:00"),
        ("2026-03-01T10:00:00+02", "2026-03-01T08:00:00+00:00"),
        ("2026-03-01 10:00:00.123456-05:00", "2026-03-01T15:00:00.123456+00:00"),
        ("2026-03-01T10:00:00.5+00:00", "2026-03-01T10:00:00.500000+00:00"),
        ("2026-03-01T10:00:00.123456789Z", "2026-03-01T10:00:00.123456+00:00"),
        ("2026-03-01t10:00:00,25z", "2026-03-01T10:00:00.250000+00:00"),
        ("2026-03-01T10:00+01:00", "2026-03-01T09:00:00+00:00"),
        ("1969-12-31T23:59:59Z", "1969-12-31T23:59:59+00:00"),
    ],
)
def test_iso_8601_with_offset(tmp_path, text, expected):
    source = events_csv(tmp_path, text)
    assert convert(source) == [micros(expected)]


def test_offset_ignores_timezone(tmp_path):
    source = events_csv(tmp_path, "2026-07-01T10:00:00+02:00")
    assert convert(source, "America/New_York") == [micros("2026-07-01T08:00:00Z")]


def test_surrounding_whitespace_trimmed(tmp_path):
    source = events_csv(tmp_path, " 2026-03-01T10:00:00Z ")
    assert convert(source) == [micros("2026-03-01T10:00:00Z")]


def test_naive_rejected_without_timezone(tmp_path):
    source = events_csv(tmp_path, "2026-03-01T10:00:00Z", "2026-03-01T10:00:00")
    error = convert_error(source)
    assert str(error) == (
        f"{source.path}, line 3, column 'occurred_at': timestamp "
        "'2026-03-01T10:00:00' has no UTC offset; add one, for example "
        "2026-03-01T09:30:00+01:00, or name the time zone of local times with "
        "--timezone, for example --timezone Europe/Berlin"
    )


def test_date_only_rejected_without_timezone(tmp_path):
    error = convert_error(events_csv(tmp_path, "2026-03-01"))
    assert error.line == 2
    assert "'2026-03-01' has no UTC offset" in error.message


def test_naive_with_timezone(tmp_path):
    source = events_csv(
        tmp_path,
        "2026-01-15T10:00:00",
        "2026-07-15T10:00:00",
        "2026-03-01",
        "2026-03-01T10:00:00Z",
    )
    assert convert(source, "Europe/Berlin") == [
        micros("2026-01-15T09:00:00Z"),
        micros("2026-07-15T08:00:00Z"),
        micros("2026-02-28T23:00:00Z"),
        micros("2026-03-01T10:00:00Z"),
    ]


def test_naive_ambiguous_rejected(tmp_path):
    # Berlin clocks go back from 03:00 to 02:00 on 2026-10-25.
    source = events_csv(tmp_path, "2026-10-25T01:30:00", "2026-10-25T02:30:00")
    error = convert_error(source, "Europe/Berlin")
    assert str(error) == (
        f"{source.path}, line 3, column 'occurred_at': local time "
        "'2026-10-25T02:30:00' in Europe/Berlin is ambiguous: it occurs twice "
        "when clocks go back; add the UTC offset to the value, for example "
        "2026-03-01T09:30:00+01:00"
    )


def test_naive_nonexistent_rejected(tmp_path):
    # Berlin clocks skip from 02:00 to 03:00 on 2026-03-29.
    source = events_csv(tmp_path, "2026-03-29T01:30:00", "2026-03-29T02:30:00")
    error = convert_error(source, "Europe/Berlin")
    assert error.line == 3
    assert error.message == (
        "local time '2026-03-29T02:30:00' in Europe/Berlin does not exist: "
        "clocks skip it when they go forward; add the UTC offset to the value, "
        "for example 2026-03-01T09:30:00+01:00"
    )


def test_offset_in_dst_gap_accepted(tmp_path):
    source = events_csv(tmp_path, "2026-03-29T02:30:00+01:00")
    assert convert(source, "Europe/Berlin") == [micros("2026-03-29T01:30:00Z")]


@pytest.mark.parametrize(
    "text",
    [
        "yesterday",
        "03/01/2026 10:00",
        "2026-03-01T10:00:00 +01:00",
        "2026-3-1T10:00:00Z",
        "2026-02-30T10:00:00Z",
        "2026-03-01T24:00:01Z",
        "2026-03-01T10:00:00+25:00",
        "1772359200",
    ],
)
def test_malformed_rejected(tmp_path, text):
    source = events_csv(tmp_path, "2026-03-01T10:00:00Z", "2026-03-01T11:00:00Z", text)
    error = convert_error(source)
    assert str(error) == (
        f"{source.path}, line 4, column 'occurred_at': invalid timestamp "
        f"{text!r}: {EXPECTED}"
    )


def test_malformed_among_naive(tmp_path):
    source = events_csv(tmp_path, "2026-03-01T10:00:00", "2026-02-30T10:00:00")
    error = convert_error(source, "UTC")
    assert error.line == 3
    assert error.message == f"invalid timestamp '2026-02-30T10:00:00': {EXPECTED}"


def test_first_problem_reported(tmp_path):
    source = events_csv(tmp_path, "2026-03-01T10:00:00Z", "bad", "2026-03-01")
    error = convert_error(source)
    assert error.line == 3


def test_empty_rejected(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text("lead_id,occurred_at\nL1,2026-03-01T10:00:00Z\nL2,\n")
    error = convert_error(read_source(path))
    assert str(error) == (
        f"{path}, line 3, column 'occurred_at': the timestamp is missing; "
        "every row needs a time in ISO 8601 with an offset, for example "
        "2026-03-01T09:30:00+01:00"
    )


def test_blank_rejected(tmp_path):
    error = convert_error(events_csv(tmp_path, "2026-03-01T10:00:00Z", "  "))
    assert error.line == 3
    assert error.message.startswith("the timestamp is missing")


def test_line_after_quoted_newline(tmp_path):
    path = tmp_path / "events.csv"
    path.write_text('lead_id,note,occurred_at\nL1,"a\nb",2026-03-01T10:00:00Z\nL2,,x\n')
    error = convert_error(read_source(path))
    assert error.line == 4


def test_jsonl_line_named(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text(
        '{"occurred_at": "2026-03-01T10:00:00Z"}\n\n{"occurred_at": "soon"}\n'
    )
    error = convert_error(read_source(path))
    assert error.line == 3
    assert error.message == f"invalid timestamp 'soon': {EXPECTED}"


def test_invalid_timezone(tmp_path):
    source = events_csv(tmp_path, "2026-03-01T10:00:00")
    for name in ("Europe/Nowhere", "+02:00", "../etc"):
        error = convert_error(source, name)
        assert error.message == (
            f"unknown time zone {name!r}; use an IANA time zone name, "
            "for example Europe/Berlin or UTC"
        )


def test_chunked_array(tmp_path):
    source = events_csv(tmp_path, "2026-03-01T10:00:00Z")
    values = pa.chunked_array([["2026-03-01T10:00:00Z"], ["1970-01-01T00:00:01Z"]])
    result = to_utc_micros(values, source=source, column="t", timezone=None)
    assert result.to_pylist() == [micros("2026-03-01T10:00:00Z"), 1_000_000]


def test_string_types_accepted(tmp_path):
    source = events_csv(tmp_path, "2026-03-01T10:00:00Z")
    text = ["2026-03-01T10:00:00Z"]
    expected = [micros("2026-03-01T10:00:00Z")]
    for values in (
        pa.array(text, pa.large_string()),
        pa.array(text).dictionary_encode(),
        pa.array(text, pa.string_view()),
    ):
        result = to_utc_micros(values, source=source, column="t", timezone=None)
        assert result.to_pylist() == expected


# --- Typed columns -------------------------------------------------------------


def parquet_source(tmp_path: Path, values: pa.Array) -> SourceTable:
    path = tmp_path / "events.parquet"
    pq.write_table(pa.table({"occurred_at": values}), path)
    return read_source(path)


def test_integers_rejected(tmp_path):
    source = parquet_source(tmp_path, pa.array([1_772_359_200], pa.int64()))
    error = convert_error(source)
    assert str(error) == (
        f"{source.path}, column 'occurred_at': the column contains numbers "
        "(int64), not timestamps; write the times as ISO 8601 text with an "
        "offset, for example 2026-03-01T09:30:00+01:00"
    )


def test_aware_timestamps_kept(tmp_path):
    instant = dt.datetime(2026, 3, 1, 10, tzinfo=dt.timezone.utc)
    values = pa.array([instant], pa.timestamp("ms", "America/New_York"))
    source = parquet_source(tmp_path, values)
    assert convert(source, "Europe/Berlin") == [micros("2026-03-01T10:00:00Z")]


def test_nanoseconds_floored(tmp_path):
    source = events_csv(tmp_path, "2026-03-01T10:00:00Z")
    values = pa.array([1_999, -1], pa.timestamp("ns", "UTC"))
    result = to_utc_micros(values, source=source, column="t", timezone=None)
    assert result.to_pylist() == [1, -1]


def test_naive_timestamps_local(tmp_path):
    values = pa.array([dt.datetime(2026, 3, 1, 10)], pa.timestamp("us"))
    source = parquet_source(tmp_path, values)
    assert convert(source, "Europe/Berlin") == [micros("2026-03-01T09:00:00Z")]


def test_naive_timestamps_need_timezone(tmp_path):
    values = pa.array([dt.datetime(2026, 3, 1, 10)], pa.timestamp("us"))
    error = convert_error(parquet_source(tmp_path, values))
    assert error.message == (
        "the column has timestamp[us] values without a time zone; name the time "
        "zone of local times with --timezone, for example --timezone Europe/Berlin"
    )


def test_naive_timestamps_ambiguous(tmp_path):
    values = pa.array(
        [dt.datetime(2026, 1, 1), dt.datetime(2026, 10, 25, 2, 30)], pa.timestamp("s")
    )
    error = convert_error(parquet_source(tmp_path, values), "Europe/Berlin")
    assert error.row == 2
    assert "is ambiguous" in error.message


def test_dates_local_midnight(tmp_path):
    source = parquet_source(tmp_path, pa.array([dt.date(2026, 3, 1)]))
    assert convert(source, "Europe/Berlin") == [micros("2026-02-28T23:00:00Z")]


def test_null_timestamp_row(tmp_path):
    instant = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
    values = pa.array([instant, None], pa.timestamp("us", "UTC"))
    error = convert_error(parquet_source(tmp_path, values))
    assert error.row == 2
    assert error.message.startswith("the timestamp is missing")


# --- Local days and weeks -----------------------------------------------------


def test_local_days_across_midnight():
    values = pa.array([micros("2026-03-01T23:30:00Z")], pa.int64())
    assert local_days(values, "Europe/Berlin").to_pylist() == [days("2026-03-02")]
    assert local_days(values, "UTC").to_pylist() == [days("2026-03-01")]
    assert local_days(values, "America/New_York").to_pylist() == [days("2026-03-01")]


def test_local_days_before_epoch():
    values = pa.array([-1, 0, None], pa.int64())
    assert local_days(values, "UTC").to_pylist() == [-1, 0, None]
    assert local_days(values, "America/Los_Angeles").to_pylist() == [-1, -1, None]
    assert local_days(values, "Asia/Tokyo").to_pylist() == [0, 0, None]


def test_local_days_type_and_chunks():
    values = pa.chunked_array([[0], [micros("2026-03-01T12:00:00Z")]], pa.int64())
    result = local_days(values, "Europe/Berlin")
    assert result.type == pa.int32()
    assert result.to_pylist() == [0, days("2026-03-01")]


def test_local_days_invalid_timezone():
    with pytest.raises(InputError) as caught:
        local_days(pa.array([0], pa.int64()), "Mars/Olympus")
    assert caught.value.message.startswith("unknown time zone 'Mars/Olympus'")


def test_week_monday_and_sunday():
    monday = days("2026-03-02")
    sunday_before = days("2026-03-01")
    sunday_after = days("2026-03-08")
    weeks = week_of_day(pa.array([sunday_before, monday, sunday_after], pa.int32()))
    assert weeks.type == pa.int32()
    first, second, third = weeks.to_pylist()
    assert second == first + 1
    assert third == second
    assert second == (monday + 3) // 7


def test_week_negative_days():
    # Day 0 is Thursday 1970-01-01, so week 0 is Monday -3 to Sunday 3.
    values = pa.array([-11, -10, -4, -3, 0, 3, 4, None], pa.int32())
    assert week_of_day(values).to_pylist() == [-2, -1, -1, 0, 0, 0, 1, None]


def test_date_only_on_skipped_midnight(tmp_path):
    # Sao Paulo skipped 2017-10-15 00:00-01:00; the day starts at 01:00 (-02:00).
    source = SourceTable(pa.table({"t": ["x"]}), "e.csv", "csv", lambda row: ("line", row + 2))
    micros = to_utc_micros(
        pa.array(["2017-10-15"]), source=source, column="t", timezone="America/Sao_Paulo"
    )
    assert micros.to_pylist() == [1_508_036_400_000_000]
