"""The Spark engine's session settings and what a run leaves in the session."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest

from leadq.engines import EngineSettings
from leadq.scoring import score_files
from leadq.spark import LOCAL_RELATION_THRESHOLD, _local_threads
from tests.test_cli import EVENTS, LEADS


@pytest.mark.parametrize(
    ("master", "threads"),
    [
        ("local", 1),
        ("local[4]", 4),
        ("local[3,2]", 3),
        ("local[*]", os.cpu_count()),
        ("spark://host:7077", None),
        ("yarn", None),
    ],
)
def test_local_threads(master, threads):
    assert _local_threads(master) == threads


def test_run_leaves_session_clean(tmp_path, spark_session):
    (tmp_path / "leads.csv").write_text(LEADS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(EVENTS, encoding="utf-8")
    context = spark_session.sparkContext
    persisted = context._jsc.getPersistentRDDs().size()
    threshold = spark_session.conf.get(LOCAL_RELATION_THRESHOLD)

    run = score_files(
        tmp_path / "leads.csv",
        tmp_path / "events.csv",
        as_of=datetime(2026, 12, 1, tzinfo=timezone.utc),
        engine="spark",
        settings=EngineSettings(),
    )

    assert len(run.table) == 3
    tables = [table.name for table in spark_session.catalog.listTables()]
    assert [name for name in tables if name.startswith("leadq_")] == []
    assert context._jsc.getPersistentRDDs().size() == persisted
    assert spark_session.conf.get(LOCAL_RELATION_THRESHOLD) == threshold
    assert spark_session.conf.get("spark.sql.shuffle.partitions") == "2"
