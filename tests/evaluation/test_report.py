"""The funnel report over a stored history and over the CRM and X Education files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from leadq.evaluation.file_history import LeadColumns, OutcomeSource
from leadq.evaluation.html_report import render_html
from leadq.evaluation.report import ReportSettings, build_report
from leadq.evaluation.sources import FileInputs, open_files, store_evaluation
from leadq.evaluation.stage_times import stage_times
from leadq.model.loading import load_model, parse_model
from leadq.store.tables import leads, stage_history
from tests.evaluation.conftest import CUTOFF, DAY, T0, leadq

CRM_MODEL = """
name: CRM products
key: opportunity_id
fit:
  rules:
    - {id: premium, field: product, in: [GTX Pro, GTXPro, GTX Plus Pro, MG Advanced], points: 40}
    - {id: basic, field: product, in: [GTX Basic, GTX Plus Basic], points: 20}
stages:
  - id: sql
    when: {score: fit, at_least: 40}
  - id: mql
    when: {score: fit, at_least: 20}
  - id: unqualified
"""
OCTOBER_2017 = 1_506_816_000_000_000  # 2017-10-01T00:00:00Z


def _stage_changes(store):
    with store.write() as connection:
        ids = dict(connection.execute(select(leads.c.lead_key, leads.c.id)).all())
        rows = [
            (ids["early@acme.example"], T0, "unqualified"),
            (ids["early@acme.example"], T0 + 5 * DAY, "sql"),
            (ids["late@acme.example"], T0, "unqualified"),
            (ids["late@acme.example"], T0 + 2 * DAY, "mql"),
        ]
        for lead_id, at, stage in rows:
            connection.execute(
                insert(stage_history).values(
                    lead_id=lead_id, at=at, new_stage=stage, cause="event"
                )
            )


def test_store_report_funnel_and_stage_times(history_store, models):
    _stage_changes(history_store)
    model = load_model(models[0])
    as_of = CUTOFF + 15 * DAY
    with store_evaluation(history_store) as evaluation:
        times = stage_times(
            evaluation.scorer.connection, as_of, model.ranked_stage_ids()
        )
        report = build_report(
            evaluation, model, ReportSettings(as_of, horizon_days=30), times
        )
    stages = {
        g.group: (g.leads, g.converted, g.lost, g.open)
        for g in report.breakdown("stage").groups
    }
    # As of then, early has converted, late, new and slow are open, lost is lost.
    assert stages == {
        "sql": (2, 1, 0, 1),
        "mql": (1, 0, 0, 1),
        "unqualified": (2, 0, 1, 1),
    }
    assert report.forecast.open_leads == 3
    assert [
        (t.stage, t.ended_stays, t.median_days, t.current_stays)
        for t in report.stage_times
    ] == [
        ("sql", 0, None, 1),
        ("mql", 0, None, 1),
        ("unqualified", 2, 3.5, 0),
    ]


def _crm_inputs(crm):
    return FileInputs(
        leads=crm / "sales_pipeline.csv",
        outcomes=OutcomeSource(
            outcome_column="deal_stage",
            time_column="close_date",
            value_column="close_value",
        ),
        columns=LeadColumns(created="engage_date", groups=("sales_agent",)),
        timezone="UTC",
    )


@pytest.fixture()
def crm_report(crm):
    model = parse_model(CRM_MODEL, source="crm.yaml")
    with open_files(_crm_inputs(crm), model) as evaluation:
        return build_report(
            evaluation, model, ReportSettings(OCTOBER_2017, 90, "sales_agent")
        )


def test_crm_funnel_counts_add_up(crm_report):
    stage = crm_report.breakdown("stage").total()
    agent = crm_report.breakdown("sales_agent").total()
    month = crm_report.breakdown("month").total()
    assert stage == agent
    assert stage == month
    assert stage.converted + stage.lost + stage.open == stage.leads
    assert stage.open == crm_report.forecast.open_leads


def test_crm_forecast_uses_point_in_time_deciles(crm_report):
    assert crm_report.calibration.method.startswith("leads open at the cut-offs")
    assert "2017-07-01" in crm_report.calibration.method
    assert "2017-08-01" not in crm_report.calibration.method
    forecast = crm_report.forecast
    assert forecast.low <= forecast.expected <= forecast.high
    assert forecast.expected_value > 0
    assert "converted leads" in forecast.value_source


def test_crm_html_has_charts_and_escapes(crm_report):
    crm_report.notes.append("<script>alert(1)</script>")
    html = render_html(crm_report)
    assert html.count('src="data:image/png;base64,') == 5
    assert "<script>" not in html
    assert "&lt;script&gt;" in html


def test_report_command_on_x_education(tmp_path):
    from tests.examples.test_examples import x_education_or_skip

    path = x_education_or_skip()
    html = tmp_path / "report.html"
    result = leadq(
        "report",
        str(path),
        "--model",
        "examples/x-education/model.yaml",
        "--outcome-column",
        "Converted",
        "--format",
        "json",
        "--html",
        str(html),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    stages = {
        g["group"]: (g["leads"], g["converted"])
        for g in document["funnel"][0]["groups"]
    }
    assert stages["sql"] == (1600, 1181)
    assert stages["disqualified"] == (752, 126)
    assert "not point in time" in document["calibration"]["method"]
    assert html.read_text().startswith("<!DOCTYPE html>")


def test_report_rejects_bad_outcome(crm, tmp_path):
    model = tmp_path / "crm.yaml"
    model.write_text(CRM_MODEL, encoding="utf-8")
    result = leadq(
        "report",
        str(crm / "sales_pipeline.csv"),
        "--model",
        str(model),
        "--outcome-column",
        "product",
    )
    assert result.returncode == 2
    assert "column 'product'" in result.stderr
    assert "'GTX Plus Basic' is not an outcome" in result.stderr


def test_probability_column_drives_forecast(crm, tmp_path):
    lines = (crm / "sales_pipeline.csv").read_text(encoding="utf-8").splitlines()
    leads = tmp_path / "pipeline.csv"
    rows = [lines[0] + ",probability"] + [line + ",0.25" for line in lines[1:]]
    leads.write_text("\n".join(rows) + "\n", encoding="utf-8")
    model = parse_model(CRM_MODEL, source="crm.yaml")
    inputs = _crm_inputs(crm)
    inputs = FileInputs(
        leads,
        outcomes=inputs.outcomes,
        columns=LeadColumns("engage_date", (), ("probability",)),
        timezone="UTC",
    )
    with open_files(inputs, model) as evaluation:
        report = build_report(evaluation, model, ReportSettings(OCTOBER_2017, 90))
    forecast = report.forecast
    assert forecast.probability_source == "the `probability` column of the leads"
    assert forecast.expected == pytest.approx(0.25 * forecast.open_leads)


def test_report_command_on_store(history_store, models, tmp_path):
    _stage_changes(history_store)
    html = tmp_path / "store.html"
    result = leadq(
        "report",
        "--database",
        history_store.url,
        "--model",
        str(models[0]),
        "--as-of",
        "2026-05-26",
        "--horizon",
        "30",
        "--format",
        "json",
        "--html",
        str(html),
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["forecast"]["open_leads"] == 3
    assert [t["stage"] for t in document["stage_times"]] == [
        "sql",
        "mql",
        "unqualified",
    ]
    assert "Days in stage" in html.read_text(encoding="utf-8")


# Stored attribute names as CRM imports and identify calls leave them:
# another case, surrounding spaces, and a name that the model's `columns:` maps.
STORED_SOURCES = {
    "early@acme.example": {"Source": "webinar"},
    "late@acme.example": {" SOURCE ": "ads"},
    "lost@acme.example": {"Lead Source": "ads"},
    "slow@acme.example": {"source": "ads", "Source": "webinar"},
}


def _store_sources(store) -> None:
    with store.write() as connection:
        for key, names in STORED_SOURCES.items():
            attributes = json.dumps({"industry": "software", **names})
            connection.execute(update(leads).where(leads.c.lead_key == key).values(attributes=attributes))


def _mapped_model(models) -> Path:
    models[0].write_text(models[0].read_text(encoding="utf-8") + "columns:\n  Lead Source: source\n", encoding="utf-8")
    return models[0]


def test_store_report_matches_source_names(history_store, models):
    _store_sources(history_store)
    model = load_model(_mapped_model(models))

    with store_evaluation(history_store, ("source",), model.columns) as evaluation:
        history = evaluation.history
        sources = {history.labels[key]: fields["source"] for key, fields in history.fields.items()}

    assert sources["early@acme.example"] == "webinar"
    assert sources["late@acme.example"] == "ads"
    assert sources["lost@acme.example"] == "ads"
    assert sources["new@acme.example"] is None
    # Two names of one field and no attribute times: the name spelled as
    # the field wins, as in scoring.
    assert sources["slow@acme.example"] == "ads"


def test_report_command_groups_stored_sources(history_store, models):
    _store_sources(history_store)
    model = _mapped_model(models)

    result = leadq(
        "report", "--database", history_store.url, "--model", str(model),
        "--as-of", "2026-05-26", "--horizon", "30", "--format", "json",
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    funnel = json.loads(result.stdout)["funnel"]
    by_source = next(item for item in funnel if item["dimension"] == "source")
    counts = {group["group"]: group["leads"] for group in by_source["groups"]}
    assert counts == {"webinar": 1, "ads": 3, "(none)": 1}


def test_empty_store_rejected(store, models):
    from leadq.errors import OptionError
    from leadq.evaluation.point_in_time import plan_cutoffs

    model = load_model(models[0])
    with store_evaluation(store) as evaluation:
        with pytest.raises(OptionError, match="has no leads to report on"):
            build_report(evaluation, model, ReportSettings(CUTOFF))
        with pytest.raises(OptionError, match="there are no leads to evaluate"):
            plan_cutoffs(evaluation.history, [CUTOFF], 30)


DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo"
DEMO_LEAD = "aaberg@willowwing-health.example"


def _demo_report(tmp_path, outcomes: str):
    path = tmp_path / "outcomes.csv"
    path.write_text("email,outcome,at,value\n" + outcomes, encoding="utf-8")
    return leadq(
        "report", str(DEMO / "leads.csv"), "--events", str(DEMO / "events.csv"),
        "--outcomes", str(path), "--as-of", "2026-12-01", "--format", "json",
    )  # fmt: skip


def test_outcomes_of_unknown_leads_left_out(tmp_path):
    result = _demo_report(
        tmp_path,
        f"{DEMO_LEAD},won,2026-11-20T00:00:00Z,100\nnobody@x.example,won,2026-11-20T00:00:00Z,1000\n",
    )
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["forecast"]["value_source"] == "the average value of 1 converted lead (100.00)"
    assert (
        "outcomes file rows whose lead key the leads file does not have (or that have none): 1; they are left out"
        in document["notes"]
    )


def test_infinite_outcome_value_rejected(tmp_path):
    result = _demo_report(tmp_path, f"{DEMO_LEAD},won,2026-11-20T00:00:00Z,1e999\n")
    assert result.returncode == 2
    assert result.stderr.endswith(
        "outcomes.csv, line 2, column 'value': '1e999' is not a finite number; "
        "write the deal value as a plain number, such as 1200.50\n"
    )


def test_html_into_missing_folder_rejected(tmp_path):
    html = tmp_path / "missing" / "report.html"
    result = leadq(
        "report", str(DEMO / "leads.csv"), "--events", str(DEMO / "events.csv"), "--outcome-column", "converted",
        "--html", str(html),
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr == f"error: --html folder {html.parent} does not exist; create it first\n"
