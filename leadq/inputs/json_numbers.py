"""Find the JSON numbers that leadq rejects: NaN, Infinity and numbers beyond a double.

Python's json module reads `NaN`, `Infinity` and `-Infinity`, which JSON
does not allow, reads a number such as `1e400` as infinity and an integer
of 400 digits exactly. DuckDB's JSON functions accept all of them, and
read such an integer as infinity. leadq rejects them in every JSON value
of an input file (a JSON lines line, an events file's `properties` cell),
as the tracking API rejects them in a message, so `leadq score` on any
engine and `leadq import` reject the same cells.
"""

from __future__ import annotations

import json
import math
from typing import Any

from leadq.json_nesting import parse_nested_json

MAX_SHOWN_NUMBER_CHARS = 40
# A double reaches about 1.8e308, a number of 309 digits. Longer integers
# are not converted: Python refuses more than 4,300 digits, and the
# conversion takes time quadratic in the length.
MAX_DOUBLE_DIGITS = 309


class WrittenNumber(float):
    """A number that leadq rejects, kept as infinity with its text as written (`written`)."""

    written: str


class NonFiniteNumber(ValueError):
    """A NaN, Infinity or a number beyond a double's range in JSON text, and where it is."""

    def __init__(self, path: str, written: str) -> None:
        self.path = path
        self.written = written
        super().__init__(non_finite_message(path, written))


def non_finite_message(path: str, written: str) -> str:
    number_text = written
    if len(number_text) > MAX_SHOWN_NUMBER_CHARS:
        number_text = number_text[: MAX_SHOWN_NUMBER_CHARS - 3] + "..."
    if written.lstrip("-") in ("NaN", "Infinity"):
        return f"{path} is {number_text}, which is not valid JSON; write a number or null"
    return (
        f"{path} is {number_text}, a number beyond the range of a double; "
        "write numbers between -1.8e308 and 1.8e308"
    )


def parse_written_numbers(text: str, object_pairs_hook=None) -> tuple[Any, bool]:
    """Parse JSON text; each non-finite number becomes a WrittenNumber with its text.

    Returns the value and whether it contains a WrittenNumber. Raises
    json.JSONDecodeError for text that is not JSON and NestingTooDeep
    (leadq.json_nesting) for a value nested too deeply. Slower than
    json.loads, because every number passes through Python.
    `object_pairs_hook` is json.loads's.
    """
    found: list[WrittenNumber] = []

    def keep(written: str) -> WrittenNumber:
        number = WrittenNumber("inf")
        number.written = written
        found.append(number)
        return number

    def parse_float(written: str) -> float:
        number = float(written)
        return number if math.isfinite(number) else keep(written)

    def parse_int(written: str) -> int | float:
        if len(written.lstrip("-")) > MAX_DOUBLE_DIGITS:
            return keep(written)
        number = int(written)
        try:
            float(number)
        except OverflowError:
            return keep(written)
        return number

    def decode(json_text: str) -> Any:
        return json.loads(
            json_text,
            parse_constant=parse_float,
            parse_float=parse_float,
            parse_int=parse_int,
            object_pairs_hook=object_pairs_hook,
        )

    return parse_nested_json(decode, text), bool(found)


def first_non_finite(value: Any, where: str) -> NonFiniteNumber | None:
    """Return the first WrittenNumber of a value from parse_written_numbers, or None.

    Numbers are searched in document order. The error names the number's
    path (`where.key[0]`).
    """
    value_type = type(value)
    if value_type is WrittenNumber:
        return NonFiniteNumber(where, value.written)
    if isinstance(value, dict):
        items = [(item, f"{where}.{key}") for key, item in value.items()]
    elif value_type is list:
        items = [(item, f"{where}[{position}]") for position, item in enumerate(value)]
    else:
        return None
    for item, path in items:
        found = first_non_finite(item, path)
        if found is not None:
            return found
    return None

