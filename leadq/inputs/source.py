"""A table read from a file with its rows' positions, and the text checks of readers.

The file readers (leadq.inputs.files, leadq.inputs.json_lines and
leadq.inputs.batches) share these: the names of columns, the encodings of
text files and the line of the first bytes that cannot be decoded.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadq.errors import InputError

SCAN_CHUNK_BYTES = 1024 * 1024
ENCODING_FIX = "name the encoding with --encoding, for example --encoding cp1252"
MAX_SHOWN_CHARS = 60
# Code points U+D800 to U+DFFF. In a Python str they are unpaired halves of
# UTF-16 surrogate pairs (a JSON escape such as "\udc00" decodes to one),
# which UTF-8 cannot encode, so Arrow and the databases reject them.
SURROGATE = re.compile("[\ud800-\udfff]")
NUL = re.compile("\x00")

# ("line", n), ("row", n), or for a table's row with a key ("lead_id", key)
# or ("event_id", id).
Position = tuple[str, int | str]


@dataclass(frozen=True)
class SourceTable:
    """A table read from a file, with the file positions of its rows.

    `line_numbers(i)` maps the 0-based data row `i` to ("line", n), the
    1-based line in a CSV or JSON lines file where the row starts, or to
    ("row", n), the 1-based row of a Parquet file or of a table in reading
    order. `with_row_keys` names a table's rows by their key instead.
    """

    table: pa.Table
    path: str
    format: str
    line_numbers: Callable[[int], Position]
    # Lines that the reader left out of `table`, with the reason for each,
    # when it was asked to skip invalid lines (JSON lines only).
    skipped_lines: tuple[InputError, ...] = ()
    # The file's own values of columns rewritten after reading, such as event
    # times that --date-format turned into ISO 8601, for messages to quote.
    written_values: dict[str, pa.ChunkedArray] = field(default_factory=dict)
    # Column -> its name in the file, for columns renamed after reading,
    # such as a CRM export's (leadq.crm.reading), for messages to quote.
    file_columns: dict[str, str] = field(default_factory=dict)

    def file_column(self, name: str) -> str:
        """Return the file's own name of a column of `table`."""
        return self.file_columns.get(name, name)

    def file_header(self) -> list[str]:
        """Return the file's own names of the columns of `table`."""
        return [self.file_column(name) for name in self.table.column_names]

    def position(self, row_index: int) -> dict[str, int]:
        """Return the `line=` or `row=` keyword argument of InputError for a row."""
        kind, number = self.line_numbers(row_index)
        return {kind: number}


def with_row_keys(source: SourceTable, column: str | None, kind: str) -> SourceTable:
    """Name the rows of a table by the values of `column`, in place of their reading order.

    `kind` is the InputError argument that names a row: "lead_id" or
    "event_id". A database table has no order of its own, so the n-th row
    read is hard to find again, while a key finds it with one query. A row
    whose key is NULL or blank keeps its row number, and so does every row
    when the table lacks `column`.
    """
    if column is None or column not in source.table.column_names:
        return source
    keys = RowKeys(source.table[column], kind, source.line_numbers)
    return replace(source, line_numbers=keys)


class RowKeys:
    """The position of a table's row: its key, or its row number for a row without one."""

    def __init__(self, keys: pa.ChunkedArray, kind: str, row_numbers: Callable[[int], Position]):
        self._keys = keys
        self._kind = kind
        self._row_numbers = row_numbers

    def __call__(self, row_index: int) -> Position:
        key = self._keys[row_index].as_py()
        if key is None or not str(key).strip():
            return self._row_numbers(row_index)
        return (self._kind, str(key))


def check_column_names(names: list[str], name: str, line: int | None) -> None:
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
        raise InputError(
            f"duplicate column names: {listed}; rename the columns so that each name appears once",
            file=name,
            line=line,
        )


