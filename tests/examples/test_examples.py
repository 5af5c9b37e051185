"""The bundled demo data and the X Education example, scored end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from leadq.model.loading import load_model
from leadq.outcomes import read_outcomes
from leadq.scoring import score_files

ROOT = Path(__file__).parents[2]
DEMO = ROOT / "examples" / "demo"
DATA = Path(os.environ.get("LEADQ_SHARED_DATA", ROOT.parent / "shared" / "data"))
X_EDUCATION = DATA / "x-education" / "Leads.csv"
AS_OF = datetime(2026, 12, 1, tzinfo=timezone.utc)


def test_demo_generator_is_deterministic(tmp_path):
    script = ROOT / "scripts" / "make_demo_data.py"
    subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], check=True)
    for name in ("leads.csv", "events.csv"):
        assert (tmp_path / name).read_bytes() == (DEMO / name).read_bytes(), name


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_demo_reaches_every_stage(engine):
    run = score_files(DEMO / "leads.csv", DEMO / "events.csv", as_of=AS_OF, engine=engine)
    counts = run.stage_counts()
    assert all(count > 0 for count in counts.values()), counts
    fired = {c.rule_id for lead in run.leads for c in lead.contributions if c.points}
    every_rule = {rule.id for _, rule in run.model.all_rules()}
    assert fired == every_rule


def x_education_or_skip() -> Path:
    if X_EDUCATION.exists():
        return X_EDUCATION
    if os.environ.get("CI"):
        pytest.fail(f"{X_EDUCATION} is missing; CI needs the shared data sets")
    pytest.skip(f"{X_EDUCATION} is not on this machine")


def test_x_education_engines_agree():
    path = x_education_or_skip()
    model = load_model(ROOT / "examples" / "x-education" / "model.yaml")
    runs = [score_files(path, model=model, as_of=AS_OF, engine=e) for e in ("duckdb", "sqlite")]
    assert len(runs[0].leads) == 9240
    assert runs[0].leads == runs[1].leads


def test_x_education_stages_separate_converters():
    path = x_education_or_skip()
    model = load_model(ROOT / "examples" / "x-education" / "model.yaml")
    run = score_files(path, model=model, as_of=AS_OF)
    outcomes = read_outcomes(run, path, "Converted", None)
    leads, converted = Counter(), Counter()
    for lead in run.leads:
        leads[lead.stage] += 1
        converted[lead.stage] += outcomes[lead.lead_id]
    rate = {stage: converted[stage] / leads[stage] for stage in leads}
    assert rate["sql"] > rate["mql"] > rate["unqualified"]
