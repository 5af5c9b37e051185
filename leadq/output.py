"""Write scored leads: a Rich table for people, CSV, JSON or Parquet for tools."""

from __future__ import annotations

import re
import json
import sys
from pathlib import Path
from typing import TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table
from rich.text import Text

from leadq.compiler.query import CompiledRule
from leadq.errors import OptionError
from leadq.results import ScoredLead

FORMATS = ("table", "csv", "json", "parquet")
FILE_COLUMNS = (
    "lead_id", "fit_score", "grade", "engagement_score", "product_score",
    "stage", "stage_rule", "reasons",
)  # fmt: skip


EXTENSIONS = {".csv": "csv", ".json": "json", ".parquet": "parquet"}


def format_for(output: Path | None, requested: str | None) -> str:
    """Pick the format: the one requested, else from the output's extension."""
    if requested:
        return requested
    if output is None:
        return "table"
    suffix = output.suffix.lower()
    if suffix not in EXTENSIONS:
        raise OptionError(
            f"cannot tell the format of --output {output} from its extension; name "
            "the file *.csv, *.json or *.parquet, or pass --format"
        )
    return EXTENSIONS[suffix]


def check_output_path(output: Path, inputs: list[Path | None], option: str = "--output") -> None:
    """Reject an output path that would replace an input or cannot be written."""
    if output.is_dir():
        raise OptionError(f"{option} {output} is a directory; name a file")
    if not output.parent.is_dir():
        raise OptionError(f"{option} folder {output.parent} does not exist; create it first")
    for source in inputs:
        if source is None or not (source.exists() and output.exists()):
            continue
        if output.resolve() == source.resolve():
            raise OptionError(
                f"{option} {output} is also an input file; write the results to another file"
            )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def printable(text: str) -> Text:
    """Make terminal-safe text: control characters show as escapes, not act.

    A lead id with ESC sequences would otherwise clear the screen or retitle
    the terminal. Text is never parsed as Rich markup.
    """
    return Text(_CONTROL.sub(lambda match: f"\\x{ord(match.group()):02x}", text))


def plural(count: int, singular: str, plural_form: str) -> str:
    return f"{count:,} {singular if count == 1 else plural_form}"


def reasons_column(table: pa.Table, rules: list[CompiledRule]) -> pa.Array:
    """Build each lead's reasons as JSON text: non-zero rules, largest first.

    Works on the whole table at once: one matrix of contributions, sorted per
    row by absolute points (descending), then by rule id.
    """
    if not rules or len(table) == 0:
        return pa.array(["[]"] * len(table), pa.string())
    points = np.column_stack([table[rule.column].to_numpy() for rule in rules])
    id_rank = np.argsort(np.argsort([rule.rule_id for rule in rules], kind="stable"))
    order = np.lexsort((np.broadcast_to(id_rank, points.shape), -np.abs(points)), axis=1)
    counts = np.count_nonzero(points, axis=1)
    prefixes = [
        f'{{"section": "{rule.section}", "rule": {json.dumps(rule.rule_id)}, "points": '
        for rule in rules
    ]
    texts = []
    for row, count in enumerate(counts.tolist()):
        columns = order[row, :count].tolist()
        values = points[row, columns].tolist()
        items = [prefixes[c] + repr(v) + "}" for c, v in zip(columns, values)]
        texts.append("[" + ", ".join(items) + "]")
    return pa.array(texts, pa.string())


def results_table(run) -> pa.Table:
    """Return the output columns of a run (FILE_COLUMNS), reasons as JSON text.

    A model with a `predictive` section adds `probability` and
    `probability_reasons`: the top factors up and down, in log-odds.
    """
    table = run.table.select(list(FILE_COLUMNS[:-1]))
    table = table.append_column("reasons", reasons_column(run.table, run.compiled.rules))
    if run.probability_reasons is None:
        return table
    keys = run.table["lead_id"].to_pylist()
    reasons = [run.probability_reasons.get(key, "[]") for key in keys]
    table = table.append_column("probability", run.table["probability"])
    return table.append_column("probability_reasons", pa.array(reasons, pa.string()))


