"""Time leadq against a bare DuckDB scan and the pandas reference.

Every case runs in its own Python process, so that peak memory is the case's
own: a thread samples the process's resident set size (RSS) every 5 ms, and
the kernel's high-water mark (VmHWM) gives its maximum at the end. Cases:

  scan          DuckDB: SELECT email, count(*) FROM read_parquet(events)
                GROUP BY 1, the floor for reading the events and grouping
                them by lead
  leadq-duckdb  score_files(..., engine="duckdb"): compile, read and bind
                the events in batches spooled to Parquet, run the query on
                them within --memory-limit, rank. Each step is timed, and
                "scoring on duckdb" is the query alone
  leadq-duckdb-in-memory  score_sources on the whole files read into
                memory: the path of tables and predictive models, skipped
                above --in-memory-max-events
  leadq-sqlite  the same on SQLite, skipped above --sqlite-max-events
  leadq-postgres  the same on PostgreSQL (temporary tables filled by COPY),
                skipped above --postgres-max-events
  leadq-spark   the same on a local Spark (local[2]), skipped above
                --spark-max-events; the session starts before the clock
  pandas        benchmarks/pandas_reference.py: read with pandas, score

The leadq and pandas cases write their scores next to the data, and the
report counts the leads on which leadq and the reference differ, so a fast
but wrong result does not pass unnoticed.

Usage: python -m benchmarks.bench_scoring [--quick] [--record benchmarks/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import psutil

from benchmarks import bench_rules
from benchmarks.generate import EVENTS_PER_LEAD, generate

REPO = Path(__file__).resolve().parent.parent
DATA_ROOT = REPO / "benchmarks" / "data"
CASES = (
    "scan", "leadq-duckdb", "leadq-duckdb-in-memory", "leadq-sqlite",
    "leadq-postgres", "leadq-spark", "pandas",
)  # fmt: skip
# Engines that run once per benchmark, each up to its own --ENGINE-max-events.
ONCE = ("leadq-sqlite", "leadq-postgres", "leadq-spark")
QUICK_EVENTS = 200_000
FULL_EVENTS = 10_000_000
DEFAULT_SQLITE_MAX_EVENTS = 2_000_000
DEFAULT_POSTGRES_MAX_EVENTS = 2_000_000
DEFAULT_SPARK_MAX_EVENTS = 2_000_000
# The in-memory path peaked at 5.9 GB for 10M events (RESULTS.md).
DEFAULT_IN_MEMORY_MAX_EVENTS = 10_000_000
# Spark takes about a minute for 200,000 events on 2 cores (RESULTS.md),
# longer than the rest of --quick together, so --quick skips it unless
# --spark-max-events is given.
QUICK_SPARK_MAX_EVENTS = 0
POSTGRES_URL = bench_rules.POSTGRES_URL
CASE_TIMEOUT_SECONDS = 3600
SAMPLE_SECONDS = 0.005
MB = 1024 * 1024
SCORE_TOLERANCE = 1e-6

# Targets this benchmark reports against (set by the project).
TARGET_SCAN_RATIO = 3.0  # leadq on DuckDB at most 3x the bare scan
TARGET_PANDAS_SPEEDUP = 10.0  # and at least 10x faster than pandas


# Measuring inside a case process


class RssSampler(threading.Thread):
    """Sample this process's RSS in the background and keep the peak."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.process = psutil.Process()
        self.peak = 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(SAMPLE_SECONDS):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def restart_peak(self) -> int:
        """Start a new peak at the current RSS and return that RSS."""
        current = self.process.memory_info().rss
        self.peak = current
        return current


class OtherCpu:
    """Measure the CPU time that other processes and the hypervisor take.

    The machine may be shared: CPU seconds that were busy, or stolen by the
    hypervisor, but not spent by this process slow a case down and explain
    outliers.
    """

    def __init__(self) -> None:
        self.process = psutil.Process()
        self.start = self._busy() - self._own()

    def seconds(self) -> float:
        return max(self._busy() - self._own() - self.start, 0.0)

    @staticmethod
    def _busy() -> float:
        times = psutil.cpu_times()
        idle = times.idle + getattr(times, "iowait", 0.0)
        return (
            sum(times)
            - idle
            - getattr(times, "guest", 0.0)
            - getattr(times, "guest_nice", 0.0)
        )

    def _own(self) -> float:
        times = self.process.cpu_times()
        return times.user + times.system + times.children_user + times.children_system


