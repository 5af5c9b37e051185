"""The qualification form of a lead's page over HTTP: record, errors, roles."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from leadq.store.tables import qualifications, stage_history
from tests.service.test_qualification_api import MEDDIC_MODEL

sqlite_only = pytest.mark.parametrize("store", ["sqlite"], indirect=True)
BANT_FORM = {
    "framework": "bant",
    "answer.budget": "confirmed",
    "answer.authority": "decision_maker",
    "note.authority": "VP Sales, signs off",
    "answer.need": "3",
    "answer.timeline": "next_quarter",
}


def send(client, lead_id: int, fields: dict):
    data = {**fields, "csrf_token": client.csrf}
    return client.post(f"/dashboard/leads/{lead_id}/qualifications", data=data)


def count_qualifications(store) -> int:
    with store.read() as connection:
        return connection.execute(
            select(func.count()).select_from(qualifications)
        ).scalar_one()


def activate_meddic(client, keys) -> None:
    headers = {"Authorization": f"Bearer {keys.admin}"}
    answer = client.post("/api/models", content=MEDDIC_MODEL.encode(), headers=headers)
    assert answer.status_code == 201, answer.text


def test_bant_form_moves_lead_to_sql(editor, rows, store):
    lead_id = rows.lead()
    answer = send(editor, lead_id, BANT_FORM)
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith(
        f"/dashboard/leads/{lead_id}?qualified="
    )

    page = editor.get(answer.headers["location"]).text
    assert "BANT qualification passed (score 100.0); the stage is now sql." in page
    assert 'id="qualifications"' in page
    assert "<td>BANT v1</td>" in page
    assert "<td>erin</td>" in page
    with store.read() as connection:
        change = connection.execute(
            select(stage_history).where(stage_history.c.lead_id == lead_id)
        ).one()
        stored = connection.execute(select(qualifications)).one()
    assert change.new_stage == "sql"
    assert change.cause == "qualification"
    assert change.qualification_id == stored.id
    assert change.reason == f"BANT qualification {stored.id} passed"
    assert f"BANT qualification {stored.id} passed" in page
    assert stored.author == "erin"
    assert "VP Sales, signs off" in stored.answers


@sqlite_only
def test_bant_form_fields_by_type(editor, rows):
    lead_id = rows.lead()
    page = editor.get(f"/dashboard/leads/{lead_id}").text
    assert 'action="/dashboard/leads/%d/qualifications#qualify-title"' % lead_id in page
    assert '<input type="hidden" name="framework" value="bant">' in page
    assert 'name="answer.budget" value="not_confirmed"' in page
    assert 'name="answer.need" value="3"' in page
    assert 'name="answer.authority" value="champion"' in page
    assert "Who besides you will be involved in choosing a solution" in page
    assert "Only a decision maker, or a champion" in page
    assert 'name="note.timeline"' in page
    assert "No qualification recorded yet." in page
    champ = editor.get(f"/dashboard/leads/{lead_id}", params={"framework": "champ"})
    assert '<input type="hidden" name="framework" value="champ">' in champ.text
    odd = editor.get(f"/dashboard/leads/{lead_id}", params={"qualified": "x"})
    assert odd.status_code == 200
    assert 'id="qualified-notice"' not in odd.text


@sqlite_only
def test_invalid_answers_shown_by_criterion(editor, rows, store, keys):
    activate_meddic(editor, keys)
    lead_id = rows.lead()
    fields = {
        "framework": "meddic",
        "answer.metrics": "confirmed",
        "answer.economic_buyer": "met",
        "answer.decision_budget": "lots",
        "unit.decision_budget": "EUR",
        "answer.decision_date": "31/03/2027",
        "answer.identify_pain": "7",
        "note.champion": "kept after the error",
    }
    answer = send(editor, lead_id, fields)

    assert answer.status_code == 422
    page = answer.text
    assert "3 answers are invalid" in page
    assert (
        '<p class="field-error" id="error-decision_budget">&#39;lots EUR&#39; is not '
        "an amount with a unit; write an amount and a unit, such as 50000 USD</p>"
    ) in page
    assert (
        '<p class="field-error" id="error-decision_date">&#39;31/03/2027&#39; is not '
        "a date; write it as YYYY-MM-DD, such as 2027-03-31</p>"
    ) in page
    assert 'id="error-identify_pain">7 is not on the scale' in page
    assert 'id="error-metrics"' not in page
    assert 'name="answer.metrics" value="confirmed" checked' in page
    assert "kept after the error</textarea>" in page
    assert count_qualifications(store) == 0


@sqlite_only
def test_custom_framework_number_and_date(editor, rows, store, keys):
    activate_meddic(editor, keys)
    lead_id = rows.lead()
    page = editor.get(f"/dashboard/leads/{lead_id}", params={"framework": "meddic"})
    assert '<option value="meddic" selected>MEDDIC</option>' in page.text
    assert '<select name="unit.decision_budget">' in page.text
    assert 'type="date" name="answer.decision_date"' in page.text
    fields = {
        "framework": "meddic",
        "answer.economic_buyer": "met",
        "answer.decision_budget": "45000",
        "unit.decision_budget": "EUR",
        "answer.decision_date": "2026-06-30",
    }
    answer = send(editor, lead_id, fields)
    assert answer.status_code == 303, answer.text
    with store.read() as connection:
        stored = connection.execute(select(qualifications)).one()
    assert '"amount": 45000.0, "unit": "EUR"' in stored.answers
    assert '"value": "2026-06-30"' in stored.answers


@sqlite_only
def test_viewer_cannot_qualify(viewer, rows, store):
    lead_id = rows.lead()
    page = viewer.get(f"/dashboard/leads/{lead_id}").text
    assert "Only editors can record qualifications." in page
    assert "/qualifications" not in page
    answer = send(viewer, lead_id, BANT_FORM)
    assert answer.status_code == 403
    assert "vic is a viewer" in answer.text
    assert count_qualifications(store) == 0


@sqlite_only
def test_qualify_without_csrf_refused(editor, rows, store):
    lead_id = rows.lead()
    answer = editor.post(f"/dashboard/leads/{lead_id}/qualifications", data=BANT_FORM)
    assert answer.status_code == 403
    assert "security token" in answer.text
    assert count_qualifications(store) == 0


@sqlite_only
def test_unknown_framework_or_lead(editor, rows, store):
    lead_id = rows.lead()
    unknown = send(editor, lead_id, {**BANT_FORM, "framework": "spiced"})
    assert unknown.status_code == 400
    assert "unknown framework &#39;spiced&#39;; use one of: bant, champ" in unknown.text
    missing = send(editor, 999_999, BANT_FORM)
    assert missing.status_code == 404
    assert "No lead has the id 999999." in missing.text
    assert count_qualifications(store) == 0
