"""Read an events file in batches of rows, so memory stays bounded.

Each batch is a `SourceTable` with the columns and types that `read_source`
gives the whole file, and positions that are the whole file's: an error in
row 5 of the third batch names that row's line in the file. A file without
data rows gives one batch of 0 rows, so its columns are still checked.

Parquet files are read by row group, CSV files by pyarrow's streaming
reader. JSON lines files are read twice. The first pass finds every column
and the JSON types of its values, and reports the file's syntax errors.
The second builds the batches, each converting a value as the whole file
does: for example, a column with a nested value anywhere writes all its
strings as JSON text.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from leadq.errors import InputError
from leadq.inputs.files import (
    JSON_LINES_EXTENSIONS,
    PARQUET_EXTENSIONS,
    CsvHeader,
    CsvLineNumbers,
    checked_file,
    csv_header,
    csv_options,
    larger_block_size,
    nested_as_json,
    parquet_row,
    raise_csv_error,
)
from leadq.inputs.json_lines import (
    JsonLineNumbers,
    JsonLinesReader,
    json_column_array,
    json_lines,
)
from leadq.inputs.source import (
    Position,
    SourceTable,
    check_column_names,
    resolve_encoding,
)

DEFAULT_BATCH_ROWS = 1_000_000
# Rows per Arrow chunk inside a batch: binding runs its string kernels on
# the chunks of a column in parallel threads.
CHUNK_ROWS = 65_536
CSV_BLOCK_BYTES = 8 * 1024 * 1024


def read_source_batches(
    path: str | Path, encoding: str | None = None, batch_rows: int = DEFAULT_BATCH_ROWS
) -> Iterator[SourceTable]:
    """Yield a leads or events file in batches of `batch_rows` rows (the last may be smaller).

    Raises InputError as `read_source` does, when the batch with the first
    problem is read.
    """
    if batch_rows < 1:
        raise ValueError(f"batch_rows must be at least 1, got {batch_rows}")
    file_path, name, extension = checked_file(path)
    if extension in PARQUET_EXTENSIONS:
        return _parquet_batches(file_path, name, batch_rows)
    codec = resolve_encoding(encoding, name)
    if extension in JSON_LINES_EXTENSIONS:
        return _json_lines_batches(file_path, name, codec, batch_rows)
    delimiter = "\t" if extension == ".tsv" else None
    return _csv_batches(file_path, name, codec, delimiter, batch_rows)


def _numbered(
    tables: Iterable[pa.Table],
    name: str,
    file_format: str,
    positions: Callable[[int], Position],
) -> Iterator[SourceTable]:
    """Wrap each table as a SourceTable whose row i is row `first + i` of the file."""
    first = 0
    for table in tables:
        shifted = _ShiftedPositions(positions, first)
        yield SourceTable(table, name, file_format, shifted)
        first += len(table)


class _ShiftedPositions:
    def __init__(self, positions: Callable[[int], Position], first: int) -> None:
        self._positions = positions
        self._first = first

    def __call__(self, row_index: int) -> Position:
        return self._positions(self._first + row_index)


def _rebatched(
    batches: Iterable[pa.RecordBatch], schema: pa.Schema, rows: int
) -> Iterator[pa.Table]:
    """Group record batches into tables of `rows` rows; at least one table, maybe empty."""
    pending: list[pa.RecordBatch] = []
    count = 0
    emitted = False
    for batch in batches:
        while len(batch):
            take = min(rows - count, len(batch))
            pending.append(batch.slice(0, take))
            batch = batch.slice(take)
            count += take
            if count == rows:
                yield pa.Table.from_batches(pending, schema)
                emitted = True
                pending, count = [], 0
    if pending or not emitted:
        yield pa.Table.from_batches(pending, schema)


# Parquet


def _parquet_batches(path: Path, name: str, rows: int) -> Iterator[SourceTable]:
    try:
        # With pre_buffer, pyarrow 26's default, iter_batches kept every row
        # group that it had read in memory until the end of the file.
        parquet = pq.ParquetFile(path, pre_buffer=False)
        schema = parquet.schema_arrow
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a valid Parquet file: {exc}", file=name) from exc
    names = [column.strip() for column in schema.names]
    check_column_names(names, name, None)

    chunks = _parquet_chunks(parquet, name, min(rows, CHUNK_ROWS))
    tables = _rebatched(chunks, schema, rows)
    renamed = (nested_as_json(table.rename_columns(names)) for table in tables)
    return _numbered(renamed, name, "parquet", parquet_row)


def _parquet_chunks(parquet: pq.ParquetFile, name: str, rows: int) -> Iterator[pa.RecordBatch]:
    try:
        yield from parquet.iter_batches(batch_size=rows)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a valid Parquet file: {exc}", file=name) from exc
    finally:
        parquet.close()


# CSV


def _csv_batches(
    path: Path, name: str, codec: str, delimiter: str | None, rows: int
) -> Iterator[SourceTable]:
    header = csv_header(path, name, codec, delimiter)
    lines = CsvLineNumbers(path, codec, header.delimiter, None)
    if header.only_line:
        return _numbered([header.empty_table()], name, "csv", lines)
    chunks = _csv_chunks(path, name, codec, header)
    schema = pa.schema([pa.field(column, pa.string()) for column in header.names])
    return _numbered(_rebatched(chunks, schema, rows), name, "csv", lines)


def _csv_chunks(
    path: Path, name: str, codec: str, header: CsvHeader
) -> Iterator[pa.RecordBatch]:
    """Yield the file's record batches.

    A row longer than a block restarts the read with blocks twice as large,
    which skips the rows that were already yielded.
    """
    block_size = CSV_BLOCK_BYTES
    yielded = 0
    while True:
        try:
            batches = _csv_block_batches(path, name, codec, header, block_size)
            for batch in _skip_rows(batches, yielded):
                yielded += len(batch)
                yield batch
            return
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            block_size = larger_block_size(block_size, exc)
            if block_size is None:
                raise_csv_error(path, name, codec, header.delimiter, exc)


def _csv_block_batches(
    path: Path, name: str, codec: str, header: CsvHeader, block_size: int
) -> Iterator[pa.RecordBatch]:
    reader = pa_csv.open_csv(path, **csv_options(codec, header, block_size))
    header.check_parsed(reader.schema.names, name)
    with reader:
        for batch in reader:
            yield batch.rename_columns(header.names)


def _skip_rows(batches: Iterable[pa.RecordBatch], count: int) -> Iterator[pa.RecordBatch]:
    """Yield the batches without their first `count` rows."""
    for batch in batches:
        if count >= len(batch):
            count -= len(batch)
            continue
        yield batch.slice(count)
        count = 0


# JSON lines


def _json_lines_batches(path: Path, name: str, codec: str, rows: int) -> Iterator[SourceTable]:
    names, kinds = _json_lines_columns(path, name, codec, rows)
    reader = JsonLinesReader(name, record_lines=True)
    emitted = False
    for line, text in json_lines(path, name, codec):
        reader.add_line(line, text)
        if reader.row_count == rows:
            yield _json_lines_batch(reader, names, kinds)
            emitted = True
    if reader.row_count or not emitted:
        yield _json_lines_batch(reader, names, kinds)


def _json_lines_columns(
    path: Path, name: str, codec: str, rows: int
) -> tuple[list[str], dict[str, set[type]]]:
    """Return the file's column names and the Python types of each column's values.

    Raises InputError for the first line that is not a JSON object.
    """
    reader = JsonLinesReader(name)
    kinds: dict[str, set[type]] = {}

    def collect() -> None:
        columns, _, _ = reader.take_rows()
        for key, values in columns.items():
            kinds.setdefault(key, set()).update(map(type, values))

    for line, text in json_lines(path, name, codec):
        reader.add_line(line, text)
        if reader.row_count == rows:
            collect()
    collect()
    reader.check_not_empty()
    return list(reader.columns), kinds


def _json_lines_batch(
    reader: JsonLinesReader, names: list[str], kinds: dict[str, set[type]]
) -> SourceTable:
    columns, count, lines = reader.take_rows()
    arrays = [json_column_array(columns.get(name, []), count, kinds[name]) for name in names]
    table = pa.Table.from_arrays(arrays, names=names)
    return SourceTable(table, reader.name, "jsonl", JsonLineNumbers(lines))
