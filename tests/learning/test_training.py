"""Training, calibration, the artefact and `leadq score` with a predictive section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from leadq.errors import OptionError
from leadq.learning.artefact import ArtefactError, load_artefact
from leadq.learning.evaluation import cross_validate
from leadq.learning.metrics import evaluate
from leadq.learning.training import TrainingRequest, train
from leadq.model.loading import load_model
from tests.learning.conftest import training_request



def _request(files, **changes) -> TrainingRequest:
    return training_request(files, **changes)


@pytest.fixture(scope="module")
def learning_files(shared_learning_files):
    return shared_learning_files


@pytest.fixture(scope="module")
def trained(learning_files):
    artefact = learning_files["model"].parent / "artefact"
    result = train(_request(learning_files), artefact)
    return result, artefact


@pytest.fixture(scope="module")
def training_set(trained):
    return trained[0].training_set


def test_time_split_metrics(trained):
    result, _ = trained
    for kind, held_out in result.evaluation.results.items():
        # About 130 held-out rows of new leads: better than chance by a margin.
        assert held_out.metrics.roc_auc > 0.6, kind
        assert 0 < held_out.probabilities.min(), kind
        assert held_out.probabilities.max() < 1, kind


def test_calibrated_ece_bound(training_set):
    data = training_set
    evaluation = cross_validate(data, folds=3, quick=True)
    for kind, held_out in evaluation.results.items():
        # About 2,000 held-out rows: an ECE over 0.06 means a broken calibration.
        assert held_out.metrics.ece < 0.06, kind
        pooled = evaluate(held_out.labels, held_out.probabilities)
        assert pooled.ece < 0.06, kind


def test_too_few_leads_for_folds(training_set):
    converted = np.flatnonzero(training_set.labels == 1)[:5]
    unconverted = np.flatnonzero(training_set.labels == 0)[:5]
    small = training_set.subset(np.concatenate([converted, unconverted]))
    converted_leads = len(set(small.lead_keys[small.labels == 1]))
    unconverted_leads = len(set(small.lead_keys[small.labels == 0]))
    with pytest.raises(OptionError) as caught:
        cross_validate(small, folds=5, quick=True)
    assert str(caught.value) == (
        "5-fold cross-validation needs at least 15 converted and 15 unconverted leads, and the data has "
        f"{converted_leads} converted and {unconverted_leads} unconverted; add leads, or lower --folds (at least 2)"
    )


def test_artefact_round_trip(trained, learning_files):
    result, artefact = trained
    loaded = load_artefact(artefact)
    features = result.training_set.features
    assert loaded.metadata["feature_columns"] == loaded.spec.columns()
    assert len(loaded.metadata["data_fingerprint"]) == 64
    assert "lightgbm" in loaded.metadata["libraries"]
    assert set(loaded.metadata["evaluation"]["metrics"]) == {"logistic", "lightgbm", "ensemble"}
    probabilities = loaded.probabilities(features)
    assert ((probabilities > 0) & (probabilities < 1)).all()
    # A second load predicts the same, so nothing depends on process state.
    assert np.array_equal(probabilities, load_artefact(artefact).probabilities(features))


def test_contributions_add_up(trained):
    result, artefact = trained
    model = load_artefact(artefact).model
    features = result.training_set.features.head(50)
    values, bias = model.contributions(features)
    raw = model.model_.decision_function(features)
    assert np.allclose(values.sum(axis=1) + bias, raw, atol=1e-6)


@pytest.mark.parametrize("kind", ["logistic", "lightgbm", "ensemble"])
def test_contributions_each_kind(training_set, kind):
    from leadq.learning.evaluation import fit_final

    data = training_set
    model = fit_final(kind, data, quick=True)
    values, bias = model.contributions(data.features.head(40))
    raw = model.model_.decision_function(data.features.head(40))
    assert np.allclose(values.sum(axis=1) + bias, raw, atol=1e-6)


def test_ensemble_reasons_scaled_by_weights(training_set):
    from leadq.learning.evaluation import fit_final

    model = fit_final("ensemble", training_set, quick=True)
    features = training_set.features.head(40)
    weights = model.settings()["params"]["weights"]
    logistic, _ = model.model_.logistic.contributions(features)
    boosted, _ = model.model_.boosted.contributions(features)
    values, _ = model.contributions(features)
    assert np.allclose(values, weights["logistic"] * logistic + weights["lightgbm"] * boosted)


def test_changed_artefact_rejected(trained, tmp_path):
    import shutil

    artefact = tmp_path / "copy"
    shutil.copytree(trained[1], artefact)
    with (artefact / "model.joblib").open("ab") as stream:
        stream.write(b"\0")
    with pytest.raises(ArtefactError, match="does not match the SHA-256"):
        load_artefact(artefact)


class _Marker:
    """A pickle that creates a file when it loads."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_replaced_pickle_not_loaded(trained, tmp_path):
    import pickle
    import shutil

    artefact = tmp_path / "copy"
    shutil.copytree(trained[1], artefact)
    marker = tmp_path / "loaded"
    (artefact / "model.joblib").write_bytes(pickle.dumps(_Marker(marker)))
    with pytest.raises(ArtefactError, match="does not match the SHA-256"):
        load_artefact(artefact)
    assert not marker.exists()


