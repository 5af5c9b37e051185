"""Read JSON lines files: one object per line, nested values as JSON text."""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from leadq.errors import InputError
from leadq.inputs.source import (
    Position,
    SourceTable,
    check_column_names,
    raise_decode_error,
)


class _JsonText(str):
    """A nested JSON value, already serialised as compact JSON with sorted keys."""


def read_json_lines(path: Path, name: str, codec: str) -> SourceTable:
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
        raise_decode_error(path, name, codec)
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
                value = _JsonText(self._encode_nested(line, key, value))
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
        check_column_names(names, self.name, line)
        self.names[key] = key.strip()
        values: list[Any] = []
        self.columns[key] = values
        return values

    def _encode_nested(self, line: int, key: str, value: Any) -> str:
        try:
            return self._encode(value)
        except ValueError:
            # Python's JSON decoder reads a literal such as 1e400 as infinity.
            raise InputError(
                f"field {key.strip()!r} contains a number beyond the range of a double, such as 1e400; "
                "write numbers between -1.8e308 and 1.8e308",
                file=self.name,
                line=line,
            ) from None

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
