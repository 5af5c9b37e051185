"""The service predicts the `predictive` section's probability as `leadq score` does."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from leadq.crm.export_sources import leads_from_store
from leadq.dashboard.lead_rows import top_reason
from leadq.errors import ModelError
from leadq.learning.training import train
from leadq.model.loading import load_model
from leadq.scoring import micros_since_epoch, score_files
from leadq.service.ingest import Message, ingest_messages
from leadq.service.model_versions import activate_model
from leadq.store.tables import leads, model_versions, outbox, score_snapshots
from tests.dashboard.conftest import signed_in
from tests.learning.conftest import (
    MODEL,
    iso,
    synthetic_rows,
    training_request,
    write_csv,
)
from tests.service.servers import leadq
from tests.service.webhook_receiver import subscribe

LEAD_HEADER = ["lead_id", "industry", "size", "created_at"]
EVENT_HEADER = ["event_id", "lead_id", "event", "timestamp"]
# Leads sent to the service; the artefact is trained on all of them.
SENT = 24
# The time of the training data that the sent leads are moved to now.
REFERENCE = datetime(2026, 3, 1, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict:
    """Train a small artefact; write the files of the leads sent to the service."""
    folder = tmp_path_factory.mktemp("predictive")
    lead_rows, event_rows, outcome_rows = synthetic_rows(400)
    (folder / "model.yaml").write_text(MODEL, encoding="utf-8")
    files = {
        "model": folder / "model.yaml",
        "leads": write_csv(folder / "leads.csv", LEAD_HEADER, lead_rows),
        "events": write_csv(folder / "events.csv", EVENT_HEADER, event_rows),
        "outcomes": write_csv(
            folder / "outcomes.csv", ["lead_id", "outcome", "at"], outcome_rows
        ),
    }
    train(training_request(files), folder / "artefact")
    sent, sent_events = _moved_to_now(lead_rows, event_rows)
    return {
        "folder": folder,
        "leads": sent,
        "events": sent_events,
        "leads_file": write_csv(folder / "sent-leads.csv", LEAD_HEADER, sent),
        "events_file": write_csv(folder / "sent-events.csv", EVENT_HEADER, sent_events),
    }


@pytest.fixture()
def store(store, trained):
    """The test store, whose artefacts folder contains the trained artefact."""
    return store.with_artefacts(trained["folder"])


def _moved_to_now(lead_rows: list, event_rows: list) -> tuple[list, list]:
    """Return the first leads created by REFERENCE and their events up to it,
    moved in time so that REFERENCE becomes now: the service scores as of now."""
    shift = datetime.now(timezone.utc) - REFERENCE
    sent = [row for row in lead_rows if _time(row[3]) <= REFERENCE][:SENT]
    keys = {row[0] for row in sent}
    events = [
        row for row in event_rows if row[1] in keys and _time(row[3]) <= REFERENCE
    ]
    moved_leads = [[*row[:3], iso(_time(row[3]) + shift)] for row in sent]
    moved_events = [[*row[:3], iso(_time(row[3]) + shift)] for row in events]
    return moved_leads, moved_events


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _model_file(folder: Path, threshold: float, artefact: str = "artefact") -> Path:
    stages = f"""predictive:
  artefact: {artefact}
stages:
  - id: likely
    when:
      probability: {{at_least: {threshold}}}
