"""Find JSON objects in which a key occurs more than once.

Python's json module keeps the last value of a repeated key and DuckDB 2.0's
JSON functions keep the first, and RFC 8259 (section 4) calls the result
unpredictable across parsers. So leadq rejects such objects: in a tracking
API message and in an events file's `properties` cell.
"""

from __future__ import annotations

from typing import Any


class RepeatedKeyObject(dict):
    """A JSON object in which `key` occurs more than once, kept so that a check can name its path."""

    key: str


def mark_repeated_keys(pairs: list[tuple[str, Any]]) -> dict:
    """Build a JSON object, marking one with a repeated key; a json `object_pairs_hook`."""
    document = dict(pairs)
    if len(document) == len(pairs):
        return document
    marked = RepeatedKeyObject(document)
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            marked.key = key
            break
        seen.add(key)
    return marked


def first_repeated_key(value: Any, where: str) -> tuple[str, str] | None:
    """Return the path and key of the first RepeatedKeyObject in document order, or None.

    `value` comes from a parse with mark_repeated_keys, and `where` names it
    in the path, such as `properties.plan`.
    """
    pending: list[tuple[str, Any]] = [(where, value)]
    while pending:
        path, item = pending.pop()
        if isinstance(item, RepeatedKeyObject):
            return path, item.key
        if isinstance(item, dict):
            children = [(f"{path}.{key}", child) for key, child in item.items()]
        elif isinstance(item, list):
            children = [(f"{path}[{index}]", child) for index, child in enumerate(item)]
        else:
            continue
        pending.extend(reversed(children))
    return None
