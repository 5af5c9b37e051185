"""Conversion of event times to UTC microseconds, and of instants to local days.

Every function here works on whole Arrow arrays. The row-by-row search for the
first invalid value runs only after a vectorised step has failed.
"""

from __future__ import annotations

import zoneinfo

import pyarrow as pa
import pyarrow.compute as pc

from leadq.errors import InputError
from leadq.inputs.files import SourceTable

EXAMPLE = "2026-03-01T09:30:00+01:00"
EXPECTED = f"expected ISO 8601 with an offset, for example {EXAMPLE}"
TIMEZONE_FIX = (
    "name the time zone of local times with --timezone, "
    "for example --timezone Europe/Berlin"
)

# A date, optionally followed by a time with minutes, optional seconds and
# fraction, and an optional UTC offset (Z, +hh, +hhmm or +hh:mm).
ISO_8601 = (
    r"^\d{4}-\d{2}-\d{2}"
    r"(?:[Tt ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:[Zz]|[+-]\d{2}(?::?\d{2})?)?)?$"
)
# Applied only to values that match ISO_8601. The time part is required so
# that the day of a date-only value ("-01") is not read as an offset.
HAS_OFFSET = r"[Tt ][0-9:.,]+(?:[Zz]|[+-]\d{2}(?::?\d{2})?)$"

DATE_ONLY = r"^\d{4}-\d{2}-\d{2}$"

UTC_MICROS = pa.timestamp("us", tz="UTC")
NAIVE_MICROS = pa.timestamp("us")
MAX_SHOWN_CHARS = 60


def to_utc_micros(
    values: pa.Array | pa.ChunkedArray,
    *,
    source: SourceTable,
    column: str,
    timezone: str | None,
) -> pa.Array:
    """Convert a column of event times to int64 microseconds since 1970-01-01 UTC.

    Strings must be ISO 8601. A value with a UTC offset keeps it. A value
    without one, and a date-only value (midnight), is a local time in
    `timezone` and is rejected when `timezone` is None. Timestamp columns
    with a time zone are used as they are, and naive ones are local times in
    `timezone`. Fractions below a microsecond are truncated. Raises
    InputError naming the file position, column and value of the first
    missing, malformed, or ambiguous or skipped local time. The value is
    quoted from `source.written_values` when the column was rewritten.
    """
    zone = check_timezone(timezone) if timezone is not None else None
    array = _as_array(values)
    kind = array.type

    if pa.types.is_dictionary(kind):
        array = array.dictionary_decode()
        kind = array.type
    if pa.types.is_string_view(kind):
        array = array.cast(pa.large_string())
        kind = array.type

    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        written = source.written_values.get(column)
        file_values = array if written is None else _as_array(written)
        instants = _parse_text(array, file_values, source, column, zone)
    elif pa.types.is_timestamp(kind) and kind.tz is not None:
        _raise_first_null(array, source, column)
        instants = _to_micros_unit(array)
    elif pa.types.is_timestamp(kind) or pa.types.is_date(kind):
        _raise_first_null(array, source, column)
        if zone is None:
            raise InputError(
                f"the column has {kind} values without a time zone; {TIMEZONE_FIX}",
                file=source.path,
                column=column,
            )
        naive = array.cast(NAIVE_MICROS) if pa.types.is_date(kind) else array
        instants = _localize(_to_micros_unit(naive), array, zone, source, column)
    elif pa.types.is_integer(kind) or pa.types.is_floating(kind):
        raise InputError(
            f"the column contains numbers ({kind}), not timestamps; write the "
            f"times as ISO 8601 text with an offset, for example {EXAMPLE}",
            file=source.path,
            column=column,
        )
    elif pa.types.is_null(kind):
        _raise_first_null(array, source, column)
        instants = array.cast(UTC_MICROS)
    else:
        raise InputError(
            f"the column has type {kind}, not timestamps; {EXPECTED}",
            file=source.path,
            column=column,
        )
    return instants.cast(UTC_MICROS).cast(pa.int64())


def check_timezone(timezone: str) -> str:
    """Return `timezone` if it is an IANA time zone name, else raise InputError."""
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InputError(
            f"unknown time zone {timezone!r}; use an IANA time zone name, "
            "for example Europe/Berlin or UTC"
        ) from None
    return timezone


