"""Stored attributes and traits become lead fields as a leads file's columns do."""

from __future__ import annotations

import json

import pytest

from leadq.service.lead_tables import read_stored_leads
from leadq.service.model_versions import activate_model, ensure_active_model
from leadq.service.rescoring import rescore
from leadq.service.stored_json import DamagedLeadRow
from tests.service.conftest import HOUR, T0

# Reads `title` under its own name and `job_title` through `columns:`.
MODEL = """
name: stored fields test model
version: 1
key: email
columns:
  Job Title: job_title
fit:
  rules:
    - {id: ceo, field: title, equals: ceo, points: 10}
    - {id: job_ceo, field: job_title, equals: ceo, points: 20}
stages:
  - id: all
"""


def stored_fields(store, lead_id: int) -> dict:
    """Return the lead's fields as a rescore with the active model reads them."""
    active = ensure_active_model(store)
    with store.read() as connection:
        return read_stored_leads(connection, active.compiled, [lead_id], T0).attributes[0]


@pytest.fixture()
def model(store):
    with store.write() as connection:
        return activate_model(connection, MODEL, "model.yaml")


def test_legacy_case_attribute_scored(store, rows):
    # The built-in model maps `title` to job_title and `company_size` to employees.
    attributes = {"Title": "CEO", "COMPANY_SIZE": "250", "Industry": "software"}
    lead_id = rows.lead(attributes=json.dumps(attributes))
    active = ensure_active_model(store)
    with store.write() as connection:
        rescore(connection, active, [lead_id], T0 + HOUR, "event")

    reasons = {reason["rule"] for reason in json.loads(rows.record(lead_id)["reasons"])}
    assert {"title_decision_maker", "size_sweet_spot", "industry_target"} <= reasons


def test_case_attribute_gets_field_name(store, rows, model):
    lead_id = rows.lead(attributes=json.dumps({" TITLE": "ceo", "job title": "ceo", "Plan": "team"}))
    assert stored_fields(store, lead_id) == {"title": "ceo", "job_title": "ceo", "Plan": "team"}


@pytest.mark.parametrize(
    ("attributes", "times", "expected"),
    [
        # Untimed values: the name spelled as the model spells it wins.
        ({"TITLE": "student", "title": "ceo"}, None, "ceo"),
        ({"title": "ceo", "TITLE": "student"}, None, "ceo"),
        # The value with the latest time wins, and an untimed one is older than any.
        ({"TITLE": "student", "title": "ceo"}, {"TITLE": T0 + HOUR, "title": T0}, "student"),
        ({"TITLE": "student", "title": "ceo"}, {"title": T0}, "ceo"),
        ({"TITLE": "student", "title": "ceo"}, {"TITLE": T0}, "student"),
        # Equal times and neither spelled as the model: the name stored later wins.
        ({"TITLE": "student", "Title": "ceo"}, {"TITLE": T0, "Title": T0}, "ceo"),
    ],
)
def test_latest_case_variant_wins(store, rows, model, attributes, times, expected):
    lead_id = rows.lead(attributes=json.dumps(attributes), attribute_times=times and json.dumps(times))
    assert stored_fields(store, lead_id) == {"title": expected}


def test_mapped_column_variants_collide(store, rows, model):
    attributes = {"job title": "student", "Job Title": "ceo"}
    lead_id = rows.lead(attributes=json.dumps(attributes), attribute_times=json.dumps({"job title": T0 + 1}))
    assert stored_fields(store, lead_id) == {"job_title": "student"}


def test_lead_attribute_over_account_trait(store, rows, model):
    account_id = rows.account("acme", {"title": "student", "Plan": "team"})
    lead_id = rows.lead(attributes=json.dumps({"TITLE": "ceo"}), account_id=account_id)
    assert stored_fields(store, lead_id) == {"title": "ceo", "Plan": "team"}


def test_damaged_times_read_only_on_collision(store, rows, model):
    plain = rows.lead(attributes=json.dumps({"TITLE": "ceo"}), attribute_times="[1, 2]")
    assert stored_fields(store, plain) == {"title": "ceo"}

    colliding = rows.lead(attributes=json.dumps({"TITLE": "ceo", "title": "cto"}), attribute_times="[1, 2]")
    with pytest.raises(DamagedLeadRow) as caught:
        stored_fields(store, colliding)
    assert caught.value.lead_id == colliding
    assert str(caught.value) == (
        f"the stored attribute times of lead {colliding} are not a JSON object of whole numbers ('[1, 2]'); "
        "set them to a JSON object such as '{}' in the database, which leaves every attribute without a time"
    )
