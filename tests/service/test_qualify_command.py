"""`leadq qualify` in a pseudo-terminal and with an answers file, and its report."""

from __future__ import annotations

import json
import subprocess
import sys

import pexpect
import pytest
from sqlalchemy import select
from tests.service.servers import LEADQ, leadq
from tests.service.webhook_receiver import subscribe

from leadq.errors import LeadNotFound
from leadq.qualification.records import find_lead
from leadq.service.imports import import_file
from leadq.store import MAX_ID
from leadq.store.tables import qualifications, stage_history

T0 = 1_777_593_600_000_000  # 2026-05-01T00:00:00Z in microseconds
DAY = 86_400_000_000
LEADS_CSV = (
    "email,title,company,industry,company_size,country,phone\n"
    "ada@lovelace.example,Head of Sales,Lovelace Ltd,Software,120,Germany,+49 30 1\n"
    "bo@babbage.example,Engineer,Babbage Inc,Retail,12,Peru,\n"
)


def imported(store, tmp_path) -> None:
    path = tmp_path / "leads.csv"
    path.write_text(LEADS_CSV, encoding="utf-8")
    assert import_file(store, "leads", path).rows == 2


def spawn_qualify(store, lead: str) -> pexpect.spawn:
    args = [
        "-m",
        "leadq",
        "qualify",
        lead,
        "--framework",
        "bant",
        "--author",
        "Sam",
        "--database",
        store.url,
    ]
    return pexpect.spawn(
        sys.executable, args, encoding="utf-8", timeout=60, dimensions=(40, 120)
    )


def answer_bant(child: pexpect.spawn) -> None:
    """Answer BANT as a salesperson would, with one wrong entry on the way."""
    child.expect_exact("Choose 1-2 (Enter: unknown):")
    child.sendline("1")
    child.expect_exact("Note (Enter to skip):")
    child.sendline("Budget approved for Q3")
    child.expect_exact("Choose 1-4 (Enter: unknown):")
    child.sendline("7")
    child.expect_exact("'7' is not in the list; type a number from 1 to 4")
    child.expect_exact("Choose 1-4 (Enter: unknown):")
    child.sendline("1")
    child.expect_exact("Note (Enter to skip):")
    child.sendline("")
    child.expect_exact("Score 0-3 (Enter: unknown):")
    child.sendline("3")
    child.expect_exact("Note (Enter to skip):")
    child.sendline("")
    child.expect_exact("Choose 1-4 (Enter: unknown):")
    child.sendline("2")
    child.expect_exact("Note (Enter to skip):")
    child.sendline("")


def test_qualify_terminal_moves_lead_to_sql(store, tmp_path, receiver, start_worker):
    imported(store, tmp_path)
    subscribe(store, receiver.url, ("qualification.recorded", "lead.stage_changed"))
    child = spawn_qualify(store, "ada@lovelace.example")
    answer_bant(child)
    child.expect_exact("BANT: passed")
    child.expect_exact("Save this qualification?")
    child.sendline("y")
    child.expect_exact("stage: unqualified -> sql")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0

    with store.read() as connection:
        saved = connection.execute(select(qualifications)).one()
        history = connection.execute(
            select(stage_history).order_by(stage_history.c.id.desc())
        ).first()
    assert saved.author == "Sam"
    assert saved.result == "passed"
    assert json.loads(saved.answers)["budget"] == {
        "value": "confirmed",
        "note": "Budget approved for Q3",
    }
    assert history.new_stage == "sql"
    assert history.qualification_id == saved.id
    assert history.reason == f"BANT qualification {saved.id} passed"

    start_worker(store)
    arrived = {item.event_type: item for item in receiver.wait_for(2)}
    assert arrived["qualification.recorded"].signature_error is None
    assert (
        arrived["qualification.recorded"].payload["data"]["qualification"]["result"]
        == "passed"
    )
    assert arrived["lead.stage_changed"].payload["data"]["qualification_id"] == saved.id


