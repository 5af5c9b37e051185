"""Point suggestions from a logistic fit, on the Olist files and a stored history."""

from __future__ import annotations

import json
import shutil

import pytest

from leadq.evaluation.point_in_time import plan_cutoffs, take_snapshot
from leadq.evaluation.sources import open_files, store_evaluation
from leadq.evaluation.suggestions import FitSettings, NotEnoughData, suggest_points
from leadq.model.loading import load_model
from tests.evaluation.conftest import (
    CUTOFF,
    OLIST_MODELS,
    leadq,
    olist_inputs,
    olist_options,
)

APRIL = 1_522_540_800_000_000  # 2018-04-01T00:00:00Z


def _suggest(evaluation, model, cutoffs, horizon, settings=FitSettings()):
    plan = plan_cutoffs(evaluation.history, cutoffs, horizon)
    return suggest_points(
        take_snapshot(evaluation.history, evaluation.scorer, model, plan), settings
    )


@pytest.fixture()
def olist_suggestions(olist):
    model = load_model(OLIST_MODELS / "model-b.yaml")
    with open_files(olist_inputs(olist), model) as evaluation:
        return _suggest(evaluation, model, [APRIL, APRIL + 30 * 86_400_000_000], 60)


def test_olist_points_follow_conversion(olist_suggestions):
    rules = {rule.rule_id: rule for rule in olist_suggestions.rules}
    assert rules["email_campaign"].rate_with < olist_suggestions.base_rate
    assert rules["email_campaign"].suggested_points < rules["search"].suggested_points
    assert rules["main_landing_pages"].coefficient > 0
    assert (
        rules["main_landing_pages"].rate_with > rules["main_landing_pages"].rate_without
    )


def test_olist_evidence_counts_add_up(olist_suggestions):
    for rule in olist_suggestions.rules:
        assert rule.fired + rule.not_fired == olist_suggestions.rows
        assert (
            rule.fired_converted + rule.not_fired_converted
            == olist_suggestions.converted
        )


def test_olist_scale_keeps_point_size(olist_suggestions):
    changed = [
        rule for rule in olist_suggestions.rules if rule.suggested_points is not None
    ]
    before = sum(abs(rule.points) for rule in changed)
    after = sum(abs(rule.suggested_points) for rule in changed)
    assert after == pytest.approx(before, abs=len(changed))


def test_rules_with_little_data_unchanged(olist):
    model = load_model(OLIST_MODELS / "model-b.yaml")
    with open_files(olist_inputs(olist), model) as evaluation:
        result = _suggest(evaluation, model, [APRIL], 60, FitSettings(min_leads=1000))
    rules = {rule.rule_id: rule for rule in result.rules}
    assert rules["email_campaign"].suggested_points is None
    assert rules["email_campaign"].reason.endswith("fewer than --min-leads 1000")
    assert rules["search"].suggested_points is not None


def test_store_suggestions_run_in_database(history_store, models):
    model = load_model(models[0])
    settings = FitSettings(min_leads=1, min_conversions=1)
    with store_evaluation(history_store) as evaluation:
        result = _suggest(evaluation, model, [CUTOFF], 30, settings)
    rules = {rule.rule_id: rule for rule in result.rules}
    assert (rules["software"].fired, rules["software"].fired_converted) == (2, 2)
    assert (rules["demo"].fired, rules["demo"].fired_converted) == (1, 1)
    assert rules["software"].suggested_points > 0


def test_store_without_conversions_rejected(history_store, models):
    model = load_model(models[0])
    with store_evaluation(history_store) as evaluation:
        with pytest.raises(NotEnoughData, match="no lead converted within the horizon"):
            _suggest(evaluation, model, [CUTOFF], 5)


def _olist_args(olist, model):
    return [
        "suggest",
        str(olist / "olist_marketing_qualified_leads_dataset.csv"),
        "--model",
        str(model),
        *olist_options(olist),
        "--cutoff",
        "2018-04-01",
        "--horizon",
        "60",
    ]


def test_suggest_prints_diff_only_on_stdout(olist, tmp_path):
    model = tmp_path / "model.yaml"
    shutil.copyfile(OLIST_MODELS / "model-b.yaml", model)
    result = leadq(*_olist_args(olist, model))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"--- {model}\n+++ {model}\n")
    changed = [
        line
        for line in result.stdout.splitlines()
        if line[:1] in "+-" and line[:3] not in ("---", "+++")
    ]
    assert changed
    assert all("points:" in line for line in changed)
    assert "Evidence per rule" in result.stderr
    assert model.read_text() == (OLIST_MODELS / "model-b.yaml").read_text()


def test_suggest_write_keeps_comments(olist, tmp_path):
    model = tmp_path / "model.yaml"
    shutil.copyfile(OLIST_MODELS / "model-b.yaml", model)
    result = leadq(*_olist_args(olist, model), "--write", "--format", "json")
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["written"] is True
    text = model.read_text()
    assert text.startswith("# Olist marketing funnel")
    assert load_model(model).name == "Olist channels and landing pages"
    written = {rule.id: rule.points for rule in load_model(model).fit.rules}
    suggested = {
        rule["rule_id"]: rule["suggested_points"]
        for rule in document["rules"]
        if rule["changed"]
    }
    assert suggested
    assert all(written[rule_id] == points for rule_id, points in suggested.items())
