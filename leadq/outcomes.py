"""Read converted or not per lead from an outcome column of the leads file."""

from __future__ import annotations

from pathlib import Path

import pyarrow.compute as pc

from leadq.crm.reading import CrmOptions, model_names, read_lead_file
from leadq.errors import InputError

CONVERTED_VALUES = {"1", "true", "yes", "y", "won", "converted"}
NOT_CONVERTED_VALUES = {"0", "false", "no", "n", "lost", ""}


def read_outcomes(run, leads_path: Path, column: str, encoding: str | None) -> dict[str, bool]:
    fixed_names = model_names(run.model, run.compiled.layout)
    source = read_lead_file(leads_path, encoding=encoding, options=CrmOptions(), fixed_names=fixed_names)
    table = source.table.rename_columns(
        [run.model.columns.get(name, name) for name in source.table.column_names]
    )
    if column not in table.column_names:
        raise InputError(
            f"missing the outcome column {column!r}; the file's columns are: "
            + ", ".join(repr(name) for name in source.table.column_names),
            file=source.path,
        )
    keys = pc.utf8_trim_whitespace(pc.cast(table[run.model.key], "string"))
    if run.model.key == "email":
        keys = pc.utf8_lower(keys)
    values = pc.cast(table[column], "string").to_pylist()
    outcomes = {}
    for row, (key, value) in enumerate(zip(keys.to_pylist(), values)):
        outcomes[key] = is_converted(value, source, row, column)
    return outcomes


def is_converted(value: str | None, source, row: int, column: str) -> bool:
    """Read one value of a converted-or-not column, such as a CRM's Converted.

    `row` is the 0-based data row of `source`. Raises InputError naming the
    file, line (or row) and column for a value that is neither.
    """
    text = (value or "").strip().lower()
    if text in CONVERTED_VALUES:
        return True
    if text in NOT_CONVERTED_VALUES:
        return False
    raise InputError(
        f"{value!r} is not an outcome; {converted_fix()}",
        file=source.path,
        column=column,
        **source.position(row),
    )


def converted_fix() -> str:
    """Return the sentence that lists the values of a converted-or-not column."""
    return (
        "use one of "
        + ", ".join(sorted(CONVERTED_VALUES))
        + " for a converted lead, or "
        + ", ".join(sorted(NOT_CONVERTED_VALUES - {""}))
        + " (or an empty cell) for one that did not convert"
    )
