"""Score 1M, 10M and 100M generated events: time and peak memory by size.

For each size it generates a data set (benchmarks/generate.py, Parquet) in
a folder outside the repository, then runs, each in its own process
(bench_scoring.spawn_case):

  scan          the bare DuckDB scan: read_parquet + GROUP BY email
  leadq-duckdb  leadq with the events read in batches and DuckDB's memory
                limit (--memory-limit)
  leadq-duckdb-in-memory  leadq with all events in memory, up to
                --in-memory-max-events
  pandas        the pandas reference, up to --pandas-max-events

and reports seconds, events per second, peak RSS, the ratio to the bare
scan and to pandas, the load average around each case, and whether the
largest size stayed under --max-rss-gb.

Usage: python -m benchmarks.bench_scale [--sizes 1000000,10000000,100000000]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchmarks import bench_scoring
from benchmarks.bench_scoring import (
    CaseResult,
    TargetCheck,
    compare_scores,
    spawn_case,
)
from benchmarks.generate import EVENTS_PER_LEAD, generate

SIZES = (1_000_000, 10_000_000, 100_000_000)
CASES = ("scan", "leadq-duckdb", "leadq-duckdb-in-memory", "pandas")
DEFAULT_DATA_ROOT = Path(tempfile.gettempdir()) / "leadq-scale"
# pandas peaked at 6.9 GB for 10M events and keeps every event in memory,
# so 100M events would need about 69 GB (an estimate from RESULTS.md).
DEFAULT_PANDAS_MAX_EVENTS = 10_000_000
DEFAULT_MAX_RSS_GB = 8.0
# Disk per event that a size needs free, estimated from the run of 100M
# events in RESULTS.md. The generated events file takes 33 bytes per event
# as Parquet. leadq's run puts the spooled bound events (36) and DuckDB's
# spill files (220) in the system's temporary folder.
DATA_BYTES_PER_EVENT = 40
RUN_BYTES_PER_EVENT = 260
CASE_TIMEOUT_SECONDS = 4 * 3600
GB = 1024**3


@dataclass
class SizeRun:
    """The cases of one size, with the load average before and after each."""

    events: int
    data: Path
    results: dict[str, CaseResult]
    loads: dict[str, tuple[float, float]]
    agreement: list[str]


def prepare(root: Path, events: int, seed: int) -> Path:
    """Return the data folder of a size; generate it when missing.

    Raises RuntimeError when the disk has too little room for the size.
    """
    leads = max(events // EVENTS_PER_LEAD, 1)
    data = root / f"bench-{events}-{leads}-s{seed}"
    meta = data / "meta.json"
    exists = meta.exists() and json.loads(meta.read_text())["events"] == events
    root.mkdir(parents=True, exist_ok=True)
    _check_disk(root, events * (RUN_BYTES_PER_EVENT + (0 if exists else DATA_BYTES_PER_EVENT)), events)
    if not exists:
        print(f"generating {events:,} events in {data} ...", file=sys.stderr)
        generate(data, leads=leads, events=events, seed=seed)
    return data


def _check_disk(root: Path, needed: int, events: int) -> None:
    # The data and the temporary folder share one disk on most machines.
    folders = {root, Path(tempfile.gettempdir())}
    for folder in folders:
        free = shutil.disk_usage(folder).free
        if free < needed:
            raise RuntimeError(
                f"{folder} has {free / GB:.1f} GB free, and {events:,} events need "
                f"about {needed / GB:.1f} GB; free space, or choose --data-root "
                "and TMPDIR"
            )


def run_size(data: Path, events: int, args: argparse.Namespace) -> SizeRun:
    for stale in data.glob("scores-*.parquet"):
        stale.unlink()
    results, loads = run_cases(data, events, CASES, args)
    return SizeRun(events, data, results, loads, agreement(data, results))


def run_cases(
    data: Path, events: int, cases, args: argparse.Namespace
) -> tuple[dict[str, CaseResult], dict[str, tuple[float, float]]]:
    """Run each case once in its own process, unless its limit skips it.

    Returns the results and the 1-minute load average before and after
    each case that ran.
    """
    results: dict[str, CaseResult] = {}
    loads: dict[str, tuple[float, float]] = {}
    for case in cases:
        reason = skip_reason(case, events, args)
        if reason:
            results[case] = CaseResult(case, float("nan"), skipped=reason)
            continue
        print(f"running {case} on {events:,} events ...", file=sys.stderr)
        before = os.getloadavg()[0]
        results[case] = spawn_case(case, data, args.memory_limit, CASE_TIMEOUT_SECONDS)
        loads[case] = (before, os.getloadavg()[0])
    return results, loads


def skip_reason(case: str, events: int, args: argparse.Namespace) -> str | None:
    """Return why a case does not run at this size, or None when it runs.

    SQLite, PostgreSQL and Spark follow bench_scoring's options
    (--engines and --ENGINE-max-events), which `args` must then have.
    """
    if case in bench_scoring.ONCE:
        return bench_scoring.skip_reason(case, events, args)
    limits = {
        "pandas": ("--pandas-max-events", args.pandas_max_events),
        "leadq-duckdb-in-memory": ("--in-memory-max-events", args.in_memory_max_events),
    }
    if case in limits:
        option, limit = limits[case]
        if events > limit:
            return f"{events:,} events > {option} {limit:,}"
    return None


def agreement(data: Path, results: dict[str, CaseResult]) -> list[str]:
    """Compare leadq in batches with pandas and with leadq in memory, where they ran."""
    if not _ran(results, "leadq-duckdb"):
        return []
    checks = []
    for reference in ("pandas", "leadq-duckdb-in-memory"):
        if _ran(results, reference):
            checks.append(compare_scores(data, "leadq-duckdb", reference))
    return checks


def _ran(results: dict[str, CaseResult], case: str) -> bool:
    return case in results and not results[case].skipped


# Report


def summary_table(runs: list[SizeRun]) -> str:
    rows = [
        "| events | leadq s | leadq events/s | leadq peak RSS (MB) | bare scan s "
        "| leadq / bare scan | leadq in memory: s, peak RSS (MB) | pandas s "
        "| pandas / leadq | pandas peak RSS (MB) | load average during leadq |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        rows.append(_summary_row(run))
    return "\n".join(rows)


def _summary_row(run: SizeRun) -> str:
    leadq, scan = run.results["leadq-duckdb"], run.results["scan"]
    memory, pandas = run.results["leadq-duckdb-in-memory"], run.results["pandas"]
    cells = [f"{run.events:,}"]
    if leadq.skipped:
        cells += [f"skipped: {leadq.skipped}", "", ""]
    else:
        cells += [f"{leadq.seconds:.1f}", f"{run.events / leadq.seconds:,.0f}", f"{leadq.peak_mb:,.0f}"]
    cells.append(f"{scan.seconds:.2f}")
    cells.append(_ratio(leadq, scan))
    cells.append(_cell(memory, lambda r: f"{r.seconds:.1f} s, {r.peak_mb:,.0f}"))
    cells.append(_cell(pandas, lambda r: f"{r.seconds:.1f}"))
    cells.append(_ratio(pandas, leadq))
    cells.append(_cell(pandas, lambda r: f"{r.peak_mb:,.0f}"))
    load = run.loads.get("leadq-duckdb")
    cells.append(f"{load[0]:.1f} -> {load[1]:.1f}" if load else "")
    return "| " + " | ".join(cells) + " |"


def _cell(result: CaseResult, text) -> str:
    return f"skipped: {result.skipped}" if result.skipped else text(result)


def _ratio(numerator: CaseResult, denominator: CaseResult) -> str:
    if numerator.skipped or denominator.skipped:
        return "n/a"
    return f"{numerator.seconds / denominator.seconds:.1f}x"


def memory_target(runs: list[SizeRun], max_rss_gb: float) -> TargetCheck:
    """Check leadq's peak RSS in batches at the largest size."""
    largest = max(runs, key=lambda run: run.events)
    leadq = largest.results["leadq-duckdb"]
    target = f"leadq's peak RSS under {max_rss_gb:g} GB at {largest.events:,} events"
    if leadq.skipped:
        return TargetCheck(target, None, leadq.skipped)
    met = leadq.peak_mb <= max_rss_gb * 1024
    return TargetCheck(target, met, f"{leadq.peak_mb / 1024:.2f} GB")


