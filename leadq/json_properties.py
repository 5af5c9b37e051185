"""Check and read the JSON `properties` column of an events file.

A cell is a JSON object, JSON null, or empty or blank text, and the last
three mean no properties. `leadq score` makes blank cells NULL before it
checks a whole column with DuckDB (leadq.binding), which parses JSON
several times faster than Python's json module, and parses in Python only
the cells that DuckDB rejects or that may contain a number leadq rejects.
`leadq import` skips blank cells and parses every other cell with
parse_properties. Both reject the same cells with the same message.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from leadq.errors import InputError
from leadq.inputs import SourceTable
from leadq.inputs.json_keys import first_repeated_key, mark_repeated_keys
from leadq.inputs.json_numbers import first_non_finite, parse_written_numbers
from leadq.inputs.source import (
    NUL,
    find_text,
    find_unpaired_surrogate,
    nul_message,
    shown_value,
    unpaired_surrogate_message,
)
from leadq.json_nesting import MAX_NESTING

PROPERTIES_FIX = 'write the properties as a JSON object, for example {"url": "/pricing"}'
# Cells that DuckDB may accept but leadq rejects. DuckDB 2.0 reads NaN, Inf
# and Infinity in any case, and a comma before a closing bracket. A number
# with a three-digit exponent or 309 digits may be beyond a double's range.
# The escape \u0000 is a NUL character, which PostgreSQL cannot store.
# A cell with more than MAX_NESTING opening brackets may nest too deeply.
# A match inside a string, or a large finite number such as 1e300, only
# costs a parse in Python.
SUSPECT_CELL = (
    r"(?i)[:,\[]\s*-?(nan|inf)|[0-9][eE]\+?[0-9]{3}|[0-9]{309}|,\s*[\]}]|\\u0000"
    rf"|(?:[\[{{][^\[{{]*){{{MAX_NESTING + 1}}}"
)

# The keys of a cell's objects are listed only for cells that can repeat a
# key: a cell with a comma, and for nested objects, a second "{". The test
# data: the 1M events of `python -m benchmarks.generate --properties json`,
# with two more keys in 735k cells, on a loaded 2-core x86_64 machine.
# There the key lists take the check from about 1.1 s to 2.1 s, mostly in
# list_unique, in a score run of 11 to 14 s. One-key cells cost nothing more.
CELL_MASKS = """
SELECT ok, suspect,
    list_unique(keys) < len(keys)
        OR list_bool_or(list_transform(nested_keys, lambda k: list_unique(k) < len(k))) AS repeated
FROM (
    SELECT ok, suspect,
        CASE WHEN ok AND contains(properties, ',') THEN json_keys(properties) END AS keys,
        CASE WHEN ok AND contains(properties[2:], '{') THEN json_keys(properties, '$..*') END AS nested_keys
    FROM (
        SELECT properties,
            properties IS NULL OR CASE WHEN json_valid(properties)
                THEN json_type(properties) IN ('OBJECT', 'NULL') ELSE false END AS ok,
            regexp_matches(properties, ?) AS suspect
        FROM input
    )
)
"""


def parse_properties(text: str) -> dict | None:
    """Parse a `properties` cell: a JSON object whose numbers are finite, or null (None).

    Raises ValueError with the problem, the cell and the fix: NonFiniteNumber
    (leadq.inputs.json_numbers) names the number's path, such as
    `properties.seats`, and so does the error of an object with a repeated key.
    """
    try:
        parsed, has_non_finite = parse_written_numbers(text, object_pairs_hook=mark_repeated_keys)
    except json.JSONDecodeError:
        raise ValueError(f"invalid JSON {shown_value(text)}; {PROPERTIES_FIX}") from None
    if has_non_finite:
        raise first_non_finite(parsed, "properties")
    if parsed is not None and not isinstance(parsed, dict):
        raise ValueError(f"{shown_value(text)} is JSON but not an object; {PROPERTIES_FIX}")
    repeated = first_repeated_key(parsed, "properties")
    if repeated is not None:
        path, key = repeated
        raise ValueError(f"{path} contains the key {shown_value(key)} more than once; write each key once")
    return parsed


def check_properties_column(text: pa.ChunkedArray, source: SourceTable, column: str) -> None:
    """Raise InputError for the first cell of a `properties` column that parse_properties rejects.

    `text` is the column as text and `column` its name in the file.
    """
    valid, suspect, repeated = _cell_masks(text)
    checked = pc.or_kleene(pc.invert(valid), pc.fill_null(suspect, False))
    checked = pc.or_kleene(checked, pc.fill_null(repeated, False))
    for row in np.flatnonzero(checked.to_numpy(zero_copy_only=False)).tolist():
        problem = _cell_problem(text[row].as_py(), valid[row].as_py())
        if problem is not None:
            raise InputError(problem, file=source.path, column=column, **source.position(row))


def _cell_masks(text: pa.ChunkedArray) -> tuple[pa.ChunkedArray, pa.ChunkedArray, pa.ChunkedArray]:
    """Return whether DuckDB reads each cell as a JSON object or null, whether it
    matches SUSPECT_CELL, and whether one of its objects repeats a key.
    """
    connection = duckdb.connect(":memory:")
    try:
        connection.register("input", pa.table({"properties": text}))
        masks = connection.sql(CELL_MASKS, params=[SUSPECT_CELL]).to_arrow_table()
    finally:
        connection.close()
    return masks["ok"], masks["suspect"], masks["repeated"]


def _cell_problem(text: str, valid_in_duckdb: bool) -> str | None:
    try:
        parsed = parse_properties(text)
    except ValueError as error:
        return str(error)
    found = find_text(parsed, "properties", NUL)
    if found:
        return nul_message(*found[:2])
    if valid_in_duckdb:
        return None
    # Python's json module reads the escape of an unpaired surrogate, such
    # as "\\ud800", which DuckDB rejects. An object that DuckDB rejects for
    # another reason is reported as invalid JSON.
    found = find_unpaired_surrogate(json.loads(text), "properties")
    if found:
        return unpaired_surrogate_message(*found)
    return f"invalid JSON {shown_value(text)}; {PROPERTIES_FIX}"


def json_property(text: pa.ChunkedArray, name: str) -> pa.ChunkedArray:
    """Extract one property from checked JSON object text, as text; DuckDB parses it fast."""
    connection = duckdb.connect(":memory:")
    try:
        connection.register("input", pa.table({"properties": text}))
        path = "$." + json.dumps(name)
        extracted = connection.sql(
            "SELECT json_extract_string(properties, ?) AS value FROM input",
            params=[path],
        ).to_arrow_table()["value"]
    finally:
        connection.close()
    return extracted
