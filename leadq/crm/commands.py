"""Command-line options for CRM files, and `leadq export`."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

# The CRM modules load inside each command, so that these options cost
# `leadq --help` nothing.


class CrmFormat(str, Enum):
    hubspot = "hubspot"
    salesforce = "salesforce"
    generic = "generic"


class DateFormat(str, Enum):
    day_first = "day-first"
    month_first = "month-first"
    iso = "ISO"


FORMAT_HELP = "CRM export format of the leads file. Default: detected from the header."
CrmFormatOption = Annotated[Optional[CrmFormat], typer.Option("--format", help=FORMAT_HELP)]
# `leadq score` has its own --format, for its output.
ScoreCrmFormatOption = Annotated[Optional[CrmFormat], typer.Option("--crm-format", help=FORMAT_HELP)]
MapOption = Annotated[
    Optional[list[str]],
    typer.Option(
        "--map",
        metavar="COLUMN=FIELD",
        help="Read a leads file column as this lead field; repeat for more columns.",
    ),
]
DateFormatOption = Annotated[
    Optional[DateFormat],
    typer.Option(
        "--date-format",
        help="Order of day and month in dates such as 11/03/2026. Default: such dates are rejected as ambiguous.",
    ),
]


def crm_options(crm_format, maps, date_format):
    """Return CrmOptions for the options given, or None when none was given."""
    from leadq.crm.reading import CrmOptions, parse_maps

    if crm_format is None and not maps and date_format is None:
        return None
    return CrmOptions(
        format=crm_format.value if crm_format else None,
        maps=parse_maps(maps or []),
        date_format=date_format.value if date_format else None,
    )


def register(app: typer.Typer) -> None:
    pass
