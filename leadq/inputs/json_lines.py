"""Read JSON lines files: one object per line, nested values as JSON text."""

from __future__ import annotations

import json
import math
import re
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from leadq.errors import InputError
from leadq.json_nesting import NestingTooDeep, parse_nested_json
from leadq.inputs.json_numbers import (
    MAX_DOUBLE_DIGITS,
    WrittenNumber,
    first_non_finite,
    parse_written_numbers,
)
from leadq.inputs.source import (
    SURROGATE,
    Position,
    SourceTable,
    find_unpaired_surrogate,
    raise_decode_error,
    shown_value,
    unpaired_surrogate_message,
)

JSON_LINE_FIX = 'write the line as one JSON object, such as {"email": "ana@example.com"}'
# Digits of an integer that may be beyond a double, which only a line
# longer than MAX_DOUBLE_DIGITS can contain.
LONG_NUMBER = re.compile(f"[0-9]{{{MAX_DOUBLE_DIGITS}}}")


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
    table = pa.Table.from_arrays(arrays, names=list(reader.columns))
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


class JsonLinesReader:
    """Column values of a JSON lines file, as one Python list per column.

    A column is named by a key trimmed of surrounding spaces, so `"title"`
    and `" title"` on two lines are one column. A blank key, or two keys
    of one line that are equal once trimmed, make the line invalid. With
    `record_lines`, the line of every row is stored, and `take_rows`
    hands out the rows read so far, so a file can be read in batches. With
    `skip_invalid_lines`, a line that is not a valid JSON object is stored
    in `skipped_lines` instead of raising InvalidLineError.
    """

    def __init__(self, name: str, record_lines: bool = False, skip_invalid_lines: bool = False):
        self.name = name
        # Values by column name, in the order the columns first appear.
        self.columns: dict[str, list[Any]] = {}
        # Keys seen so far that are column names as they are: not blank, not padded.
        self._plain_keys: set[str] = set()
        self.row_count = 0
        # Rows handed out by take_rows before the current ones.
        self.rows_taken = 0
        # The line of each row, stored once a blank or skipped line has shifted them.
        self.lines: array[int] | None = array("q") if record_lines else None
        self.skip_invalid_lines = skip_invalid_lines
        self.skipped_lines: list[InvalidLineError] = []
        # NaN and Infinity parse as floats here, and a line with a non-finite
        # number is parsed again to name it (_check_numbers).
        self._decode = json.JSONDecoder(object_pairs_hook=_reject_duplicate_keys).decode
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
                values = self.columns[key] = []
            if len(values) < row_index:
                values.extend([None] * (row_index - len(values)))
            values.append(value)
        self.row_count += 1
        if self.lines is not None:
            self.lines.append(line)

    def take_rows(self) -> tuple[dict[str, list[Any]], int, array[int] | None]:
        """Return the column values, row count and lines read since the last call.

        The column names stay, so the columns keep the order in which they first appeared.
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
        if not self.columns:
            raise InputError("the JSON objects have no fields", file=self.name)

    def _record_lines(self) -> None:
        """Start storing each row's line, because a line without a row shifts them."""
        if self.lines is None:
            self.lines = array("q", range(1, self.row_count + 1))

    def _row_values(self, line: int, text: str) -> dict[str, Any]:
        """Parse a line and check its keys and values. Nested values become JSON text."""
        record = self._by_column(line, self._parse_object(line, text))
        if _may_contain_surrogates(text):
            self._check_unicode(line, record)
        if len(text) > MAX_DOUBLE_DIGITS and LONG_NUMBER.search(text):
            self._check_numbers(line, text)
        for key, value in record.items():
            value_type = type(value)
            if value_type is dict or value_type is list:
                record[key] = _JsonText(self._encode_nested(line, text, value))
            elif value_type is float and not math.isfinite(value):
                self._check_numbers(line, text)
        return record

    def _by_column(self, line: int, record: dict[str, Any]) -> dict[str, Any]:
        """Return the line's values by column name: each key trimmed of surrounding spaces."""
        if self._plain_keys.issuperset(record):
            return record
        self._plain_keys.update(key for key in record if key and key == key.strip())
        columns: dict[str, Any] = {}
        keys: dict[str, str] = {}
        for key, value in record.items():
            name = key.strip()
            if not name:
                message = f'the key {shown_value(key)} is blank; name the field, such as "title", or remove the key'
                raise InvalidLineError(message, file=self.name, line=line)
            if name in columns:
                raise InvalidLineError(
                    f"the keys {shown_value(keys[name])} and {shown_value(key)} name one column once "
                    "surrounding spaces are trimmed; write each key once per object",
                    file=self.name,
                    line=line,
                )
            columns[name] = value
            keys[name] = key
        return columns

    def _check_unicode(self, line: int, record: dict[str, Any]) -> None:
        for key, value in record.items():
            column = key
            found = find_unpaired_surrogate(key, "the key")
            if found:
                column = None
            else:
                where = "the value" if isinstance(value, str) else column
                found = find_unpaired_surrogate(value, where)
            if found:
                message = unpaired_surrogate_message(*found)
                raise InvalidLineError(message, file=self.name, line=line, column=column)

    def _encode_nested(self, line: int, text: str, value: Any) -> str:
        try:
            return self._encode(value)
        except ValueError:
            # The encoder rejects NaN and infinity, which the decoder reads.
            self._check_numbers(line, text)
            raise

    def _check_numbers(self, line: int, text: str) -> None:
        """Raise InvalidLineError for the line's first NaN, Infinity or number beyond a double.

        The line is parsed again, to show the number as the file writes it.
        """
        record, has_non_finite = parse_written_numbers(text.rstrip("\r\n"))
        if not has_non_finite:
            return
        for key, value in record.items():
            column = key.strip()
            found = first_non_finite(value, "the value" if type(value) is WrittenNumber else column)
            if found is not None:
                raise InvalidLineError(str(found), file=self.name, line=line, column=column)

    def _parse_object(self, line: int, text: str) -> dict[str, Any]:
        try:
            # Without the line end, an error at the end of the line is reported
            # at its last column instead of column 1 of the next line.
            value = parse_nested_json(self._decode, text.rstrip("\r\n"))
        except NestingTooDeep as exc:
            raise InvalidLineError(str(exc), file=self.name, line=line) from None
        except json.JSONDecodeError as exc:
            raise _syntax_error(exc, self.name, line) from None
        except ValueError as exc:
            # Since Python 3.11, int() rejects an integer of over 4,300 digits
            # (sys.get_int_max_str_digits()). Such a number is beyond a double.
            if LONG_NUMBER.search(text):
                self._check_long_integers(line, text)
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

    def _check_long_integers(self, line: int, text: str) -> None:
        """Raise InvalidLineError for the line's first number beyond a double, its syntax error or its nesting."""
        try:
            self._check_numbers(line, text)
        except json.JSONDecodeError as exc:
            raise _syntax_error(exc, self.name, line) from None
        except NestingTooDeep as exc:
            raise InvalidLineError(str(exc), file=self.name, line=line) from None

    def _is_first_object(self) -> bool:
        return self.rows_taken + self.row_count == 0 and not self.skipped_lines


def _syntax_error(error: json.JSONDecodeError, name: str, line: int) -> InvalidLineError:
    # Some messages end in "at", such as "Unterminated string starting at".
    position = f"column {error.colno}" if error.msg.endswith(" at") else f"at column {error.colno}"
    return InvalidLineError(
        f"invalid JSON: {error.msg} {position}; {JSON_LINE_FIX}", file=name, line=line
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
