"""Limit how deeply a JSON value nests objects and arrays.

Python's json module parses nested values by recursion. With Python's
default recursion limit of 1000, a value nested about a thousand levels
deep raises RecursionError, and the encoder fails the same way. So a JSON
lines line, a `properties` cell and a request body may each nest at most
MAX_NESTING levels, the line, cell or body itself counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# The deepest nesting of objects and arrays in a JSON value, the value
# itself counted. The leads API returns stored properties in a lead's
# record, and its JSON serializer fails on values nested a few hundred
# levels deep.
MAX_NESTING = 32
NESTING_MESSAGE = (
    f"the JSON value is nested too deeply, with objects or arrays more than "
    f"{MAX_NESTING} levels deep; flatten it to at most {MAX_NESTING} levels"
)


class NestingTooDeep(ValueError):
    """A JSON value that nests objects or arrays more than MAX_NESTING levels deep."""

    def __init__(self) -> None:
        super().__init__(NESTING_MESSAGE)


def parse_nested_json(decode: Callable[[str], Any], text: str) -> Any:
    """Parse JSON text with `decode`, a json.loads or JSONDecoder.decode.

    Raises NestingTooDeep for a value nested more than MAX_NESTING levels
    deep, and what `decode` raises for text that is not JSON.
    """
    try:
        value = decode(text)
    except RecursionError:
        raise NestingTooDeep() from None
    check_nesting(text, value)
    return value


def check_nesting(text: str, value: Any) -> None:
    """Raise NestingTooDeep when `value`, parsed from `text`, nests more than MAX_NESTING levels."""
    # Each level opens with a bracket, so text with few brackets needs no walk.
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return
    if nesting_depth(value) > MAX_NESTING:
        raise NestingTooDeep()


def nesting_depth(value: Any) -> int:
    """Return the deepest nesting of dicts and lists in `value`, without recursion.

    A scalar has depth 0 and an empty list 1. The walk stops once it is
    past MAX_NESTING.
    """
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending and deepest <= MAX_NESTING:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        pending.extend((child, depth + 1) for child in children)
    return deepest
