"""Readers for leads and events files and conversion of their event times."""

from leadq.inputs.files import SourceTable, read_source, read_table
from leadq.inputs.timestamps import (
    check_timezone,
    local_days,
    to_utc_micros,
    week_of_day,
)

__all__ = [
    "SourceTable",
    "check_timezone",
    "local_days",
    "read_source",
    "read_table",
    "to_utc_micros",
    "week_of_day",
]
