"""Evaluation commands on PostgreSQL and Spark, and their engine options' errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.evaluation.conftest import ROOT, leadq
from tests.test_cli import assert_clean_error

DEMO = ROOT / "examples" / "demo"
DEFAULT_MODEL = ROOT / "leadq" / "model" / "default.yaml"


@pytest.fixture()
def outcomes(tmp_path: Path) -> Path:
    """Outcomes of the first 40 demo leads: 20 won in November, 20 lost in October."""
    lines = (DEMO / "leads.csv").read_text(encoding="utf-8").splitlines()[1:41]
    emails = [line.split(",")[0] for line in lines]
    rows = [f"{email},won,2026-11-15T12:00:00Z" for email in emails[:20]]
    rows += [f"{email},lost,2026-10-20T12:00:00Z" for email in emails[20:]]
    path = tmp_path / "outcomes.csv"
    path.write_text("email,outcome,at\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _demo_args(outcomes: Path) -> list[str]:
    return [str(DEMO / "leads.csv"), "--events", str(DEMO / "events.csv"),
            "--outcomes", str(outcomes)]  # fmt: skip


def _json_of(*args: str, timeout: float = 120) -> dict:
    done = leadq(*args, "--format", "json", timeout=timeout)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_backtest_on_postgres(outcomes, postgres_url):
    command = ["backtest", *_demo_args(outcomes), "--model", str(DEFAULT_MODEL),
               "--vs", str(DEFAULT_MODEL), "--cutoff", "2026-11-01", "--horizon", "30"]  # fmt: skip

    on_duckdb = _json_of(*command)
    on_postgres = _json_of(*command, "--engine", "postgres", "--database", postgres_url)

    assert on_postgres == on_duckdb
    assert on_duckdb["models"]["a"]["leads"] > 0


# One cut-off, so Spark runs the query once; starting its JVM takes longest.
def test_suggest_on_spark(outcomes):
    command = ["suggest", *_demo_args(outcomes), "--model", str(DEFAULT_MODEL),
               "--cutoff", "2026-11-01", "--horizon", "30"]  # fmt: skip

    on_duckdb = _json_of(*command)
    on_spark = _json_of(
        *command, "--engine", "spark", "--spark-master", "local[1]", timeout=600
    )

    assert on_spark == on_duckdb
    assert on_duckdb["rules"]


@pytest.mark.parametrize("command", ["backtest", "suggest", "report"])
def test_engine_rejected_for_store(command, tmp_path):
    models = ["--model", str(DEFAULT_MODEL)]
    if command == "backtest":
        models += ["--vs", str(DEFAULT_MODEL)]
    database = f"sqlite:///{tmp_path / 'leadq.db'}"

    done = leadq(command, *models, "--database", database, "--engine", "spark")

    assert_clean_error(done, "--engine applies to files", "no leads file was given")
    assert not (tmp_path / "leadq.db").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--engine", "postgres"], "--engine postgres needs --database URL"),
        (["--database", "postgresql://u@127.0.0.1/db"],
         "--database names the PostgreSQL server of --engine postgres"),
        (["--engine", "postgres", "--database", "sqlite:///x.db"],
         "is not a PostgreSQL URL"),
        (["--spark-master", "local[1]"], "--spark-master applies to --engine spark"),
    ],
)  # fmt: skip
def test_file_engine_option_errors(options, message, outcomes):
    done = leadq("suggest", *_demo_args(outcomes), "--model", str(DEFAULT_MODEL), *options)

    assert_clean_error(done, message)
