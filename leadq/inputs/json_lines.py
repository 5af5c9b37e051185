"""Read JSON lines files: one object per line, nested values as JSON text."""

from __future__ import annotations

import json
import math
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from leadq.errors import InputError
from leadq.inputs.source import (
    SURROGATE,
    Position,
    SourceTable,
    check_column_names,
    find_unpaired_surrogate,
    raise_decode_error,
    unpaired_surrogate_message,
)

JSON_LINE_FIX = 'write the line as one JSON object, such as {"email": "ana@example.com"}'


class _JsonText(str):
    """A nested JSON value, already serialised as compact JSON with sorted keys."""


def read_json_lines(
    path: Path, name: str, codec: str, skip_invalid_lines: bool = False
) -> SourceTable:
    """Read a JSON lines file with one object per line; blank lines are skipped.

    Nested objects and arrays become JSON text. A column keeps its JSON type
    when every value has it (integers and floats together give float64) and
    becomes a string column otherwise. With `skip_invalid_lines`, a line that
    is not a valid JSON object is left out and listed in the table's
    `skipped_lines`; otherwise it raises InputError.

    NOTE: Python's json module parses each line: about 6.5 µs for a line of
    four fields, one of them nested, on a 2-core x86_64 machine, so 10M lines
    take over a minute. pyarrow.json is faster but turns ISO 8601 strings into
    naive timestamps and merges the keys of nested objects.
    """
    reader = JsonLinesReader(name, skip_invalid_lines=skip_invalid_lines)
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
        skipped_lines=tuple(reader.skipped_lines),
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


class InvalidLineError(InputError):
    """A line that is not a valid JSON object, while the rest of the file may be."""


def _reject_constant(constant: str) -> None:
    raise ValueError(f"{constant} is not valid JSON; write a number or null")


def _reject_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}; write each key once per object")
            seen.add(key)
    return record


def _may_contain_surrogates(text: str) -> bool:
    """Return whether a line's values may contain unpaired surrogates.

    JSON writes them as escapes such as \\udc00. A codec such as utf-7 can
    also decode bytes to one, which only a non-ASCII line can contain.
    """
    return "\\u" in text or (not text.isascii() and SURROGATE.search(text) is not None)


def _infinite_number_path(value: Any, where: str) -> str | None:
    """Return the path of the first infinite number in a nested JSON value, as `where.key[0]`."""
    if type(value) is float and math.isinf(value):
        return where
    if type(value) is dict:
        items = [(item, f"{where}.{key}") for key, item in value.items()]
    elif type(value) is list:
        items = [(item, f"{where}[{position}]") for position, item in enumerate(value)]
    else:
        return None
    for item, path in items:
        found = _infinite_number_path(item, path)
        if found is not None:
            return found
    return None


