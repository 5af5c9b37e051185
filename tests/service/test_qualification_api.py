"""POST and GET /api/leads/{id}/qualifications against a running server."""

from __future__ import annotations

from sqlalchemy import func, select
from tests.service.webhook_receiver import subscribe

from leadq.store.tables import qualifications, stage_history

BANT_PASSED = {
    "budget": "confirmed",
    "authority": {"value": "decision_maker", "note": "VP Sales, signs off"},
    "need": 3,
    "timeline": "next_quarter",
}

MEDDIC_MODEL = """
name: MEDDIC team model
frameworks:
  meddic:
    name: MEDDIC
    version: 2
    criteria:
      - {id: metrics, label: Metrics, question: What result will you measure?, answer: status}
      - id: economic_buyer
        label: Economic buyer
        question: Who controls the money?
        answer: choice
        options:
          - {id: met, label: We met them}
          - {id: named, label: Named but not met}
          - {id: none, label: Nobody named}
        meets: [met]
        weight: 2
      - id: decision_budget
        label: Budget
        question: How much can they spend?
        answer: number
        units: [USD, EUR]
        at_least: 20000
        weight: 2
      - {id: decision_date, label: Decision date, question: When do they decide?,
         answer: date, within_days: 120}
      - {id: identify_pain, label: Pain, question: What hurts?, answer: scale}
      - {id: champion, label: Champion, question: Who sells for us inside?, answer: status}
    pass:
      weighted_at_least: 70
      required: [economic_buyer]
stages:
  - id: committed
    when:
      qualification: {framework: meddic, result: passed, within_days: 30}
  - id: no_buyer
    when:
      answer: {framework: meddic, criterion: economic_buyer, is: none}
  - id: open
"""


def post(client, lead_id, body, key):
    headers = {"Authorization": f"Bearer {key}"}
    return client.post(
        f"/api/leads/{lead_id}/qualifications", json=body, headers=headers
    )


def bant(answers, author="Sam Seller"):
    return {"framework": "bant", "answers": answers, "author": author}


def count_rows(store, table) -> int:
    with store.read() as connection:
        return connection.execute(select(func.count()).select_from(table)).scalar_one()


def test_bant_pass_moves_lead_to_sql(client, keys, rows, store, receiver, start_worker):
    lead_id = rows.lead()
    subscribe(store, receiver.url, ("qualification.recorded", "lead.stage_changed"))
    response = post(client, lead_id, bant(BANT_PASSED), keys.write)

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["result"] == "passed"
    assert body["stage"] == "sql"
    assert body["previous_stage"] is None
    assert body["answers"]["authority"] == {
        "value": "decision_maker",
        "note": "VP Sales, signs off",
    }
    assert (
        body["reasons"][0]
        == "4 of 4 criteria met (Budget, Authority, Need, Timeline); the rule needs 3"
    )
    with store.read() as connection:
        history = connection.execute(select(stage_history)).one()
    assert history.new_stage == "sql"
    assert history.cause == "qualification"
    assert history.qualification_id == body["id"]
    assert history.rule == "sql: bant passed in 90 days"
    record = client.get(f"/api/leads/{lead_id}").json()
    assert record["stage_history"][0]["qualification_id"] == body["id"]

    start_worker(store)
    arrived = {item.event_type: item.payload for item in receiver.wait_for(2)}
    assert (
        arrived["qualification.recorded"]["data"]["qualification"]["id"] == body["id"]
    )
    assert arrived["qualification.recorded"]["data"]["lead"]["id"] == lead_id
    assert arrived["lead.stage_changed"]["data"]["qualification_id"] == body["id"]
    assert arrived["lead.stage_changed"]["data"]["stage"] == "sql"


def test_bant_incomplete_counts_for_nothing(client, keys, rows):
    lead_id = rows.lead()
    answers = {"budget": "confirmed", "authority": "decision_maker"}
    response = post(client, lead_id, bant(answers), keys.write)
    assert response.status_code == 201, response.text
    assert response.json()["result"] == "incomplete"
    assert response.json()["stage"] == "unqualified"
    assert response.json()["reasons"][-1] == "unknown: Need, Timeline"


def test_invalid_answer_names_criterion(client, keys, rows, store):
    lead_id = rows.lead()
    answers = {**BANT_PASSED, "need": 7}
    response = post(client, lead_id, bant(answers), keys.admin)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "answers.need"
    assert error["message"] == (
        "answer 'need': 7 is not on the scale; use a whole number from 0 to 3, or unknown"
    )
    assert error["errors"] == [
        {"code": "invalid_answer", "message": error["message"], "field": "answers.need"}
    ]
    assert count_rows(store, qualifications) == 0


def test_every_invalid_answer_listed(client, keys, rows, store):
    answers = {**BANT_PASSED, "need": 7, "timeline": "soon", "bugdet": "confirmed"}
    response = post(client, rows.lead(), bant(answers), keys.write)
    assert response.status_code == 400
    error = response.json()["error"]
    need = "answer 'need': 7 is not on the scale; use a whole number from 0 to 3, or unknown"
    timeline = (
        "answer 'timeline': 'soon' is not an option; use one of: this_quarter, "
        "next_quarter, this_year, no_date, or unknown"
    )
    bugdet = (
        "answer 'bugdet': BANT has no criterion 'bugdet'; its criteria are: "
        "budget, authority, need, timeline"
    )
    assert error["code"] == "invalid_answer"
    assert error["field"] == "answers.need"
    assert error["message"] == f"{need}\n{timeline}\n{bugdet}"
    assert error["errors"] == [
        {"code": "invalid_answer", "message": need, "field": "answers.need"},
        {"code": "invalid_answer", "message": timeline, "field": "answers.timeline"},
        {"code": "invalid_answer", "message": bugdet, "field": "answers.bugdet"},
    ]
    assert count_rows(store, qualifications) == 0