def test_qualify_declined_saves_nothing(store, tmp_path):
    imported(store, tmp_path)
    child = spawn_qualify(store, "ada@lovelace.example")
    answer_bant(child)
    child.expect_exact("Save this qualification?")
    child.sendline("n")
    child.expect_exact("Nothing was saved.")
    child.expect(pexpect.EOF)
    with store.read() as connection:
        assert connection.execute(select(qualifications)).all() == []


def test_qualify_answers_file(store, tmp_path):
    imported(store, tmp_path)
    path = tmp_path / "answers.yaml"
    path.write_text(
        "framework: bant\nauthor: Kim\nanswers:\n"
        "  budget: not_confirmed\n  authority: influencer\n  need: 1\n  timeline: no_date\n",
        encoding="utf-8",
    )
    done = leadq(
        "qualify", "bo@babbage.example", "--answers", str(path), "--database", store.url
    )
    assert done.returncode == 0, done.stderr
    assert "saved qualification 1: BANT failed" in done.stdout
    assert "0 of 4 criteria met (none); the rule needs 3" in done.stdout
    assert "stage: unqualified (unchanged)" in done.stdout


def test_qualify_bad_answer_names_file_and_field(store, tmp_path):
    imported(store, tmp_path)
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"answers": {"timeline": "soon"}}), encoding="utf-8")
    done = leadq(
        "qualify", "bo@babbage.example", "--answers", str(path), "--database", store.url
    )
    assert done.returncode == 2
    assert done.stderr == (
        f"error: {path}, field answers.timeline: 'soon' is not an option; use one of: "
        "this_quarter, next_quarter, this_year, no_date, or unknown\n"
    )


def test_qualify_every_invalid_answer_reported(store, tmp_path):
    imported(store, tmp_path)
    path = tmp_path / "answers.json"
    answers = {"need": 7, "budget": "confirmed", "bugdet": "yes", "timeline": "soon"}
    path.write_text(json.dumps({"answers": answers}), encoding="utf-8")
    done = leadq(
        "qualify", "bo@babbage.example", "--answers", str(path), "--database", store.url
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"error: {path}, field answers.need: 7 is not on the scale; use a whole "
        "number from 0 to 3, or unknown",
        f"error: {path}, field answers.bugdet: BANT has no criterion 'bugdet'; "
        "its criteria are: budget, authority, need, timeline",
        f"error: {path}, field answers.timeline: 'soon' is not an option; use one "
        "of: this_quarter, next_quarter, this_year, no_date, or unknown",
    ]
    with store.read() as connection:
        assert connection.execute(select(qualifications)).all() == []


@pytest.mark.parametrize(
    ("name", "text", "encoding", "after_path"),
    [
        (
            "answers.json",
            '{"answers": {"budget": "confirmed",\n  "need": 3,}}\n',
            "utf-8",
            ", line 2: invalid JSON: Expecting property name enclosed in double "
            "quotes at column 13; correct the JSON there: write keys and text in "
            "double quotes, separate items with commas and leave no comma after "
            "the last item",
        ),
        (
            "answers.yaml",
            "answers:\n  budget: confirmed\n",
            "utf-16",
            ": the file is UTF-16 text (it starts with a UTF-16 byte order mark), "
            "not UTF-8; save it as UTF-8",
        ),
    ],
)
def test_qualify_unreadable_answers_file(store, tmp_path, name, text, encoding, after_path):
    path = tmp_path / name
    path.write_text(text, encoding=encoding)
    done = leadq("qualify", "bo@babbage.example", "--answers", str(path), "--database", store.url)
    assert done.returncode == 2
    assert done.stderr == f"error: {path}{after_path}\n"


