"""Readers for leads and events files: CSV, Parquet and JSON lines.

Every reader returns a `SourceTable`: the Arrow table plus a function that maps
a 0-based data row to the position that error messages cite, the line in the
file for CSV and JSON lines, or the 1-based row for Parquet.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import json
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from leadq.errors import InputError
from leadq.inputs.json_lines import read_json_lines
from leadq.inputs.source import (
    SCAN_CHUNK_BYTES,
    Position,
    SourceTable,
    check_column_names,
    is_utf8,
    raise_decode_error,
    resolve_encoding,
)

CSV_EXTENSIONS = (".csv", ".tsv", ".txt")
PARQUET_EXTENSIONS = (".parquet", ".pq")
JSON_LINES_EXTENSIONS = (".jsonl", ".ndjson", ".json")
SUPPORTED_EXTENSIONS = CSV_EXTENSIONS + PARQUET_EXTENSIONS + JSON_LINES_EXTENSIONS

# Candidate CSV delimiters, in the order that breaks ties.
DELIMITERS = (",", ";", "\t", "|")

SAMPLE_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024 * 1024
# pyarrow parses CSV in blocks and fails on a row longer than one block
# ("straddling object straddles two block boundaries", pyarrow 26). A read
# that fails this way is repeated with blocks twice as large, up to the
# maximum, so rows of up to MAX_CSV_BLOCK_BYTES read.
FIRST_CSV_BLOCK_BYTES = 1024 * 1024  # pyarrow's default
MAX_CSV_BLOCK_BYTES = 64 * 1024 * 1024
STRADDLING_ROW = "straddling object straddles two block boundaries"
# Data records after the header that the delimiter sniffer compares.
SNIFF_RECORDS = 20

def read_source(
    path: str | Path, encoding: str | None = None, *, skip_invalid_lines: bool = False
) -> SourceTable:
    """Read a leads or events file, choosing the format from its extension.

    `encoding` applies to CSV and JSON lines files. Without it the file must
    be UTF-8 (a byte order mark is skipped). Raises InputError for a missing,
    empty or malformed file. With `skip_invalid_lines`, a line of a JSON
    lines file that is not a valid JSON object is left out and listed in
    `skipped_lines` instead.
    """
    file_path, name, extension = checked_file(path)
    if extension in PARQUET_EXTENSIONS:
        return _read_parquet(file_path, name)
    codec = resolve_encoding(encoding, name)
    if extension in JSON_LINES_EXTENSIONS:
        return read_json_lines(file_path, name, codec, skip_invalid_lines)
    delimiter = "\t" if extension == ".tsv" else None
    return _read_csv(file_path, name, codec, delimiter)


def checked_file(path: str | Path) -> tuple[Path, str, str]:
    """Return the path, its name for messages and its lower-case extension.

    Raises InputError for a missing, unreadable or empty file and for an
    extension that no reader supports.
    """
    name = str(path)
    file_path = Path(path)
    if not file_path.exists():
        raise InputError("file not found", file=name)
    if file_path.is_dir():
        raise InputError("is a directory; expected a file", file=name)
    extension = file_path.suffix.lower()
    if extension not in SUPPORTED_EXTENSIONS:
        described = f"extension {extension!r}" if extension else "no extension"
        raise InputError(
            f"unsupported file type ({described}); supported extensions: "
            + ", ".join(SUPPORTED_EXTENSIONS),
            file=name,
        )
    _check_readable_file(file_path, name)
    return file_path, name, extension


def read_table(path: str | Path, *, encoding: str | None = None) -> pa.Table:
    """Read a leads or events file into an Arrow table, as `read_source` does."""
    return read_source(path, encoding=encoding).table


def _check_readable_file(file_path: Path, name: str) -> None:
    try:
        size = file_path.stat().st_size
        with file_path.open("rb"):
            pass
    except OSError as exc:
        raise InputError(f"cannot read the file: {exc.strerror}", file=name) from exc
    if size == 0:
        raise InputError("the file is empty", file=name)


def _rename_columns(table: pa.Table, name: str, line: int | None) -> pa.Table:
    """Strip whitespace around column names and reject empty or duplicate names."""
    names = [column.strip() for column in table.column_names]
    check_column_names(names, name, line)
    return table.rename_columns(names)


# --- CSV ---------------------------------------------------------------------


def _read_csv(
    path: Path, name: str, codec: str, delimiter: str | None
) -> SourceTable:
    """Read a CSV file with every column as nullable strings.

    Empty cells become null, and a header with no rows gives a table of 0 rows.
    """
    header = csv_header(path, name, codec, delimiter)
    if header.only_line:
        table = header.empty_table()
    else:
        table = _parse_csv(path, name, codec, header)
    lines = CsvLineNumbers(path, codec, header.delimiter, table)
    return SourceTable(table=table, path=name, format="csv", line_numbers=lines)


@dataclass(frozen=True)
class CsvHeader:
    """The delimiter and header of a CSV file, as Python's csv module reads them.

    `fields` are the header's fields as written, `names` the column names
    stripped of white space, `only_line` whether the header is all the file.
    """

    delimiter: str
    fields: list[str]
    names: list[str]
    line: int
    only_line: bool

    def empty_table(self) -> pa.Table:
        # pyarrow raises "Empty CSV file" for a header without a newline.
        empty = [pa.array([], type=pa.string()) for _ in self.names]
        return pa.Table.from_arrays(empty, names=self.names)

    def check_parsed(self, parsed_names: list[str], name: str) -> None:
        """Raise InputError unless pyarrow read the header that Python's csv module read.

        Column types are keyed by the names that Python's csv module read, so
        pyarrow must have read the same header.
        """
        if parsed_names != self.fields:
            raise InputError(
                f"invalid CSV header: pyarrow read the columns {parsed_names}"
                f" but Python's csv module read {self.fields}",
                file=name,
                line=self.line,
            )


def csv_header(path: Path, name: str, codec: str, delimiter: str | None) -> CsvHeader:
    """Read the header of a CSV file, choosing the delimiter when it is None."""
    sample, whole_file = _read_sample(path, name, codec)
    if not sample.strip():
        raise InputError("the file is empty: it has no header line", file=name)
    try:
        if delimiter is None:
            delimiter = _sniff_delimiter(sample, whole_file)
        records = _sample_records(sample, delimiter)
    except csv.Error as exc:
        raise InputError(f"invalid CSV header: {exc}", file=name) from exc
    line, fields = records[0]
    names = [column.strip() for column in fields]
    check_column_names(names, name, line)
    only_line = whole_file and len(records) == 1
    return CsvHeader(delimiter, fields, names, line, only_line)


def _read_sample(path: Path, name: str, codec: str) -> tuple[str, bool]:
    """Decode the start of the file: 64 KiB, or more until it contains a newline.

    Returns the text and whether it is the whole file.
    """
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    parts: list[str] = []
    size = 0
    with path.open("rb") as stream:
        while True:
            chunk = stream.read(SAMPLE_BYTES)
            final = len(chunk) < SAMPLE_BYTES
            try:
                parts.append(decoder.decode(chunk, final=final))
            except UnicodeDecodeError:
                raise_decode_error(path, name, codec)
                raise
            size += len(chunk)
            if final or "\n" in parts[-1]:
                break
            if size >= MAX_HEADER_BYTES:
                raise InputError(
                    "no line break in the first 16 MiB, so the file has no "
                    "CSV header line; check that it is a CSV file",
                    file=name,
                )
    # A chunk of exactly SAMPLE_BYTES may also be the end of the file.
    whole_file = final or size == path.stat().st_size
    return "".join(parts), whole_file


def _sample_records(sample: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """Parse the sample into (start line, fields) records, skipping blank lines."""
    records = []
    reader = csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter)
    start = 1
    for fields in reader:
        if fields:
            records.append((start, fields))
        start = reader.line_num + 1
    return records


def _sniff_delimiter(sample: str, whole_file: bool) -> str:
    """Choose the delimiter of a CSV file from its first lines.

    A candidate that gives every following record of the sample the header's
    field count beats one that does not. Among those, the one that splits the
    header into the most fields wins, then the one that matches the most
    records. So a `;` inside a quoted header of a comma file does not win. A
    remaining tie goes to the first of `,` `;` tab `|`. A header without any
    candidate is a single column, read with `,`.
    """
    counts: dict[str, tuple[int, int]] = {}
    for candidate in DELIMITERS:
        records = _sample_records(sample, candidate)
        if not whole_file:
            # The last record may be cut off by the end of the sample.
            records = records[:-1] or records
        header_fields = len(records[0][1])
        following = records[1 : 1 + SNIFF_RECORDS]
        matching = sum(1 for _, fields in following if len(fields) == header_fields)
        consistent = header_fields > 1 and matching == len(following)
        counts[candidate] = (consistent, header_fields, matching)
    best = max(DELIMITERS, key=lambda candidate: counts[candidate])
    return best if counts[best][1] > 1 else ","


def _parse_csv(path: Path, name: str, codec: str, header: CsvHeader) -> pa.Table:
    block_size = FIRST_CSV_BLOCK_BYTES
    while True:
        try:
            table = pa_csv.read_csv(path, **csv_options(codec, header, block_size))
            break
        except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
            block_size = larger_block_size(block_size, exc)
            if block_size is None:
                raise_csv_error(path, name, codec, header.delimiter, exc)
    header.check_parsed(table.column_names, name)
    return table.rename_columns(header.names)


def larger_block_size(block_size: int, exc: Exception) -> int | None:
    """Return the block size to read with again after `exc`, or None if a retry cannot help.

    Only a row longer than a block is read by a retry with larger blocks.
    """
    if STRADDLING_ROW not in str(exc) or block_size >= MAX_CSV_BLOCK_BYTES:
        return None
    return min(2 * block_size, MAX_CSV_BLOCK_BYTES)


def csv_options(codec: str, header: CsvHeader, block_size: int | None = None) -> dict:
    """Return the pyarrow read, parse and convert options: every column is text."""
    read_options = pa_csv.ReadOptions(
        encoding="utf8" if is_utf8(codec) else codec, use_threads=True
    )
    if block_size is not None:
        read_options.block_size = block_size
    parse_options = pa_csv.ParseOptions(
        delimiter=header.delimiter, newlines_in_values=True, ignore_empty_lines=True
    )
    convert_options = pa_csv.ConvertOptions(
        column_types={column: pa.string() for column in header.fields},
        null_values=[""],
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
        check_utf8=True,
    )
    return {
        "read_options": read_options,
        "parse_options": parse_options,
        "convert_options": convert_options,
    }


def raise_csv_error(
    path: Path, name: str, codec: str, delimiter: str, exc: Exception
) -> NoReturn:
    """Raise InputError for a CSV file that pyarrow failed to parse.

    The first undecodable bytes, the first record with the wrong field count
    or the first record over MAX_CSV_BLOCK_BYTES is reported with its line;
    any other failure with pyarrow's message.
    """
    raise_decode_error(path, name, codec)
    _raise_ragged_row(path, name, codec, delimiter)
    if STRADDLING_ROW in str(exc):
        _raise_large_row(path, name, codec, delimiter)
        raise InputError(
            f"a row is larger than {_mebibytes(MAX_CSV_BLOCK_BYTES)}, and leadq reads CSV rows "
            f"of up to {_mebibytes(MAX_CSV_BLOCK_BYTES)}; shorten its values or remove columns "
            "that hold long text",
            file=name,
        ) from exc
    raise InputError(f"invalid CSV: {exc}", file=name) from exc


def _iter_csv_records(
    path: Path, codec: str, delimiter: str
) -> Iterator[tuple[int, list[str]]]:
    """Yield (start line, fields) for each record, header first, skipping blank lines.

    This is the slow, exact path: pyarrow does not report line numbers when
    it parses in parallel.
    """
    _allow_csv_fields_of(path.stat().st_size)
    with path.open(encoding=codec, newline="") as stream:
        reader = csv.reader(stream, delimiter=delimiter)
        start = 1
        for fields in reader:
            if fields:
                yield start, fields
            start = reader.line_num + 1


def _raise_ragged_row(path: Path, name: str, codec: str, delimiter: str) -> None:
    """Raise InputError for the first record whose field count is not the header's."""
    try:
        with contextlib.closing(_iter_csv_records(path, codec, delimiter)) as records:
            _, header = next(records)
            for line, fields in records:
                if len(fields) != len(header):
                    raise InputError(
                        f"expected {len(header)} fields as in the header, "
                        f"found {len(fields)}; {_ragged_row_fix(fields)}",
                        file=name,
                        line=line,
                    )
    except (csv.Error, UnicodeDecodeError, StopIteration):
        return


