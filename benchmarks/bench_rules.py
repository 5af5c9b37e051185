"""Measure how scoring cost grows with the number of rules in a model.

Models of 5 to 200 engagement rules run over one generated data set
(benchmarks/generate.py). The rules cycle through the generator's event
names and property values, with points, windows, caps, decay and, on every
tenth rule, `unique_by`. Each size reports the compile time, the time of
the query alone on each engine, and the events per second of the query.

Usage: python -m benchmarks.bench_rules [--quick] [--rules 5,25,50,100,200]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from datetime import datetime
from pathlib import Path

from benchmarks.generate import EVENT_NAMES, URL_SHARES, generate

REPO = Path(__file__).resolve().parent.parent
DATA_ROOT = REPO / "benchmarks" / "data"
RULE_COUNTS = (5, 25, 50, 100, 200)
QUICK_EVENTS = 100_000
FULL_EVENTS = 1_000_000
POSTGRES_URL = os.environ.get(
    "LEADQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
URL_WORDS = sorted({part for url in URL_SHARES for part in url.lower().split("/") if part})


def rule_document(index: int) -> dict:
    """Build the index-th generated engagement rule."""
    event = EVENT_NAMES[index % len(EVENT_NAMES)]
    rule: dict = {"id": f"rule_{index}", "event": event, "points": 1 + index % 7}
    if event == "page_viewed":
        rule["where"] = {"url": {"contains": URL_WORDS[index % len(URL_WORDS)]}}
    if index % 3 == 0:
        rule["within_days"] = 30 + index % 60
    if index % 4 == 0:
        rule["max_points"] = 20
    if index % 5 == 0:
        rule["decay"] = {"half_life_days": 14 + index % 30}
    if index % 10 == 9:
        rule["unique_by"] = "day"
    return rule


def model_document(rule_count: int) -> dict:
    return {
        "name": f"{rule_count} generated rules",
        "key": "email",
        "engagement": {"rules": [rule_document(i) for i in range(rule_count)]},
        "stages": [
            {"id": "hot", "when": {"score": "engagement", "at_least": 50}},
            {"id": "warm", "when": {"score": "engagement", "at_least": 10}},
            {"id": "cold"},
        ],
    }


def measure(data: Path, rule_counts, engines) -> list[dict]:
    """Compile and run each model size; bind once per size, outside the clock."""
    from leadq.binding import bind
    from leadq.compiler.query import compile_model
    from leadq.engines import EngineSettings, run
    from leadq.inputs import read_source
    from leadq.model.schema import ScoringModel
    from leadq.scoring import micros_since_epoch

    settings = EngineSettings(database_url=POSTGRES_URL)
    meta = json.loads((data / "meta.json").read_text())
    as_of = micros_since_epoch(datetime.fromisoformat(meta["as_of"]))
    leads = read_source(data / "leads.parquet")
    events = read_source(data / "events.parquet")
    rows = []
    for count in rule_counts:
        model = ScoringModel.model_validate(model_document(count))
        started = time.perf_counter()
        compiled = compile_model(model)
        row = {"rules": count, "compile": time.perf_counter() - started}
        tables, _ = bind(model, compiled.layout, leads, events)
        for engine in engines:
            started = time.perf_counter()
            run(compiled, tables, as_of, engine, settings)
            row[engine] = time.perf_counter() - started
        rows.append(row)
    return rows


def growth_table(rows: list[dict], engines, events: int) -> str:
    header = "| rules | compile s | " + " | ".join(f"{e} query s" for e in engines)
    header += " | " + " | ".join(f"{e} events/s" for e in engines) + " |"
    lines = [header, "|" + " ---: |" * (2 + 2 * len(engines))]
    for row in rows:
        seconds = [f"{row[e]:.2f}" for e in engines]
        rates = [f"{events / row[e]:,.0f}" for e in engines]
        lines.append(
            f"| {row['rules']} | {row['compile']:.3f} | " + " | ".join(itertools.chain(seconds, rates)) + " |"
        )
    return "\n".join(lines)


def prepare_data(events: int, seed: int) -> Path:
    leads = max(events // 50, 1)
    data = DATA_ROOT / f"bench-{events}-{leads}-s{seed}"
    if not (data / "meta.json").exists():
        print(f"generating {events:,} events in {data} ...", file=sys.stderr)
        generate(data, leads=leads, events=events, seed=seed)
    return data


def report(args: argparse.Namespace) -> str:
    events = args.events or (QUICK_EVENTS if args.quick else FULL_EVENTS)
    data = prepare_data(events, args.seed)
    counts = [int(n) for n in args.rules.split(",")]
    engines = args.engines.split(",")
    rows = measure(data, counts, engines)
    return (
        f"Cost by number of rules: {events:,} events, seed {args.seed}; the query "
        "alone on bound tables, one run per size.\n\n" + growth_table(rows, engines, events)
    )


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, help=f"event rows (default {FULL_EVENTS}, or {QUICK_EVENTS} with --quick)")
    parser.add_argument("--quick", action="store_true", help=f"use {QUICK_EVENTS} events")
    parser.add_argument("--seed", type=int, default=42, help="random seed of the data set (default 42)")
    parser.add_argument(
        "--rules", default=",".join(map(str, RULE_COUNTS)), help="comma-separated rule counts"
    )
    parser.add_argument(
        "--engines", default="duckdb,sqlite", help="comma-separated engines (default duckdb,sqlite)"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    print(report(parse_args(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
