"""Write scored leads: a Rich table for people, CSV, JSON or Parquet for tools."""

from __future__ import annotations

import csv
import io
import re
import json
import sys
from pathlib import Path
from typing import TextIO

import pyarrow as pa
import pyarrow.parquet as pq
from rich.console import Console
from rich.table import Table
from rich.text import Text

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


def check_output_path(output: Path, inputs: list[Path | None]) -> None:
    """Reject an output path that would replace an input or cannot be written."""
    if output.is_dir():
        raise OptionError(f"--output {output} is a directory; name a file")
    if not output.parent.is_dir():
        raise OptionError(f"--output folder {output.parent} does not exist; create it first")
    for source in inputs:
        if source is None or not (source.exists() and output.exists()):
            continue
        if output.resolve() == source.resolve():
            raise OptionError(
                f"--output {output} is also an input file; write the results to another file"
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


def reasons_json(lead: ScoredLead) -> str:
    reasons = [
        {"section": c.section, "rule": c.rule_id, "points": c.points}
        for c in lead.reasons()
    ]
    return json.dumps(reasons, ensure_ascii=False)


def lead_record(lead: ScoredLead) -> dict:
    return {
        "lead_id": lead.lead_id,
        "fit_score": lead.fit_score,
        "grade": lead.grade,
        "engagement_score": lead.engagement_score,
        "product_score": lead.product_score,
        "stage": lead.stage,
        "stage_rule": lead.stage_rule,
        "reasons": reasons_json(lead),
    }


def write_csv(leads: list[ScoredLead], stream: TextIO) -> None:
    writer = csv.DictWriter(stream, fieldnames=FILE_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for lead in leads:
        writer.writerow(lead_record(lead))


def write_json(leads: list[ScoredLead], stream: TextIO) -> None:
    records = []
    for lead in leads:
        record = lead_record(lead)
        record["reasons"] = json.loads(record["reasons"])
        records.append(record)
    json.dump(records, stream, ensure_ascii=False, indent=2)
    stream.write("\n")


def write_parquet(leads: list[ScoredLead], path: Path) -> None:
    records = [lead_record(lead) for lead in leads]
    schema = pa.schema(
        [
            ("lead_id", pa.string()),
            ("fit_score", pa.float64()),
            ("grade", pa.string()),
            ("engagement_score", pa.float64()),
            ("product_score", pa.float64()),
            ("stage", pa.string()),
            ("stage_rule", pa.string()),
            ("reasons", pa.string()),
        ]
    )
    pq.write_table(pa.Table.from_pylist(records, schema=schema), path)


def write_file(leads: list[ScoredLead], path: Path, fmt: str) -> None:
    """Write to a temporary file, then rename, so a failed run leaves no half file."""
    partial = path.with_name(path.name + ".partial")
    try:
        if fmt == "parquet":
            write_parquet(leads, partial)
        else:
            with partial.open("w", encoding="utf-8", newline="") as stream:
                (write_csv if fmt == "csv" else write_json)(leads, stream)
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def write_stdout(leads: list[ScoredLead], fmt: str) -> None:
    if fmt == "parquet":
        raise ValueError("parquet output needs --output FILE")
    buffer = io.StringIO()
    (write_csv if fmt == "csv" else write_json)(leads, buffer)
    sys.stdout.write(buffer.getvalue())


def leads_table(leads: list[ScoredLead], limit: int | None) -> Table:
    table = Table(title=None, header_style="bold", show_lines=False)
    table.add_column("#", justify="right", style="dim")
    table.add_column("lead", overflow="fold")
    table.add_column("fit", justify="right")
    table.add_column("grade", justify="center")
    table.add_column("engmt", justify="right")
    table.add_column("prod", justify="right")
    table.add_column("stage")
    table.add_column("top reasons")
    shown = leads if not limit else leads[:limit]
    for position, lead in enumerate(shown, start=1):
        reasons = ", ".join(c.as_text() for c in lead.reasons(3)) or "-"
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