def memory_target_text(runs: list[SizeRun], max_rss_gb: float) -> str:
    return "- " + memory_target(runs, max_rss_gb).line()


def size_section(run: SizeRun, title: str | None = None) -> str:
    """Write the tables of one size under `title` (default: ### N events)."""
    meta = json.loads((run.data / "meta.json").read_text())
    data_text = (
        f"{meta['events']:,} events ({meta['duplicate_rows']:,} repeated ids, "
        f"{meta['events_after_as_of']:,} after the as-of time) for {meta['leads']:,} "
        f"leads ({meta['leads_with_events']:,} with events), seed {meta['seed']}, "
        f"in {run.data}."
    )
    parts = [title or f"### {run.events:,} events", "", data_text, ""]
    parts.append(bench_scoring.results_table(run.results, run.events))
    loads = ", ".join(
        f"{case} {before:.1f} -> {after:.1f}" for case, (before, after) in run.loads.items()
    )
    parts += ["", f"Load average (1 minute) before -> after each case: {loads}."]
    leadq = run.results["leadq-duckdb"]
    if not leadq.skipped:
        parts += ["", bench_scoring.steps_table(leadq)]
    if run.agreement:
        parts += ["", "Agreement (scores within 1e-6, same stage):"]
        parts += [f"- {check}" for check in run.agreement]
    return "\n".join(parts)


