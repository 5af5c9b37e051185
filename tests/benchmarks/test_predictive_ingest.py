"""A short run of the benchmark of a predictive model's cost per event."""

from __future__ import annotations

from benchmarks.predictive_ingest import main


def test_predictive_ingest_report(capsys):
    assert main(["--events", "3", "--warmup", "1", "--leads", "3", "--training-leads", "200"]) == 0
    output = capsys.readouterr().out
    assert "| without `predictive` | 3 |" in output
    assert "| with `predictive` | 3 |" in output
    assert "median ratio, with / without:" in output