class JsonLinesReader:
    """Column values of a JSON lines file, as one Python list per column.

    With `record_lines`, the line of every row is stored, and `take_rows`
    hands out the rows read so far, so a file can be read in batches. With
    `skip_invalid_lines`, a line that is not a valid JSON object is stored
    in `skipped_lines` instead of raising InvalidLineError.
    """

    def __init__(self, name: str, record_lines: bool = False, skip_invalid_lines: bool = False):
        self.name = name
        # Values by key as written in the file, and the stripped column names.
        self.columns: dict[str, list[Any]] = {}
        self.names: dict[str, str] = {}
        self.row_count = 0
        # Rows handed out by take_rows before the current ones.
        self.rows_taken = 0
        # The line of each row, stored once a blank or skipped line has shifted them.
        self.lines: array[int] | None = array("q") if record_lines else None
        self.skip_invalid_lines = skip_invalid_lines
        self.skipped_lines: list[InvalidLineError] = []
        self._decode = json.JSONDecoder(
            object_pairs_hook=_reject_duplicate_keys,
            parse_constant=_reject_constant,
        ).decode
        self._encode = json.JSONEncoder(
            sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode

    def add_line(self, line: int, text: str) -> None:
        if not text.strip():
            self._record_lines()
            return
        try:
            record = self._row_values(line, text)
        except InvalidLineError as error:
            if not self.skip_invalid_lines:
                raise
            self.skipped_lines.append(error)
            self._record_lines()
            return
        row_index = self.row_count
        for key, value in record.items():
            values = self.columns.get(key)
            if values is None:
                values = self._add_column(key, line)
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
        """Raise InputError for a file without objects or fields, unless lines were skipped.

        When every line was skipped, the import that skipped them lists them.
        """
        if self.skipped_lines:
            return
        if self.rows_taken + self.row_count == 0:
            raise InputError("the file is empty: it has no JSON objects", file=self.name)
        if not self.names:
            raise InputError("the JSON objects have no fields", file=self.name)

    def _record_lines(self) -> None:
        """Start storing each row's line, because a line without a row shifts them."""
        if self.lines is None:
            self.lines = array("q", range(1, self.row_count + 1))

    def _add_column(self, key: str, line: int) -> list[Any]:
        names = [*self.names.values(), key.strip()]
        check_column_names(names, self.name, line)
        self.names[key] = key.strip()
        values: list[Any] = []
        self.columns[key] = values
        return values

    def _row_values(self, line: int, text: str) -> dict[str, Any]:
        """Parse a line and check its values; nested values become JSON text."""
        record = self._parse_object(line, text)
        if _may_contain_surrogates(text):
            self._check_unicode(line, record)
        for key, value in record.items():
            value_type = type(value)
            if value_type is dict or value_type is list:
                record[key] = _JsonText(self._encode_nested(line, key, value))
        return record

    def _check_unicode(self, line: int, record: dict[str, Any]) -> None:
        for key, value in record.items():
            column = key.strip()
            found = find_unpaired_surrogate(key, "the key")
            if found:
                column = None
            else:
                where = "the value" if isinstance(value, str) else column
                found = find_unpaired_surrogate(value, where)
            if found:
                message = unpaired_surrogate_message(*found)
                raise InvalidLineError(message, file=self.name, line=line, column=column)

    def _encode_nested(self, line: int, key: str, value: Any) -> str:
        try:
            return self._encode(value)
        except ValueError:
            # Python's JSON decoder reads a literal such as 1e400 as infinity.
            where = _infinite_number_path(value, key.strip()) or key.strip()
            raise InvalidLineError(
                f"{where} is a number beyond the range of a double, such as 1e400; "
                "write numbers between -1.8e308 and 1.8e308",
                file=self.name,
                line=line,
                column=key.strip(),
            ) from None

    def _parse_object(self, line: int, text: str) -> dict[str, Any]:
        try:
            # Without the line end, an error at the end of the line is reported
            # at its last column instead of column 1 of the next line.
            value = self._decode(text.rstrip("\r\n"))
        except json.JSONDecodeError as exc:
            # Some messages end in "at", such as "Unterminated string starting at".
            position = f"column {exc.colno}" if exc.msg.endswith(" at") else f"at column {exc.colno}"
            raise InvalidLineError(
                f"invalid JSON: {exc.msg} {position}; {JSON_LINE_FIX}",
                file=self.name,
                line=line,
            ) from None
        except ValueError as exc:
            raise InvalidLineError(
                f"invalid JSON: {exc}", file=self.name, line=line
            ) from None
        if type(value) is dict:
            return value
        if type(value) is list and self._is_first_object():
            raise InputError(
                "expected JSON lines (one object per line) but the file starts "
                "with a JSON array; write one object per line",
                file=self.name,
                line=line,
            )
        found = "an array" if type(value) is list else type(value).__name__
        raise InvalidLineError(
            f"expected a JSON object on each line, found {found}; {JSON_LINE_FIX}",
            file=self.name,
            line=line,
        )

    def _is_first_object(self) -> bool:
        return self.rows_taken + self.row_count == 0 and not self.skipped_lines


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
