"""The benchmark suite, end to end on tiny sizes, and its command line."""

from __future__ import annotations

import os
import re
import socket

import pytest

from benchmarks import load_service, suite
from benchmarks.bench_scoring import CaseResult

PARTS = ("data", "scale", "engines", "spark", "rules", "service")
HEADINGS = (
    "### Batch scoring by size",
    "#### 2,000 events",
    "#### 5,000 events",
    "### Engines at 5,000 events",
    "### Spark local[2] against DuckDB",
    "### Cost by number of rules",
    "### Service load",
)


def tiny_argv(root, *extra: str) -> list[str]:
    return [
        "--sizes", "2000,5000",
        "--engine-events", "5000",
        "--data-root", str(root / "data"),
        "--rule-counts", "5,25",
        "--rule-engines", "duckdb",
        "--service-duration", "0.5",
        "--service-warmup", "0",
        "--service-workers", "2",
        *extra,
    ]  # fmt: skip


def test_suite_records_every_part(tmp_path, command_line):
    results = tmp_path / "RESULTS.md"
    argv = tiny_argv(
        tmp_path,
        "--engines", "sqlite,postgres",
        "--service-databases", "sqlite",
        "--record", str(results),
    )  # fmt: skip

    assert suite.main(argv) == 0
    section = results.read_text()
    summary = section[
        section.index("| part | measurement |") : section.index(HEADINGS[0])
    ]

    check_header(section, command_line("python -m benchmarks.suite --sizes 2000,5000 "))
    check_parts(section)
    check_scale_rows(summary)
    check_engine_rows(summary, section)
    check_service_rows(summary)


# The checks of the section that test_suite_records_every_part writes. The
# suite runs once for all of them, because it takes about a minute.


def check_header(section: str, command: str) -> None:
    assert re.search(
        r"^## \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC: benchmark suite$",
        section,
        re.MULTILINE,
    )
    assert re.search(
        r"^Machine: \d+ cores \(.+\), [0-9.]+ GiB RAM", section, re.MULTILINE
    )
    assert command in section
    assert re.search(r"^leadq from .+, commit [0-9a-f]+", section, re.MULTILINE)
    assert re.search(
        r"^Started \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} UTC", section, re.MULTILINE
    )


def check_parts(section: str) -> None:
    for part in PARTS:
        assert re.search(
            rf"^\| {part} \| [0-9,.]+ \| [0-9.]+ \| [0-9.]+ \|$", section, re.MULTILINE
        )
    for heading in HEADINGS:
        assert f"\n{heading}\n" in section
    for endpoint in ("/v1/track", "/v1/batch"):
        assert f"\n#### {endpoint} on sqlite\n" in section
    assert section.index("| part | measurement |") < section.index(HEADINGS[0])


def check_scale_rows(summary: str) -> None:
    assert re.search(
        r"^\| scale \| DuckDB in batches, 5,000 events \| [0-9.]+ s, [0-9,]+ events/s, "
        r"peak RSS [0-9,]+ MB; [0-9.]+x the bare scan; pandas took [0-9.]+x as long "
        r"\| leadq on DuckDB within 3x of the bare scan; leadq on DuckDB at least 10x "
        r"faster than pandas \| (met|missed); (met|missed) \|$",
        summary,
        re.MULTILINE,
    )
    assert re.search(
        r"^\| scale \| leadq's peak RSS at the largest size \| [0-9.]+ GB "
        r"\| leadq's peak RSS under 8 GB at 5,000 events \| met \|$",
        summary,
        re.MULTILINE,
    )
    assert (
        "| scale | cost growth with events | 2x the events (2,000 to 5,000) took "
        in summary
    )


def check_engine_rows(summary: str, section: str) -> None:
    for label in ("SQLite", "PostgreSQL", "DuckDB, events in memory"):
        row = rf"^\| engines \| leadq end to end, {label}, 5,000 events \| [0-9.]+ s, "
        assert re.search(row, summary, re.MULTILINE)
    assert (
        "| spark | Spark local[2] against DuckDB in batches, 5,000 events "
        "| not measured: not in --engines | none set |" in summary
    )
    assert re.search(
        r"^\| rules \| 5 to 25 rules, duckdb \| query [0-9.]+ s to ",
        summary,
        re.MULTILINE,
    )
    assert "leadq-sqlite vs pandas: 100 leads, 0 differ" in section
    assert "leadq-postgres vs pandas: 100 leads, 0 differ" in section


