"""Backtests of a model with a `predictive` section predict as of each cut-off."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from leadq.evaluation.file_history import LeadColumns, OutcomeSource
from leadq.evaluation.point_in_time import parse_cutoff, plan_cutoffs, take_snapshot
from leadq.evaluation.sources import FileInputs, open_files, store_evaluation
from leadq.errors import ModelError
from leadq.learning.training import train
from leadq.model.loading import load_model, parse_model
from leadq.scoring import micros_since_epoch, score_files
from leadq.service.imports import import_file
from leadq.service.ingest import Message, ingest_messages
from leadq.service.model_versions import activate_model
from leadq.store.database import ARTEFACTS_VARIABLE
from leadq.store.tables import leads
from tests.learning.conftest import MODEL, training_request, write_learning_files

CUTOFFS = ("2026-03-01", "2026-04-15")
HORIZON_DAYS = 30.0


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """Train an artefact into `artefacts/` and write a model that tests its probability."""
    folder = tmp_path_factory.mktemp("predictive-backtest")
    files = write_learning_files(folder, 300)
    artefact = folder / "artefacts" / "conversion"
    train(training_request(files), artefact)
    predictive = folder / "predictive.yaml"
    stages = "predictive:\n  artefact: artefacts/conversion\nstages:\n"
    stages += "  - id: likely\n    when: {probability: {at_least: 0.3}}\n"
    predictive.write_text(MODEL.replace("stages:\n", stages), encoding="utf-8")
    return {**files, "folder": folder, "predictive": predictive}


@pytest.fixture()
def history(store, trained):
    """The training files imported into the store, whose artefacts folder contains the artefact."""
    store = store.with_artefacts(trained["folder"] / "artefacts")
    with store.write() as connection:
        activate_model(connection, MODEL, "model.yaml")
    for kind in ("leads", "events", "outcomes"):
        report = import_file(store, kind, trained[kind])
        assert not report.rejected, report.rejected
    return store


def _plan(history):
    return plan_cutoffs(history, [parse_cutoff(text) for text in CUTOFFS], HORIZON_DAYS)


def _store_rows(store, model) -> list[dict]:
    with store_evaluation(store) as evaluation:
        snapshot = take_snapshot(evaluation.history, evaluation.scorer, model, _plan(evaluation.history))
    with store.read() as connection:
        keys = dict(connection.execute(select(leads.c.id, leads.c.lead_key)).all())
    names = ["cutoff", "lead_id", "probability", "stage", "engagement_score"]
    rows = snapshot.rows.select(names).to_pylist()
    for row in rows:
        row["lead_id"] = keys[int(row["lead_id"])]
    return rows


def _score_as_of(trained, model, cutoff: int) -> dict[str, dict]:
    moment = datetime.fromtimestamp(cutoff / 1_000_000, timezone.utc)
    run = score_files(trained["leads"], trained["events"], model=model, as_of=moment)
    rows = run.table.select(["lead_id", "probability", "stage"]).to_pylist()
    return {row["lead_id"]: row for row in rows}


def test_store_backtest_predicts_per_cutoff(history, trained):
    model = load_model(trained["predictive"])
    rows = _store_rows(history, model)
    assert {row["cutoff"] for row in rows} == {parse_cutoff(text) for text in CUTOFFS}
    stages = {row["stage"] for row in rows}
    assert "likely" in stages
    assert len(stages) >= 2
    for cutoff in {row["cutoff"] for row in rows}:
        expected = _score_as_of(trained, model, cutoff)
        for row in (row for row in rows if row["cutoff"] == cutoff):
            assert row["probability"] is not None, row
            assert row["probability"] == expected[row["lead_id"]]["probability"], row
            assert row["stage"] == expected[row["lead_id"]]["stage"], row
            assert (row["stage"] == "likely") == (row["probability"] >= 0.3), row


def test_store_backtest_ignores_later_events(history, trained):
    # Events after the first cut-off change nothing at it, but they count at
    # the second.
    model = load_model(trained["predictive"])
    first, second = (parse_cutoff(text) for text in CUTOFFS)
    before = {(row["cutoff"], row["lead_id"]): row for row in _store_rows(history, model)}
    key = next(lead for cutoff, lead in before if cutoff == first and (second, lead) in before)
    later = micros_since_epoch(datetime(2026, 3, 2, tzinfo=timezone.utc))
    messages = [
        Message("track", f"late-{n}", user_id=key, event="demo_requested", timestamp=later)
        for n in range(3)
    ]
    ingest_messages(history, messages)
    after = {(row["cutoff"], row["lead_id"]): row for row in _store_rows(history, model)}
    assert after.keys() == before.keys()
    for place, row in after.items():
        if place[0] == first:
            assert row == before[place], place
    assert after[(second, key)]["engagement_score"] > before[(second, key)]["engagement_score"]


def test_file_backtest_predicts_per_cutoff(trained):
    model = load_model(trained["predictive"])
    inputs = FileInputs(
        leads=trained["leads"],
        events=trained["events"],
        outcomes=OutcomeSource(trained["outcomes"]),
        columns=LeadColumns(created="created_at"),
    )
    with open_files(inputs, model) as evaluation:
        plan = plan_cutoffs(evaluation.history, [parse_cutoff(CUTOFFS[1])], HORIZON_DAYS)
        snapshot = take_snapshot(evaluation.history, evaluation.scorer, model, plan)
    expected = _score_as_of(trained, model, plan.cutoffs[0])
    rows = snapshot.rows.select(["lead_id", "probability", "stage"]).to_pylist()
    assert rows
    for row in rows:
        assert row["probability"] == expected[row["lead_id"]]["probability"], row
        assert row["stage"] == expected[row["lead_id"]]["stage"], row


def test_store_backtest_artefact_outside_folder(history, trained, tmp_path):
    text = trained["predictive"].read_text(encoding="utf-8")
    outside = trained["folder"] / "artefacts" / "conversion"
    model = parse_model(text.replace("artefacts/conversion", str(outside)), source="edited")
    narrowed = history.with_artefacts(tmp_path)
    with pytest.raises(ModelError) as raised:
        _store_rows(narrowed, model)
    assert f"is outside the artefacts folder {tmp_path.resolve()}" in str(raised.value)


def test_backtest_command_over_store(history, trained):
    command = [
        sys.executable, "-m", "leadq", "backtest", "--model", str(trained["model"]),
        "--vs", str(trained["predictive"]), "--database", history.url, "--format", "json",
        "--horizon", f"{HORIZON_DAYS:g}", "--qualified", "sql",
        *[f"--cutoff={text}" for text in CUTOFFS],
    ]  # fmt: skip
    folder = trained["folder"] / "artefacts"
    environment = {**os.environ, ARTEFACTS_VARIABLE: str(folder)}
    done = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr
    stages = {row["stage"]: row for row in json.loads(done.stdout)["models"]["b"]["stages"]}
    assert stages["likely"]["leads"] > 0
    outside = {**os.environ, ARTEFACTS_VARIABLE: str(trained["folder"] / "elsewhere")}
    rejected = subprocess.run(command, capture_output=True, text=True, env=outside, timeout=300)
    assert rejected.returncode == 2
    assert f"is outside the artefacts folder {trained['folder'] / 'elsewhere'}" in rejected.stderr