def _allow_csv_fields_of(size: int) -> None:
    """Let Python's csv module read fields of up to `size` characters.

    Its default limit is 131,072 characters, below the rows that pyarrow
    reads. The limit is process-wide, and is only ever raised here.
    """
    if csv.field_size_limit() < size:
        csv.field_size_limit(size)


def _raise_large_row(path: Path, name: str, codec: str, delimiter: str) -> None:
    """Raise InputError for the first record over MAX_CSV_BLOCK_BYTES, naming its largest value."""
    try:
        with contextlib.closing(_iter_csv_records(path, codec, delimiter)) as records:
            _, header = next(records)
            for line, fields in records:
                sizes = [_encoded_size(field, codec) for field in fields]
                if sum(sizes) > MAX_CSV_BLOCK_BYTES:
                    _raise_row_size(name, line, header, sizes)
    except (csv.Error, UnicodeDecodeError, StopIteration):
        return


def _encoded_size(field: str, codec: str) -> int:
    # Encoding with utf-8-sig would count a byte order mark in each field.
    return len(field.encode("utf-8" if is_utf8(codec) else codec, errors="replace"))


def _raise_row_size(name: str, line: int, header: list[str], sizes: list[int]) -> NoReturn:
    largest = max(range(len(sizes)), key=sizes.__getitem__)
    limit = f"leadq reads CSV rows of up to {_mebibytes(MAX_CSV_BLOCK_BYTES)}"
    if sizes[largest] > MAX_CSV_BLOCK_BYTES and largest < len(header):
        raise InputError(
            f"the value is {_mebibytes(sizes[largest])}, and {limit}; "
            "shorten the value or remove the column from the file",
            file=name,
            line=line,
            column=header[largest].strip(),
        )
    raise InputError(
        f"the row is {_mebibytes(sum(sizes))}, and {limit}; "
        "shorten its values or remove columns that hold long text",
        file=name,
        line=line,
    )


