"""A short run of the service load benchmark against a real `leadq serve`."""

from __future__ import annotations

from benchmarks.load_service import main, targets

REPORT_FIELDS = {
    "database", "endpoint", "batch_size", "concurrency", "leads", "seconds", "requests", "events",
    "requests_per_second", "events_per_second", "latency_ms", "errors", "samples_checked",
    "sample_failures", "final_mismatches", "cpu", "server_workers", "rate", "scheduled",
}


def test_track_run_report_fields(capsys):
    report = main(["--database", "sqlite", "--duration", "2", "--warmup", "0.5",
                   "--concurrency", "2", "--leads", "5", "--verify-every", "2"])
    assert set(report) == REPORT_FIELDS
    assert report["endpoint"] == "/v1/track"
    assert report["requests"] > 0
    assert report["events"] == report["requests"]
    assert set(report["latency_ms"]) == {"p50", "p90", "p99", "max"}
    assert report["errors"] == {}
    assert report["samples_checked"] > 0
    assert report["sample_failures"] == []
    assert report["final_mismatches"] == []
    assert "Targets:" in capsys.readouterr().out


def test_batch_run_counts_events(tmp_path):
    results = tmp_path / "RESULTS.md"
    report = main(["--duration", "1", "--warmup", "0", "--concurrency", "2", "--leads", "7",
                   "--batch-size", "3", "--json", "--record", str(results)])
    assert report["endpoint"] == "/v1/batch"
    assert report["events"] == 3 * report["requests"]
    assert report["final_mismatches"] == []
    recorded = results.read_text()
    assert "service load, /v1/batch on sqlite" in recorded
    assert "--batch-size 3" in recorded


def test_open_loop_keeps_the_rate(capsys):
    report = main(["--duration", "2", "--warmup", "0", "--concurrency", "4", "--leads", "5", "--rate", "20"])
    # 20 requests a second for 2 s, due at 0, 0.05, ... 1.95 s.
    assert 30 <= report["requests"] <= 40
    assert report["rate"] == 20
    assert report["scheduled"] == 40
    assert report["final_mismatches"] == []
    assert "open loop at 20 requests/s" in capsys.readouterr().out


def test_open_loop_rate_check_counts_answers():
    report = {"batch_size": 1, "rate": 1000, "scheduled": 20_000, "requests": 20_000, "errors": {},
              "requests_per_second": 999.6, "latency_ms": {"p99": 30.0}}
    kept_up = targets(report)[0]
    fell_behind = targets({**report, "requests": 19_000})[0]

    assert kept_up.met is True
    assert fell_behind.met is False
    assert "20,000 of 20,000 requests scheduled at 1,000/s answered" in kept_up.line()
