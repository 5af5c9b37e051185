"""A short run of the tracking-group benchmark on each database."""

from __future__ import annotations

import pytest

from benchmarks.tracking_groups import main


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_groups_timed_per_group(database, capsys):
    report = main(["--database", database, "--group-size", "3", "--groups", "4", "--warmup", "1", "--leads", "5"])

    assert report["database"] == database
    assert (report["group_size"], report["groups"]) == (3, 4)
    assert report["wall_ms_per_group"] > 0
    assert report["cpu_ms_per_group"] > 0
    assert '"messages_per_second"' in capsys.readouterr().out


def test_group_size_must_be_positive():
    with pytest.raises(SystemExit):
        main(["--group-size", "0"])
