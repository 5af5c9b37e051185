"""The event times that the tracking API and `leadq import` accept."""

from __future__ import annotations

from datetime import datetime, timezone

from leadq.store.database import now_micros

# An event may be dated up to a day after the clock of the machine that
# checks it, for senders whose clocks run fast. A later date is a mistake,
# because such an event would count only from that date on.
FUTURE_TOLERANCE_MICROS = 86_400 * 1_000_000
# Event times lie in the years 1970 to 9999 in UTC. An earlier time is a
# mistake, such as year 0 for a missing year, and Python's datetime, which
# shows stored times, ends with the year 9999.
YEARS_PROBLEM = "is outside the years 1970 to 9999 in UTC"
# 10000-01-01T00:00:00Z in microseconds since the epoch.
END_OF_YEARS_MICROS = 253_402_300_800 * 1_000_000


def event_time_problem(ts: int, now: int | None = None) -> str | None:
    """Return why an event time in UTC microseconds is rejected, or None.

    A time outside the years 1970 to 9999 is rejected, and so is one too
    far ahead (see future_time_problem). The text continues a sentence
    whose subject is the time.
    """
    if not 0 <= ts < END_OF_YEARS_MICROS:
        return f"{YEARS_PROBLEM}; use the time the event happened, with its UTC offset"
    return future_time_problem(ts, now)


def future_time_problem(ts: int, now: int | None = None) -> str | None:
    """Return why an event time in UTC microseconds is too far ahead, or None when it is accepted.

    The text continues a sentence whose subject is the time, as in
    "timestamp '2099-01-01T00:00:00Z' is more than a day after ...".
    """
    now = now_micros() if now is None else now
    if ts <= now + FUTURE_TOLERANCE_MICROS:
        return None
    clock = datetime.fromtimestamp(now // 1_000_000, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    return (
        f"is more than a day after this machine's clock ({clock}); "
        "use the time the event happened, with its UTC offset"
    )