def raise_first_nul(table: pa.Table, source: SourceTable) -> None:
    """Raise InputError for the first row with a NUL character in a text cell, as `leadq import` rejects it.

    `table` has the columns of `source.table` in the same order, such as the
    table renamed for binding. PostgreSQL cannot store NUL, and a rule's test
    would not match "Ger\\0many". Each text column's bytes are scanned for a
    zero byte first: 11 ms for 10 million cells of 25 bytes on a shared
    2-core x86_64 machine. Arrow's match_substring takes 0.4 s for the same
    cells, so it runs only to find the row after the scan finds a zero byte.
    """
    found: list[tuple[int, int]] = []
    for index, column in enumerate(table.columns):
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            if any(_has_zero_byte(chunk) for chunk in column.chunks):
                row = pc.index(pc.match_substring(column, "\x00"), True).as_py()
                # The bytes under a null slot may hold a zero byte that belongs to no value.
                if row >= 0:
                    found.append((row, index))
    if not found:
        return
    row, index = min(found)
    raise InputError(
        nul_message("the value", table.column(index)[row].as_py()),
        file=source.path,
        column=source.file_column(source.table.column_names[index]),
        **source.position(row),
    )


def _has_zero_byte(chunk: pa.Array) -> bool:
    """Tell whether the UTF-8 bytes of a text array's values contain a zero byte, the code of NUL."""
    _, offsets, data = chunk.buffers()
    if len(chunk) == 0 or data is None:
        return False
    offset_type = np.int32 if pa.types.is_string(chunk.type) else np.int64
    bounds = np.frombuffer(offsets, offset_type)[[chunk.offset, chunk.offset + len(chunk)]]
    return not np.frombuffer(data, np.uint8)[bounds[0] : bounds[1]].all()


def shown_value(value: Any) -> str:
    """Return a value as it appears in messages: its repr, escapes included, cut to 60 characters."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "...'"


def find_unpaired_surrogate(value: Any, where: str) -> tuple[str, str, str] | None:
    """Find the first text of a JSON value, keys included, with an unpaired surrogate.

    Returns where it is (`where`, `where.key`, `where[0]` or `a key of
    where`), the text and the surrogate, or None.
    """
    return find_text(value, where, SURROGATE)


def find_text(value: Any, where: str, pattern: re.Pattern) -> tuple[str, str, str] | None:
    """Find the first text of a JSON value, keys included, where `pattern` matches.

    Returns where it is, as find_unpaired_surrogate names it, the text and
    the match, or None.
    """
    if isinstance(value, str):
        found = pattern.search(value)
        return (where, value, found.group()) if found else None
    if isinstance(value, dict):
        for key, item in value.items():
            found = find_text(str(key), f"a key of {where}", pattern)
            found = found or find_text(item, f"{where}.{key}", pattern)
            if found:
                return found
    elif isinstance(value, list):
        for position, item in enumerate(value):
            found = find_text(item, f"{where}[{position}]", pattern)
            if found:
                return found
    return None


def nul_message(where: str, text: str) -> str:
    return f"{where} {shown_value(text)} contains a NUL character; remove it"


def unpaired_surrogate_message(where: str, text: str, surrogate: str) -> str:
    return (
        f"{where} {shown_value(text)} contains an unpaired UTF-16 surrogate "
        f"(\\u{ord(surrogate):04x}), which is not valid Unicode text; remove it "
        "or replace it with the intended character"
    )


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


def is_utf8(codec: str) -> bool:
    return codec == "utf-8-sig"


# Decoding errors


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


def raise_decode_error(path: Path, name: str, codec: str) -> None:
    """Raise InputError for the first undecodable bytes, if the file has any."""
    found = _find_decode_error(path, codec)
    if found is None:
        return
    line, data = found
    bad_bytes = " ".join(f"0x{byte:02X}" for byte in data[:4])
    marked = _byte_order_mark_encoding(path) if is_utf8(codec) else None
    if marked is not None:
        message = (
            f"the file is {marked} text (it starts with a {marked} byte order mark), "
            f"not UTF-8; name the encoding with --encoding {marked.lower()}"
        )
    elif is_utf8(codec):
        message = f"the file is not valid UTF-8 (byte {bad_bytes}); {ENCODING_FIX}"
    else:
        message = (
            f"byte {bad_bytes} is not valid in the encoding {codec}; "
            "check the file's encoding and name it with --encoding"
        )
    raise InputError(message, file=name, line=line)


def _byte_order_mark_encoding(path: Path) -> str | None:
    """Return UTF-16 or UTF-32 if the file starts with that encoding's byte order mark."""
    with path.open("rb") as stream:
        start = stream.read(4)
    # The UTF-32 LE mark starts with the UTF-16 LE mark, so it is checked first.
    if start in (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE):
        return "UTF-32"
    if start[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "UTF-16"
    return None