def test_negative_amount_rejected(client, keys, rows, store):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    activated = client.post("/api/models", content=MEDDIC_MODEL.encode(), headers=admin)
    assert activated.status_code == 201, activated.text
    body = {"framework": "meddic", "answers": {"decision_budget": "-5 EUR"}, "author": "Ann"}
    response = post(client, rows.lead(), body, keys.write)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "answers.decision_budget"
    assert error["message"] == (
        "answer 'decision_budget': amount -5 is negative, but amounts cannot be "
        "negative; write 0 or more, such as 50000 USD"
    )
    assert count_rows(store, qualifications) == 0


def test_infinite_amount_rejected(client, keys, rows, store):
    # The literal 1e400, as a client writes it; httpx rejects infinity in json=.
    answers = b'{"budget": {"amount": 1e400}}'
    body = b'{"framework": "bant", "author": "Ann", "answers": ' + answers + b"}"
    headers = {
        "Authorization": f"Bearer {keys.write}",
        "Content-Type": "application/json",
    }
    response = client.post(
        f"/api/leads/{rows.lead()}/qualifications", content=body, headers=headers
    )
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == "answers.budget"
    assert error["message"] == (
        "answer 'budget': amount is Infinity, beyond a double's range of about "
        "±1.8e308; send a finite number"
    )
    assert count_rows(store, qualifications) == 0


def test_nul_in_author_or_note_rejected(client, keys, rows, store):
    lead_id = rows.lead()
    response = post(client, lead_id, bant(BANT_PASSED, author="Sam\u0000"), keys.write)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "author"
    answers = {**BANT_PASSED, "need": {"value": BANT_PASSED["need"], "note": "a\u0000b"}}
    response = post(client, lead_id, bant(answers), keys.write)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "answers.need"
    assert count_rows(store, qualifications) == 0


def test_unknown_criterion_rejected(client, keys, rows):
    response = post(client, rows.lead(), bant({"budgett": "confirmed"}), keys.write)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "answers.budgett"
    assert (
        "its criteria are: budget, authority, need, timeline"
        in response.json()["error"]["message"]
    )


def test_unknown_framework_rejected(client, keys, rows):
    body = {"framework": "spiced", "answers": {}, "author": "Sam"}
    response = post(client, rows.lead(), body, keys.write)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "framework"


def test_unknown_lead_not_found(client, keys):
    response = post(client, 4242, bant(BANT_PASSED), keys.write)
    assert response.status_code == 404


def test_read_key_cannot_record(client, keys, rows):
    response = post(client, rows.lead(), bant(BANT_PASSED), keys.read)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == (
        "a read key cannot record qualifications; use a write or admin key"
    )


def test_list_newest_first(client, keys, rows):
    lead_id = rows.lead()
    post(client, lead_id, bant({"budget": "not_confirmed"}), keys.write)
    post(client, lead_id, bant(BANT_PASSED, author="Kim"), keys.write)
    response = client.get(f"/api/leads/{lead_id}/qualifications")
    assert response.status_code == 200
    items = response.json()["items"]
    assert [item["author"] for item in items] == ["Kim", "Sam Seller"]
    assert [item["result"] for item in items] == ["passed", "incomplete"]


def test_write_key_cannot_list(client, keys, rows):
    lead_id = rows.lead()
    headers = {"Authorization": f"Bearer {keys.write}"}
    response = client.get(f"/api/leads/{lead_id}/qualifications", headers=headers)
    assert response.status_code == 403


def test_meddic_from_model_file(client, keys, rows):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    activated = client.post("/api/models", content=MEDDIC_MODEL.encode(), headers=admin)
    assert activated.status_code == 201, activated.text
    lead_id = rows.lead()
    answers = {
        "metrics": "confirmed",
        "economic_buyer": {"value": "met", "note": "CFO joined the call"},
        "decision_budget": "45000 eur",
        "identify_pain": 2,
    }
    body = {"framework": "meddic", "answers": answers, "author": "Ana"}
    response = post(client, lead_id, body, keys.write)

    assert response.status_code == 201, response.text
    recorded = response.json()
    assert recorded["framework_version"] == "2"
    assert recorded["answers"]["decision_budget"]["value"] == {
        "amount": 45000.0,
        "unit": "EUR",
    }
    assert recorded["result"] == "passed"
    assert recorded["score"] == 70.8
    assert recorded["stage"] == "committed"


def test_meddic_answer_condition(client, keys, rows):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    client.post("/api/models", content=MEDDIC_MODEL.encode(), headers=admin)
    lead_id = rows.lead()
    answers = {"metrics": "confirmed", "economic_buyer": "none", "identify_pain": 3}
    body = {"framework": "meddic", "answers": answers, "author": "Ana"}
    response = post(client, lead_id, body, keys.write)
    assert response.json()["result"] == "failed"
    assert response.json()["stage"] == "no_buyer"


def test_invalid_budget_unit_rejected(client, keys, rows):
    admin = {"Authorization": f"Bearer {keys.admin}"}
    client.post("/api/models", content=MEDDIC_MODEL.encode(), headers=admin)
    body = {
        "framework": "meddic",
        "answers": {"decision_budget": "45000 GBP"},
        "author": "Ana",
    }
    response = post(client, rows.lead(), body, keys.write)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "answers.decision_budget"
    assert (
        "unit 'GBP' is not accepted; use one of: USD, EUR"
        in response.json()["error"]["message"]
    )
