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
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from leadq.errors import InputError

CSV_EXTENSIONS = (".csv", ".tsv", ".txt")
PARQUET_EXTENSIONS = (".parquet", ".pq")
JSON_LINES_EXTENSIONS = (".jsonl", ".ndjson", ".json")
SUPPORTED_EXTENSIONS = CSV_EXTENSIONS + PARQUET_EXTENSIONS + JSON_LINES_EXTENSIONS

# Candidate CSV delimiters, in the order that breaks ties.
DELIMITERS = (",", ";", "\t", "|")

SAMPLE_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024 * 1024
SCAN_CHUNK_BYTES = 1024 * 1024
# Data records after the header that the delimiter sniffer compares.
SNIFF_RECORDS = 20

ENCODING_FIX = "name the encoding with --encoding, for example --encoding cp1252"

Position = tuple[str, int]


@dataclass(frozen=True)
class SourceTable:
    """A table read from a file, with the file positions of its rows.

    `line_numbers(i)` maps the 0-based data row `i` to ("line", n), the
    1-based line in a CSV or JSON lines file where the row starts, or to
    ("row", n), the 1-based row of a Parquet file.
    """

    table: pa.Table
    path: str
    format: str
    line_numbers: Callable[[int], Position]

    def position(self, row_index: int) -> dict[str, int]:
        """Return the `line=` or `row=` keyword argument of InputError for a row."""
        kind, number = self.line_numbers(row_index)
        return {kind: number}


def read_source(path: str | Path, encoding: str | None = None) -> SourceTable:
    """Read a leads or events file, choosing the format from its extension.

    `encoding` applies to CSV and JSON lines files. Without it the file must
    be UTF-8 (a byte order mark is skipped). Raises InputError for a missing,
    empty or malformed file.
    """
    file_path, name, extension = checked_file(path)
    if extension in PARQUET_EXTENSIONS:
        return _read_parquet(file_path, name)
    codec = resolve_encoding(encoding, name)
    if extension in JSON_LINES_EXTENSIONS:
        return _read_json_lines(file_path, name, codec)
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


def resolve_encoding(encoding: str | None, name: str) -> str:
    """Return the Python codec name, "utf-8-sig" when no encoding is named."""
    if encoding is None:
        return "utf-8-sig"
    try:
        codec = codecs.lookup(encoding).name
        # str.encode raises LookupError for bytes-to-bytes codecs such as base64.
        "\n".encode(codec)
    except LookupError:
        raise InputError(
            f"unknown encoding {encoding!r}; use a Python codec name such as "
            "utf-8, cp1252 or latin-1",
            file=name,
        ) from None
    # A UTF-8 byte order mark is skipped whichever UTF-8 name the user gave.
    return "utf-8-sig" if codec == "utf-8" else codec


def _is_utf8(codec: str) -> bool:
    return codec == "utf-8-sig"


def _rename_columns(table: pa.Table, name: str, line: int | None) -> pa.Table:
    """Strip whitespace around column names and reject empty or duplicate names."""
    names = [column.strip() for column in table.column_names]
    _check_column_names(names, name, line)
    return table.rename_columns(names)


def _check_column_names(names: list[str], name: str, line: int | None) -> None:
    for number, column in enumerate(names, start=1):
        if not column:
            raise InputError(f"column {number} has an empty name", file=name, line=line)
    seen: set[str] = set()
    duplicates: list[str] = []
    for column in names:
        if column in seen and column not in duplicates:
            duplicates.append(column)
        seen.add(column)
    if duplicates:
        listed = ", ".join(repr(column) for column in duplicates)
        raise InputError(f"duplicate column names: {listed}", file=name, line=line)


# --- Decoding errors --------------------------------------------------------


def _find_decode_error(path: Path, codec: str) -> tuple[int, bytes] | None:
    """Return the line and bytes of the first sequence `codec` cannot decode.

    Lines are counted by "\\n", so a file with bare "\\r" line ends reports
    line 1.
    """
    decoder = codecs.getincrementaldecoder(codec)(errors="strict")
    line = 1
    with path.open("rb") as stream:
        while True:
            chunk = stream.read(SCAN_CHUNK_BYTES)
            final = not chunk
            try:
                text = decoder.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                # The exception's object is the decoder's buffered bytes plus
                # this chunk, and exc.start indexes into it.
                before = exc.object[: exc.start].decode(codec, errors="replace")
                return line + before.count("\n"), exc.object[exc.start : exc.end]
            line += text.count("\n")
            if final:
                return None


