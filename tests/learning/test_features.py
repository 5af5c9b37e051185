"""Point in time: features as of T never read data after T."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pytest

from leadq.compiler.query import compile_model
from leadq.inputs import read_source
from leadq.learning.features import infer_spec, lead_data, features_as_of
from leadq.learning.labels import read_outcome_file
from leadq.learning.training_sets import point_in_time_set
from leadq.model.loading import load_model
from leadq.scoring import micros_since_epoch

from tests.learning.conftest import START, iso

CUTOFF = START + timedelta(days=60)


def _data(files: dict[str, Path]):
    model = load_model(files["model"])
    compiled = compile_model(model)
    return lead_data(
        compiled, read_source(files["leads"]), read_source(files["events"]),
        created_column="created_at",
    )  # fmt: skip


def _rewrite_after(path: Path, column: str, change) -> None:
    """Rewrite the rows of a file whose `column` time is after CUTOFF."""
    with path.open(newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    for row in rows:
        moment = datetime.fromisoformat(row[column].replace("Z", "+00:00"))
        if moment > CUTOFF:
            change(row, moment)
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _training_rows(files, spec=None):
    data = _data(files)
    spec = spec or infer_spec(data, exclude=["created_at"], missing_values=[], created="created_at")
    history = read_outcome_file(files["outcomes"], data.model, None, None)
    cutoff = micros_since_epoch(CUTOFF)
    training = point_in_time_set(data, spec, [cutoff], 30, history)
    return spec, training


def test_features_ignore_data_after_cutoff(learning_files):
    spec, before = _training_rows(learning_files)

    def later_event(row, moment):
        row["timestamp"] = iso(moment + timedelta(days=3))
        row["event"] = "demo_requested"

    def later_creation(row, moment):
        row["created_at"] = iso(moment + timedelta(days=5))
        row["industry"] = row["industry"]

    def other_outcome(row, moment):
        row["outcome"] = "reopened"

    _rewrite_after(learning_files["events"], "timestamp", later_event)
    _rewrite_after(learning_files["leads"], "created_at", later_creation)
    _, after = _training_rows(learning_files, spec)

    assert before.lead_keys.tolist() == after.lead_keys.tolist()
    pd.testing.assert_frame_equal(before.features, after.features)
    # Outcomes after T decide labels, so only labels may change with them.
    _rewrite_after(learning_files["outcomes"], "at", other_outcome)
    _, relabelled = _training_rows(learning_files, spec)
    pd.testing.assert_frame_equal(before.features, relabelled.features)
    assert relabelled.labels.sum() < before.labels.sum()


def test_features_change_with_data_before_cutoff(learning_files):
    spec, before = _training_rows(learning_files)

    def earlier_event(row, moment):
        row["timestamp"] = iso(CUTOFF - timedelta(days=1))

    _rewrite_after(learning_files["events"], "timestamp", earlier_event)
    _, after = _training_rows(learning_files, spec)
    assert not before.features.equals(after.features.reindex_like(before.features))


def test_rule_features_match_scores(learning_files):
    data = _data(learning_files)
    spec = infer_spec(data, exclude=["created_at"], missing_values=[])
    features = features_as_of(data, spec, micros_since_epoch(CUTOFF))
    total = features["rule:software"] + features["rule:demo"] + features["rule:visits"]
    assert (total - features["score:fit"] - features["score:engagement"]).abs().max() < 1e-9
    assert set(features["rule:demo"].unique()) <= {0.0, 30.0}


def test_window_counts(learning_files):
    data = _data(learning_files)
    spec = infer_spec(data, exclude=["created_at"], missing_values=[])
    features = features_as_of(data, spec, micros_since_epoch(CUTOFF))
    seven = features["events:page_viewed:7d"]
    ninety = features["events:page_viewed:90d"]
    everything = features["events:page_viewed:all"]
    assert (seven <= ninety).all()
    assert (ninety <= everything).all()
    assert features["days_since:page_viewed"].dropna().min() >= 0


def test_leads_created_after_cutoff_left_out(learning_files):
    _, training = _training_rows(learning_files)
    assert (training.first_seen <= micros_since_epoch(CUTOFF)).all()
    assert len(training) > 100