@dataclass
class CaseResult:
    """Timings, peak memory and lead count of one run of a case."""

    case: str
    seconds: float
    steps: dict[str, float] = field(default_factory=dict)
    step_peak_mb: dict[str, float] = field(default_factory=dict)
    peak_mb: float = 0.0
    leads: int = 0
    skipped: str | None = None
    leadq_path: str | None = None
    other_cpu_seconds: float = 0.0


class StepTimer:
    """Time named steps and record the peak RSS during each one."""

    def __init__(self, sampler: RssSampler) -> None:
        self.sampler = sampler
        self.steps: dict[str, float] = {}
        self.peaks: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        self.sampler.restart_peak()
        started = time.perf_counter()
        yield
        self.steps[name] = time.perf_counter() - started
        rss = self.sampler.process.memory_info().rss
        self.peaks[name] = max(self.sampler.peak, rss) / MB


def peak_rss_mb() -> float:
    """Return this process's peak RSS in MB, from the kernel's high-water mark.

    Linux's VmHWM starts afresh when a process runs a new program. The
    ru_maxrss of getrusage does not: a case started from a parent of 800 MB
    reported at least 800 MB, so it serves only where /proc is missing.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1]) / 1024


def run_case(case: str, data: Path, memory_limit: str | None = None) -> CaseResult:
    """Run one case in this process and return its timings.

    `memory_limit` is DuckDB's for leadq-duckdb (None: leadq's default).
    """
    meta = json.loads((data / "meta.json").read_text())
    as_of = datetime.fromisoformat(meta["as_of"])
    sampler = RssSampler()
    sampler.restart_peak()
    sampler.start()
    timer = StepTimer(sampler)

    others = OtherCpu()
    runner = {"scan": _scan, "pandas": _pandas}.get(case, _leadq)
    seconds, leads = runner(case, data, as_of, timer, memory_limit)
    other_cpu = others.seconds()
    leadq = sys.modules.get("leadq")

    sampler.stopped.set()
    sampler.join()
    peak_mb = max(peak_rss_mb(), sampler.peak / MB)
    leadq_path = str(Path(leadq.__file__).parent) if leadq else None
    return CaseResult(
        case,
        seconds,
        timer.steps,
        timer.peaks,
        peak_mb,
        leads,
        None,
        leadq_path,
        other_cpu,
    )


# Each runner imports its libraries before it starts the clock, and returns
# the seconds of the measured work and the number of leads it scored.


def _scan(
    case: str, data: Path, as_of: datetime, timer: StepTimer, memory_limit=None
) -> tuple[float, int]:
    import duckdb

    events = str(data / "events.parquet")
    started = time.perf_counter()
    with timer("scan"):
        connection = duckdb.connect(":memory:")
        query = "SELECT email, count(*) AS events FROM read_parquet(?) GROUP BY 1"
        groups = connection.sql(query, params=[events]).to_arrow_table()
        connection.close()
    return time.perf_counter() - started, len(groups)


def _leadq(
    case: str, data: Path, as_of: datetime, timer: StepTimer, memory_limit=None
) -> tuple[float, int]:
    from leadq.engines import EngineSettings
    from leadq.scoring import score_files

    engine = case.removeprefix("leadq-")
    settings = EngineSettings(database_url=POSTGRES_URL)
    if memory_limit is not None:
        settings = EngineSettings(database_url=POSTGRES_URL, memory_limit=memory_limit)
    if engine == "spark":
        _start_spark()
    if case == "leadq-duckdb-in-memory":
        return _leadq_in_memory(case, data, as_of, timer)
    started = time.perf_counter()
    run = score_files(
        data / "leads.parquet",
        data / "events.parquet",
        as_of=as_of,
        engine=engine,
        step=timer,
        settings=settings,
    )
    seconds = time.perf_counter() - started
    return seconds, _scored_leads(data, case, run)


def _leadq_in_memory(
    case: str, data: Path, as_of: datetime, timer: StepTimer
) -> tuple[float, int]:
    from leadq.inputs import read_source
    from leadq.scoring import score_sources

    started = time.perf_counter()
    with timer("reading files"):
        leads = read_source(data / "leads.parquet")
        events = read_source(data / "events.parquet")
    run = score_sources(leads, events, as_of=as_of, engine="duckdb", step=timer)
    seconds = time.perf_counter() - started
    return seconds, _scored_leads(data, case, run)


def _scored_leads(data: Path, case: str, run) -> int:
    """Write a run's scores next to the data; return the number of leads.

    The scores come from the Arrow table, since ScoredLead objects of
    millions of leads would count gigabytes toward the case's peak memory.
    """
    names = {
        "lead_id": "lead",
        "fit_score": "fit",
        "engagement_score": "engagement",
        "product_score": "product",
        "stage": "stage",
    }
    scores = run.table.select(list(names)).rename_columns(list(names.values()))
    _write_scores(data, case, scores)
    return len(scores)


def _start_spark() -> None:
    """Start the local Spark session that leadq.spark then reuses."""
    from pyspark.sql import SparkSession

    from leadq.spark import use_driver_python

    use_driver_python()
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "4g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")


def _pandas(
    case: str, data: Path, as_of: datetime, timer: StepTimer, memory_limit=None
) -> tuple[float, int]:
    import pandas as pd

    from benchmarks import pandas_reference

    started = time.perf_counter()
    with timer("reading files"):
        leads, events = pandas_reference.load(
            data / "leads.parquet", data / "events.parquet"
        )
    with timer("scoring"):
        result = pandas_reference.score(leads, events, pd.Timestamp(as_of))
    seconds = time.perf_counter() - started
    import pyarrow as pa

    columns = ["fit", "engagement", "product", "stage"]
    scores = result[columns].rename_axis("lead").reset_index()
    _write_scores(data, case, pa.Table.from_pandas(scores, preserve_index=False))
    return seconds, len(result)


def _write_scores(data: Path, case: str, scores) -> None:
    """Write the columns lead, fit, engagement, product and stage of an Arrow table."""
    import pyarrow.parquet as pq

    pq.write_table(scores, data / f"scores-{case}.parquet")


# Running cases from the parent process


def spawn_case(
    case: str,
    data: Path,
    memory_limit: str | None = None,
    timeout: float = CASE_TIMEOUT_SECONDS,
) -> CaseResult:
    """Run a case in a fresh Python process and read its result.

    The child starts in the data folder, so that `python -m` does not put the
    working directory's leadq first: a leadq on PYTHONPATH (a checkout of
    another commit) wins over the repository's, which comes last.
    """
    command = [
        sys.executable,
        "-m",
        "benchmarks.bench_scoring",
        "--run-case",
        case,
        "--data",
        str(data.resolve()),
    ]
    if memory_limit is not None:
        command += ["--memory-limit", memory_limit]
    paths = [
        path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path
    ]
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([*paths, str(REPO)]))
    try:
        done = subprocess.run(
            command,
            cwd=data,
            env=environment,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return CaseResult(case, float("nan"), skipped=f"timed out after {timeout:g} s")
    if done.returncode != 0:
        raise RuntimeError(
            f"case {case} failed with exit code {done.returncode}:\n{done.stderr}"
        )
    return CaseResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def best_of(
    case: str, data: Path, repeat: int, memory_limit: str | None = None
) -> CaseResult:
    """Run a case `repeat` times; keep the fastest run and the largest peak RSS."""
    runs = [spawn_case(case, data, memory_limit) for _ in range(repeat)]
    fastest = min(runs, key=lambda result: result.seconds)
    fastest.peak_mb = max(result.peak_mb for result in runs)
    return fastest


def compare_scores(data: Path, case: str, reference: str = "pandas") -> str:
    """Count the leads whose scores or stage differ between two cases."""
    import pyarrow.parquet as pq

    left = pq.read_table(data / f"scores-{case}.parquet").to_pandas().set_index("lead")
    right = (
        pq.read_table(data / f"scores-{reference}.parquet")
        .to_pandas()
        .set_index("lead")
    )
    if set(left.index) != set(right.index):
        return (
            f"{case}: {len(left)} leads, {reference}: {len(right)} leads, "
            "different lead sets"
        )
    right = right.reindex(left.index)
    differ = left["stage"] != right["stage"]
    for column in ("fit", "engagement", "product"):
        differ |= (left[column] - right[column]).abs() > SCORE_TOLERANCE
    return f"{case} vs {reference}: {len(left)} leads, {int(differ.sum())} differ"


# Report


def results_table(results: dict[str, CaseResult], events: int) -> str:
    scan = results["scan"].seconds
    pandas = results["pandas"].seconds if _ran(results, "pandas") else None
    rows = [
        "| case | seconds | events/s | peak RSS (MB) | time / bare scan "
        "| pandas time / time | CPU s of other processes |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for case, result in results.items():
        if result.skipped:
            rows.append(f"| {LABELS[case]} | skipped: {result.skipped} | | | | | |")
            continue
        other = result.other_cpu_seconds
        rows.append(
            _row(
                LABELS[case],
                result.seconds,
                result.peak_mb,
                events,
                scan,
                pandas,
                other,
            )
        )
        if case == "leadq-duckdb":
            query = result.steps["scoring on duckdb"]
            peak = result.step_peak_mb["scoring on duckdb"]
            rows.append(
                _row(
                    "leadq, DuckDB query alone", query, peak, events, scan, pandas, None
                )
            )
    return "\n".join(rows)


LABELS = {
    "scan": "bare scan: DuckDB read_parquet + GROUP BY email",
    "leadq-duckdb": "leadq end to end, DuckDB, events in batches",
    "leadq-duckdb-in-memory": "leadq end to end, DuckDB, events in memory",
    "leadq-sqlite": "leadq end to end, SQLite",
    "leadq-postgres": "leadq end to end, PostgreSQL",
    "leadq-spark": "leadq end to end, Spark local[2]",
    "pandas": "pandas reference",
}


def _row(label, seconds, peak_mb, events, scan, pandas, other_cpu) -> str:
    versus_pandas = f"{pandas / seconds:.2f}x" if pandas else "n/a"
    other = f"{other_cpu:.1f}" if other_cpu is not None else ""
    return (
        f"| {label} | {seconds:.2f} | {events / seconds:,.0f} | {peak_mb:,.0f} "
        f"| {seconds / scan:.1f}x | {versus_pandas} | {other} |"
    )


def _ran(results: dict[str, CaseResult], case: str) -> bool:
    return case in results and not results[case].skipped


def steps_table(result: CaseResult) -> str:
    rows = [
        f"Steps of {LABELS[result.case]} (fastest run):",
        "",
        "| step | seconds | share | peak RSS during step (MB) |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, seconds in result.steps.items():
        peak = result.step_peak_mb.get(name, 0.0)
        rows.append(
            f"| {name} | {seconds:.2f} | {seconds / result.seconds:.0%} | {peak:,.0f} |"
        )
    return "\n".join(rows)


@dataclass(frozen=True)
class TargetCheck:
    """One target of a benchmark and what a run measured against it.

    `met` is None when the run did not measure the target.
    """

    target: str
    met: bool | None
    measured: str

    @property
    def verdict(self) -> str:
        return {True: "met", False: "missed", None: "not measured"}[self.met]

    def line(self) -> str:
        return f"{self.target}: {self.verdict} ({self.measured})"


def targets(results: dict[str, CaseResult]) -> list[TargetCheck]:
    """Check leadq on DuckDB against the bare scan and the pandas reference."""
    leadq = results["leadq-duckdb"].seconds
    ratio = leadq / results["scan"].seconds
    checks = [
        TargetCheck(
            f"leadq on DuckDB within {TARGET_SCAN_RATIO:g}x of the bare scan",
            ratio <= TARGET_SCAN_RATIO,
            f"{ratio:.1f}x",
        )
    ]
    if _ran(results, "pandas"):
        speedup = results["pandas"].seconds / leadq
        checks.append(
            TargetCheck(
                f"leadq on DuckDB at least {TARGET_PANDAS_SPEEDUP:g}x faster than "
                "pandas",
                speedup >= TARGET_PANDAS_SPEEDUP,
                f"{speedup:.2f}x",
            )
        )
    return checks


def targets_text(results: dict[str, CaseResult]) -> str:
    return "\n".join(f"- {check.line()}" for check in targets(results))


def leadq_source_text(results: dict[str, CaseResult]) -> str:
    """Name the leadq that the cases imported, with its commit when known."""
    folder = results["leadq-duckdb"].leadq_path
    if folder is None:
        return "leadq: unknown"
    git = ["git", "-C", folder]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
        status = subprocess.run(
            [*git, "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return f"leadq from {folder} (not in a git checkout)."
    changes = ", with uncommitted changes" if status.stdout.strip() else ""
    return f"leadq from {folder}, commit {commit.stdout.strip()}{changes}."


def machine_text() -> str:
    import duckdb
    import pandas
    import pyarrow

    memory_gib = psutil.virtual_memory().total / 1024**3
    system = f"{platform.system()} {platform.release()}"
    versions = (
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, "
        f"pyarrow {pyarrow.__version__}, pandas {pandas.__version__}"
    )
    return (
        f"Machine: {os.cpu_count()} cores ({_cpu_model()}), "
        f"{memory_gib:.1f} GiB RAM, {system}. {versions}."
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


# Query profile


def profile_query(data: Path, top: int) -> str:
    """Profile one run of the compiled query; list the costliest operators."""
    import duckdb

    from leadq.binding import bind
    from leadq.compiler.query import compile_model
    from leadq.inputs import read_source
    from leadq.model.loading import load_default_model
    from leadq.scoring import micros_since_epoch

    meta = json.loads((data / "meta.json").read_text())
    model = load_default_model()
    compiled = compile_model(model)
    leads = read_source(data / "leads.parquet")
    events = read_source(data / "events.parquet")
    tables, _ = bind(model, compiled.layout, leads, events)

    output = data / "query-profile.json"
    connection = duckdb.connect(":memory:")
    connection.register("leads", tables.leads)
    connection.register("events", tables.events)
    connection.execute("PRAGMA enable_profiling = 'json'")
    connection.execute(f"PRAGMA profiling_output = '{output}'")
    connection.execute("SET profiling_mode = 'detailed'")
    as_of = micros_since_epoch(datetime.fromisoformat(meta["as_of"]))
    started = time.perf_counter()
    connection.sql(compiled.sql("duckdb"), params=[as_of]).to_arrow_table()
    seconds = time.perf_counter() - started
    connection.close()
    return _operators_table(json.loads(output.read_text()), seconds, top)


def _operators_table(profile: dict, seconds: float, top: int) -> str:
    operators: list[dict] = []

    def walk(node: dict) -> None:
        operators.append(node)
        for child in node.get("children", []):
            walk(child)

    for root in profile["operator"]:
        walk(root)
    total = sum(node.get("timing", 0.0) for node in operators)
    rows = [
        f"DuckDB profile of the compiled query: {seconds:.2f} s wall time, "
        f"{total:.2f} s operator time summed over threads. The costliest operators:",
        "",
        "| operator | operator seconds | share | rows out | MB out | detail |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for node in sorted(operators, key=lambda n: -n.get("timing", 0.0))[:top]:
        timing = node.get("timing", 0.0)
        detail = _operator_detail(node.get("extra_info", {}))
        rows_out = node.get("intermediate_rows", 0)
        mb_out = node.get("intermediate_size_bytes", 0) / MB
        share = timing / total if total else 0.0
        rows.append(
            f"| {node.get('type')} | {timing:.2f} | {share:.0%} | {rows_out:,} "
            f"| {mb_out:,.0f} | {detail} |"
        )
    return "\n".join(rows)


def _operator_detail(info: dict) -> str:
    for key in (
        "CTE Name",
        "Projections",
        "Expression",
        "Groups",
        "Conditions",
        "Function",
    ):
        if key in info:
            text = (
                info[key]
                if isinstance(info[key], str)
                else ", ".join(map(str, info[key]))
            )
            text = text.replace("|", "\\|").replace("\n", " ")
            return f"{key}: {text[:90]}{'...' if len(text) > 90 else ''}"
    return ""


# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])

    # The data set
    parser.add_argument(
        "--events",
        type=int,
        help=f"event rows (default {FULL_EVENTS}, or {QUICK_EVENTS} with --quick)",
    )
    parser.add_argument(
        "--leads", type=int, help=f"leads (default: events / {EVENTS_PER_LEAD})"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"use {QUICK_EVENTS} events, for a short run",
    )
    parser.add_argument(
        "--seed", type=int, default=42, help="random seed of the data set (default 42)"
    )
    parser.add_argument(
        "--data",
        type=Path,
        help="data folder, generated when missing "
        "(default benchmarks/data/bench-EVENTS-LEADS-sSEED)",
    )

    # The runs
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs per case, the fastest counts; SQLite, PostgreSQL and Spark "
        "run once (default 3, or 1 with --quick)",
    )
    parser.add_argument(
        "--rule-counts",
        default=",".join(map(str, bench_rules.RULE_COUNTS)),
        help="rule counts of the cost-by-rules table; empty to skip it "
        "(default 5,25,50,100,200)",
    )
    add_engine_options(parser)
    parser.add_argument(
        "--no-pandas", action="store_true", help="skip the pandas reference"
    )
    add_duckdb_options(parser)

    # The report
    parser.add_argument(
        "--profile",
        type=int,
        nargs="?",
        const=12,
        default=0,
        metavar="N",
        help="also list the N costliest operators of the DuckDB query (default 12)",
    )
    parser.add_argument(
        "--record",
        type=Path,
        help="append the results as a dated Markdown section to this file",
    )
    parser.add_argument("--run-case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    set_spark_max_events(args)
    return args


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """Add the options that choose and cap the engines besides DuckDB."""
    parser.add_argument(
        "--sqlite-max-events",
        type=int,
        default=DEFAULT_SQLITE_MAX_EVENTS,
        help="skip SQLite above this many events "
        f"(default {DEFAULT_SQLITE_MAX_EVENTS})",
    )
    parser.add_argument(
        "--postgres-max-events",
        type=int,
        default=DEFAULT_POSTGRES_MAX_EVENTS,
        help=f"skip PostgreSQL above this many events (default {DEFAULT_POSTGRES_MAX_EVENTS})",
    )
    parser.add_argument(
        "--spark-max-events",
        type=int,
        help=f"skip Spark above this many events (default {DEFAULT_SPARK_MAX_EVENTS}, "
        f"or {QUICK_SPARK_MAX_EVENTS} with --quick)",
    )
    parser.add_argument(
        "--engines",
        default=",".join(c.removeprefix("leadq-") for c in CASES if c.startswith("leadq-")),
        help="comma-separated engines to run (default: all of them)",
    )


def set_spark_max_events(args: argparse.Namespace) -> None:
    """Fill in --spark-max-events when it was not given: 0 (skip) with --quick."""
    if args.spark_max_events is None:
        quick = QUICK_SPARK_MAX_EVENTS
        args.spark_max_events = quick if args.quick else DEFAULT_SPARK_MAX_EVENTS


def add_duckdb_options(parser: argparse.ArgumentParser) -> None:
    """Add the options of the two DuckDB cases: events in batches and in memory."""
    parser.add_argument(
        "--memory-limit",
        help="DuckDB's memory limit of leadq with the events in batches, such as "
        "4GB (default: leadq's, 4GB)",
    )
    parser.add_argument(
        "--in-memory-max-events",
        type=int,
        default=DEFAULT_IN_MEMORY_MAX_EVENTS,
        help="skip leadq with the events in memory above this many events "
        f"(default {DEFAULT_IN_MEMORY_MAX_EVENTS})",
    )


def prepare_data(args: argparse.Namespace) -> tuple[Path, dict]:
    events = args.events or (QUICK_EVENTS if args.quick else FULL_EVENTS)
    leads = args.leads or max(events // EVENTS_PER_LEAD, 1)
    data = args.data or DATA_ROOT / f"bench-{events}-{leads}-s{args.seed}"
    meta_path = data / "meta.json"
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if (meta["events"], meta["leads"], meta["seed"]) == (events, leads, args.seed):
            return data, meta
    print(
        f"generating {events:,} events for {leads:,} leads in {data} ...",
        file=sys.stderr,
    )
    generate(data, leads=leads, events=events, seed=args.seed)
    return data, json.loads(meta_path.read_text())


def run_benchmark(args: argparse.Namespace, data: Path, meta: dict) -> str:
    events = meta["events"]
    for stale in data.glob("scores-*.parquet"):
        stale.unlink()
    results: dict[str, CaseResult] = {}
    for case in CASES:
        if case == "pandas" and args.no_pandas:
            continue
        reason = skip_reason(case, events, args)
        if reason:
            results[case] = CaseResult(case, float("nan"), skipped=reason)
            continue
        repeat = 1 if case in ONCE else args.repeat
        print(f"running {case} ({repeat}x) ...", file=sys.stderr)
        results[case] = best_of(case, data, repeat, args.memory_limit)

    sections = [
        leadq_source_text(results),
        data_set_text(meta, args.repeat),
        results_table(results, events),
    ]
    if not results["leadq-duckdb"].skipped:
        sections.append(steps_table(results["leadq-duckdb"]))
        sections.append("Targets:\n" + targets_text(results))
    if _ran(results, "pandas"):
        checks = [
            compare_scores(data, case)
            for case in CASES
            if case.startswith("leadq-") and _ran(results, case)
        ]
        sections.append(
            "Agreement with the pandas reference (scores within 1e-6, same stage):\n"
            + "\n".join(f"- {c}" for c in checks)
        )
    if args.profile:
        sections.append(profile_query(data, args.profile))
    if args.rule_counts:
        sections.append(rules_growth_text(args, data, events))
    return "\n\n".join(sections)


def rules_growth_text(args: argparse.Namespace, data: Path, events: int) -> str:
    """Run the cost-by-rules table on the same data: DuckDB, and SQLite unless --quick."""
    print("running the cost by number of rules ...", file=sys.stderr)
    counts = [int(n) for n in args.rule_counts.split(",")]
    engines = ["duckdb"] if args.quick else ["duckdb", "sqlite"]
    rows = bench_rules.measure(data, counts, engines)
    return (
        "Cost by number of rules (benchmarks/bench_rules.py): the compile time and "
        "the query alone on the bound tables, one run per size.\n\n"
        + bench_rules.growth_table(rows, engines, events)
    )


def skip_reason(case: str, events: int, args: argparse.Namespace) -> str | None:
    engine = case.removeprefix("leadq-")
    if case == "leadq-duckdb-in-memory":
        limit = args.in_memory_max_events
        if events > limit:
            return f"{events:,} events > --in-memory-max-events {limit:,}"
        return None
    if case.startswith("leadq-") and engine != "duckdb":
        if engine not in args.engines.split(","):
            return "not in --engines"
        limit = getattr(args, f"{engine}_max_events")
        if events > limit:
            return f"{events:,} events > --{engine}-max-events {limit:,}"
    return None


def data_set_text(meta: dict, repeat: int) -> str:
    return (
        f"{meta['events']:,} events ({meta['duplicate_rows']:,} repeated ids, "
        f"{meta['events_after_as_of']:,} after the as-of time) for {meta['leads']:,} "
        f"leads ({meta['leads_with_events']:,} with events), seed {meta['seed']}. "
        f"The fastest of {repeat} run(s) per case counts; SQLite, PostgreSQL "
        "and Spark run once."
    )


def record(
    path: Path,
    report: str,
    argv: list[str],
    script: str = "benchmarks.bench_scoring",
    title: str | None = None,
) -> None:
    """Append the report as a dated section, headed `## DATE` or `## DATE: title`."""
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if title:
        stamp = f"{stamp}: {title}"
    command = f"python -m {script} " + " ".join(shlex.quote(a) for a in argv)
    if os.environ.get("PYTHONPATH"):
        command = f"PYTHONPATH={shlex.quote(os.environ['PYTHONPATH'])} {command}"
    section = (
        f"## {stamp}\n\n{machine_text()}\n\nCommand: `{command.strip()}`\n\n{report}\n"
    )
    if not path.exists():
        path.write_text(
            f"# Benchmark results\n\nWritten by `python -m {script} "
            "--record`. benchmarks/README.md describes the cases.\n"
        )
    with path.open("a") as file:
        file.write("\n" + section)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.run_case:
        if args.data is None:
            print("error: --run-case needs --data", file=sys.stderr)
            return 2
        result = run_case(args.run_case, args.data, args.memory_limit)
        print(json.dumps(result.__dict__))
        return 0
    if args.repeat < 1:
        print(f"error: --repeat must be at least 1, got {args.repeat}", file=sys.stderr)
        return 2

    data, meta = prepare_data(args)
    report = run_benchmark(args, data, meta)
    print(machine_text() + "\n\n" + report)
    if args.record:
        record(args.record, report, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
