"""Fixtures of the evaluation tests: public data sets and a small stored history.

The stored history has five leads around one cut-off, each testing one rule
of the point-in-time method. Times are microseconds since the epoch (UTC).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import insert

from leadq.evaluation.file_history import LeadColumns, OutcomeSource
from leadq.evaluation.sources import FileInputs
from leadq.store.database import Store
from leadq.store.tables import events, leads, outcomes

ROOT = Path(__file__).parents[2]
DATA = Path(os.environ.get("LEADQ_SHARED_DATA", ROOT.parent / "shared" / "data"))
OLIST = DATA / "olist-marketing-funnel"
CRM = DATA / "crm-sales-opportunities"
OLIST_MODELS = ROOT / "examples" / "olist"

DAY = 86_400_000_000
# 2026-05-01T00:00:00Z.
T0 = 1_777_593_600_000_000
CUTOFF = T0 + 10 * DAY

MODEL_A = """
name: stored model A
key: email
fit:
  rules:
    - {id: software, field: industry, equals: software, points: 30}
engagement:
  rules:
    - {id: demo, event: demo_requested, points: 40}
stages:
  - id: sql
    when: {score: engagement, at_least: 40}
  - id: mql
    when: {score: fit, at_least: 30}
  - id: unqualified
"""
# B qualifies on fit alone, so the software leads move from mql to sql.
MODEL_B = MODEL_A.replace("stored model A", "stored model B").replace(
    "when: {score: engagement, at_least: 40}", "when: {score: total, at_least: 30}"
)


def leadq(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run the `leadq` command from the project root."""
    return subprocess.run(
        [sys.executable, "-m", "leadq", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def data_or_skip(path: Path) -> Path:
    if path.exists():
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{path} is missing; CI needs the shared data sets")
    pytest.skip(f"{path} is not on this machine")


@pytest.fixture()
def olist() -> Path:
    return data_or_skip(OLIST)


@pytest.fixture()
def crm() -> Path:
    return data_or_skip(CRM)


@pytest.fixture()
def models(tmp_path: Path) -> tuple[Path, Path]:
    paths = (tmp_path / "a.yaml", tmp_path / "b.yaml")
    for path, text in zip(paths, (MODEL_A, MODEL_B)):
        path.write_text(text, encoding="utf-8")
    return paths


def olist_inputs(olist: Path) -> FileInputs:
    """The Olist leads with the closed deals as conversions."""
    return FileInputs(
        leads=olist / "olist_marketing_qualified_leads_dataset.csv",
        outcomes=OutcomeSource(
            olist / "olist_closed_deals_dataset.csv", time_column="won_date"
        ),
        columns=LeadColumns(created="first_contact_date"),
        timezone="America/Sao_Paulo",
    )


def olist_options(olist: Path) -> list[str]:
    """Command options that read the Olist closed deals as timed conversions."""
    return [
        "--outcomes",
        str(olist / "olist_closed_deals_dataset.csv"),
        "--outcome-time-column",
        "won_date",
        "--created-column",
        "first_contact_date",
        "--timezone",
        "America/Sao_Paulo",
    ]


def _lead(connection, key: str, created: int, industry: str) -> int:
    values = {
        "lead_key": key,
        "email": key,
        "attributes": json.dumps({"industry": industry}),
        "created_at": created,
        "updated_at": created,
        "reached": "[]",
    }
    return connection.execute(insert(leads).values(**values)).inserted_primary_key[0]


def _event(connection, lead_id: int, name: str, ts: int) -> None:
    values = {
        "message_id": f"m-{lead_id}-{ts}",
        "lead_id": lead_id,
        "event_name": name,
        "ts": ts,
        "received_at": ts,
        "properties": "{}",
        "source": "track",
    }
    connection.execute(insert(events).values(**values))


def _outcome(
    connection, lead_id: int, outcome: str, at: int, value: float | None = None
) -> None:
    values = {
        "lead_id": lead_id,
        "outcome": outcome,
        "at": at,
        "value": value,
        "source": "import",
    }
    connection.execute(insert(outcomes).values(**values))


@pytest.fixture()
def history_store(store: Store) -> Store:
    """Five stored leads around CUTOFF, with a 30-day horizon in mind."""
    with store.write() as connection:
        # Requested a demo before the cut-off and converted 10 days after it.
        early = _lead(connection, "early@acme.example", T0, "software")
        _event(connection, early, "demo_requested", T0 + 5 * DAY)
        _outcome(connection, early, "won", CUTOFF + 10 * DAY, 5000.0)
        # Requested a demo only after the cut-off; converted 20 days after it.
        late = _lead(connection, "late@acme.example", T0, "software")
        _event(connection, late, "demo_requested", CUTOFF + 2 * DAY)
        _outcome(connection, late, "won", CUTOFF + 20 * DAY, 3000.0)
        # Created after the cut-off: in no population.
        _lead(connection, "new@acme.example", CUTOFF + DAY, "software")
        # Lost before the cut-off: closed, so in no population.
        lost = _lead(connection, "lost@acme.example", T0, "retail")
        _outcome(connection, lost, "lost", T0 + 3 * DAY)
        # Converted after the horizon: not a conversion in it.
        slow = _lead(connection, "slow@acme.example", T0, "retail")
        _outcome(connection, slow, "won", CUTOFF + 45 * DAY, 1000.0)
    return store