def test_damaged_metadata_rejected(trained, tmp_path):
    import shutil

    artefact = tmp_path / "copy"
    shutil.copytree(trained[1], artefact)
    (artefact / "metadata.json").write_text("[1, 2", encoding="utf-8")
    with pytest.raises(ArtefactError, match="is not a JSON object of artefact metadata"):
        load_artefact(artefact)


def leadq(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leadq", *args], cwd=cwd, capture_output=True, text=True, timeout=300
    )


def _predictive_model(learning_files, artefact: Path, threshold: float) -> Path:
    text = learning_files["model"].read_text(encoding="utf-8")
    stages = f"""stages:
  - id: likely
    when:
      probability: {{at_least: {threshold}}}
"""
    text = text.replace("stages:\n", f"predictive:\n  artefact: {artefact.name}\n" + stages)
    path = artefact.parent / f"predictive-{threshold}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _score(files, model: Path, engine: str) -> list[dict]:
    done = leadq(
        "score", str(files["leads"]), "-e", str(files["events"]), "-m", str(model),
        "--as-of", "2026-04-01T00:00:00Z", "--engine", engine, "--format", "json",
        cwd=model.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_score_with_predictive_section(trained, learning_files):
    _, artefact = trained
    model = _predictive_model(learning_files, artefact, 0.5)
    records = _score(learning_files, model, "duckdb")
    probabilities = [record["probability"] for record in records]
    assert all(0 < p < 1 for p in probabilities)
    explained = [record for record in records if record["probability_reasons"]]
    assert explained
    reason = explained[0]["probability_reasons"][0]
    assert reason["section"] == "predictive"
    assert set(reason) == {"section", "rule", "points"}
    for record in records:
        assert (record["stage"] == "likely") == (record["probability"] >= 0.5)


def test_probability_stage_engines_agree(trained, learning_files):
    _, artefact = trained
    model = _predictive_model(learning_files, artefact, 0.3)
    on_duckdb = _score(learning_files, model, "duckdb")
    on_sqlite = _score(learning_files, model, "sqlite")
    assert on_duckdb == on_sqlite
    assert "likely" in {record["stage"] for record in on_duckdb}


def test_probability_needs_predictive(tmp_path):
    from leadq.errors import ModelError

    path = tmp_path / "model.yaml"
    path.write_text("stages:\n  - id: hot\n    when: {probability: {at_least: 0.6}}\n  - id: rest\n")
    with pytest.raises(ModelError, match="no `predictive` section"):
        load_model(path)


def test_missing_artefact_error(learning_files, tmp_path):
    model = _predictive_model(learning_files, tmp_path / "absent", 0.5)
    done = leadq("score", str(learning_files["leads"]), "-m", str(model), cwd=tmp_path)
    assert done.returncode == 2
    assert "no model artefact" in done.stderr
    assert "Traceback" not in done.stderr


def test_score_table_shows_percent(trained, learning_files):
    _, artefact = trained
    model = _predictive_model(learning_files, artefact, 0.5)
    done = leadq(
        "score", str(learning_files["leads"]), "-e", str(learning_files["events"]),
        "-m", str(model), "--as-of", "2026-04-01T00:00:00Z", "--limit", "0",
        cwd=model.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "prob" in done.stdout
    assert "%" in done.stdout
    assert "100.0%" not in done.stdout
    assert " 0.0%" not in done.stdout
