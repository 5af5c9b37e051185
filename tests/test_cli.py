"""The `leadq` command, run as a real subprocess: output, files and exit codes."""

from __future__ import annotations

import csv
import json
import logging
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from leadq.cli import configure_logging

LEADS = """email,title,company,industry,company_size,country,phone
ana@acme.example,VP Marketing,Acme,Software,250,Germany,555-0100
bob@gmail.com,Student,,,,,
eve@competitor.example,CEO,Rival,software,40,France,555-0101
"""
EVENTS = """event_id,email,event,timestamp,properties
1,ana@acme.example,page_viewed,2026-11-20T10:00:00Z,"{""url"": ""/pricing""}"
2,ana@acme.example,demo_requested,2026-11-25T10:00:00+01:00,{}
3,bob@gmail.com,email_opened,2026-11-01T10:00:00Z,
"""
AS_OF = "2026-12-01T00:00:00Z"


def leadq(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "leadq", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture()
def files(tmp_path: Path) -> Path:
    (tmp_path / "leads.csv").write_text(LEADS, encoding="utf-8")
    (tmp_path / "events.csv").write_text(EVENTS, encoding="utf-8")
    return tmp_path


def score_csv(files: Path, *extra: str) -> list[dict]:
    done = leadq("score", "leads.csv", "-e", "events.csv", "--as-of", AS_OF,
                 "--format", "csv", *extra, cwd=files)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return list(csv.DictReader(done.stdout.splitlines()))


def assert_clean_error(done: subprocess.CompletedProcess, *fragments: str) -> None:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("error: ")
    message = " ".join(done.stderr.split())
    for fragment in fragments:
        assert fragment in message


def test_score_table(files):
    done = leadq("score", "leads.csv", "-e", "events.csv", "--as-of", AS_OF, cwd=files)
    assert done.returncode == 0, done.stderr
    assert "3 leads scored as of 2026-12-01T00:00:00Z" in done.stdout
    assert "ana@acme.example" in done.stdout
    assert "+30 demo_request" in done.stdout
    assert "disqualified │     2" in done.stdout


def test_score_csv_columns_and_rank(files):
    rows = score_csv(files)
    assert list(rows[0]) == [
        "lead_id", "fit_score", "grade", "engagement_score", "product_score",
        "stage", "stage_rule", "reasons",
    ]  # fmt: skip
    assert [row["lead_id"] for row in rows] == [
        "ana@acme.example", "eve@competitor.example", "bob@gmail.com",
    ]  # fmt: skip
    assert rows[0]["stage"] == "sql"
    reasons = json.loads(rows[0]["reasons"])
    assert reasons[0] == {"section": "engagement", "rule": "demo_request", "points": 30.0}


def test_engines_write_identical_csv(files):
    assert score_csv(files, "--engine", "duckdb") == score_csv(files, "--engine", "sqlite")


def test_score_parquet_and_json_output(files):
    done = leadq("score", "leads.csv", "-e", "events.csv", "--as-of", AS_OF,
                 "-o", "out.parquet", cwd=files)  # fmt: skip
    assert done.returncode == 0, done.stderr
    table = pq.read_table(files / "out.parquet")
    assert table.column("lead_id").to_pylist()[0] == "ana@acme.example"

    done = leadq("score", "leads.csv", "-e", "events.csv", "--as-of", AS_OF,
                 "--format", "json", cwd=files)  # fmt: skip
    records = json.loads(done.stdout)
    assert records[2]["stage_rule"] == "disqualified: job_title contains student"


def test_parquet_to_stdout_is_usage_error(files):
    done = leadq("score", "leads.csv", "--format", "parquet", cwd=files)
    assert done.returncode == 2
    assert "parquet output needs --output FILE" in done.stderr


def test_explain_lists_every_rule(files):
    done = leadq("explain", " ANA@acme.example", "--leads", "leads.csv", "-e",
                 "events.csv", "--as-of", AS_OF, "--json", cwd=files)  # fmt: skip
    assert done.returncode == 0, done.stderr
    [lead] = json.loads(done.stdout)
    assert lead["stage_rule"].startswith("sql: grade A/B and demo_requested")
    assert len(lead["contributions"]) == 31
    assert sum(c["points"] for c in lead["contributions"] if c["section"] == "fit") == 75


def test_explain_unknown_lead(files):
    done = leadq("explain", "nobody@x.example", "--leads", "leads.csv", cwd=files)
    assert_clean_error(
        done,
        "lead 'nobody@x.example' is not in leads.csv; lead ids are matched on the "
        "model's key field 'email'",
    )


def test_init_then_validate(tmp_path):
    assert leadq("init", "model.yaml", cwd=tmp_path).returncode == 0
    done = leadq("validate", "model.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "model.yaml: valid (11 fit, 16 engagement, 4 product rules; 5 stages)" in done.stdout
    again = leadq("init", "model.yaml", cwd=tmp_path)
    assert again.returncode == 2
    assert "already exists" in again.stderr


def test_schema_is_json_schema(tmp_path):
    done = leadq("schema", cwd=tmp_path)
    schema = json.loads(done.stdout)
    assert schema["title"] == "leadq scoring model"
    assert "stages" in schema["required"]
    assert "in" in schema["$defs"]["FitRule"]["properties"]
    version = schema["properties"]["version"]
    assert [choice["type"] for choice in version["anyOf"]] == ["string", "integer"]
    assert 'quote a decimal: "2.5"' in version["description"]


def test_validate_decimal_version(files):
    (files / "model.yaml").write_text("version: 2.5\nstages:\n  - id: all\n", encoding="utf-8")
    done = leadq("validate", "model.yaml", cwd=files)
    assert_clean_error(
        done,
        "model.yaml, line 1, field version: invalid version 2.5",
        'quote it (`version: "2.5"`)',
    )


def test_missing_leads_file(files):
    done = leadq("score", "nope.csv", cwd=files)
    assert_clean_error(done, "nope.csv: file not found")


def test_empty_leads_file(files):
    (files / "empty.csv").write_text("", encoding="utf-8")
    done = leadq("score", "empty.csv", cwd=files)
    assert_clean_error(done, "empty.csv", "empty")


def test_unknown_column_in_model(files):
    model = files / "model.yaml"
    model.write_text(
        "key: email\nfit:\n  rules:\n    - {id: r, field: budget, at_least: 5, points: 1}\n"
        "stages:\n  - id: all\n",
        encoding="utf-8",
    )
    done = leadq("score", "leads.csv", "-m", "model.yaml", cwd=files)
    assert_clean_error(done, "leads.csv", "'budget'", "columns:", "'company_size'")


def test_malformed_timestamp(files):
    (files / "bad.csv").write_text(
        "event_id,email,event,timestamp\n1,ana@acme.example,page_viewed,2026-11-20T10:00:00Z\n"
        "2,ana@acme.example,page_viewed,20/11/2026 10:00\n",
        encoding="utf-8",
    )
    done = leadq("score", "leads.csv", "-e", "bad.csv", cwd=files)
    assert_clean_error(done, "bad.csv, line 3", "'timestamp'", "20/11/2026 10:00", "ISO 8601")


def test_naive_timestamp_needs_timezone(files):
    (files / "naive.csv").write_text(
        "event_id,email,event,timestamp\n1,ana@acme.example,demo_requested,2026-11-20 10:00:00\n",
        encoding="utf-8",
    )
    done = leadq("score", "leads.csv", "-e", "naive.csv", cwd=files)
    assert_clean_error(done, "naive.csv, line 2", "--timezone")
    done = leadq("score", "leads.csv", "-e", "naive.csv", "--timezone", "Europe/Berlin",
                 "--as-of", AS_OF, "-f", "csv", cwd=files)  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_non_numeric_value(files):
    (files / "leads.csv").write_text(
        LEADS.replace(",250,", ",\"1,200\","), encoding="utf-8"
    )
    done = leadq("score", "leads.csv", cwd=files)
    assert_clean_error(done, "leads.csv, line 2", "'employees'", "'1,200' is not a number")


def test_invalid_yaml(files):
    (files / "model.yaml").write_text("stages:\n  - id: a\n  bad: [\n", encoding="utf-8")
    done = leadq("validate", "model.yaml", cwd=files)
    assert_clean_error(done, "model.yaml, line", "invalid YAML")


def test_invalid_regex(files):
    (files / "model.yaml").write_text(
        "fit:\n  rules:\n    - id: r\n      field: title\n      regex: '(unclosed'\n"
        "      points: 5\nstages:\n  - id: all\n",
        encoding="utf-8",
    )
    done = leadq("validate", "model.yaml", cwd=files)
    assert_clean_error(
        done, "model.yaml, line 5, field fit.rules[0].regex", "invalid regular expression '(unclosed'"
    )


def test_wrong_type_in_model(files):
    (files / "model.yaml").write_text(
        "fit:\n  rules:\n    - {id: r, field: title, contains: x, points: lots}\n"
        "stages:\n  - id: all\n",
        encoding="utf-8",
    )
    done = leadq("validate", "model.yaml", cwd=files)
    assert_clean_error(done, "line 3, field fit.rules[0].points", "valid number", '"lots"')


def test_unknown_model_field(files):
    (files / "model.yaml").write_text("stages:\n  - id: all\n    wen: {}\n", encoding="utf-8")
    done = leadq("validate", "model.yaml", cwd=files)
    assert_clean_error(done, "line 3, field stages[0].wen", "unknown field")


def test_validate_notes_last_stage_condition(files):
    (files / "model.yaml").write_text(
        "stages:\n  - {id: hot, when: {score: total, at_least: 50}}\n  - {id: warm, when: {score: total, at_least: 1}}\n",
        encoding="utf-8",
    )
    done = leadq("validate", "model.yaml", cwd=files)
    assert done.returncode == 0, done.stderr
    assert "note: the last stage, 'warm', has a `when`" in done.stdout
    assert "`leadq model activate` rejects" in done.stdout


def test_validate_two_columns_one_field(files):
    (files / "model.yaml").write_text(
        "key: email\nevent_columns:\n  kind: event\n  action: event\n"
        "stages:\n  - id: all\n",
        encoding="utf-8",
    )
    done = leadq("validate", "model.yaml", cwd=files)
    assert_clean_error(
        done,
        "model.yaml, line 4, field event_columns.action",
        "columns 'kind' (line 3) and 'action' both map to the field 'event'",
    )


def test_validate_blank_column_key(files):
    (files / "model.yaml").write_text(
        'key: email\ncolumns:\n  title: job_title\n  "": industry\nstages:\n  - id: all\n',
        encoding="utf-8",
    )
    done = leadq("validate", "model.yaml", cwd=files)
    assert_clean_error(
        done,
        "model.yaml, line 4, field columns: the key '' is blank, so it names no column",
        "or remove the mapping",
    )


def test_validate_blank_mapped_field(files):
    (files / "model.yaml").write_text(
        'key: email\ncolumns:\n  title: job_title\n  "Job Title": " "\nstages:\n  - id: all\n',
        encoding="utf-8",
    )
    done = leadq("validate", "model.yaml", cwd=files)
    assert_clean_error(
        done,
        "model.yaml, line 4, field columns.Job Title: the column 'Job Title' maps to the blank field ' '",
        "write the field's name, such as \"Job Title\": job_title, or remove the mapping",
    )


def test_validate_columns_differing_in_case(files):
    (files / "model.yaml").write_text(
        "key: email\ncolumns:\n  Job Title: title\n  job title: role\nstages:\n  - id: all\n",
        encoding="utf-8",
    )
    done = leadq("validate", "model.yaml", cwd=files)
    assert_clean_error(
        done,
        "model.yaml, line 4, field columns.job title:",
        "columns 'Job Title' (line 3) and 'job title' differ only in case or surrounding spaces",
        "keep one of the two mappings",
    )


def test_cp1252_needs_encoding(files):
    text = LEADS.replace("Acme,Software", "Acmé GmbH,Software")
    (files / "leads.csv").write_bytes(text.encode("cp1252"))
    done = leadq("score", "leads.csv", cwd=files)
    assert_clean_error(done, "leads.csv", "--encoding")
    done = leadq("score", "leads.csv", "--encoding", "cp1252", "-f", "csv", cwd=files)
    assert done.returncode == 0, done.stderr


def test_failed_run_keeps_existing_output(files):
    (files / "out.csv").write_text("previous results\n", encoding="utf-8")
    done = leadq("score", "missing.csv", "-o", "out.csv", cwd=files)
    assert done.returncode == 2
    assert (files / "out.csv").read_text(encoding="utf-8") == "previous results\n"


def test_every_command_documented():
    from leadq.cli import app

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    for command in app.registered_commands:
        name = command.name or command.callback.__name__
        assert f"leadq {name}" in readme, name
        assert command.callback.__doc__, name


def test_output_may_not_replace_input(files):
    before = (files / "leads.csv").read_text(encoding="utf-8")
    done = leadq("score", "leads.csv", "-o", "leads.csv", cwd=files)
    assert_clean_error(done, "--output leads.csv is also an input file")
    assert (files / "leads.csv").read_text(encoding="utf-8") == before


def test_output_unknown_extension(files):
    done = leadq("score", "leads.csv", "-o", "out.xlsx", cwd=files)
    assert_clean_error(done, "cannot tell the format of --output out.xlsx")
    assert not (files / "out.xlsx").exists()


def test_output_folder_missing(files):
    done = leadq("score", "leads.csv", "-o", "nope/out.csv", cwd=files)
    assert_clean_error(done, "--output folder nope does not exist")


def test_notes_for_file_output(files):
    (files / "leads.csv").write_text(LEADS + "ana@acme.example,Intern,Acme,,,,\n", encoding="utf-8")
    done = leadq("score", "leads.csv", "-e", "events.csv", "-f", "csv", cwd=files)
    assert done.returncode == 0, done.stderr
    assert "note: 1 row repeats an earlier lead key" in done.stderr


def test_control_characters_escaped(files):
    (files / "leads.csv").write_text("lead_id,email\n\x1b[2Jx,a@b.example\n", encoding="utf-8")
    (files / "model.yaml").write_text("stages:\n  - id: all\n", encoding="utf-8")
    done = leadq("score", "leads.csv", "-m", "model.yaml", cwd=files)
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout
    assert "\\x1b[2Jx" in done.stdout


def test_non_finite_model_number(files):
    (files / "model.yaml").write_text(
        "fit:\n  rules:\n    - {id: r, field: title, contains: x, points: .nan}\nstages:\n  - id: all\n",
        encoding="utf-8",
    )
    done = leadq("validate", "model.yaml", cwd=files)
    assert_clean_error(done, "line 3, field fit.rules[0].points", "finite number")


def test_jsonl_events_and_parquet_leads(files):
    import pyarrow.csv as pa_csv

    pq.write_table(pa_csv.read_csv(files / "leads.csv"), files / "leads.parquet")
    lines = [
        {"event_id": "1", "email": "ana@acme.example", "event": "page_viewed",
         "timestamp": "2026-11-20T10:00:00Z", "properties": {"url": "/pricing"}},
        {"event_id": "2", "email": "ana@acme.example", "event": "demo_requested",
         "timestamp": "2026-11-25T10:00:00+01:00", "properties": {}},
        {"event_id": "3", "email": "bob@gmail.com", "event": "email_opened",
         "timestamp": "2026-11-01T10:00:00Z"},
    ]  # fmt: skip
    (files / "events.jsonl").write_text(
        "\n".join(json.dumps(line) for line in lines) + "\n", encoding="utf-8"
    )
    from_files = score_csv(files)
    done = leadq("score", "leads.parquet", "-e", "events.jsonl", "--as-of", AS_OF,
                 "--format", "csv", cwd=files)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert list(csv.DictReader(done.stdout.splitlines())) == from_files


def test_note_for_unseen_event(files):
    (files / "model.yaml").write_text(
        "key: email\nengagement:\n  rules:\n    - {id: pv, event: page_veiwed, points: 1}\n"
        "stages:\n  - id: all\n",
        encoding="utf-8",
    )
    done = leadq("score", "leads.csv", "-e", "events.csv", "-m", "model.yaml", "-f", "csv", cwd=files)
    assert done.returncode == 0, done.stderr
    assert "note: no events named 'page_veiwed'" in done.stderr


def test_memory_limit_option(files):
    done = leadq("score", "leads.csv", "-e", "events.csv", "--memory-limit", "256MB", "-f", "csv", cwd=files)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith('"lead_id","fit_score"')


def test_memory_limit_invalid(files):
    done = leadq("score", "leads.csv", "--memory-limit", "lots", cwd=files)
    assert_clean_error(done, "invalid --memory-limit 'lots'", "write a size such as 4GB or 512MB")
    done = leadq("score", "leads.csv", "--engine", "sqlite", "--memory-limit", "1GB", cwd=files)
    assert_clean_error(done, "--memory-limit applies to --engine duckdb")


def test_logging_drops_psycopg_pipeline_echo(caplog):
    """psycopg repeats, as a warning, an error that leadq reports itself."""
    configure_logging()
    psycopg_log = logging.getLogger("psycopg")
    with caplog.at_level(logging.WARNING):
        psycopg_log.warning("error ignored terminating %r: %s", "<psycopg.Pipeline>", "pipeline aborted")
        psycopg_log.warning("connection lost")

    assert [record.getMessage() for record in caplog.records] == ["connection lost"]
