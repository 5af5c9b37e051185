"""Drive a real `leadq serve` process with tracking requests and measure it.

The script starts `leadq serve` on 127.0.0.1 on a fresh SQLite file or a
fresh PostgreSQL schema. It activates a small model whose engagement score
is the number of `ping` events (1 point each, no decay, no cap) and creates
a write key and an admin key with `leadq keys create`. Then it sends track
events from this machine with an aiohttp client, which costs the machine
less CPU per request than httpx, so more of it is left to the server:

    python -m benchmarks.load_service --database sqlite --duration 20
    python -m benchmarks.load_service --database postgresql --batch-size 100

A 2xx response is sent only after the lead is rescored and committed, so the
request latency is the time from sending an event until the lead's new score
and stage are visible. The script checks that by sampling. After some
responses it reads the lead's row and checks that its engagement score counts
every event acknowledged so far. At the end it compares every lead's score
with the events that were acknowledged.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import secrets
import shlex
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import quote

import aiohttp
import httpx
import psutil
from sqlalchemy import create_engine, select, text

from benchmarks.bench_scoring import TargetCheck
from leadq.store.tables import leads

REPO = Path(__file__).resolve().parents[1]
LEADQ = [sys.executable, "-m", "leadq"]
POSTGRES_URL = os.environ.get("LEADQ_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
EVENT = "ping"

# Engagement is the number of `ping` events, with no decay and a cap far
# above any run, so a lead's score counts its committed events.
MODEL = f"""\
name: service load benchmark
version: 1
key: email
fit:
  rules:
    - {{id: big_company, field: company_size, at_least: 100, points: 20}}
engagement:
  min: 0
  max: 1000000000
  rules:
    - {{id: {EVENT}, event: {EVENT}, points: 1}}
stages:
  - {{id: mql, when: {{score: engagement, at_least: 10}}}}
  - {{id: unqualified}}
"""

# The project's targets on its 2-core machine.
TARGET_TRACK_RPS = 1_000
TARGET_TRACK_P99_MS = 50.0
TARGET_BATCH_EPS = 5_000


# Server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_leadq(*args: str) -> str:
    done = subprocess.run([*LEADQ, *args], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"leadq {' '.join(args[:2])} failed: {done.stderr.strip()[-2000:]}")
    return done.stdout.strip()


@contextmanager
def fresh_database(kind: str, folder: Path) -> Iterator[str]:
    """Yield the URL of an empty database, and drop a PostgreSQL schema after."""
    if kind == "sqlite":
        yield f"sqlite:///{folder / 'leadq.db'}"
        return
    admin = create_engine(POSTGRES_URL)
    schema = f"leadq_bench_{os.getpid()}_{secrets.token_hex(3)}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def running_server(url: str, log: Path, workers: int = 1) -> Iterator[tuple[str, list[psutil.Process]]]:
    """Start `leadq serve` on a free port, yield its base URL and processes, then stop it."""
    port = free_port()
    command = [*LEADQ, "serve", "--database", url, "--port", str(port), "--workers", str(workers)]
    with log.open("ab") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"leadq serve exited with {process.returncode}: {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"leadq serve did not respond within 60 s. Read its log: {log}")
            try:
                httpx.get(f"{base}/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        yield base, server_processes(psutil.Process(process.pid), workers, deadline)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)


# Load


@dataclass
class Load:
    """Counts and latencies of one run, filled in by the workers."""

    lead_count: int
    answered: list[int] = field(default_factory=list)  # events acknowledged with a 2xx, per lead
    unknown: list[int] = field(default_factory=list)  # events of failed requests, per lead
    latencies: list[float] = field(default_factory=list)  # seconds, measured requests only
    requests: int = 0
    events: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    samples: int = 0
    sample_failures: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.answered = [0] * self.lead_count
        self.unknown = [0] * self.lead_count


def lead_key(index: int) -> str:
    return f"bench-{index}"


def track_message(lead: int) -> dict:
    return {"type": "track", "userId": lead_key(lead), "event": EVENT, "messageId": str(uuid.uuid4())}


async def create_leads(client: aiohttp.ClientSession, count: int) -> None:
    """Identify every lead before the clock starts, so no request creates one."""
    for start in range(0, count, 200):
        batch = [
            {
                "type": "identify",
                "userId": lead_key(index),
                "traits": {"email": f"lead{index}@bench.example", "company_size": 50 + index % 500},
            }
            for index in range(start, min(start + 200, count))
        ]
        async with client.post("/v1/batch", json={"batch": batch}) as response:
            response.raise_for_status()


class Checker:
    """Reads leads' rows in a thread pool and checks their engagement score."""

    def __init__(self, url: str, load: Load) -> None:
        self.engine = create_engine(url)
        self.load = load
        self.pool = ThreadPoolExecutor(max_workers=1)
        self.pending: list[asyncio.Future] = []

    def sample(self, lead: int, answered: int) -> None:
        """Queue a check that the lead's score counts at least `answered` events."""
        loop = asyncio.get_running_loop()
        self.pending.append(loop.run_in_executor(self.pool, self._check, lead, answered))

    def _check(self, lead: int, answered: int) -> None:
        with self.engine.connect() as connection:
            score = connection.execute(
                select(leads.c.engagement).where(leads.c.lead_key == lead_key(lead))
            ).scalar_one()
        self.load.samples += 1
        if score is None or score < answered:
            self.load.sample_failures.append(f"{lead_key(lead)}: engagement {score}, {answered} events acknowledged")

    async def finish(self) -> list[str]:
        """Wait for the samples, then compare every lead's final score with its events."""
        await asyncio.gather(*self.pending)
        with self.engine.connect() as connection:
            rows = connection.execute(select(leads.c.lead_key, leads.c.engagement)).all()
        scores = {key: score or 0 for key, score in rows}
        mismatches = []
        for lead in range(self.load.lead_count):
            low = self.load.answered[lead]
            high = low + self.load.unknown[lead]
            score = scores.get(lead_key(lead), 0)
            if not low <= score <= high:
                mismatches.append(f"{lead_key(lead)}: engagement {score}, expected {low} to {high}")
        self.pool.shutdown()
        self.engine.dispose()
        return mismatches