def test_qualify_invalid_date_names_line(store, tmp_path):
    imported(store, tmp_path)
    path = tmp_path / "answers.yaml"
    path.write_text("framework: bant\nanswers:\n  timeline: 2026-02-30\n", encoding="utf-8")
    done = leadq("qualify", "bo@babbage.example", "--answers", str(path), "--database", store.url)
    assert done.returncode == 2
    assert done.stderr.startswith(f"error: {path}, line 3: invalid YAML: day is out of range for month; ")
    with store.read() as connection:
        assert connection.execute(select(qualifications)).all() == []


def test_qualify_unknown_lead(store, tmp_path):
    imported(store, tmp_path)
    path = tmp_path / "answers.yaml"
    path.write_text("answers: {budget: confirmed}\n", encoding="utf-8")
    done = leadq(
        "qualify", "nobody@example.com", "--answers", str(path), "--database", store.url
    )
    assert done.returncode == 2
    assert done.stderr == "error: no lead has the id, lead key or email 'nobody@example.com'\n"


# "²" is a digit to str.isdigit, but int() rejects it.
@pytest.mark.parametrize("reference", [str(MAX_ID), str(MAX_ID + 1), "²"])
def test_find_lead_not_an_id(store, rows, reference):
    rows.lead()

    with store.read() as connection, pytest.raises(LeadNotFound) as raised:
        find_lead(connection, reference)

    assert str(raised.value) == f"no lead has the id, lead key or email {reference!r}"


def test_qualify_without_terminal(store):
    command = [*LEADQ, "qualify", "ada@lovelace.example", "--database", store.url]
    done = subprocess.run(
        command, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=120
    )
    assert done.returncode == 2
    assert (
        "no terminal to ask the questions in; pass the answers with --answers FILE"
        in done.stderr
    )


def test_qualify_report_json(store, rows):
    # Four leads: two confirmed budgets, one of which converted after its
    # qualification; a conversion before the qualification does not count.
    passed = {
        "budget": "confirmed",
        "authority": "decision_maker",
        "need": 3,
        "timeline": "this_quarter",
    }
    failed = {"budget": "not_confirmed", "authority": "influencer", "need": 1}
    first, second, third, fourth = (rows.lead() for _ in range(4))
    rows.qualification(first, T0, passed)
    rows.qualification(second, T0, {**passed, "need": 2})
    rows.qualification(third, T0, failed, result="failed")
    rows.qualification(fourth, T0, failed, result="failed")
    rows.qualification(fourth, T0 + DAY, {"budget": "confirmed"}, result="incomplete")
    rows.outcome(first, T0 + 10 * DAY)
    rows.outcome(third, T0 - DAY)

    done = leadq("qualify-report", "--format", "json", "--database", store.url)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [item["framework"] for item in report] == ["bant"]
    bant = report[0]
    assert bant["leads"] == 4
    assert bant["results"] == [
        {"answer": "passed", "leads": 2, "converted": 1, "conversion_rate": 0.5},
        {"answer": "failed", "leads": 2, "converted": 0, "conversion_rate": 0.0},
    ]
    budget = bant["criteria"][0]
    assert budget["criterion"] == "budget"
    assert budget["answers"] == [
        {"answer": "confirmed", "leads": 2, "converted": 1, "conversion_rate": 0.5},
        {"answer": "not_confirmed", "leads": 2, "converted": 0, "conversion_rate": 0.0},
    ]
    timeline = bant["criteria"][3]["answers"]
    assert [(item["answer"], item["leads"]) for item in timeline] == [
        ("this_quarter", 2),
        ("unknown", 2),
    ]


def test_qualify_report_table(store, rows):
    lead_id = rows.lead()
    rows.qualification(lead_id, T0, {"budget": "confirmed"})
    done = leadq("qualify-report", "--database", store.url)
    assert done.returncode == 0, done.stderr
    assert "BANT (bant): 1 lead" in done.stdout
    assert "confirmed" in done.stdout


def test_qualify_report_unknown_framework(store):
    done = leadq("qualify-report", "--framework", "nope", "--database", store.url)
    assert done.returncode == 2
    assert done.stderr.startswith("error: unknown framework 'nope'; use one of: bant, champ")