"""
    path = folder / f"service-{threshold}.yaml"
    path.write_text(MODEL.replace("stages:\n", stages), encoding="utf-8")
    return path


def _file_results(trained: dict, model: Path, as_of: datetime) -> dict[str, dict]:
    """Return each lead's probability and stage from `leadq score`'s library call."""
    run = score_files(
        trained["leads_file"],
        trained["events_file"],
        model=load_model(model),
        as_of=as_of,
    )
    return {
        row["lead_id"]: row
        for row in run.table.select(["lead_id", "probability", "stage"]).to_pylist()
    }


def _messages(trained: dict) -> list[Message]:
    messages = [
        Message(
            "identify",
            f"identify-{key}",
            user_id=key,
            traits={"industry": industry, "size": size, "created_at": created},
        )
        for key, industry, size, created in trained["leads"]
    ]
    for event_id, key, name, at in trained["events"]:
        messages.append(
            Message(
                "track",
                event_id,
                user_id=key,
                event=name,
                timestamp=micros_since_epoch(_time(at)),
            )
        )
    return messages


def _activate(store, model: Path):
    with store.write() as connection:
        return activate_model(
            connection, model.read_text(encoding="utf-8"), str(model), model.parent
        )


def test_probability_stage_in_service(store, trained, client):
    # A threshold between the middle two distinct probabilities splits the
    # sent leads between stages.
    folder = trained["folder"]
    now = datetime.now(timezone.utc)
    before = _file_results(trained, _model_file(folder, 0.5), now).values()
    distinct = sorted({row["probability"] for row in before})
    assert len(distinct) >= 2
    middle = len(distinct) // 2
    threshold = round((distinct[middle - 1] + distinct[middle]) / 2, 6)
    model = _model_file(folder, threshold)
    _activate(store, model)
    subscribe(store, "http://127.0.0.1:9/hook")

    ingest_messages(store, _messages(trained))
    with store.read() as connection:
        rows = connection.execute(
            select(leads.c.id, leads.c.lead_key, leads.c.stage, leads.c.scored_at)
        ).all()
    assert len(rows) == SENT
    # One transaction rescored every lead as of the same time.
    scored_at = {row.scored_at for row in rows}
    assert len(scored_at) == 1
    as_of = datetime.fromtimestamp(scored_at.pop() / 1_000_000, timezone.utc)
    expected = _file_results(trained, model, as_of)

    stages = set()
    for row in rows:
        record = client.get(f"/api/leads/{row.id}").json()
        probability = expected[row.lead_key]["probability"]
        assert record["probability"] == probability, row.lead_key
        assert row.stage == expected[row.lead_key]["stage"], row.lead_key
        assert (row.stage == "likely") == (probability >= threshold), row.lead_key
        factors = [
            reason for reason in record["reasons"] if reason["section"] == "predictive"
        ]
        assert factors, row.lead_key
        assert all(":" in factor["rule"] for factor in factors)
        # The one rescore's snapshot and stage change record the probability.
        assert [change["probability"] for change in record["stage_history"]] == [probability]
        assert [snapshot["probability"] for snapshot in record["score_history"]] == [probability]
        stages.add(row.stage)
    assert "likely" in stages
    assert len(stages) >= 2
    # Each stage-change webhook carries the probability that decided it.
    with store.read() as connection:
        payloads = connection.execute(select(outbox.c.payload)).scalars().all()
    sent = [json.loads(payload)["data"] for payload in payloads]
    assert {data["stage"] for data in sent} == {"likely", "sql"} & stages
    for data in sent:
        assert data["probability"] == expected[data["lead"]["lead_key"]]["probability"]
    # The dashboard's lead page shows the same probability.
    first = rows[0]
    shown = f"Conversion probability {expected[first.lead_key]['probability'] * 100:.1f}%"
    percent = f"{expected[first.lead_key]['probability'] * 100:.1f}%"
    for page in signed_in(store, str(client.base_url).rstrip("/"), "pat", "viewer"):
        text = page.get(f"/dashboard/leads/{first.id}").text
        assert shown in text
        snapshots = text.split("<summary>Score snapshots as a table</summary>")[1]
        snapshots = snapshots.split("</table>")[0]
        assert '<th scope="col" class="num">Probability</th>' in snapshots
        assert f'<td class="num">{percent}</td>' in snapshots
    # A CRM export lists score points only, as it does from `leadq score`.
    for exported in leads_from_store(store):
        assert all(rule != "probability" and ":" not in rule for rule, _ in exported.reasons)


def test_probability_recorded_without_stage_test(store, trained, client):
    # No stage tests the probability, so the rescore's one run of the query
    # decides the stages and the probability is only recorded.
    model = trained["folder"] / "recorded.yaml"
    section = "predictive:\n  artefact: artefact\nstages:\n"
    model.write_text(MODEL.replace("stages:\n", section), encoding="utf-8")
    _activate(store, model)
    ingest_messages(store, _messages(trained))
    with store.read() as connection:
        rows = connection.execute(
            select(leads.c.id, leads.c.lead_key, leads.c.stage, leads.c.scored_at)
        ).all()
    as_of = datetime.fromtimestamp(rows[0].scored_at / 1_000_000, timezone.utc)
    expected = _file_results(trained, model, as_of)
    for row in rows:
        record = client.get(f"/api/leads/{row.id}").json()
        probability = expected[row.lead_key]["probability"]
        assert probability is not None
        assert record["probability"] == probability, row.lead_key
        assert row.stage == expected[row.lead_key]["stage"], row.lead_key
        assert [snapshot["probability"] for snapshot in record["score_history"]] == [probability]


def test_merged_webhook_carries_probability(store, trained):
    model = trained["folder"] / "merged.yaml"
    section = "predictive:\n  artefact: artefact\nstages:\n"
    model.write_text(MODEL.replace("stages:\n", section), encoding="utf-8")
    _activate(store, model)
    subscribe(store, "http://127.0.0.1:9/hook", event_types=("lead.merged",))
    ingest_messages(store, _messages(trained))
    first, second = (key for key, *_ in trained["leads"][:2])
    same_email = {"email": "same@acme.example"}

    ingest_messages(store, [Message("identify", "merge-1", user_id=first, traits=same_email)])
    ingest_messages(store, [Message("identify", "merge-2", user_id=second, traits=same_email)])

    with store.read() as connection:
        payloads = connection.execute(select(outbox.c.payload)).scalars().all()
        survivor = connection.execute(
            select(score_snapshots.c.lead_id, score_snapshots.c.probability)
            .order_by(score_snapshots.c.id.desc())
            .limit(1)
        ).one()
    assert len(payloads) == 1
    data = json.loads(payloads[0])["data"]
    assert data["lead"]["id"] == survivor.lead_id
    assert survivor.probability is not None
    assert data["probability"] == survivor.probability
    assert data["model_version"]["name"] == load_model(model).name


def test_activation_records_absolute_path(store, trained):
    model = _model_file(trained["folder"], 0.5)
    active = _activate(store, model)
    with store.read() as connection:
        body = connection.execute(
            select(model_versions.c.body).where(model_versions.c.id == active.id)
        ).scalar_one()
    assert f"artefact: {(trained['folder'] / 'artefact').resolve()}" in body
    assert active.model.artefact_path() == str(
        (trained["folder"] / "artefact").resolve()
    )


def test_relative_artefact_without_folder(store, trained):
    text = _model_file(trained["folder"], 0.5).read_text(encoding="utf-8")
    with store.write() as connection, pytest.raises(ModelError) as raised:
        activate_model(connection, text, "request body")
    assert "the artefact path 'artefact' is relative" in str(raised.value)
    assert f"the absolute path of the artefact inside {store.artefacts}" in str(raised.value)
    assert raised.value.field == "predictive.artefact"


def test_missing_artefact_activation(store, trained):
    model = _model_file(trained["folder"], 0.5, artefact="absent")
    with pytest.raises(ModelError) as raised:
        _activate(store, model)
    assert f"no model artefact at {(trained['folder'] / 'absent').resolve()}" in str(
        raised.value
    )
    with store.read() as connection:
        assert connection.execute(select(model_versions.c.id)).first() is None


def test_activate_command_relative_paths(store, trained):
    # The model file's path and the artefact's are both relative: the stored
    # text names the artefact from the model file's folder, not the cwd.
    folder = trained["folder"]
    model = _model_file(folder, 0.5)
    done = leadq(
        "model", "activate", f"{folder.name}/{model.name}", "--database", store.url,
        "--artefacts", folder.name, cwd=folder.parent,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    with store.read() as connection:
        body = connection.execute(select(model_versions.c.body).where(model_versions.c.is_active.is_(True))).scalar_one()
    assert f"artefact: {(folder / 'artefact').resolve()}" in body


def test_top_reason_skips_predictive():
    reasons = [
        {"rule": "demo", "section": "engagement", "points": 30},
        {"rule": "probability", "section": "predictive", "points": 0.9},
        {"rule": "events:demo_requested:7d", "section": "predictive", "points": 45.0},
    ]
    assert top_reason(reasons) == "demo (+30)"