def _mebibytes(size: int) -> str:
    return f"{size / 2**20:.1f} MiB" if size % 2**20 else f"{size // 2**20} MiB"


def _ragged_row_fix(fields: list[str]) -> str:
    """Return what to change in a record whose field count is not the header's."""
    if any("\n" in field or "\r" in field for field in fields):
        return (
            "a double quote on this line is not closed where it should be, so the "
            "lines after it were read into one field. Close or remove the quote"
        )
    return "add or remove fields, and quote each value that contains the delimiter"


class CsvLineNumbers:
    """The file line of each CSV data row, computed when the first error needs it.

    Data row i is on line i + 2 when every record is one line and no blank
    line comes before the last record. Otherwise, or when `table` is None
    because the file is read in batches, the file is parsed again in Python
    up to the requested row.
    """

    def __init__(self, path: Path, codec: str, delimiter: str, table: pa.Table | None):
        self._path = path
        self._codec = codec
        self._delimiter = delimiter
        self._table = table
        self._one_line_per_row: bool | None = None
        self._starts = array("q")

    def __call__(self, row_index: int) -> Position:
        if self._one_line_per_row is None:
            self._one_line_per_row = self._check_one_line_per_row()
        if self._one_line_per_row:
            return ("line", row_index + 2)
        line = self._scan_to(row_index)
        if line is None:
            return ("row", row_index + 1)
        return ("line", line)

    def _check_one_line_per_row(self) -> bool:
        if self._table is None:
            return False
        # Lines are counted in bytes, so the codec must write "\n" as that one
        # byte. ("\n".encode("utf-8-sig") starts with a byte order mark.)
        if not is_utf8(self._codec) and "\n".encode(self._codec) != b"\n":
            return False
        if _values_contain_line_breaks(self._table):
            return False
        return _count_lines(self._path) == self._table.num_rows + 1

    def _scan_to(self, row_index: int) -> int | None:
        if row_index >= len(self._starts):
            self._starts = array("q")
            try:
                self._collect_starts(row_index)
            except (csv.Error, UnicodeDecodeError, StopIteration):
                return None
        if row_index < len(self._starts):
            return self._starts[row_index]
        return None

    def _collect_starts(self, row_index: int) -> None:
        records = _iter_csv_records(self._path, self._codec, self._delimiter)
        with contextlib.closing(records):
            next(records)
            for line, _ in records:
                self._starts.append(line)
                if len(self._starts) > row_index:
                    return


