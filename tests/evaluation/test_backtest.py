"""Backtests over stored history and over the Olist files."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from leadq.evaluation.backtest import run_backtest
from leadq.evaluation.file_history import OutcomeSource
from leadq.evaluation.point_in_time import plan_cutoffs, take_snapshot
from leadq.evaluation.sources import FileInputs, open_files, store_evaluation
from leadq.model.loading import load_model
from tests.evaluation.conftest import (
    CUTOFF,
    OLIST_MODELS,
    ROOT,
    leadq,
    olist_inputs,
    olist_options,
)


def _backtest(evaluation, model_a, model_b, cutoffs, horizon):
    plan = plan_cutoffs(evaluation.history, cutoffs, horizon)
    snapshots = [
        take_snapshot(evaluation.history, evaluation.scorer, m, plan)
        for m in (model_a, model_b)
    ]
    return run_backtest(
        *snapshots, plan, evaluation.history.label, ("a.yaml", "b.yaml")
    )


def _stages(result):
    return {s.stage: (s.leads, s.converted) for s in result.stages}


def test_store_backtest_point_in_time(history_store, models):
    model_a, model_b = (load_model(path) for path in models)
    with store_evaluation(history_store) as evaluation:
        result = _backtest(evaluation, model_a, model_b, [CUTOFF], 30)
    # early (demo before the cut-off) is sql; late's demo came after it.
    assert _stages(result.a) == {"sql": (1, 1), "mql": (1, 1), "unqualified": (1, 0)}
    assert result.a.leads == 3
    assert result.a.qualified == 2
    assert result.a.recall == 1.0
    assert result.a.precision == 1.0


def test_store_backtest_lists_stage_changes(history_store, models):
    model_a, model_b = (load_model(path) for path in models)
    with store_evaluation(history_store) as evaluation:
        result = _backtest(evaluation, model_a, model_b, [CUTOFF], 30)
    moved = [(d.lead, d.stage_a, d.stage_b) for d in result.differences]
    assert moved == [("late@acme.example", "mql", "sql")]
    assert result.differences[0].days_to_conversion == 20.0
    assert _stages(result.b)["sql"] == (2, 2)


def test_olist_backtest_same_rows_for_both(olist):
    model_a = load_model(OLIST_MODELS / "model-a.yaml")
    model_b = load_model(OLIST_MODELS / "model-b.yaml")
    with open_files(olist_inputs(olist), model_a) as evaluation:
        result = _backtest(evaluation, model_a, model_b, [1_522_540_800_000_000], 60)
    assert result.a.leads == result.b.leads
    assert result.a.converted == result.b.converted
    assert sum(s.leads for s in result.a.stages) == result.a.leads
    assert sum(s.leads for s in result.b.stages) == result.b.leads
    assert result.a.converted > 50
    moved_up = sum(
        count for (a, b), count in result.moves().items() if (a, b) == ("mql", "sql")
    )
    assert moved_up > 0


def test_olist_population_is_point_in_time(olist):
    model = load_model(OLIST_MODELS / "model-a.yaml")
    cutoff = 1_522_540_800_000_000  # 2018-04-01T00:00:00Z
    with open_files(olist_inputs(olist), model) as evaluation:
        plan = plan_cutoffs(evaluation.history, [cutoff], 60)
        snapshot = take_snapshot(evaluation.history, evaluation.scorer, model, plan)
        history = evaluation.history
    lead_ids = snapshot.rows["lead_id"].to_pylist()
    assert all(history.first_seen[lead] <= cutoff for lead in lead_ids)
    converted = [o for lead, o in history.outcomes.items() if o.converted_at <= cutoff]
    assert converted
    assert not set(lead_ids) & {
        lead for lead, o in history.outcomes.items() if o.converted_at <= cutoff
    }


def test_backtest_command_json(olist):
    result = leadq(
        "backtest",
        str(olist / "olist_marketing_qualified_leads_dataset.csv"),
        "--model",
        "examples/olist/model-a.yaml",
        "--vs",
        "examples/olist/model-b.yaml",
        *olist_options(olist),
        "--cutoff",
        "2018-04-01",
        "--horizon",
        "60",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["cutoffs"] == ["2018-04-01"]
    assert document["models"]["a"]["qualified_stages"] == ["mql", "sql"]
    assert document["models"]["a"]["leads"] == document["models"]["b"]["leads"]
    by_cutoff = document["models"]["a"]["stages_by_cutoff"]["2018-04-01"]
    assert by_cutoff == document["models"]["a"]["stages"]


def test_backtest_command_without_outcome_times(olist):
    result = leadq(
        "backtest",
        str(olist / "olist_marketing_qualified_leads_dataset.csv"),
        "--model",
        "examples/olist/model-a.yaml",
        "--vs",
        "examples/olist/model-b.yaml",
        "--outcome-column",
        "origin",
        "--timezone",
        "America/Sao_Paulo",
    )
    assert result.returncode == 2
    assert "'social' is not an outcome" in result.stderr
    assert "line 2" in result.stderr


def test_max_age_leaves_out_old_leads(olist):
    model = load_model(OLIST_MODELS / "model-a.yaml")
    cutoff = 1_522_540_800_000_000  # 2018-04-01T00:00:00Z
    with open_files(olist_inputs(olist), model) as evaluation:
        plan = plan_cutoffs(evaluation.history, [cutoff], 60, max_age_days=30)
        snapshot = take_snapshot(evaluation.history, evaluation.scorer, model, plan)
        first_seen = evaluation.history.first_seen
    ages = [
        (cutoff - first_seen[lead]) / 86_400_000_000
        for lead in snapshot.rows["lead_id"].to_pylist()
    ]
    assert ages
    assert max(ages) <= 30
    assert min(ages) >= 0


def _demo_inputs(tmp_path, engine):
    demo = ROOT / "examples" / "demo"
    emails = [
        line.split(",")[0]
        for line in (demo / "leads.csv").read_text(encoding="utf-8").splitlines()[1:41]
    ]
    outcomes = tmp_path / "outcomes.csv"
    rows = [f"{email},won,2026-11-15T12:00:00Z" for email in emails[:20]]
    rows += [f"{email},lost,2026-10-20T12:00:00Z" for email in emails[20:]]
    outcomes.write_text("email,outcome,at\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return FileInputs(
        demo / "leads.csv", demo / "events.csv", OutcomeSource(outcomes), engine=engine
    )


def test_demo_cutoff_stages_match_score_as_of(tmp_path):
    from leadq.scoring import score_files

    model = load_model(ROOT / "leadq" / "model" / "default.yaml")
    cutoff = 1_793_491_200_000_000  # 2026-11-01T00:00:00Z
    snapshots = {}
    for engine in ("duckdb", "sqlite"):
        with open_files(_demo_inputs(tmp_path, engine), model) as evaluation:
            plan = plan_cutoffs(evaluation.history, [cutoff], 30)
            snapshots[engine] = take_snapshot(
                evaluation.history, evaluation.scorer, model, plan
            ).rows
            history = evaluation.history
    won_and_seen = [
        lead
        for lead, outcome in history.outcomes.items()
        if outcome.converted and history.first_seen.get(lead, cutoff + 1) <= cutoff
    ]
    assert snapshots["duckdb"].select(["lead_id", "stage", "converted"]) == snapshots[
        "sqlite"
    ].select(["lead_id", "stage", "converted"])
    run = score_files(
        ROOT / "examples" / "demo" / "leads.csv",
        ROOT / "examples" / "demo" / "events.csv",
        model=model,
        as_of=datetime.fromtimestamp(cutoff / 1e6, timezone.utc),
    )
    stages = {lead.lead_id: lead.stage for lead in run.leads}
    rows = snapshots["duckdb"].to_pylist()
    assert all(stages[row["lead_id"]] == row["stage"] for row in rows)
    converted = sorted(row["lead_id"] for row in rows if row["converted"])
    assert converted == sorted(won_and_seen)
    assert 0 < len(converted) <= 20
    assert not {row["lead_id"] for row in rows} & {
        lead for lead, o in history.outcomes.items() if not o.converted
    }


def test_backtest_rejects_models_with_other_keys(tmp_path):
    other = tmp_path / "other.yaml"
    text = (OLIST_MODELS / "model-b.yaml").read_text(encoding="utf-8")
    other.write_text(
        text.replace("key: mql_id", "key: landing_page_id"), encoding="utf-8"
    )
    result = leadq(
        "backtest",
        "leads.csv",
        "--model",
        "examples/olist/model-a.yaml",
        "--vs",
        str(other),
    )
    assert result.returncode == 2
    assert "give both models the same `key:`" in result.stderr