async def worker(
    number: int,
    client: aiohttp.ClientSession,
    options: argparse.Namespace,
    load: Load,
    checker: Checker,
    window: tuple[float, float, float],
) -> None:
    load_start, measure_from, stop_at = window
    # Each worker starts on its own lead and steps through all of them, so
    # the load spreads evenly and concurrent requests rarely share a lead.
    lead = number % options.leads
    sent = 0
    # With --rate, worker `number` owns every concurrency-th slot of the schedule.
    slot = number
    while time.perf_counter() < stop_at:
        due = None
        if options.rate:
            due = load_start + slot / options.rate
            slot += options.concurrency
            if due >= stop_at:
                break
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        targets = [(lead + offset * options.concurrency) % options.leads for offset in range(options.batch_size)]
        lead = (lead + options.concurrency * options.batch_size + 1) % options.leads
        if options.batch_size == 1:
            path, body = "/v1/track", track_message(targets[0])
            del body["type"]
        else:
            path, body = "/v1/batch", {"batch": [track_message(target) for target in targets]}
        # An open-loop request's latency counts from when it was due, so a
        # request that waited for its connection counts the wait too.
        started = due if due is not None else time.perf_counter()
        try:
            async with client.post(path, json=body) as response:
                await response.read()
                failure = None if response.ok else f"HTTP {response.status}"
        except aiohttp.ClientError as error:
            failure = type(error).__name__
        finished = time.perf_counter()
        sent += 1
        if failure is not None:
            load.errors[failure] = load.errors.get(failure, 0) + 1
            for target in targets:
                load.unknown[target] += 1
            continue
        for target in targets:
            load.answered[target] += 1
        if started >= measure_from:
            load.requests += 1
            load.events += len(targets)
            load.latencies.append(finished - started)
        # The first response is always checked, so short runs and large
        # batches are sampled too.
        if (sent - 1) % options.verify_every == 0:
            checker.sample(targets[-1], load.answered[targets[-1]])