def local_days(utc_micros: pa.Array | pa.ChunkedArray, timezone: str) -> pa.Array:
    """Return the local calendar date in `timezone` as int32 days since 1970-01-01.

    Nulls stay null.
    """
    zone = check_timezone(timezone)
    instants = _as_array(utc_micros).cast(pa.int64()).cast(pa.timestamp("us", zone))
    try:
        local = pc.local_timestamp(instants)
    except pa.ArrowInvalid as exc:
        raise _unknown_to_arrow(zone, exc) from exc
    return local.cast(pa.date32()).cast(pa.int32())


def week_of_day(days: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Return the week index of each day, floor((days + 3) / 7), as int32.

    Weeks start on Monday: 1970-01-01 (day 0) was a Thursday, so week 0 runs
    from Monday 1969-12-29 (day -3) to Sunday 1970-01-04 (day 3).
    """
    shifted = pc.add(_as_array(days).cast(pa.int64()), 3)
    return _floor_divide(shifted, 7).cast(pa.int32())


def _as_array(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    return values


def _floor_divide(dividend: pa.Array, divisor: int) -> pa.Array:
    """Divide int64 values rounding towards minus infinity (pc.divide truncates)."""
    quotient = pc.divide(dividend, divisor)
    remainder = pc.subtract(dividend, pc.multiply(quotient, divisor))
    return pc.if_else(pc.less(remainder, 0), pc.subtract(quotient, 1), quotient)


def _to_micros_unit(array: pa.Array) -> pa.Array:
    """Cast a timestamp array to microseconds, flooring nanoseconds."""
    kind = array.type
    if kind.unit != "ns":
        return array.cast(pa.timestamp("us", kind.tz))
    nanos = array.cast(pa.int64())
    return _floor_divide(nanos, 1000).cast(pa.timestamp("us", kind.tz))


def _first_true(mask: pa.Array) -> int:
    """Return the index of the first true value of a boolean array, or -1."""
    return pc.index(pc.fill_null(mask, False), True).as_py()


def _quote_value(value: object) -> str:
    text = str(value)
    if len(text) > MAX_SHOWN_CHARS:
        text = text[:MAX_SHOWN_CHARS] + "..."
    return repr(text)


def _error_at(
    message: str, row_index: int, source: SourceTable, column: str
) -> InputError:
    return InputError(
        message, file=source.path, column=column, **source.position(row_index)
    )


def _raise_first_null(array: pa.Array, source: SourceTable, column: str) -> None:
    if array.null_count == 0:
        return
    row_index = _first_true(pc.is_null(array))
    raise _missing_error(row_index, source, column)


def _missing_error(row_index: int, source: SourceTable, column: str) -> InputError:
    return _error_at(
        "the timestamp is missing; every row needs a time in ISO 8601 with an "
        f"offset, for example {EXAMPLE}",
        row_index,
        source,
        column,
    )


def _parse_text(
    array: pa.Array,
    file_values: pa.Array,
    source: SourceTable,
    column: str,
    zone: str | None,
) -> pa.Array:
    """Parse ISO 8601 strings to timestamp[us, UTC]; messages quote `file_values`."""
    text = pc.utf8_trim_whitespace(array)
    missing = pc.or_kleene(pc.is_null(text), pc.equal(pc.utf8_length(text), 0))
    malformed = pc.invert(pc.match_substring_regex(text, ISO_8601))
    has_offset = pc.fill_null(pc.match_substring_regex(text, HAS_OFFSET), False)

    problems = pc.or_kleene(missing, malformed)
    if zone is None:
        problems = pc.or_kleene(problems, pc.invert(has_offset))
    row_index = _first_true(problems)
    if row_index >= 0:
        raise _text_error(file_values, row_index, missing, malformed, source, column)

    # Arrow's ISO 8601 cast takes an upper-case T and Z, a "." before the
    # fraction and at most 6 fraction digits for microseconds.
    normalized = pc.ascii_upper(text)
    normalized = pc.replace_substring(normalized, ",", ".")
    normalized = pc.replace_substring_regex(normalized, r"\.(\d{6})\d+", r".\1")

    # pc.all of an empty array is NULL, so test for "no row lacks an offset".
    if not pc.any(pc.invert(has_offset)).as_py():
        return _cast_text(normalized, UTC_MICROS, file_values, source, column)

    with_offset = pc.if_else(has_offset, normalized, None)
    without_offset = pc.if_else(has_offset, None, normalized)
    aware = _cast_text(with_offset, UTC_MICROS, file_values, source, column)
    naive = _cast_text(without_offset, NAIVE_MICROS, file_values, source, column)
    assert zone is not None
    date_only = pc.match_substring_regex(text, DATE_ONLY)
    localized = _localize(naive, file_values, zone, source, column, date_only)
    return pc.if_else(has_offset, aware, localized.cast(UTC_MICROS))


def _text_error(
    array: pa.Array,
    row_index: int,
    missing: pa.Array,
    malformed: pa.Array,
    source: SourceTable,
    column: str,
) -> InputError:
    if missing[row_index].as_py():
        return _missing_error(row_index, source, column)
    value = _quote_value(array[row_index].as_py())
    if malformed[row_index].as_py():
        message = f"invalid timestamp {value}: {EXPECTED}"
        return _error_at(message, row_index, source, column)
    return _error_at(
        f"timestamp {value} has no UTC offset; add one, for example {EXAMPLE}, "
        f"or {TIMEZONE_FIX}",
        row_index,
        source,
        column,
    )


def _cast_text(
    text: pa.Array,
    target: pa.DataType,
    original: pa.Array,
    source: SourceTable,
    column: str,
) -> pa.Array:
    """Cast ISO 8601 text, naming the first value that is not a valid date or time."""
    try:
        return text.cast(target)
    except pa.ArrowInvalid:
        row_index = _first_cast_failure(text, target)
    value = _quote_value(original[row_index].as_py())
    raise _error_at(f"invalid timestamp {value}: {EXPECTED}", row_index, source, column)


def _first_cast_failure(text: pa.Array, target: pa.DataType) -> int:
    """Binary-search the shortest prefix of `text` whose cast fails."""
    low, high = 0, len(text)
    while high - low > 1:
        middle = (low + high) // 2
        try:
            text.slice(low, middle - low).cast(target)
            low = middle
        except pa.ArrowInvalid:
            high = middle
    return low


def _localize(
    naive: pa.Array,
    original: pa.Array,
    zone: str,
    source: SourceTable,
    column: str,
    date_only: pa.Array | None = None,
) -> pa.Array:
    """Interpret naive timestamps as local times in `zone`.

    A local time that occurs twice (when clocks go back) or never (when they
    go forward) raises InputError instead of being shifted. A date without a
    time means the start of that local day, which is never ambiguous: where
    clocks skip midnight, the day starts when they resume.
    """
    try:
        earliest = pc.assume_timezone(
            naive, timezone=zone, ambiguous="earliest", nonexistent="earliest"
        )
        latest = pc.assume_timezone(
            naive, timezone=zone, ambiguous="latest", nonexistent="latest"
        )
        day_start = pc.assume_timezone(
            naive, timezone=zone, ambiguous="earliest", nonexistent="latest"
        )
    except pa.ArrowInvalid as exc:
        raise _unknown_to_arrow(zone, exc) from exc
    unclear = pc.not_equal(earliest, latest)
    if date_only is not None:
        unclear = pc.and_(unclear, pc.invert(pc.fill_null(date_only, False)))
        earliest = pc.if_else(pc.fill_null(date_only, False), day_start, earliest)
    row_index = _first_true(unclear)
    if row_index < 0:
        return earliest

    value = _quote_value(original[row_index].as_py())
    try:
        pc.assume_timezone(
            naive.slice(row_index, 1), timezone=zone, nonexistent="earliest"
        )
    except pa.ArrowInvalid:
        reason = "is ambiguous: it occurs twice when clocks go back"
    else:
        reason = "does not exist: clocks skip it when they go forward"
    raise _error_at(
        f"local time {value} in {zone} {reason}; add the UTC offset to the value, "
        f"for example {EXAMPLE}",
        row_index,
        source,
        column,
    )


def _unknown_to_arrow(zone: str, exc: pa.ArrowInvalid) -> InputError:
    return InputError(
        f"time zone {zone!r} is not in the time zone database that pyarrow "
        f"uses: {exc}"
    )