def _raise_decode_error(path: Path, name: str, codec: str) -> None:
    """Raise InputError for the first undecodable bytes, if the file has any."""
    found = _find_decode_error(path, codec)
    if found is None:
        return
    line, data = found
    bad_bytes = " ".join(f"0x{byte:02X}" for byte in data[:4])
    if _is_utf8(codec) and _starts_with_utf16_mark(path):
        message = (
            "the file is UTF-16 text (it starts with a UTF-16 byte order mark), "
            "not UTF-8; name the encoding with --encoding utf-16"
        )
    elif _is_utf8(codec):
        message = f"the file is not valid UTF-8 (byte {bad_bytes}); {ENCODING_FIX}"
    else:
        message = (
            f"byte {bad_bytes} is not valid in the encoding {codec}; "
            "check the file's encoding and name it with --encoding"
        )
    raise InputError(message, file=name, line=line)


def _starts_with_utf16_mark(path: Path) -> bool:
    with path.open("rb") as stream:
        start = stream.read(2)
    return start in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


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
    _check_column_names(names, name, line)
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
                _raise_decode_error(path, name, codec)
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
    options = csv_options(codec, header)
    try:
        table = pa_csv.read_csv(path, **options)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise_csv_error(path, name, codec, header.delimiter, exc)
    header.check_parsed(table.column_names, name)
    return table.rename_columns(header.names)


