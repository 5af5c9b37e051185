"""Dates of CRM exports: ISO 8601, Excel serial numbers, day-first and month-first text."""

from __future__ import annotations

import pytest

from leadq.crm.dates import DateError, normalize_date


@pytest.mark.parametrize(
    ("text", "order", "expected"),
    [
        ("2026-03-11", None, "2026-03-11"),
        (" 2026-03-11 14:05 ", None, "2026-03-11T14:05:00"),
        ("2026-03-11T14:05:00.000+0000", None, "2026-03-11T14:05:00+00:00"),
        ("2026-03-11T14:05:00Z", "day-first", "2026-03-11T14:05:00+00:00"),
        ("45231", None, "2023-11-01"),
        ("45231.5", None, "2023-11-01T12:00:00"),
        ("45231.0", "ISO", "2023-11-01"),
        ("11/03/2026 14:05", "day-first", "2026-03-11T14:05:00"),
        ("11/03/2026 14:05", "month-first", "2026-11-03T14:05:00"),
        ("11.03.2026", "day-first", "2026-03-11"),
        ("13/03/2026 09:15", None, "2026-03-13T09:15:00"),
        ("3/13/2026 2:05 PM", None, "2026-03-13T14:05:00"),
        ("3/13/2026 12:05 AM", None, "2026-03-13T00:05:00"),
        ("05/05/2026", None, "2026-05-05"),
    ],
)  # fmt: skip
def test_date_read(text, order, expected):
    assert normalize_date(text, order) == expected


@pytest.mark.parametrize(
    ("text", "order", "message"),
    [
        ("11/03/2026 14:05", None,
         "ambiguous date '11/03/2026 14:05': it is 11 March day-first or 3 November month-first; "
         "declare the order with --date-format day-first or --date-format month-first"),
        ("13/03/2026", "month-first",
         "invalid date '13/03/2026': read month-first as --date-format declares, its month is 13; "
         "correct the date, or check the file's order and --date-format"),
        ("31/02/2026 10:00", "day-first", "invalid date '31/02/2026 10:00': February 2026 has no day 31; correct the date"),
        ("31/04/2026", None, "invalid date '31/04/2026': April 2026 has no day 31; correct the date"),
        ("13/13/2026", None, "invalid date '13/13/2026': 13 is not a month; correct the date"),
        ("1/2/2026 24:00", "day-first",
         "invalid time in '1/2/2026 24:00'; write hours from 0 to 23 and minutes and seconds from 0 to 59, "
         "such as 14:05"),
        ("1/2/2026 10:60", "day-first", "invalid time in '1/2/2026 10:60'; write hours from 0 to 23"),
        ("11/03/2026", "ISO", "'11/03/2026' is not ISO 8601 as --date-format ISO declares"),
        ("11/03/26", "day-first", "date '11/03/26' has a 2-digit year; write the year with 4 digits"),
        ("2026-02-30", None, "invalid date '2026-02-30': no such day or time; correct the day, month, hour or minute"),
        ("30", None, "'30' is not an Excel date serial number"),
        ("13/14/2026", None, "invalid date '13/14/2026': neither 13 nor 14 is a month"),
        ("3/13/2026 13:05 PM", None,
         "with AM or PM the hour is 1 to 12; correct the hour, or leave out AM or PM and write 0 to 23"),
        ("next Tuesday", None, "invalid date 'next Tuesday'; write ISO 8601 such as 2026-03-11"),
    ],
)  # fmt: skip
def test_date_rejected(text, order, message):
    with pytest.raises(DateError) as raised:
        normalize_date(text, order)
    assert message in str(raised.value)