async def drive(base: str, write_key: str, url: str, options: argparse.Namespace) -> tuple[Load, list[str], float]:
    load = Load(options.leads)
    connector = aiohttp.TCPConnector(limit=options.concurrency)
    session = aiohttp.ClientSession(
        base_url=base,
        headers={"Authorization": aiohttp.encode_basic_auth(write_key)},
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=60),
    )
    async with session as client:
        await create_leads(client, options.leads)
        checker = Checker(url, load)
        start = time.perf_counter()
        window = (start, start + options.warmup, start + options.warmup + options.duration)
        await asyncio.gather(
            *(worker(number, client, options, load, checker, window) for number in range(options.concurrency))
        )
        # Requests in flight at the deadline finish and count, so the
        # window ends at the last response.
        elapsed = time.perf_counter() - window[1]
        mismatches = await checker.finish()
    return load, mismatches, elapsed


# Report


def percentile(values: list[float], share: float) -> float:
    """Return the nearest-rank percentile of `values` (0 < share <= 1)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def build_report(options, load: Load, mismatches: list[str], elapsed: float, cpu: dict) -> dict:
    milliseconds = [value * 1000 for value in load.latencies]
    return {
        "database": options.database,
        "endpoint": "/v1/track" if options.batch_size == 1 else "/v1/batch",
        "batch_size": options.batch_size,
        "concurrency": options.concurrency,
        "server_workers": options.server_workers,
        "rate": options.rate,
        "scheduled": round(options.rate * options.duration) if options.rate else None,
        "leads": options.leads,
        "seconds": round(elapsed, 2),
        "requests": load.requests,
        "events": load.events,
        "requests_per_second": round(load.requests / elapsed, 1),
        "events_per_second": round(load.events / elapsed, 1),
        "latency_ms": {
            "p50": round(percentile(milliseconds, 0.50), 2),
            "p90": round(percentile(milliseconds, 0.90), 2),
            "p99": round(percentile(milliseconds, 0.99), 2),
            "max": round(max(milliseconds, default=float("nan")), 2),
        },
        "errors": load.errors,
        "samples_checked": load.samples,
        "sample_failures": load.sample_failures[:10],
        "final_mismatches": mismatches[:10],
        "cpu": cpu,
    }


def targets(report: dict) -> list[TargetCheck]:
    """Check a run against the targets of its endpoint."""
    if report["batch_size"] == 1:
        p99 = report["latency_ms"]["p99"]
        return [
            _track_rate_check(report),
            TargetCheck(f"p99 under {TARGET_TRACK_P99_MS:.0f} ms", p99 < TARGET_TRACK_P99_MS, f"{p99:,.1f} ms"),
        ]
    eps = report["events_per_second"]
    return [
        TargetCheck(
            f"{TARGET_BATCH_EPS:,} events/s through /v1/batch",
            eps >= TARGET_BATCH_EPS,
            f"{eps:,.0f}/s, {eps / TARGET_BATCH_EPS:.0%} of the target",
        )
    ]


def _track_rate_check(report: dict) -> TargetCheck:
    """Check the request rate: in an open loop, whether every scheduled request got a 2xx response."""
    name = f"{TARGET_TRACK_RPS:,} single-event requests/s"
    rate = report.get("rate")
    if rate:
        kept_up = not report["errors"] and report["requests"] >= report["scheduled"]
        detail = f"{report['requests']:,} of {report['scheduled']:,} requests scheduled at {rate:,.0f}/s answered"
        return TargetCheck(name, kept_up and rate >= TARGET_TRACK_RPS, detail)
    rps = report["requests_per_second"]
    return TargetCheck(name, rps >= TARGET_TRACK_RPS, f"{rps:,.0f}/s, {rps / TARGET_TRACK_RPS:.0%} of the target")


def _pacing(report: dict) -> str:
    if report.get("rate"):
        return f"open loop at {report['rate']:,.0f} requests/s"
    return "closed loop"


def targets_text(report: dict) -> list[str]:
    return [check.line() for check in targets(report)]


def report_text(report: dict) -> str:
    latency = report["latency_ms"]
    cpu = report["cpu"]
    lines = [
        f"{report['endpoint']} with {report['batch_size']} event(s) per request on {report['database']}: "
        f"{report['concurrency']} connections, {_pacing(report)}, {report['leads']} leads, "
        f"{report['seconds']} s measured, {report.get('server_workers', 1)} server process(es).",
        "",
        "| requests/s | events/s | p50 ms | p90 ms | p99 ms | max ms | requests | errors |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {report['requests_per_second']:,.0f} | {report['events_per_second']:,.0f} | {latency['p50']:.1f} "
        f"| {latency['p90']:.1f} | {latency['p99']:.1f} | {latency['max']:.1f} | {report['requests']:,} "
        f"| {sum(report['errors'].values()):,} |",
        "",
        f"CPU during the run, in percent of one core: leadq serve {cpu['server_percent']:.0f}%, "
        f"this load generator {cpu['client_percent']:.0f}%, other processes {cpu['other_percent']:.0f}%"
        f"{' (PostgreSQL among them)' if report['database'] == 'postgresql' else ''}, the machine {cpu['machine_percent']:.0f}% of {100 * os.cpu_count()}%.",
        f"Scores checked: {report['samples_checked']} samples during the run, "
        f"{len(report['sample_failures'])} behind; {len(report['final_mismatches'])} leads differ at the end.",
    ]
    if report["errors"]:
        lines.append(f"Errors: {json.dumps(report['errors'])}.")
    for failure in report["sample_failures"] + report["final_mismatches"]:
        lines.append(f"- {failure}")
    lines.append("")
    lines.append("Targets:")
    lines += [f"- {line}" for line in targets_text(report)]
    return "\n".join(lines)


def machine_text(url: str) -> str:
    memory_gib = psutil.virtual_memory().total / 1024**3
    if url.startswith("sqlite"):
        database = f"SQLite {sqlite3.sqlite_version}"
    else:
        engine = create_engine(url)
        with engine.connect() as connection:
            database = f"PostgreSQL {connection.execute(text('SHOW server_version')).scalar_one()} on 127.0.0.1"
        engine.dispose()
    return (
        f"Machine: {os.cpu_count()} cores ({_cpu_model()}), {memory_gib:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}. Python {platform.python_version()}, "
        f"aiohttp {aiohttp.__version__}, {database}. The load generator runs on the same machine."
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def source_text() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO)
        return done.stdout.strip() if done.returncode == 0 else ""

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " with uncommitted changes" if git("status", "--porcelain", "--", "leadq") else ""
    return f"leadq commit {commit}{dirty}."


def record(path: Path, report: dict, machine: str, argv: list[str]) -> None:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    command = shlex.join(["python", "-m", "benchmarks.load_service", *argv])
    section = (
        f"\n## {stamp}: service load, {report['endpoint']} on {report['database']}\n\n"
        f"{machine}\n\nCommand: `{command}`\n\n{source_text()}\n\n{report_text(report)}\n"
    )
    with path.open("a", encoding="utf-8") as output:
        output.write(section)


# Command line


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.load_service",
        description="Start `leadq serve` on 127.0.0.1 and measure tracking requests against it.",
    )
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite",
                        help="a fresh SQLite file, or a fresh schema in LEADQ_TEST_POSTGRES_URL "
                        f"(default {POSTGRES_URL})")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of measured load (default 20)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds of load before the measured part, not counted (default 2)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="requests per second to send on a fixed schedule, whatever the responses "
                        "(open loop); 0 sends each connection's next request when its response arrives "
                        "(default 0)")
    parser.add_argument("--leads", type=int, default=1000, help="leads the events go to (default 1000)")
    parser.add_argument("--batch-size", type=int, default=1,
                        help="events per request: 1 sends /v1/track requests, more sends /v1/batch (default 1)")
    parser.add_argument("--server-workers", type=int, default=1,
                        help="processes of `leadq serve` that serve requests (its --workers, default 1)")
    parser.add_argument("--verify-every", type=int, default=20,
                        help="each connection checks the lead's score after every Nth 2xx response (default 20)")
    parser.add_argument("--record", type=Path, metavar="FILE",
                        help="append the results as a dated section to FILE, such as benchmarks/RESULTS.md")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    for name in ("duration", "concurrency", "leads", "batch_size", "server_workers", "verify_every"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} {getattr(args, name)}: give a number above 0")
    if args.rate < 0:
        parser.error(f"--rate {args.rate:g}: give requests per second, or 0 for a closed loop")
    if args.warmup < 0:
        parser.error(f"--warmup {args.warmup}: give 0 or more seconds")
    return args


def run(options: argparse.Namespace) -> tuple[dict, str]:
    """Run one benchmark and return its report and the machine note."""
    with tempfile.TemporaryDirectory(prefix="leadq-load-") as folder_name:
        folder = Path(folder_name)
        with fresh_database(options.database, folder) as url:
            model = folder / "model.yaml"
            model.write_text(MODEL, encoding="utf-8")
            run_leadq("model", "activate", str(model), "--database", url)
            # Sending events needs no admin key, but an operator creates one
            # before opening the service, so the setup matches. The two
            # commands run at the same time to shorten the setup.
            with ThreadPoolExecutor(max_workers=2) as pool:
                kinds = ("write", "admin")
                commands = [("keys", "create", kind, "--database", url) for kind in kinds]
                write_key, _ = pool.map(lambda command: run_leadq(*command), commands)
            machine = machine_text(url)
            with running_server(url, folder / "serve.log", options.server_workers) as (base, server):
                client = psutil.Process()
                before = (_busy_seconds(server), client.cpu_times(), psutil.cpu_times(), time.perf_counter())
                load, mismatches, elapsed = asyncio.run(drive(base, write_key, url, options))
                cpu = _cpu_use(before, server, client)
    return build_report(options, load, mismatches, elapsed, cpu), machine


def server_processes(main: psutil.Process, workers: int, deadline: float) -> list[psutil.Process]:
    """Return `leadq serve` and its child processes, with every worker process once they all run.

    The children include the process that writes tracking groups on
    PostgreSQL, which `leadq serve` starts before it accepts requests.
    """
    processes = [main, *main.children(recursive=True)]
    while workers > 1 and time.monotonic() < deadline:
        processes = [main, *main.children(recursive=True)]
        # uvicorn's supervisor also starts multiprocessing's resource tracker.
        if len(processes) > workers:
            break
        time.sleep(0.1)
    return processes


def _busy_seconds(processes: list[psutil.Process]) -> float:
    return sum(sum(process.cpu_times()[:2]) for process in processes)


def _cpu_use(before, server: list[psutil.Process], client: psutil.Process) -> dict:
    server_before, client_before, machine_before, started = before
    wall = time.perf_counter() - started
    server_after, client_after, machine_after = _busy_seconds(server), client.cpu_times(), psutil.cpu_times()
    machine_busy = sum(machine_after) - sum(machine_before)
    machine_idle = (machine_after.idle + machine_after.iowait) - (machine_before.idle + machine_before.iowait)
    server_percent = 100 * (server_after - server_before) / wall
    client_percent = 100 * (sum(client_after[:2]) - sum(client_before[:2])) / wall
    # psutil.cpu_times() sums all cores, so busy time over wall time is in
    # percent of one core, like the two process figures.
    machine_percent = 100 * (machine_busy - machine_idle) / wall
    return {
        "server_percent": server_percent,
        "client_percent": client_percent,
        "other_percent": max(0.0, machine_percent - server_percent - client_percent),
        "machine_percent": machine_percent,
    }


def main(argv: list[str] | None = None) -> dict:
    argv = sys.argv[1:] if argv is None else argv
    options = parse_args(argv)
    report, machine = run(options)
    print(json.dumps(report, indent=2) if options.json else report_text(report))
    if options.record:
        record(options.record, report, machine, argv)
        print(f"appended to {options.record}", file=sys.stderr)
    return report


if __name__ == "__main__":
    main()
