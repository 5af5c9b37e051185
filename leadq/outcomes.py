"""Conversion rates of scored leads from an outcome column of the leads file."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pyarrow.compute as pc
from rich.table import Table
from rich.text import Text

from leadq.crm.reading import CrmOptions, model_names, read_lead_file
from leadq.errors import InputError

CONVERTED_VALUES = {"1", "true", "yes", "y", "won", "converted"}
NOT_CONVERTED_VALUES = {"0", "false", "no", "n", "lost", ""}


def outcome_report(run, leads_path: Path, column: str, encoding: str | None) -> list[Table]:
    """Build tables of leads and conversion rate per stage and per grade."""
    outcomes = read_outcomes(run, leads_path, column, encoding)
    by_stage = _rates(run.leads, outcomes, lambda lead: lead.stage or "(none)")
    by_grade = _rates(run.leads, outcomes, lambda lead: lead.grade)
    stage_order = [stage.id for stage in run.model.stages] + ["(none)"]
    return [
        _rate_table("stage", by_stage, stage_order, column),
        _rate_table("grade", by_grade, ["A", "B", "C", "D"], column),
    ]


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
        outcomes[key] = _converted(value, source, row, column)
    return outcomes


def _converted(value: str | None, source, row: int, column: str) -> bool:
    text = (value or "").strip().lower()
    if text in CONVERTED_VALUES:
        return True
    if text in NOT_CONVERTED_VALUES:
        return False
    kind, number = source.line_numbers(row)
    raise InputError(
        f"{value!r} is not an outcome; use 1 or 0 (also true/false, yes/no)",
        file=source.path,
        column=column,
        **{kind: number},
    )


def _rates(leads, outcomes, group_of) -> dict[str, tuple[int, int]]:
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for lead in leads:
        group = counts[group_of(lead)]
        group[0] += 1
        group[1] += outcomes.get(lead.lead_id, False)
    return {name: (total, converted) for name, (total, converted) in counts.items()}


def _rate_table(title: str, rates, order: list[str], column: str) -> Table:
    table = Table(header_style="bold", title=f"{column} by {title}")
    table.add_column(title)
    table.add_column("leads", justify="right")
    table.add_column("converted", justify="right")
    table.add_column("rate", justify="right")
    all_leads = sum(total for total, _ in rates.values())
    all_converted = sum(converted for _, converted in rates.values())
    for name in order:
        if name not in rates:
            continue
        total, converted = rates[name]
        table.add_row(Text(name), str(total), str(converted), _percent(converted, total))
    table.add_row("all", str(all_leads), str(all_converted), _percent(all_converted, all_leads), style="bold")
    return table


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"
