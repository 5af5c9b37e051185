"""Dashboard pages over stored lead rows whose JSON columns were damaged by hand."""

from __future__ import annotations

import csv
import io
import json

import pytest
from markupsafe import escape

from leadq.store.tables import leads, qualifications
from tests.dashboard.test_qualification_form import BANT_FORM
from tests.service.conftest import T0
from tests.service.test_damaged_rows import (
    answers_error,
    attributes_error,
    count,
    damage,
    reasons_error,
)

DAMAGED_MARK = "Stored row damaged; the lead's page says how to repair it."


@pytest.fixture()
def two_leads(rows, store) -> tuple[int, int]:
    """A lead whose attributes are damaged, and Ada Lovelace's lead."""
    damaged = rows.scored_lead(80, 10, 0, email="damaged@example.com")
    other = rows.scored_lead(
        20, 0, 0, email="ada@example.com", attributes=json.dumps({"name": "Ada Lovelace", "source": "ads"})
    )
    rows.stage_change(damaged, T0, None, "unqualified")
    rows.stage_change(other, T0, None, "unqualified")
    damage(store, leads, damaged, attributes="{not json")
    return damaged, other


def sentence(message: str) -> str:
    """Return the message as an error page shows it: capitalized, with a full stop, escaped."""
    return str(escape(message[:1].upper() + message[1:] + "."))


@pytest.mark.parametrize("suffix", ["", "/recycle", "/erase"])
def test_lead_page_names_damaged_row(editor, two_leads, suffix):
    damaged, _ = two_leads

    answer = editor.get(f"/dashboard/leads/{damaged}{suffix}")

    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/html")
    assert sentence(attributes_error(damaged)) in answer.text


def test_lead_page_names_damaged_reasons(editor, rows, store):
    lead_id = rows.scored_lead(80, 10, 0)
    damage(store, leads, lead_id, reasons="[oops")

    answer = editor.get(f"/dashboard/leads/{lead_id}")

    assert answer.status_code == 500
    assert sentence(reasons_error(lead_id, "[oops")) in answer.text


def test_lead_page_names_damaged_qualification(editor, rows, store):
    lead_id = rows.scored_lead(80, 10, 0)
    qualification_id = rows.qualification(lead_id, T0, {"budget": "confirmed"})
    damage(store, qualifications, qualification_id, answers="{oops")

    answer = editor.get(f"/dashboard/leads/{lead_id}")

    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/html")
    assert sentence(answers_error(qualification_id, lead_id, "{oops")) in answer.text


def test_qualify_form_names_damaged_qualification(editor, rows, store):
    lead_id = rows.scored_lead(80, 10, 0)
    qualification_id = rows.qualification(lead_id, T0, {"budget": "confirmed"})
    damage(store, qualifications, qualification_id, answers="[]")

    answer = editor.post(f"/dashboard/leads/{lead_id}/qualifications", data={**BANT_FORM, "csrf_token": editor.csrf})

    assert answer.status_code == 500
    assert sentence(answers_error(qualification_id, lead_id, "[]")) in answer.text
    assert count(store, qualifications) == 1


def test_lead_page_shows_damaged_event_text(editor, rows, store):
    lead_id = rows.scored_lead(80, 10, 0)
    rows.event(lead_id, "page_viewed", T0, properties="{oops")

    answer = editor.get(f"/dashboard/leads/{lead_id}")

    assert answer.status_code == 200, answer.text
    assert "<code>{oops</code>" in answer.text


@pytest.mark.parametrize(
    ("suffix", "form"), [("/recycle", {"reason": "went quiet"}), ("/qualifications", BANT_FORM)]
)
def test_action_on_damaged_lead_shows_error_page(editor, store, two_leads, suffix, form):
    damaged, _ = two_leads

    answer = editor.post(f"/dashboard/leads/{damaged}{suffix}", data={**form, "csrf_token": editor.csrf})

    assert answer.status_code == 500
    assert sentence(attributes_error(damaged)) in answer.text
    assert count(store, qualifications) == 0


def test_leads_page_marks_damaged_row(editor, two_leads):
    damaged, other = two_leads

    answer = editor.get("/dashboard/leads")

    assert answer.status_code == 200
    assert f'data-lead-id="{damaged}"' in answer.text
    assert f'data-lead-id="{other}"' in answer.text
    assert "Ada Lovelace" in answer.text
    assert answer.text.count(DAMAGED_MARK) == 1
    row = answer.text.split(f'data-lead-id="{damaged}"')[1].split("</tr>")[0]
    assert DAMAGED_MARK in row


def test_csv_export_keeps_damaged_row(editor, two_leads):
    damaged, other = two_leads

    answer = editor.get("/dashboard/leads.csv")

    assert answer.status_code == 200
    exported = {row["id"]: row for row in csv.DictReader(io.StringIO(answer.text))}
    assert sorted(exported) == sorted([str(damaged), str(other)])
    assert exported[str(damaged)]["name"] == ""
    assert exported[str(other)]["name"] == "Ada Lovelace"


# Pages whose SQL reads every compared lead's attributes: the path, its
# query and the text that SQLite shows. The search for "json" finds that
# word in the damaged text, so it reads the damaged attributes too.
ATTRIBUTE_QUERIES = [
    ("/dashboard/leads", {"q": "json"}, "No lead matches these filters."),
    ("/dashboard/leads", {"source": "ads"}, "Ada Lovelace"),
    ("/dashboard/leads.csv", {"source": "ads"}, "Ada Lovelace"),
    ("/dashboard/funnel", {}, "ads"),
]


@pytest.mark.parametrize(("path", "params", "shown"), ATTRIBUTE_QUERIES)
def test_attribute_queries_with_damaged_row(editor, store, two_leads, path, params, shown):
    damaged, _ = two_leads

    answer = editor.get(path, params=params)

    if store.engine.dialect.name == "sqlite":
        # json_valid leaves out the damaged lead.
        assert answer.status_code == 200, answer.text
        assert shown in answer.text
    else:
        # The cast to JSONB fails on PostgreSQL, so the page names the lead.
        assert answer.status_code == 500
        assert answer.headers["content-type"].startswith("text/html")
        assert sentence(attributes_error(damaged)) in answer.text
