"""Time each step that leadq's scoring semantics require, alone, in DuckDB.

leadq's speed targets compare it with a bare scan (read the events and
count them per raw email). Any correct query for leadq's model does more:
it counts a repeated event id once and finds where each visit starts. It
also sums each rule's decayed points per lead, whose key is the trimmed,
lowercased email. This script runs each of those
steps as the smallest DuckDB query that does it, on the generated events file, and reports its
time against the bare scan and, optionally, against the pandas reference.
No step can cost less inside a full query than it costs alone, so the
costliest step is a lower bound on any DuckDB plan for the model.

Usage: python -m benchmarks.floor [--data FOLDER] [--events 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from benchmarks.bench_scale import DEFAULT_DATA_ROOT
from benchmarks.bench_scoring import machine_text, spawn_case
from benchmarks.generate import EVENTS_PER_LEAD, generate

DEFAULT_EVENTS = 10_000_000
MICROS_PER_DAY = 86_400_000_000
HALF_LIFE_DAYS = 45
VISIT_GAP_MICROS = 30 * 60 * 1_000_000
# The standard event names of the built-in model, one decayed sum each.
RULE_EVENTS = (
    "page_viewed", "email_opened", "email_clicked", "content_downloaded",
    "form_submitted", "webinar_registered", "webinar_attended",
    "newsletter_subscribed", "content_shared", "demo_requested",
    "meeting_booked", "pricing_requested", "trial_started", "logged_in",
    "feature_activated", "teammate_invited", "unsubscribed", "email_bounced",
)  # fmt: skip


@dataclass
class Step:
    name: str
    query: str
    seconds: float = 0.0


def steps() -> list[Step]:
    """Return the bare scan first, then each required step as its own query."""
    return [
        Step("bare scan: count per raw email", _bare_scan()),
        Step("repeated event ids: ids that occur more than once", _repeated_ids()),
        Step("visits: page views 30 minutes after the lead's previous one", _visits()),
        Step(
            f"rule sums: {len(RULE_EVENTS)} decayed sums per raw, then lowercased email",
            _rule_sums(),
        ),
    ]


def _bare_scan() -> str:
    return "SELECT email, count(*) FROM read_parquet($events) GROUP BY email"


def _repeated_ids() -> str:
    return (
        "SELECT count(*) FROM (SELECT event_id FROM read_parquet($events) "
        "GROUP BY event_id HAVING count(*) > 1)"
    )


def _visits() -> str:
    previous = "lag(epoch_us(timestamp)) OVER (PARTITION BY email ORDER BY timestamp)"
    views = (
        f"SELECT epoch_us(timestamp) AS ts, {previous} AS previous_ts "
        "FROM read_parquet($events) WHERE event = 'page_viewed'"
    )
    return (
        f"SELECT count(*) FROM ({views}) "
        f"WHERE previous_ts IS NULL OR ts - previous_ts >= {VISIT_GAP_MICROS}"
    )


def _rule_sums() -> str:
    """Sum per raw email, then per lowercased email: lowercasing every event costs more."""
    half_life = HALF_LIFE_DAYS * MICROS_PER_DAY
    decay = f"pow(0.5, ($as_of - epoch_us(timestamp)) / {half_life}.0)"
    names = [f"r{index}" for index in range(len(RULE_EVENTS))]
    per_email = ", ".join(
        f"sum(CASE WHEN event = '{event}' THEN {decay} ELSE 0 END) AS {name}"
        for name, event in zip(names, RULE_EVENTS)
    )
    per_lead = ", ".join(f"sum({name}) AS {name}" for name in names)
    return (
        f"SELECT lower(trim(email)) AS lead, {per_lead} FROM "
        f"(SELECT email, {per_email} FROM read_parquet($events) GROUP BY email) "
        "GROUP BY lead"
    )


def time_steps(data: Path, repeat: int) -> list[Step]:
    """Run each step `repeat` times in one DuckDB connection; keep the fastest."""
    import duckdb

    meta = json.loads((data / "meta.json").read_text())
    as_of = datetime.fromisoformat(meta["as_of"])
    params = {
        "events": str(data / "events.parquet"),
        "as_of": round(as_of.timestamp() * 1_000_000),
    }
    connection = duckdb.connect(":memory:")
    measured = steps()
    for step in measured:
        step.seconds = min(_timed(connection, step.query, params) for _ in range(repeat))
    connection.close()
    return measured


def _timed(connection, query: str, params: dict) -> float:
    used = {name: value for name, value in params.items() if f"${name}" in query}
    started = time.perf_counter()
    connection.sql(query, params=used).to_arrow_table()
    return time.perf_counter() - started


def report(
    measured: list[Step], pandas_seconds: float | None, events: int, load: tuple[float, float]
) -> str:
    bare = measured[0].seconds
    rows = [
        f"{events:,} events, 1-minute load average {load[0]:.1f} before and "
        f"{load[1]:.1f} after. Each step alone, fastest of the runs:",
        "",
        "| step | seconds | / bare scan |",
        "| --- | ---: | ---: |",
    ]
    rows += [f"| {s.name} | {s.seconds:.2f} | {s.seconds / bare:.1f}x |" for s in measured]
    required = measured[1:]
    costliest = max(required, key=lambda s: s.seconds)
    rows += [
        "",
        f"The costliest required step alone ({costliest.name.split(':')[0]}) "
        f"takes {costliest.seconds / bare:.1f}x the bare scan; the target "
        "for all of leadq is 3x.",
    ]
    least = sum(s.seconds for s in required) - (len(required) - 1) * bare
    rows.append(
        f"The required steps share no work: together, less the extra reads of "
        f"the file ({len(required) - 1} bare scans), they take {least:.2f} s, "
        f"{least / bare:.1f}x the bare scan (an estimate)."
    )
    if pandas_seconds is not None:
        rows.append(
            f"The pandas reference took {pandas_seconds:.2f} s, so 10x faster "
            f"means {pandas_seconds / 10:.2f} s."
        )
    return "\n".join(rows)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--events", type=int, default=DEFAULT_EVENTS,
        help=f"event rows of the generated data set (default {DEFAULT_EVENTS})",
    )  # fmt: skip
    parser.add_argument(
        "--data", type=Path,
        help="data folder from benchmarks.generate, generated when missing "
        "(default: bench_scale's folder for --events)",
    )  # fmt: skip
    parser.add_argument("--repeat", type=int, default=3, help="runs per step (default 3)")
    parser.add_argument("--no-pandas", action="store_true", help="skip the pandas reference")
    parser.add_argument("--record", type=Path, help="append the report to this Markdown file")
    return parser.parse_args(argv)


def data_folder(args: argparse.Namespace) -> Path:
    if args.data is not None:
        folder = args.data
    else:
        leads = args.events // EVENTS_PER_LEAD
        folder = DEFAULT_DATA_ROOT / f"bench-{args.events}-{leads}-s42"
    if not (folder / "events.parquet").exists():
        generate(folder, leads=args.events // EVENTS_PER_LEAD, events=args.events, seed=42)
    return folder


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    data = data_folder(args)
    events = json.loads((data / "meta.json").read_text())["events"]
    load_before = os.getloadavg()[0]
    measured = time_steps(data, args.repeat)
    pandas_seconds = None if args.no_pandas else spawn_case("pandas", data).seconds
    text = report(measured, pandas_seconds, events, (load_before, os.getloadavg()[0]))
    print(text)
    if args.record:
        stamp = datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
        command = "python -m benchmarks.floor " + " ".join(sys.argv[1:] if argv is None else argv)
        section = (
            f"\n## {stamp}: each required step alone\n\n{machine_text()}\n\n"
            f"Command: `{command.strip()}`\n\n{text}\n"
        )
        with args.record.open("a") as handle:
            handle.write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