# Spreadsheets run a cell that starts with one of these as a formula, so
# text such as =HYPERLINK(...) in a lead's data could act when a CSV opens.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
FORMULA_PATTERN = "^[=+\\-@\t\r]"
# Signed numbers and phone numbers, such as -5 or +1 415 555 0100, have no
# letters, so they call no function. A quote would corrupt them in a CRM.
NUMBER_LIKE = "[+-]?[0-9][0-9 ().\\/-]*"
NUMBER_LIKE_RE = re.compile(NUMBER_LIKE)


def guard_formula(text: str) -> str:
    """Prefix a single quote to text that a spreadsheet would run as a formula."""
    if text.startswith(FORMULA_PREFIXES) and not NUMBER_LIKE_RE.fullmatch(text):
        return "'" + text
    return text


def guard_formulas(table: pa.Table) -> pa.Table:
    """Apply `guard_formula` to every text column; number columns stay as they are."""
    for index, column_field in enumerate(table.schema):
        if not (pa.types.is_string(column_field.type) or pa.types.is_large_string(column_field.type)):
            continue
        column = table.column(index)
        starts = pc.match_substring_regex(column, FORMULA_PATTERN)
        number_like = pc.match_substring_regex(column, f"^{NUMBER_LIKE}$")
        risky = pc.fill_null(pc.and_(starts, pc.invert(number_like)), False)
        quoted = pc.binary_join_element_wise("'", column, "")
        table = table.set_column(index, column_field, pc.if_else(risky, quoted, column))
    return table


def write_csv(run, sink) -> None:
    options = pa_csv.WriteOptions(quoting_style="needed")
    pa_csv.write_csv(guard_formulas(results_table(run)), sink, write_options=options)


def write_json(run, stream: TextIO) -> None:
    table = results_table(run)
    records = table.to_pylist()
    for record in records:
        record["reasons"] = json.loads(record["reasons"])
        if "probability_reasons" in record:
            record["probability_reasons"] = json.loads(record["probability_reasons"])
    json.dump(records, stream, ensure_ascii=False, indent=2)
    stream.write("\n")


def write_file(run, path: Path, fmt: str) -> None:
    """Write to a temporary file, then rename, so a failed run leaves no half file."""
    partial = path.with_name(path.name + ".partial")
    try:
        if fmt == "parquet":
            pq.write_table(results_table(run), partial)
        elif fmt == "csv":
            write_csv(run, str(partial))
        else:
            with partial.open("w", encoding="utf-8") as stream:
                write_json(run, stream)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_stdout(run, fmt: str) -> None:
    if fmt == "csv":
        buffer = pa.BufferOutputStream()
        write_csv(run, buffer)
        sys.stdout.write(buffer.getvalue().to_pybytes().decode("utf-8"))
    else:
        write_json(run, sys.stdout)


def percent(probability: float | None) -> str:
    """Show a probability as a percentage; clipping keeps it off 0% and 100%."""
    return "-" if probability is None else f"{100 * probability:.1f}%"


def leads_table(leads: list[ScoredLead], probabilities: list | None = None) -> Table:
    table = Table(title=None, header_style="bold", show_lines=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("lead", overflow="fold")
    table.add_column("fit", justify="right")
    table.add_column("grade", justify="center")
    table.add_column("engmt", justify="right")
    table.add_column("prod", justify="right")
    table.add_column("stage")
    if probabilities is not None:
        table.add_column("prob", justify="right")
    table.add_column("top reasons")
    for position, lead in enumerate(leads, start=1):
        reasons = ", ".join(c.as_text() for c in lead.reasons(3)) or "-"
        extra = [percent(probabilities[position - 1])] if probabilities is not None else []
        # Text cells are never parsed as Rich markup, so a lead id such as
        # "[red]x" prints as written.
        table.add_row(
            str(position),
            printable(lead.lead_id),
            f"{lead.fit_score:.1f}",
            lead.grade,
            f"{lead.engagement_score:.1f}",
            f"{lead.product_score:.1f}",
            printable(lead.stage or "(none)"),
            *extra,
            printable(reasons),
        )
    return table


def counts_table(counts: dict[str, int]) -> Table:
    table = Table(header_style="bold")
    table.add_column("stage")
    table.add_column("leads", justify="right")
    total = sum(counts.values())
    for stage, count in counts.items():
        table.add_row(printable(stage), str(count))
    table.add_row("total", str(total), style="bold")
    return table


# Width of tables written to a pipe or file, where no terminal sets one.
PIPE_WIDTH = 160


def console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal else PIPE_WIDTH
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)
