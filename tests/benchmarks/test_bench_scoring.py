"""The benchmark runner, end to end on a tiny data set."""

from __future__ import annotations

import re

from benchmarks import bench_scoring


def test_bench_reports_and_records(tmp_path, capsys):
    data = tmp_path / "data"
    results = tmp_path / "RESULTS.md"
    argv = [
        "--events",
        "20000",
        "--leads",
        "400",
        "--data",
        str(data),
        "--repeat",
        "1",
        "--profile",
        "5",
        "--record",
        str(results),
        "--engines",
        "sqlite,postgres",
        "--rule-counts",
        "5,25",
    ]

    assert bench_scoring.main(argv) == 0
    report = capsys.readouterr().out
    recorded = results.read_text()

    for label in bench_scoring.LABELS.values():
        assert f"| {label} |" in report
    assert "| leadq end to end, Spark local[2] | skipped: not in --engines |" in report
    assert "| leadq, DuckDB query alone |" in report
    assert "leadq-duckdb vs pandas: 400 leads, 0 differ" in report
    assert "leadq-sqlite vs pandas: 400 leads, 0 differ" in report
    assert "leadq-postgres vs pandas: 400 leads, 0 differ" in report
    assert re.search(r"^\| 25 \| [0-9.]+ \| [0-9.]+ \|", report, re.MULTILINE)
    assert "DuckDB profile of the compiled query" in report
    assert re.search(r"^## \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC$", recorded, re.MULTILINE)
    assert "Command: `" in recorded
    assert "--events 20000" in recorded


def test_sqlite_skipped_above_limit(tmp_path):
    args = bench_scoring.parse_args(
        [
            "--events",
            "5000",
            "--data",
            str(tmp_path),
            "--sqlite-max-events",
            "10",
            "--repeat",
            "1",
            "--no-pandas",
            "--engines",
            "sqlite",
            "--rule-counts",
            "",
        ]
    )
    data, meta = bench_scoring.prepare_data(args)

    report = bench_scoring.run_benchmark(args, data, meta)

    assert (
        "| leadq end to end, SQLite | skipped: 5,000 events > --sqlite-max-events 10 |"
        in report
    )


def test_quick_skips_spark(tmp_path):
    args = bench_scoring.parse_args(["--quick", "--data", str(tmp_path)])

    assert args.spark_max_events == 0
    assert args.repeat == 1
