"""CSV output of `leadq score`: cells that a spreadsheet would run as formulas."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

import pyarrow as pa

from leadq.output import guard_formula, guard_formulas, write_csv
from leadq.scoring import score_files

AS_OF = datetime(2026, 12, 1, tzinfo=timezone.utc)


FORMULAS = ["=1+1", "+SUM(A1)", "-2+3+cmd|' /C calc'!A0", "@SUM(A1)", "\tx", "\rx", "=HYPERLINK(\"http://x\")"]
KEPT = ["ana@acme.example", "'=already", "-5", "+1 415 555 0100", "+44 (20) 5550-0103", "ok"]


def test_formula_cells_quoted():
    for text in FORMULAS:
        assert guard_formula(text) == "'" + text
    for text in KEPT:
        assert guard_formula(text) == text


def test_table_guard_matches_text_guard():
    table = pa.table({"text": [*FORMULAS, *KEPT, None], "points": [-5.0] * (len(FORMULAS) + len(KEPT) + 1)})
    guarded = guard_formulas(table)
    assert guarded["text"].to_pylist() == [guard_formula(text) for text in FORMULAS + KEPT] + [None]
    assert guarded["points"].to_pylist() == table["points"].to_pylist()


def test_score_csv_guarded(tmp_path):
    leads = tmp_path / "leads.csv"
    leads.write_text(
        'email,title,company_size,industry,country,phone,company\n'
        '"=HYPERLINK(""http://x.example"")@x.example",CEO,100,Software,Germany,,Acme\n'
        "ana@acme.example,CEO,100,Software,Germany,+49 30 1234,Acme\n",
        encoding="utf-8",
    )
    run = score_files(leads, as_of=AS_OF)
    sink = pa.BufferOutputStream()
    write_csv(run, sink)
    rows = list(csv.DictReader(io.StringIO(sink.getvalue().to_pybytes().decode())))
    ids = sorted(row["lead_id"] for row in rows)
    assert ids == ["'=hyperlink(\"http://x.example\")@x.example", "ana@acme.example"]
    assert all(float(row["fit_score"]) >= 0 for row in rows)