def csv_options(codec: str, header: CsvHeader, block_size: int | None = None) -> dict:
    """Return the pyarrow read, parse and convert options: every column is text."""
    read_options = pa_csv.ReadOptions(
        encoding="utf8" if _is_utf8(codec) else codec, use_threads=True
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

    The first undecodable bytes or the first record with the wrong field
    count is reported with its line; any other failure with pyarrow's message.
    """
    _raise_decode_error(path, name, codec)
    _raise_ragged_row(path, name, codec, delimiter)
    raise InputError(f"invalid CSV: {exc}", file=name) from exc


def _iter_csv_records(
    path: Path, codec: str, delimiter: str
) -> Iterator[tuple[int, list[str]]]:
    """Yield (start line, fields) for each record, header first, skipping blank lines.

    This is the slow, exact path: pyarrow does not report line numbers when
    it parses in parallel.
    """
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
                        f"found {len(fields)}",
                        file=name,
                        line=line,
                    )
    except (csv.Error, UnicodeDecodeError, StopIteration):
        return


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
        if not _is_utf8(self._codec) and "\n".encode(self._codec) != b"\n":
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
    table = _nested_as_json(table)
    return SourceTable(
        table=table, path=name, format="parquet", line_numbers=_parquet_row
    )


def _nested_as_json(table: pa.Table) -> pa.Table:
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


def _parquet_row(row_index: int) -> Position:
    return ("row", row_index + 1)


# --- JSON lines --------------------------------------------------------------


class _JsonText(str):
    """A nested JSON value, already serialised as compact JSON with sorted keys."""


def _read_json_lines(path: Path, name: str, codec: str) -> SourceTable:
    """Read a JSON lines file with one object per line; blank lines are skipped.

    Nested objects and arrays become JSON text. A column keeps its JSON type
    when every value has it (integers and floats together give float64) and
    becomes a string column otherwise.

    NOTE: Python's json module parses each line: about 6.5 µs for a line of
    four fields, one of them nested, on a 2-core x86_64 machine, so 10M lines
    take over a minute. pyarrow.json is faster but turns ISO 8601 strings into
    naive timestamps and merges the keys of nested objects.
    """
    reader = JsonLinesReader(name)
    for line, text in json_lines(path, name, codec):
        reader.add_line(line, text)
    reader.check_not_empty()

    arrays = [
        json_column_array(values, reader.row_count)
        for values in reader.columns.values()
    ]
    table = pa.Table.from_arrays(arrays, names=list(reader.names.values()))
    return SourceTable(
        table=table,
        path=name,
        format="jsonl",
        line_numbers=JsonLineNumbers(reader.lines),
    )


def json_lines(path: Path, name: str, codec: str) -> Iterator[tuple[int, str]]:
    """Yield each line of a text file with its 1-based number.

    Raises InputError with the line of the first bytes that `codec` cannot
    decode.
    """
    try:
        with path.open(encoding=codec, newline="\n") as stream:
            yield from enumerate(stream, start=1)
    except UnicodeDecodeError:
        _raise_decode_error(path, name, codec)
        raise


def _reject_constant(constant: str) -> None:
    raise ValueError(f"{constant} is not valid JSON")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return record


class JsonLinesReader:
    """Column values of a JSON lines file, as one Python list per column.

    With `record_lines`, the line of every row is stored, and `take_rows`
    hands out the rows read so far, so a file can be read in batches.
    """

    def __init__(self, name: str, record_lines: bool = False):
        self.name = name
        # Values by key as written in the file, and the stripped column names.
        self.columns: dict[str, list[Any]] = {}
        self.names: dict[str, str] = {}
        self.row_count = 0
        # Rows handed out by take_rows before the current ones.
        self.rows_taken = 0
        # The line of each row, stored once a blank line has shifted them.
        self.lines: array[int] | None = array("q") if record_lines else None
        self._decode = json.JSONDecoder(
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        ).decode
        self._encode = json.JSONEncoder(
            sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode

    def add_line(self, line: int, text: str) -> None:
        if not text.strip():
            if self.lines is None:
                self.lines = array("q", range(1, self.row_count + 1))
            return
        record = self._parse_object(line, text)
        row_index = self.row_count
        for key, value in record.items():
            values = self.columns.get(key)
            if values is None:
                values = self._add_column(key, line)
            value_type = type(value)
            if value_type is dict or value_type is list:
                value = _JsonText(self._encode(value))
            if len(values) < row_index:
                values.extend([None] * (row_index - len(values)))
            values.append(value)
        self.row_count += 1
        if self.lines is not None:
            self.lines.append(line)

    def take_rows(self) -> tuple[dict[str, list[Any]], int, array[int] | None]:
        """Return the column values, row count and lines read since the last call.

        The column names stay, so the next rows are checked against them.
        """
        taken = (self.columns, self.row_count, self.lines)
        self.columns = {key: [] for key in self.columns}
        self.rows_taken += self.row_count
        self.row_count = 0
        if self.lines is not None:
            self.lines = array("q")
        return taken

    def check_not_empty(self) -> None:
        if self.rows_taken + self.row_count == 0:
            raise InputError("the file is empty: it has no JSON objects", file=self.name)
        if not self.names:
            raise InputError("the JSON objects have no fields", file=self.name)

    def _add_column(self, key: str, line: int) -> list[Any]:
        names = [*self.names.values(), key.strip()]
        _check_column_names(names, self.name, line)
        self.names[key] = key.strip()
        values: list[Any] = []
        self.columns[key] = values
        return values

    def _parse_object(self, line: int, text: str) -> dict[str, Any]:
        try:
            # Without the line end, an error at the end of the line is reported
            # at its last column instead of column 1 of the next line.
            value = self._decode(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            raise InputError(
                f"invalid JSON: {exc.msg} at column {exc.colno}",
                file=self.name,
                line=line,
            ) from None
        except ValueError as exc:
            raise InputError(
                f"invalid JSON: {exc}", file=self.name, line=line
            ) from None
        if type(value) is dict:
            return value
        if type(value) is list and self.rows_taken + self.row_count == 0:
            raise InputError(
                "expected JSON lines (one object per line) but the file starts "
                "with a JSON array; write one object per line",
                file=self.name,
                line=line,
            )
        found = "an array" if type(value) is list else type(value).__name__
        raise InputError(
            f"expected a JSON object on each line, found {found}",
            file=self.name,
            line=line,
        )


def json_column_array(
    values: list[Any], row_count: int, kinds: set[type] | None = None
) -> pa.Array:
    """Build a column from JSON values; `kinds` are the value types of the whole file.

    Without `kinds`, the values are the whole column.
    """
    if len(values) < row_count:
        values.extend([None] * (row_count - len(values)))
    if kinds is None:
        kinds = set(map(type, values))
    kinds = kinds - {type(None)}
    if kinds == {bool}:
        return pa.array(values, type=pa.bool_())
    if kinds == {int}:
        try:
            return pa.array(values, type=pa.int64())
        except (OverflowError, pa.ArrowInvalid):
            # Integers beyond int64 are kept exactly, as text.
            return pa.array(_as_json_text(values, quote_strings=False), pa.string())
    if kinds == {float}:
        return pa.array(values, type=pa.float64())
    if kinds == {int, float}:
        # float() also converts integers beyond int64, which pa.array rejects.
        floats = [value if value is None else float(value) for value in values]
        return pa.array(floats, type=pa.float64())
    if kinds <= {str} or kinds == {_JsonText}:
        return pa.array(values, type=pa.string())
    # Mixed kinds: the column is text. With a nested value among them every value
    # is JSON text, so strings get quotes; otherwise strings stay as they are.
    quote_strings = _JsonText in kinds
    return pa.array(_as_json_text(values, quote_strings), type=pa.string())


def _as_json_text(values: list[Any], quote_strings: bool) -> list[str | None]:
    texts: list[str | None] = []
    for value in values:
        if value is None or type(value) is _JsonText:
            texts.append(value)
        elif type(value) is str and not quote_strings:
            texts.append(value)
        else:
            texts.append(json.dumps(value))
    return texts


class JsonLineNumbers:
    """The file line of each JSON lines row: row i is line i + 1 without blank lines."""

    def __init__(self, lines: array[int] | None):
        self._lines = lines

    def __call__(self, row_index: int) -> Position:
        if self._lines is None:
            return ("line", row_index + 1)
        return ("line", self._lines[row_index])
