"""Read the answers file of `leadq qualify --answers`, in YAML or JSON.

A file whose name ends in .json is parsed with Python's json module, so a
syntax error gets json's line and column. Any other file is parsed as
YAML, which reads most JSON too. Either must be UTF-8 text (a UTF-8 byte
order mark is skipped).
"""

from __future__ import annotations

import codecs
import json
import sys
from pathlib import Path
from typing import Any

from leadq.errors import InputError

JSON_EXTENSION = ".json"
TOP_LEVEL_KEYS = ("answers", "framework", "author")
UTF8_FIX = "save it as UTF-8"
JSON_FIX = (
    "correct the JSON there: write keys and text in double quotes, separate "
    "items with commas and leave no comma after the last item"
)
DIGITS_PROBLEM = (
    f"a whole number has more than {sys.get_int_max_str_digits()} digits; "
    "write a smaller number"
)
DEPTH_PROBLEM = "the document is nested too deep to read; an answers file nests a few levels"
# The UTF-32 LE mark starts with the UTF-16 LE mark, so it is checked first.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


def read_answers_file(path: Path) -> dict[str, Any]:
    """Read `answers:` (and optional `framework:`, `author:`) from YAML or JSON.

    Raises InputError naming the file, and the line where one is known.
    """
    name = str(path)
    text = _read_utf8(path)
    if path.suffix.lower() == JSON_EXTENSION:
        document = _parse_json(text, name)
    else:
        document = _parse_yaml(text, name)
    _check_layout(document, name)
    return document


def _read_utf8(path: Path) -> str:
    name = str(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError("answers file not found; check the path", file=name) from None
    except IsADirectoryError:
        raise InputError("is a directory, not an answers file; check the path", file=name) from None
    _reject_utf16_and_utf32(data, name)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        bad_bytes = " ".join(f"0x{byte:02X}" for byte in data[error.start : error.end])
        raise InputError(
            f"the file is not UTF-8 text (byte {bad_bytes} is invalid there); {UTF8_FIX}",
            file=name,
            line=data.count(b"\n", 0, error.start) + 1,
        ) from None


def _reject_utf16_and_utf32(data: bytes, name: str) -> None:
    """Raise InputError for UTF-16 or UTF-32 text, which UTF-8 decoding can miss.

    Without a byte order mark, ASCII text in UTF-16 or UTF-32 is valid UTF-8
    with a NUL byte beside each character. YAML and JSON never contain a
    NUL byte, so any NUL byte rejects the file.
    """
    for mark, encoding in BYTE_ORDER_MARKS:
        if data.startswith(mark):
            raise InputError(
                f"the file is {encoding} text (it starts with a {encoding} byte "
                f"order mark), not UTF-8; {UTF8_FIX}",
                file=name,
            )
    first_nul = data.find(b"\x00")
    if first_nul >= 0:
        raise InputError(
            f"the file contains NUL bytes (the first at byte {first_nul}), so it "
            f"is not UTF-8 text but likely UTF-16 or UTF-32; {UTF8_FIX}",
            file=name,
        )


def _parse_json(text: str, name: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_object_without_repeated_keys)
    except json.JSONDecodeError as error:
        # Some of json's reasons end in "at", as "Invalid control character at".
        reason = error.msg.removesuffix(" at")
        raise InputError(
            f"invalid JSON: {reason} at column {error.colno}; {JSON_FIX}",
            file=name,
            line=error.lineno,
        ) from None
    except _RepeatedKey as error:
        raise InputError(
            f"invalid JSON: the key {error.key!r} appears twice in one object; "
            "keep one of them",
            file=name,
        ) from None
    except ValueError as error:
        if not _exceeds_digit_limit(error):
            raise
        raise InputError(f"invalid JSON: {DIGITS_PROBLEM}", file=name) from None
    except RecursionError:
        raise InputError(f"invalid JSON: {DEPTH_PROBLEM}", file=name) from None


class _RepeatedKey(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _object_without_repeated_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Build a JSON object, rejecting a repeated key as YAML does.

    json.loads silently keeps the last value of a repeated key.
    """
    document = {}
    for key, value in pairs:
        if key in document:
            raise _RepeatedKey(key)
        document[key] = value
    return document


def _exceeds_digit_limit(error: ValueError) -> bool:
    """Return whether Python rejected a whole number for its number of digits.

    Python (3.11 and later) raises a plain ValueError for a whole number of
    more than sys.get_int_max_str_digits() digits.
    """
    return "integer string conversion" in str(error)


def _parse_yaml(text: str, name: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    from leadq.model.loading import DATE_FIX, MAX_VALUES, YAML_FIX, invalid_date_line

    try:
        document = YAML(typ="safe").load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "the YAML is not valid"
        if mark is None:
            raise InputError(f"invalid YAML: {problem}; {YAML_FIX}", file=name) from None
        raise InputError(
            f"invalid YAML: {problem} at column {mark.column + 1}; {YAML_FIX}",
            file=name,
            line=mark.line + 1,
        ) from None
    except YAMLError as error:
        raise InputError(f"invalid YAML: {error}", file=name) from None
    except ValueError as error:
        if _exceeds_digit_limit(error):
            raise InputError(f"invalid YAML: {DIGITS_PROBLEM}", file=name) from None
        # ruamel reads an unquoted 2026-02-30 as a date and fails without a line.
        line = invalid_date_line(text)
        raise InputError(f"invalid YAML: {error}; {DATE_FIX}", file=name, line=line) from None
    except RecursionError:
        raise InputError(f"invalid YAML: {DEPTH_PROBLEM}", file=name) from None
    _check_expansion(document, name, MAX_VALUES)
    return document


def _check_expansion(document: Any, name: str, limit: int) -> None:
    """Raise InputError if YAML aliases expand the document beyond `limit` values.

    A few nested aliases can stand for billions of values, which the
    answer checks would then walk one by one.
    """
    budget = limit
    pending = [document]
    while pending:
        node = pending.pop()
        budget -= 1
        if budget < 0:
            raise InputError(
                f"the answers file expands to more than {limit:,} values through "
                "YAML anchors and aliases; write the values out or use fewer aliases",
                file=name,
            )
        if isinstance(node, dict):
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)


def _check_layout(document: Any, name: str) -> None:
    if not isinstance(document, dict) or not isinstance(document.get("answers"), dict):
        raise InputError(
            "the answers file must be a mapping with `answers:`, a mapping of "
            "criterion id to answer, such as {answers: {budget: confirmed}}",
            file=name,
        )
    unknown = sorted(set(document) - set(TOP_LEVEL_KEYS), key=str)
    if unknown:
        raise InputError(
            f"unknown key {unknown[0]!r}; use answers, framework and author",
            file=name,
        )
