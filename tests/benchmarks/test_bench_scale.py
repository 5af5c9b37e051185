"""The scale benchmark, end to end on tiny sizes, and a slow run at 1M and 10M."""

from __future__ import annotations

import re

import pytest

from benchmarks import bench_scale


def test_scale_reports_and_records(tmp_path, capsys, command_line):
    results = tmp_path / "RESULTS.md"
    argv = [
        "--sizes", "5000,20000",
        "--data-root", str(tmp_path / "data"),
        "--pandas-max-events", "5000",
        "--in-memory-max-events", "20000",
        "--memory-limit", "256MB",
        "--record", str(results),
    ]  # fmt: skip

    assert bench_scale.main(argv) == 0
    report = capsys.readouterr().out
    recorded = results.read_text()

    assert re.search(r"^\| 5,000 \| [0-9.]+ \| [0-9,]+ \| [0-9,]+ \|", report, re.MULTILINE)
    assert "| 20,000 |" in report
    assert "skipped: 20,000 events > --pandas-max-events 5,000" in report
    assert "leadq-duckdb vs pandas: 100 leads, 0 differ" in report
    assert "leadq-duckdb vs leadq-duckdb-in-memory: 400 leads, 0 differ" in report
    assert re.search(r"peak RSS under 8 GB at 20,000 events: met \([0-9.]+ GB\)", report)
    assert "DuckDB memory limit of leadq in batches: 256MB" in report
    assert re.search(r"Load average \(1 minute\) before -> after each case: scan [0-9.]+ ->", report)
    assert command_line("python -m benchmarks.bench_scale --sizes 5000,20000") in recorded


def test_scale_rejects_bad_sizes(capsys):
    assert bench_scale.main(["--sizes", "1M"]) == 2
    assert "--sizes must be integers separated by commas, got '1M'" in capsys.readouterr().err


def test_scale_needs_disk_space(tmp_path, monkeypatch):
    monkeypatch.setattr(bench_scale, "RUN_BYTES_PER_EVENT", 10**15)
    with pytest.raises(RuntimeError, match="free space, or choose --data-root and TMPDIR"):
        bench_scale.prepare(tmp_path, 1000, 42)


@pytest.mark.slow
def test_scale_ten_million_stays_bounded(tmp_path, capsys):
    argv = ["--sizes", "1000000,10000000", "--data-root", str(tmp_path), "--max-rss-gb", "6"]

    assert bench_scale.main(argv) == 0
    report = capsys.readouterr().out

    assert "peak RSS under 6 GB at 10,000,000 events: met" in report
    assert "leadq-duckdb vs pandas: 200000 leads, 0 differ" in report
    assert "leadq-duckdb vs leadq-duckdb-in-memory: 200000 leads, 0 differ" in report