def report_text(runs: list[SizeRun], args: argparse.Namespace) -> str:
    source = bench_scoring.leadq_source_text(runs[0].results)
    return source + "\n\n" + sizes_text(runs, args)


def sizes_text(runs: list[SizeRun], args: argparse.Namespace, heading: str = "###") -> str:
    """Write the summary table, the memory target and a section per size."""
    limit = args.memory_limit or "leadq's default, 4GB"
    sections = [
        f"DuckDB memory limit of leadq in batches: {limit}. One run per case.",
        summary_table(runs),
        "Targets:\n" + memory_target_text(runs, args.max_rss_gb),
        *(size_section(run, f"{heading} {run.events:,} events") for run in runs),
    ]
    return "\n\n".join(sections)


# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, SIZES)),
        help="comma-separated event counts (default 1000000,10000000,100000000)",
    )
    add_scale_options(parser)
    parser.add_argument(
        "--record", type=Path, help="append the report as a dated section to this file"
    )
    return parser.parse_args(argv)


def add_scale_options(parser: argparse.ArgumentParser) -> None:
    """Add the options of the data sets, the caps and the memory target."""
    parser.add_argument(
        "--data-root",
        type=Path,
        default=DEFAULT_DATA_ROOT,
        help=f"folder of the generated data sets, outside the repository (default {DEFAULT_DATA_ROOT})",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    bench_scoring.add_duckdb_options(parser)
    parser.add_argument(
        "--pandas-max-events",
        type=int,
        default=DEFAULT_PANDAS_MAX_EVENTS,
        help=f"skip pandas above this many events (default {DEFAULT_PANDAS_MAX_EVENTS})",
    )
    parser.add_argument(
        "--max-rss-gb",
        type=float,
        default=DEFAULT_MAX_RSS_GB,
        help=f"peak RSS target of leadq at the largest size, in GB (default {DEFAULT_MAX_RSS_GB:g})",
    )


def parse_sizes(text: str, option: str = "--sizes") -> list[int]:
    """Parse comma-separated counts; raise ValueError that names `option`."""
    try:
        sizes = [int(size) for size in text.split(",")]
    except ValueError:
        raise ValueError(
            f"{option} must be integers separated by commas, got {text!r}"
        ) from None
    if min(sizes) < 1:
        raise ValueError(f"{option} must be 1 or more each, got {text!r}")
    return sizes


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    try:
        sizes = parse_sizes(args.sizes)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    runs = []
    for events in sizes:
        try:
            data = prepare(args.data_root, events, args.seed)
        except RuntimeError as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
        runs.append(run_size(data, events, args))
    report = report_text(runs, args)
    print(bench_scoring.machine_text() + "\n\n" + report)
    if args.record:
        bench_scoring.record(args.record, report, argv, script="benchmarks.bench_scale")
    return 0


if __name__ == "__main__":
    sys.exit(main())