def check_service_rows(summary: str) -> None:
    assert re.search(
        r"^\| service \| /v1/track, 1 event\(s\) per request, SQLite, 2 server process\(es\) "
        r"\| [0-9,]+ requests/s, .*, 0 errors \| 1,000 single-event requests/s; "
        r"p99 under 50 ms \| (met|missed); (met|missed) \|$",
        summary,
        re.MULTILINE,
    )
    assert re.search(
        r"^\| service \| /v1/batch, 100 event\(s\) per request, SQLite, 2 server process\(es\) "
        r"\| .*, 0 errors \| 5,000 events/s through /v1/batch \| (met|missed) \|$",
        summary,
        re.MULTILINE,
    )


def test_failed_service_run_reported(tmp_path, monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = f"postgresql+psycopg://postgres@127.0.0.1:{port}/test?connect_timeout=5"
    monkeypatch.setattr(load_service, "POSTGRES_URL", closed)
    args = suite.parse_args(tiny_argv(tmp_path, "--service-databases", "postgresql"))

    reports = suite.run_service(args)
    rows = [suite.service_row(report) for report in reports]

    assert [report["endpoint"] for report in reports] == ["/v1/track", "/v1/batch"]
    assert reports[0]["failed"].startswith("OperationalError: ")
    assert rows[0][2].startswith("failed: OperationalError: ")
    assert [check.verdict for check in rows[0][3]] == ["not measured", "not measured"]
    assert "Failed: OperationalError: " in suite.service_text(reports, args)


def test_spark_note_follows_numbers():
    cores = os.cpu_count()
    duckdb = CaseResult("leadq-duckdb", 2.0)

    slower = suite.spark_note(1_000_000, CaseResult("leadq-spark", 60.0), duckdb)
    faster = suite.spark_note(1_000_000, CaseResult("leadq-spark", 1.0), duckdb)

    assert "Spark took 30.0x DuckDB's time on the same 1,000,000 events" in slower
    assert "(60.0 µs per event against 2.0 µs)" in slower
    assert f"so DuckDB was the faster engine on this {cores}-core machine" in slower
    assert (
        f"it would need about {30 * cores:,} cores to match DuckDB on {cores}" in slower
    )
    assert "Spark took 0.50x DuckDB's time" in faster
    assert "so Spark was the faster engine" in faster
    assert "would need about" not in faster


def test_quick_defaults():
    args = suite.parse_args(["--quick"])

    assert args.sizes == [20_000, 200_000]
    assert args.engine_events == 200_000
    assert args.spark_max_events == 0
    assert args.rule_engines == "duckdb"
    assert (args.service_duration, args.service_warmup) == (3.0, 1.0)


def test_full_defaults():
    args = suite.parse_args([])

    assert args.sizes == [1_000_000, 10_000_000, 100_000_000]
    assert args.engine_events == 1_000_000
    assert args.spark_max_events == 2_000_000
    assert args.rule_engines == "duckdb,sqlite"
    assert (args.service_duration, args.service_warmup) == (20.0, 2.0)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--sizes", "1M"], "--sizes must be integers separated by commas, got '1M'"),
        (
            ["--rule-counts", "5,x"],
            "--rule-counts must be integers separated by commas",
        ),
        (
            ["--service-databases", "mysql"],
            "--service-databases accepts sqlite and postgresql, got ['mysql']",
        ),
        (["--service-duration", "0"], "--service-duration must be above 0"),
        (["--engine-events", "0"], "--engine-events must be 1 or more, got 0"),
        (["--service-workers", "1,0"], "--service-workers takes process counts of 1 or more"),
    ],
)
def test_bad_options_rejected(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        suite.parse_args(argv)

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_quick_suite_with_spark(tmp_path, capsys):
    argv = ["--quick", "--data-root", str(tmp_path), "--spark-max-events", "200000"]

    assert suite.main(argv) == 0
    report = capsys.readouterr().out

    assert re.search(
        r"^\| 200,000 \| [0-9.]+ \| [0-9.]+ \| [0-9.]+ \| [0-9.]+x \| [0-9,]+ \|$",
        report,
        re.MULTILINE,
    )
    assert re.search(
        r"Spark took [0-9.]+x DuckDB's time on the same 200,000 events", report
    )
    assert "leadq-spark vs pandas: 4000 leads, 0 differ" in report
    for database in ("sqlite", "postgresql"):
        for endpoint in ("/v1/track", "/v1/batch"):
            assert f"\n#### {endpoint} on {database}\n" in report