def _values_contain_line_breaks(table: pa.Table) -> bool:
    for column in table.columns:
        if not pa.types.is_string(column.type):
            continue
        for pattern in ("\n", "\r"):
            if pc.any(pc.match_substring(column, pattern)).as_py():
                return True
    return False


def _count_lines(path: Path) -> int:
    """Count the lines of a file up to its last non-blank line."""
    newlines = 0
    with path.open("rb") as stream:
        while chunk := stream.read(SCAN_CHUNK_BYTES):
            newlines += chunk.count(b"\n")
        stream.seek(max(0, stream.tell() - SAMPLE_BYTES))
        tail = stream.read()
    trailing = tail.count(b"\n") - tail.rstrip(b"\r\n").count(b"\n")
    return newlines - trailing + 1


# --- Parquet -----------------------------------------------------------------


def _read_parquet(path: Path, name: str) -> SourceTable:
    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"not a valid Parquet file: {exc}", file=name) from exc
    table = _rename_columns(table, name, line=None)
    table = nested_as_json(table)
    return SourceTable(
        table=table, path=name, format="parquet", line_numbers=parquet_row
    )


def nested_as_json(table: pa.Table) -> pa.Table:
    """Turn struct, list and map columns into JSON text, as JSON lines reads them."""
    for index, field in enumerate(table.schema):
        if not pa.types.is_nested(field.type):
            continue
        values = [
            None if value is None else json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
            for value in table.column(index).to_pylist()
        ]
        table = table.set_column(index, field.name, pa.array(values, pa.string()))
    return table


def parquet_row(row_index: int) -> Position:
    return ("row", row_index + 1)


