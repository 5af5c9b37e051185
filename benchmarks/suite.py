"""Run every benchmark that leadq publishes and report them as one section.

The parts run one after another, each timed with the 1-minute load
average before and after it:

  scale    bench_scale at each of --sizes: the bare DuckDB scan, leadq on
           DuckDB with the events in batches and in memory, and the
           pandas reference. Each runs in its own process, under its cap.
  engines  at --engine-events, on the same data and next to the scale
           cases of that size: leadq on SQLite and on PostgreSQL
  spark    leadq on Spark local[2] on the same data, against DuckDB
  rules    bench_rules: compile time and query time of 5 to 200 rules
  service  load_service: /v1/track, and /v1/batch with 100 events per
           request, on SQLite and on PostgreSQL

The report starts with a summary table (one row per measurement group,
with its target and whether the run met it), then the detailed tables.

Usage: python -m benchmarks.suite [--quick] [--record benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from benchmarks import bench_rules, bench_scale, bench_scoring, load_service
from benchmarks.bench_scale import SizeRun
from benchmarks.bench_scoring import CaseResult, TargetCheck

ENGINE_EVENTS = 1_000_000
QUICK_SIZES = (20_000, 200_000)
QUICK_EVENTS = 200_000
RULE_ENGINES = "duckdb,sqlite"
QUICK_RULE_ENGINES = "duckdb"
SERVICE_DATABASES = ("sqlite", "postgresql")
SERVICE_BATCH_SIZES = (1, 100)
# `leadq serve --workers` of each service run.
SERVICE_WORKERS = (1, 2)
SERVICE_DURATION = 20.0
SERVICE_WARMUP = 2.0
QUICK_SERVICE_DURATION = 3.0
QUICK_SERVICE_WARMUP = 1.0
ENGINE_CASES = ("leadq-sqlite", "leadq-postgres")
SPARK_CASE = "leadq-spark"


@dataclass
class Part:
    """The wall time of one part and the load average before and after it."""

    name: str
    seconds: float
    load: tuple[float, float]


@dataclass
class SuiteRun:
    """Everything one run of the suite measured."""

    started: datetime
    scale: list[SizeRun] = field(default_factory=list)
    engines: SizeRun | None = None
    rules: list[dict] = field(default_factory=list)
    rule_engines: list[str] = field(default_factory=list)
    services: list[dict] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)

    def timed(self, name: str, function, *args):
        """Run one part, record its wall time and load averages, return its value."""
        print(f"suite: {name} ...", file=sys.stderr)
        before = os.getloadavg()[0]
        started = time.perf_counter()
        value = function(*args)
        seconds = time.perf_counter() - started
        self.parts.append(Part(name, seconds, (before, os.getloadavg()[0])))
        return value


# Running the parts


def run_suite(args: argparse.Namespace) -> SuiteRun:
    """Run every part in turn; the data sets are generated first."""
    run = SuiteRun(datetime.now(UTC))
    sizes = sorted(set(args.sizes) | {args.engine_events})
    folders = run.timed("data", prepare_data, args, sizes)

    run.scale = run.timed("scale", run_scale, args, folders)
    engine_data = folders[args.engine_events]
    run.engines = run.timed("engines", run_engines, args, engine_data, run.scale)
    run.timed("spark", run_spark, args, run.engines)
    if args.rule_counts:
        run.rule_engines = args.rule_engines.split(",")
        run.rules = run.timed("rules", run_rules, args, engine_data, run.rule_engines)
    if args.service_databases.strip(","):
        run.services = run.timed("service", run_service, args)
    return run


def prepare_data(args: argparse.Namespace, sizes: list[int]) -> dict[int, Path]:
    """Generate every data set first, so that a full disk stops the run early."""
    return {
        events: bench_scale.prepare(args.data_root, events, args.seed)
        for events in sizes
    }


def run_scale(args: argparse.Namespace, folders: dict[int, Path]) -> list[SizeRun]:
    return [
        bench_scale.run_size(folders[events], events, args) for events in args.sizes
    ]


def run_engines(args: argparse.Namespace, data: Path, scale: list[SizeRun]) -> SizeRun:
    """Run SQLite and PostgreSQL next to the scale cases of the same data.

    The scale cases of --engine-events are reused when it is one of --sizes,
    and run here otherwise, so every ratio compares cases of this run.
    """
    events = args.engine_events
    same = [size for size in scale if size.events == events]
    base = same[0] if same else bench_scale.run_size(data, events, args)
    engines = SizeRun(events, data, dict(base.results), dict(base.loads), [])
    for case in ENGINE_CASES:
        run_engine_case(args, engines, case)
    return engines


def run_spark(args: argparse.Namespace, engines: SizeRun) -> None:
    run_engine_case(args, engines, SPARK_CASE)


def run_engine_case(args: argparse.Namespace, engines: SizeRun, case: str) -> None:
    """Run one engine on the engines' data and add it to their results.

    A failed case (a database that is down, no Java for Spark) is reported
    in its row, so that the other parts of a long run still count.
    """
    try:
        results, loads = bench_scale.run_cases(
            engines.data, engines.events, [case], args
        )
    except RuntimeError as error:
        print(f"suite: {case} failed: {str(error)[-2000:]}", file=sys.stderr)
        reason = f"failed: {last_line(error)}"
        results, loads = {case: CaseResult(case, float("nan"), skipped=reason)}, {}
    engines.results.update(results)
    engines.loads.update(loads)
    if not results[case].skipped:
        pandas = engines.results.get("pandas")
        reference = "pandas" if pandas and not pandas.skipped else "leadq-duckdb"
        engines.agreement.append(
            bench_scoring.compare_scores(engines.data, case, reference)
        )


def run_rules(args: argparse.Namespace, data: Path, engines: list[str]) -> list[dict]:
    counts = [int(count) for count in args.rule_counts.split(",")]
    return bench_rules.measure(data, counts, engines)


def run_service(args: argparse.Namespace) -> list[dict]:
    """Run load_service for each database and endpoint; a failed run is reported."""
    reports = []
    databases = filter(None, args.service_databases.split(","))
    workers = [int(count) for count in args.service_workers.split(",")]
    for database, batch_size, processes in itertools.product(databases, SERVICE_BATCH_SIZES, workers):
        options = load_service.parse_args(
            [
                "--database", database,
                "--batch-size", str(batch_size),
                "--server-workers", str(processes),
                "--duration", str(args.service_duration),
                "--warmup", str(args.service_warmup),
            ]
        )  # fmt: skip
        name = f"batch size {batch_size} on {database} in {processes} process(es)"
        print(f"suite: service, {name} ...", file=sys.stderr)
        try:
            reports.append(load_service.run(options)[0])
        except (RuntimeError, OSError, SQLAlchemyError) as error:
            print(f"suite: service, {name} failed: {error}", file=sys.stderr)
            reports.append(failed_service(database, batch_size, processes, error))
    return reports


def failed_service(database: str, batch_size: int, processes: int, error: Exception) -> dict:
    endpoint = "/v1/track" if batch_size == 1 else "/v1/batch"
    failure = f"{type(error).__name__}: {last_line(error)}"
    return {
        "database": database,
        "endpoint": endpoint,
        "batch_size": batch_size,
        "server_workers": processes,
        "failed": failure,
    }


def last_line(error: Exception) -> str:
    """Return the last line of an error's text, where a child's traceback ends."""
    lines = str(error).strip().splitlines()
    return lines[-1] if lines else type(error).__name__


# Report


def report_text(run: SuiteRun, args: argparse.Namespace) -> str:
    """Write the section: source and timing, the summary, then the details."""
    sections = [
        bench_scoring.leadq_source_text(run.engines.results),
        timing_text(run),
        "Summary, one row per measurement group:\n\n" + summary_table(run, args),
        "### Batch scoring by size\n\n"
        + bench_scale.sizes_text(run.scale, args, "####"),
        engines_text(run.engines),
        spark_text(run.engines),
    ]
    if run.rules:
        sections.append(rules_text(run))
    if run.services:
        sections.append(service_text(run.services, args))
    return "\n\n".join(sections)


def timing_text(run: SuiteRun) -> str:
    total = sum(part.seconds for part in run.parts)
    intro = (
        f"Started {run.started:%Y-%m-%d %H:%M:%S} UTC; the parts took {total:,.0f} s "
        f"({total / 60:.1f} minutes) in all. The load average (1 minute) before "
        "and after each part:"
    )
    rows = [
        intro,
        "",
        "| part | seconds | load average before | load average after |",
        "| --- | ---: | ---: | ---: |",
    ]
    for part in run.parts:
        before, after = part.load
        rows.append(
            f"| {part.name} | {part.seconds:,.1f} | {before:.2f} | {after:.2f} |"
        )
    return "\n".join(rows)


# Summary table


def summary_table(run: SuiteRun, args: argparse.Namespace) -> str:
    rows = [
        "| part | measurement | result | target | met or missed |",
        "| --- | --- | --- | --- | --- |",
    ]
    groups = [
        *scale_rows(run.scale, args),
        *engine_rows(run.engines),
        spark_row(run.engines),
        *rule_rows(run),
        *(service_row(report) for report in run.services),
    ]
    for part, measurement, result, checks in groups:
        target = "; ".join(check.target for check in checks) or "none set"
        verdict = "; ".join(check.verdict for check in checks)
        cells = (part, measurement, result, target, verdict)
        rows.append(
            "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"
        )
    return "\n".join(rows)


def scale_rows(scale: list[SizeRun], args: argparse.Namespace) -> list[tuple]:
    rows = []
    for size in scale:
        leadq = size.results["leadq-duckdb"]
        checks = [] if leadq.skipped else bench_scoring.targets(size.results)
        measurement = f"DuckDB in batches, {size.events:,} events"
        rows.append(("scale", measurement, case_summary(size, "leadq-duckdb"), checks))
    memory = bench_scale.memory_target(scale, args.max_rss_gb)
    rows.append(
        ("scale", "leadq's peak RSS at the largest size", memory.measured, [memory])
    )
    if len(scale) > 1:
        rows.append(("scale", "cost growth with events", growth_summary(scale), []))
    return rows


def engine_rows(engines: SizeRun) -> list[tuple]:
    cases = ("leadq-duckdb-in-memory", *ENGINE_CASES, SPARK_CASE, "pandas")
    return [
        (
            "engines",
            f"{bench_scoring.LABELS[case]}, {engines.events:,} events",
            case_summary(engines, case),
            [],
        )
        for case in cases
        if case in engines.results
    ]


def spark_row(engines: SizeRun) -> tuple:
    measurement = f"Spark local[2] against DuckDB in batches, {engines.events:,} events"
    spark, duckdb = engines.results[SPARK_CASE], engines.results["leadq-duckdb"]
    if spark.skipped or duckdb.skipped:
        return (
            "spark",
            measurement,
            f"not measured: {spark.skipped or duckdb.skipped}",
            [],
        )
    ratio = spark.seconds / duckdb.seconds
    result = (
        f"{spark.seconds:.1f} s against {duckdb.seconds:.1f} s: "
        f"{ratio:.1f}x DuckDB's time"
    )
    return ("spark", measurement, result, [])


def rule_rows(run: SuiteRun) -> list[tuple]:
    if not run.rules:
        return []
    first, last = run.rules[0], run.rules[-1]
    rows = []
    for engine in run.rule_engines:
        result = (
            f"query {first[engine]:.2f} s to {last[engine]:.2f} s "
            f"({last[engine] / first[engine]:.1f}x); compile {first['compile']:.3f} s "
            f"to {last['compile']:.3f} s"
        )
        measurement = f"{first['rules']} to {last['rules']} rules, {engine}"
        rows.append(("rules", measurement, result, []))
    return rows


def service_row(report: dict) -> tuple:
    database = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}[report["database"]]
    measurement = (
        f"{report['endpoint']}, {report['batch_size']} event(s) per request, {database}, "
        f"{report['server_workers']} server process(es)"
    )
    if "failed" in report:
        endpoint_targets = load_service.targets(placeholder_report(report))
        checks = [
            TargetCheck(check.target, None, report["failed"])
            for check in endpoint_targets
        ]
        return ("service", measurement, f"failed: {report['failed']}", checks)
    latency = report["latency_ms"]
    errors = sum(report["errors"].values())
    result = (
        f"{report['requests_per_second']:,.0f} requests/s, "
        f"{report['events_per_second']:,.0f} events/s, p50 {latency['p50']:.1f} ms, "
        f"p99 {latency['p99']:.1f} ms, {errors:,} errors"
    )
    return ("service", measurement, result, load_service.targets(report))


def placeholder_report(report: dict) -> dict:
    """Fill the fields that load_service.targets reads, for a run that failed."""
    latency = {"p99": float("nan")}
    return dict(
        report, requests_per_second=0.0, events_per_second=0.0, latency_ms=latency
    )


def case_summary(size: SizeRun, case: str) -> str:
    """Describe one case: time, rate, peak RSS and its ratios to the scan and pandas."""
    result = size.results[case]
    if result.skipped:
        return f"skipped: {result.skipped}"
    scan, pandas = size.results["scan"], size.results.get("pandas")
    rate = size.events / result.seconds
    speed = f"{result.seconds:.2f} s, {rate:,.0f} events/s"
    parts = [
        f"{speed}, peak RSS {result.peak_mb:,.0f} MB",
        f"{result.seconds / scan.seconds:.1f}x the bare scan",
    ]
    if case != "pandas":
        if pandas is not None and not pandas.skipped:
            parts.append(f"pandas took {pandas.seconds / result.seconds:.2f}x as long")
        else:
            parts.append("pandas not run")
    return "; ".join(parts)


def growth_summary(scale: list[SizeRun]) -> str:
    ran = [size for size in scale if not size.results["leadq-duckdb"].skipped]
    if len(ran) < 2:
        return "not measured: leadq ran at fewer than two sizes"
    small, large = ran[0], ran[-1]
    first, last = small.results["leadq-duckdb"], large.results["leadq-duckdb"]
    return (
        f"{large.events / small.events:,.0f}x the events ({small.events:,} to "
        f"{large.events:,}) took {last.seconds / first.seconds:,.1f}x the time "
        f"({first.seconds:.1f} s to {last.seconds:.1f} s); peak RSS "
        f"{first.peak_mb:,.0f} MB to {last.peak_mb:,.0f} MB"
    )


# Detailed sections


def engines_text(engines: SizeRun) -> str:
    title = f"### Engines at {engines.events:,} events"
    intro = (
        "SQLite, PostgreSQL and Spark run on the data of the scale cases at this "
        "size, and the ratios are to the bare scan and pandas of this run. "
        "PostgreSQL is the server that `LEADQ_TEST_POSTGRES_URL` names (default "
        "the `test` database on 127.0.0.1:5432)."
    )
    return bench_scale.size_section(engines, title + "\n\n" + intro)


def spark_text(engines: SizeRun) -> str:
    title = "### Spark local[2] against DuckDB"
    spark, duckdb = engines.results[SPARK_CASE], engines.results["leadq-duckdb"]
    if spark.skipped or duckdb.skipped:
        reason = spark.skipped or duckdb.skipped
        return f"{title}\n\nNot measured at {engines.events:,} events: {reason}."
    header = (
        "| events | DuckDB in batches s | DuckDB in memory s | Spark local[2] s "
        "| Spark / DuckDB in batches | Spark driver peak RSS (MB) |"
    )
    cells = (
        f"{engines.events:,}",
        f"{duckdb.seconds:.2f}",
        seconds_cell(engines, "leadq-duckdb-in-memory"),
        f"{spark.seconds:.2f}",
        f"{spark.seconds / duckdb.seconds:.1f}x",
        f"{spark.peak_mb:,.0f}",
    )
    rows = [
        title,
        "",
        header,
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
        "| " + " | ".join(cells) + " |",
        "",
        spark_note(engines.events, spark, duckdb),
    ]
    return "\n".join(rows)


def seconds_cell(size: SizeRun, case: str) -> str:
    result = size.results.get(case)
    if result is None or result.skipped:
        return "not run"
    return f"{result.seconds:.2f}"


def spark_note(events: int, spark: CaseResult, duckdb: CaseResult) -> str:
    """Say from the measured times which engine was faster, and when Spark pays off."""
    cores = os.cpu_count() or 1
    ratio = spark.seconds / duckdb.seconds
    per_event = (
        f"{spark.seconds / events * 1e6:.1f} µs per event against "
        f"{duckdb.seconds / events * 1e6:.1f} µs"
    )
    setup = (
        "Spark runs local[2] with 4 shuffle partitions and a 4 GB driver, "
        "started before the clock. Its JVM is a child process: its memory is "
        "not in the peak RSS, and its CPU time counts among the other processes."
    )
    if ratio <= 1:
        return (
            f"{setup} Spark took {ratio:.2f}x DuckDB's time on the same {events:,} "
            f"events ({per_event}), so Spark was the faster engine on this "
            f"{cores}-core machine at this size."
        )
    return (
        f"{setup} Spark took {ratio:.1f}x DuckDB's time on the same {events:,} "
        f"events ({per_event}), so DuckDB was the faster engine on this "
        f"{cores}-core machine at this size. Even if Spark's time fell in "
        "proportion to its cores, which is its best case because its fixed cost "
        f"per job and stage does not fall, it would need about {cores * ratio:,.0f} "
        f"cores to match DuckDB on {cores} (an estimate). Spark pays off where "
        "the events already live in a Spark cluster's catalog, so that the query "
        "runs where the data is; docs/engines.md says what must fit in the "
        "driver's memory."
    )


def rules_text(run: SuiteRun) -> str:
    events = run.engines.events
    intro = (
        f"benchmarks/bench_rules.py on the engines' data ({events:,} events): the "
        "compile time and the query alone on the bound tables, one run per size. "
        "Binding is not timed."
    )
    table = bench_rules.growth_table(run.rules, run.rule_engines, events)
    return f"### Cost by number of rules\n\n{intro}\n\n{table}"


def service_text(reports: list[dict], args: argparse.Namespace) -> str:
    defaults = load_service.parse_args([])
    intro = (
        f"benchmarks/load_service.py with {defaults.concurrency} connections and "
        f"{defaults.leads:,} leads: {args.service_duration:g} s measured after "
        f"{args.service_warmup:g} s of warm-up per run, on a fresh SQLite file or "
        "a fresh PostgreSQL schema. The load generator runs on the same machine."
    )
    parts = ["### Service load", "", intro]
    for report in reports:
        parts += ["", f"#### {report['endpoint']} on {report['database']}", ""]
        if "failed" in report:
            parts.append(f"Failed: {report['failed']}")
        else:
            parts.append(load_service.report_text(report))
    return "\n".join(parts)


# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.suite", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small sizes ({QUICK_SIZES[0]:,} and {QUICK_SIZES[1]:,} events, engines "
        f"and rules at {QUICK_EVENTS:,}), no Spark unless --spark-max-events is given, "
        f"DuckDB only for the rules, {QUICK_SERVICE_DURATION:g} s per service run",
    )
    parser.add_argument(
        "--sizes",
        help="comma-separated event counts of the scale part "
        "(default 1000000,10000000,100000000)",
    )
    parser.add_argument(
        "--engine-events",
        type=int,
        help="events of the engines, Spark and rules parts "
        f"(default {ENGINE_EVENTS:,}, "
        f"or {QUICK_EVENTS:,} with --quick)",
    )

    bench_scale.add_scale_options(parser)
    bench_scoring.add_engine_options(parser)
    add_rules_options(parser)
    add_service_options(parser)
    parser.add_argument(
        "--record", type=Path, help="append the report as a dated section to this file"
    )

    args = parser.parse_args(argv)
    try:
        fill_defaults(args)
    except ValueError as error:
        parser.error(str(error))
    return args


def add_rules_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--rule-counts",
        default=",".join(map(str, bench_rules.RULE_COUNTS)),
        help="comma-separated rule counts of the rules part; empty to skip it "
        "(default 5,25,50,100,200)",
    )
    parser.add_argument(
        "--rule-engines",
        help=f"comma-separated engines of the rules part (default {RULE_ENGINES}, "
        f"or {QUICK_RULE_ENGINES} with --quick)",
    )


def add_service_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--service-duration",
        type=float,
        help=f"seconds of measured load per service run (default {SERVICE_DURATION:g}, "
        f"or {QUICK_SERVICE_DURATION:g} with --quick)",
    )
    parser.add_argument(
        "--service-warmup",
        type=float,
        help=f"seconds of load before each measured service run (default "
        f"{SERVICE_WARMUP:g}, or {QUICK_SERVICE_WARMUP:g} with --quick)",
    )
    parser.add_argument(
        "--service-databases",
        default=",".join(SERVICE_DATABASES),
        help="comma-separated databases of the service part; empty to skip it "
        "(default sqlite,postgresql)",
    )
    parser.add_argument(
        "--service-workers",
        default=",".join(map(str, SERVICE_WORKERS)),
        help="comma-separated process counts of `leadq serve --workers` for the service "
        f"part (default {','.join(map(str, SERVICE_WORKERS))})",
    )


def fill_defaults(args: argparse.Namespace) -> None:
    """Fill in the defaults that depend on --quick and check the values."""
    quick = args.quick
    default_sizes = QUICK_SIZES if quick else bench_scale.SIZES
    args.sizes = bench_scale.parse_sizes(
        args.sizes or ",".join(map(str, default_sizes))
    )

    if args.engine_events is None:
        args.engine_events = QUICK_EVENTS if quick else ENGINE_EVENTS
    if args.engine_events < 1:
        raise ValueError(f"--engine-events must be 1 or more, got {args.engine_events}")
    bench_scoring.set_spark_max_events(args)

    if args.rule_engines is None:
        args.rule_engines = QUICK_RULE_ENGINES if quick else RULE_ENGINES
    if args.rule_counts:
        bench_scale.parse_sizes(args.rule_counts, "--rule-counts")

    if args.service_duration is None:
        args.service_duration = QUICK_SERVICE_DURATION if quick else SERVICE_DURATION
    if args.service_warmup is None:
        args.service_warmup = QUICK_SERVICE_WARMUP if quick else SERVICE_WARMUP
    if args.service_duration <= 0 or args.service_warmup < 0:
        raise ValueError(
            "--service-duration must be above 0 and --service-warmup 0 or more, got "
            f"{args.service_duration:g} and {args.service_warmup:g}"
        )

    counts = args.service_workers.split(",")
    if not all(count.isdigit() and int(count) >= 1 for count in counts):
        raise ValueError(
            f"--service-workers takes process counts of 1 or more, such as 1,2; got {args.service_workers!r}"
        )

    named = set(filter(None, args.service_databases.split(",")))
    unknown = named - set(SERVICE_DATABASES)
    if unknown:
        raise ValueError(
            f"--service-databases accepts sqlite and postgresql, got {sorted(unknown)}"
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        run = run_suite(args)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    report = report_text(run, args)
    print(bench_scoring.machine_text() + "\n\n" + report)
    if args.record:
        title = "benchmark suite, --quick" if args.quick else "benchmark suite"
        bench_scoring.record(args.record, report, argv, "benchmarks.suite", title)
        print(f"appended to {args.record}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
