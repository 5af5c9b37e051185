"""Dates as CRM exports and spreadsheets write them, turned into ISO 8601 text.

Accepted forms: ISO 8601 (2026-03-11, 2026-03-11 14:05, with an optional
offset), Excel serial numbers (45231, 45231.5 for noon) and numeric text
with the day and month in either order (11/03/2026 14:05, 3.11.2026,
11/3/2026 2:05 PM). Text whose day and month could be swapped, such as
11/03/2026, is read only when the file's order is declared: a date is
never guessed.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

DAY_FIRST = "day-first"
MONTH_FIRST = "month-first"
ISO = "ISO"
DATE_FORMATS = (DAY_FIRST, MONTH_FIRST, ISO)

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?")
NUMERIC_DATE = re.compile(
    r"(?P<first>\d{1,2})(?P<sep>[/.-])(?P<second>\d{1,2})(?P=sep)(?P<year>\d{2,4})"
    r"(?:[ T,]+(?P<hour>\d{1,2}):(?P<minute>\d{2})(?::(?P<second_of_minute>\d{2}))?\s*(?P<half>[AaPp][Mm])?)?"
)
SERIAL = re.compile(r"\d+(?:\.\d+)?")

# Excel counts days from 1899-12-30 for serial 61 (1900-03-01) on. It takes
# 1900 for a leap year, so serials below 61 are a day off and are rejected.
EXCEL_EPOCH = datetime(1899, 12, 30)
FIRST_SERIAL = 61
LAST_SERIAL = 2_958_465  # 9999-12-31
FORMS = "ISO 8601 such as 2026-03-11, text such as 11/03/2026 14:05, or an Excel serial number such as 45231"
DECLARE = "declare the order with --date-format day-first or --date-format month-first"
TIME_FIX = "write hours from 0 to 23 and minutes and seconds from 0 to 59, such as 14:05"


class DateError(ValueError):
    """A date that cannot be read, with the reason and the fix."""


def normalize_date(text: str, order: str | None = None) -> str:
    """Return a CRM date as ISO 8601 text: 2026-03-11, or 2026-03-11T14:05:00.

    `order` is the file's declared form: day-first, month-first or ISO.
    Without it, text whose day and month could be swapped raises DateError.
    """
    value = text.strip()
    if ISO_DATE.fullmatch(value):
        return _iso(value)
    if SERIAL.fullmatch(value):
        return _from_serial(value)
    found = NUMERIC_DATE.fullmatch(value)
    if found is None:
        raise DateError(f"invalid date {value!r}; write {FORMS}")
    if order == ISO:
        raise DateError(f"{value!r} is not ISO 8601 as --date-format ISO declares; write it as 2026-03-11")
    return _from_numeric(value, found, order)


def _iso(value: str) -> str:
    try:
        parsed = datetime.fromisoformat(value.replace(",", "."))
    except ValueError:
        raise DateError(f"invalid date {value!r}: no such day or time; correct the day, month, hour or minute") from None
    if len(value) == 10:
        return parsed.date().isoformat()
    return parsed.isoformat()


def _from_serial(value: str) -> str:
    serial = float(value)
    if not FIRST_SERIAL <= serial <= LAST_SERIAL:
        raise DateError(
            f"{value!r} is not an Excel date serial number (from {FIRST_SERIAL}, 1900-03-01, "
            f"to {LAST_SERIAL:,}, 9999-12-31); write the date as 2026-03-11"
        )
    moment = EXCEL_EPOCH + timedelta(seconds=round(serial * 86_400))
    if "." not in value or moment.time() == datetime.min.time():
        return moment.date().isoformat()
    return moment.isoformat()


def _from_numeric(value: str, found: re.Match, order: str | None) -> str:
    if len(found["year"]) != 4:
        raise DateError(f"date {value!r} has a {len(found['year'])}-digit year; write the year with 4 digits")
    first, second = int(found["first"]), int(found["second"])
    day, month = _day_and_month(value, first, second, order)
    year = int(found["year"])
    try:
        day_part = date(year, month, day)
    except ValueError:
        raise DateError(_no_such_day(value, year, month, day, order)) from None
    if found["hour"] is None:
        return day_part.isoformat()
    hour = _hour(value, int(found["hour"]), found["half"])
    minute, second_of_minute = int(found["minute"]), int(found["second_of_minute"] or 0)
    if minute > 59 or second_of_minute > 59:
        raise DateError(f"invalid time in {value!r}; {TIME_FIX}")
    return datetime(day_part.year, day_part.month, day_part.day, hour, minute, second_of_minute).isoformat()


def _day_and_month(value: str, first: int, second: int, order: str | None) -> tuple[int, int]:
    if order == DAY_FIRST:
        return first, second
    if order == MONTH_FIRST:
        return second, first
    if first == second or second > 12 >= first:
        return second, first
    if first > 12 >= second:
        return first, second
    if first > 12 and second > 12:
        raise DateError(f"invalid date {value!r}: neither {first} nor {second} is a month")
    raise DateError(
        f"ambiguous date {value!r}: it is {_spelled(first, second)} day-first or "
        f"{_spelled(second, first)} month-first; {DECLARE}"
    )


def _no_such_day(value: str, year: int, month: int, day: int, order: str | None) -> str:
    if month > 12 and order is None:
        return f"invalid date {value!r}: {month} is not a month; correct the date"
    if month > 12:
        return (
            f"invalid date {value!r}: read {order} as --date-format declares, its month is {month}; "
            "correct the date, or check the file's order and --date-format"
        )
    return f"invalid date {value!r}: {date(year, month, 1):%B %Y} has no day {day}; correct the date"


def _spelled(day: int, month: int) -> str:
    return date(2000, month, day).strftime(f"{day} %B")


def _hour(value: str, hour: int, half: str | None) -> int:
    if half is None:
        if hour > 23:
            raise DateError(f"invalid time in {value!r}; {TIME_FIX}")
        return hour
    if not 1 <= hour <= 12:
        raise DateError(
            f"invalid time in {value!r}: with AM or PM the hour is 1 to 12; "
            "correct the hour, or leave out AM or PM and write 0 to 23"
        )
    return hour % 12 + (12 if half.lower() == "pm" else 0)
