"""CSV export of the leads table, safe to open in a spreadsheet.

A cell that starts with =, +, -, @, a tab or a carriage return is a
formula to Excel, LibreOffice and Google Sheets (the CSV injection that
OWASP describes), so such a cell gets a leading single quote and shows as
the text it is. Scores are written by this module as numbers and need no
quote.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from leadq.dashboard.lead_rows import LeadRow
from leadq.dashboard.rendering import format_time

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
HEADER = (
    "id",
    "lead_key",
    "email",
    "name",
    "company",
    "owner",
    "source",
    "stage",
    "grade",
    "total",
    "fit",
    "engagement",
    "product",
    "last_activity",
    "updated_at",
    "top_reason",
)


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def csv_lines(pages: Iterable[list[LeadRow]]) -> Iterator[str]:
    """Yield the CSV text of the header and of each page of rows."""
    yield _line(HEADER)
    for rows in pages:
        yield "".join(_line(_cells(row)) for row in rows)


def _cells(row: LeadRow) -> list:
    texts = [
        row.lead_key,
        row.email,
        row.name,
        row.company,
        row.owner,
        row.source,
        row.stage,
        row.grade,
    ]
    numbers = [
        _number(value) for value in (row.total, row.fit, row.engagement, row.product)
    ]
    times = [
        format_time(row.last_activity) if row.last_activity else "",
        format_time(row.updated_at),
    ]
    return [
        row.id,
        *[safe_cell(text) for text in texts],
        *numbers,
        *times,
        safe_cell(row.top_reason),
    ]


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _line(cells) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(cells)
    return buffer.getvalue()
