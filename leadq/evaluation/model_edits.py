"""Change rule points in a model file's text, keeping its comments and layout.

ruamel.yaml's round-trip parser finds the line and column of each value to
change, and only those number tokens are replaced in the text, so every
other byte of the file stays as the person wrote it.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from pathlib import Path

from ruamel.yaml import YAML

from leadq.errors import ModelError
from leadq.model.loading import parse_model

NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def edit_points(
    text: str, source: str, changes: dict[tuple[str, str], dict[str, float]]
) -> str:
    """Return `text` with new values for rule keys, by (section, rule id).

    `changes` maps a rule to the keys to set, such as {"points": 12}. Only
    keys that the rule already has are replaced.
    """
    document = YAML(typ="rt").load(text)
    lines = text.splitlines(keepends=True)
    edits = []
    for (section, rule_id), values in changes.items():
        rule = _rule_node(document, section, rule_id, source)
        for key, value in values.items():
            if key in rule:
                line, column = rule.lc.value(key)
                edits.append((line, column, value, f"{section}.{rule_id}.{key}"))
    # Later columns first, so earlier edits on a line keep their positions.
    for line, column, value, where in sorted(edits, reverse=True):
        lines[line] = _replaced(lines[line], column, value, source, line, where)
    edited = "".join(lines)
    parse_model(edited, source=source)
    return edited


def _rule_node(document, section: str, rule_id: str, source: str):
    for rule in document.get(section, {}).get("rules", []):
        if rule.get("id") == rule_id:
            return rule
    raise ModelError(f"no rule with the id {rule_id!r} in `{section}`", file=source)


def _replaced(
    line: str, column: int, value: float, source: str, index: int, where: str
) -> str:
    match = NUMBER.match(line, column)
    if match is None:
        raise ModelError(
            f"{where} is not written as a plain number, so it cannot be replaced; "
            "write it as a number such as 10",
            file=source,
            line=index + 1,
        )
    return line[: match.start()] + format_number(value) + line[match.end() :]


def format_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def unified_diff(old: str, new: str, path: str) -> str:
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), path, path
    )
    return "".join(lines)


def write_model(path: Path, text: str) -> None:
    """Replace the model file in one step, so a reader never sees half of it."""
    folder = path.resolve().parent
    handle, temporary = tempfile.mkstemp(
        dir=folder, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as file:
            file.write(text)
        os.chmod(temporary, path.stat().st_mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
