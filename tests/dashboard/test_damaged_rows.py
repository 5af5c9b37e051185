"""Dashboard pages over stored lead rows whose JSON columns were damaged by hand."""

from __future__ import annotations

import csv
import html
import io
import json

import pytest
from markupsafe import escape

from leadq.service.damaged_leads import MAX_LISTED
from leadq.store.tables import events, leads, qualifications
from tests.dashboard.lead_history import EDITED, store_history
from tests.dashboard.test_model_backtest import backtest
from tests.dashboard.test_qualification_form import BANT_FORM
from tests.service.conftest import T0
from tests.service.test_damaged_rows import (
    answers_error,
    attributes_error,
    count,
    damage,
    properties_error,
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


def listed_rows(page: str) -> list[str]:
    """Return the items of the error page's list of damaged rows, unescaped as the page shows them."""
    items = page.split('<ul id="error-details">')[1].split("</ul>")[0]
    return [html.unescape(item.split("</li>")[0]) for item in items.split("<li>")[1:]]


def damaged_summary(rows: int, leads: int, outcome: str, again: str) -> str:
    return (
        f"{rows} stored rows of {leads} leads do not contain the JSON they should, so {outcome}; "
        f"repair each one and {again}"
    )


def test_csv_export_names_every_damaged_lead(editor, store, rows):
    first = rows.scored_lead(80, 10, 0, attributes="{not json")
    second = rows.scored_lead(50, 0, 0, attributes="oops")
    rows.scored_lead(20, 0, 0, attributes=json.dumps({"name": "Ada Lovelace", "source": "ads"}))

    answer = editor.get("/dashboard/leads.csv", params={"source": "ads"})

    if store.engine.dialect.name == "sqlite":
        # json_valid leaves out the damaged leads.
        assert answer.status_code == 200, answer.text
        assert [row["name"] for row in csv.DictReader(io.StringIO(answer.text))] == ["Ada Lovelace"]
        return
    # The cast to JSONB fails on PostgreSQL, so the page names every damaged lead.
    assert answer.status_code == 500
    assert answer.headers["content-type"].startswith("text/html")
    summary = damaged_summary(2, 2, "nothing was exported", "download the file again")
    assert sentence(summary) in answer.text
    assert listed_rows(answer.text) == [
        html.unescape(sentence(attributes_error(first))),
        html.unescape(sentence(attributes_error(second, "oops"))),
    ]


def test_leads_page_counts_damaged_beyond_cap(editor, store, rows):
    damaged = [rows.scored_lead(80, 10, 0, attributes="{not json") for _ in range(MAX_LISTED + 2)]

    answer = editor.get("/dashboard/leads", params={"source": "ads"})

    if store.engine.dialect.name == "sqlite":
        assert answer.status_code == 200, answer.text
        assert "No lead matches these filters." in answer.text
        return
    assert answer.status_code == 500
    summary = damaged_summary(MAX_LISTED + 2, MAX_LISTED + 2, "no lead was listed", "load the page again")
    assert sentence(summary) in answer.text
    listed = listed_rows(answer.text)
    assert listed[:-1] == [html.unescape(sentence(attributes_error(lead_id))) for lead_id in damaged[:MAX_LISTED]]
    assert listed[-1] == "And 2 more damaged rows, which the page lists once these are repaired."


def test_backtest_names_every_damaged_row(editor, store, rows):
    lead_ids = store_history(rows)
    damage(store, leads, lead_ids[0], attributes="{not json")
    damage(store, leads, lead_ids[1], attributes="[1]")
    event_id = rows.event(lead_ids[2], "demo_requested", T0)
    damage(store, events, event_id, properties="[oops")

    answer = backtest(editor, EDITED)

    assert answer.status_code == 200, answer.text
    summary = damaged_summary(3, 3, "the models could not score the leads", "run the backtest again")
    assert f"The backtest did not run: {escape(summary)}.</p>" in answer.text
    section = answer.text.split('id="backtest-error"')[1].split("</div>")[0]
    items = [html.unescape(item.split("</li>")[0]) for item in section.split("<li>")[1:]]
    assert items == [
        html.unescape(sentence(attributes_error(lead_ids[0]))),
        html.unescape(sentence(attributes_error(lead_ids[1], "[1]"))),
        html.unescape(sentence(properties_error(event_id, lead_ids[2], "[oops"))),
    ]
