"""Tests of leadq.inputs.batches: batches match the whole file, rows and positions."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadq.errors import InputError
from leadq.inputs import read_source
from leadq.inputs import batches as batches_module
from leadq.inputs.batches import read_source_batches

TEXT_FILES = {
    "plain.csv": b"id,name\n1,Ann\n2,Bob\n3,Cy\n4,Dee\n5,Eve\n",
    "semicolon.csv": b"id;name\n1;Ann\n2;Bob\n3;Cy\n",
    "tab.tsv": b"id\tname\n1\tAnn\n2\tBob\n",
    "quoted_newlines.csv": b'id,note\n1,"two\nlines"\n\n2,plain\n3,"a\r\nb"\n4,x\n',
    "blank_lines.csv": b"id,name\n\n1,Ann\n\n\n2,Bob\n3,Cy\n",
    "bom.csv": b"\xef\xbb\xbfid,name\n1,Ann\n2,Bob\n",
    "header_only.csv": b"id,name\n",
    "header_without_newline.csv": b"id,name",
    "empty_cells.csv": b"id,name\n1,\n,Bob\n3,Cy\n",
    "plain.jsonl": b'{"id": 1, "name": "Ann"}\n{"id": 2, "name": "Bob"}\n{"id": 3}\n',
    "blank_lines.jsonl": b'{"id": 1}\n\n{"id": 2}\n\n\n{"id": 3}\n{"id": 4}\n',
    # Keys with surrounding spaces name the column of the trimmed key.
    "padded_keys.jsonl": b'{"id": 1, " name": "Ann"}\n{" id ": 2, "name": "Bob"}\n{"id": 3, "name ": "Cy"}\n',
    # Types that only the whole file decides: an integer column that turns
    # into floats, a column that appears late, strings that become JSON text
    # because a later row has a nested value, and mixed kinds.
    "late_types.jsonl": b"\n".join(
        [
            b'{"n": 1, "s": "a", "m": 1}',
            b'{"n": 2, "s": "b", "m": true}',
            b'{"n": 3, "s": "c", "m": "x"}',
            b'{"n": 4.5, "s": {"k": 1}, "late": "z", "m": 1.0}',
            b'{"n": null, "s": null}',
        ]
    )
    + b"\n",
}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def parquet_file(tmp_path: Path) -> Path:
    table = pa.table(
        {
            "id": pa.array(range(7), pa.int64()),
            " name ": ["a", "b", None, "d", "e", "f", "g"],
            "props": [{"k": i} if i % 2 else None for i in range(7)],
        }
    )
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, row_group_size=3)
    return path


def sample_paths(tmp_path: Path) -> list[Path]:
    paths = [write(tmp_path, name, data) for name, data in TEXT_FILES.items()]
    return [*paths, parquet_file(tmp_path)]


def batch_positions(batches) -> list:
    return [batch.line_numbers(row) for batch in batches for row in range(len(batch.table))]


@pytest.mark.parametrize("batch_rows", [1, 2, 3, 1000])
def test_batches_match_whole_file(tmp_path, batch_rows):
    for path in sample_paths(tmp_path):
        whole = read_source(path)
        batches = list(read_source_batches(path, batch_rows=batch_rows))
        joined = pa.concat_tables([batch.table for batch in batches])

        assert joined.schema == whole.table.schema, path.name
        assert joined.to_pylist() == whole.table.to_pylist(), path.name
        expected = [whole.line_numbers(row) for row in range(len(whole.table))]
        assert batch_positions(batches) == expected, path.name
        assert all(len(batch.table) <= batch_rows for batch in batches), path.name
        assert {batch.path for batch in batches} == {str(path)}, path.name


def test_batches_of_header_only_file(tmp_path):
    path = write(tmp_path, "events.csv", b"lead_id,event,timestamp\n")
    batches = list(read_source_batches(path, batch_rows=10))
    assert len(batches) == 1
    assert batches[0].table.column_names == ["lead_id", "event", "timestamp"]
    assert len(batches[0].table) == 0


def test_batches_of_large_csv(tmp_path):
    rows = [f"{i},name {i}" for i in range(50_000)]
    path = write(tmp_path, "rows.csv", ("id,name\n" + "\n".join(rows) + "\n").encode())
    batches = list(read_source_batches(path, batch_rows=20_000))
    assert [len(batch.table) for batch in batches] == [20_000, 20_000, 10_000]
    assert batches[2].line_numbers(0) == ("line", 40_002)
    assert batches[2].table["id"][9_999].as_py() == "49999"


def test_csv_row_over_block_restarts(tmp_path, monkeypatch):
    # Batches read 8 MiB blocks. With 1 MiB blocks a 3 MB row comes after
    # batches that were already yielded, so the restart must skip them.
    monkeypatch.setattr(batches_module, "CSV_BLOCK_BYTES", 2**20)
    rows = [f"{index},{'n' * 20}" for index in range(60_000)]
    rows.insert(50_000, f"big,{'B' * 3_000_000}")
    path = write(tmp_path, "events.csv", ("id,note\n" + "\n".join(rows) + "\n").encode())
    batches = read_all(path, batch_rows=7_000)
    ids = [value for batch in batches for value in batch.table["id"].to_pylist()]
    assert ids == read_source(path).table["id"].to_pylist()
    assert len(ids) == 60_001
    assert ids[50_000] == "big"
    assert batches[7].line_numbers(1_001) == ("line", 50_003)


def test_batch_size_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="batch_rows must be at least 1, got 0"):
        read_source_batches(write(tmp_path, "a.csv", TEXT_FILES["plain.csv"]), batch_rows=0)


def read_all(path: Path, batch_rows: int = 2) -> list:
    return list(read_source_batches(path, batch_rows=batch_rows))


def test_csv_ragged_row_names_line(tmp_path):
    path = write(tmp_path, "events.csv", b"id,name\n1,a\n2,b\n3,c\n4,d,extra\n")
    with pytest.raises(InputError) as caught:
        read_all(path)
    assert str(caught.value).startswith(f"{path}, line 5: expected 2 fields as in the header, found 3; ")


def test_csv_bad_utf8_names_line(tmp_path):
    path = write(tmp_path, "events.csv", b"id,name\n1,a\n2,\xff\n")
    with pytest.raises(InputError) as caught:
        read_all(path, batch_rows=1)
    assert str(caught.value).startswith(f"{path}, line 3: the file is not valid UTF-8")


def test_json_lines_error_before_any_batch(tmp_path):
    lines = [json.dumps({"id": i}) for i in range(5)] + ["{not json"]
    path = write(tmp_path, "events.jsonl", ("\n".join(lines) + "\n").encode())
    batches = read_source_batches(path, batch_rows=2)
    with pytest.raises(InputError) as caught:
        next(batches)
    assert str(caught.value).startswith(f"{path}, line 6: invalid JSON")


def test_json_lines_array_after_first_batch(tmp_path):
    path = write(tmp_path, "events.jsonl", b'{"id": 1}\n{"id": 2}\n[1, 2]\n')
    with pytest.raises(InputError) as caught:
        read_all(path, batch_rows=2)
    assert str(caught.value) == (
        f"{path}, line 3: expected a JSON object on each line, found an array; "
        'write the line as one JSON object, such as {"email": "ana@example.com"}'
    )


def test_json_lines_only_blank_lines(tmp_path):
    path = write(tmp_path, "events.jsonl", b"\n\n")
    with pytest.raises(InputError) as caught:
        read_all(path)
    assert str(caught.value) == f"{path}: the file is empty: it has no JSON objects"


def test_invalid_parquet(tmp_path):
    path = write(tmp_path, "events.parquet", b"PAR1 not really")
    with pytest.raises(InputError) as caught:
        read_all(path)
    assert str(caught.value).startswith(f"{path}: not a valid Parquet file")


def test_missing_file(tmp_path):
    with pytest.raises(InputError) as caught:
        read_all(tmp_path / "nope.csv")
    assert str(caught.value) == f"{tmp_path / 'nope.csv'}: file not found"
