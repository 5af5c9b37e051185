"""Run the scoring corpus in tests/corpus on every engine.

Each case file contains a model, leads and events as CSV text, an as-of time
and the expected result for every lead, computed by hand from the scoring
semantics. The engines are those of leadq.engines.ENGINES (DuckDB, SQLite,
PostgreSQL and Spark); `postgresql` is the service's path on the same server.
A case that leadq gets wrong carries `xfail: "reason"` (every engine and the
agreement test) or `xfail: {duckdb: ..., spark: ..., agreement: ...}` (only
the named tests). The mark is strict, so a fixed case fails until its
`xfail` is removed. Test ids are the case file names.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML
from sqlalchemy import create_engine

from leadq.binding import bind
from leadq.compiler.query import compile_model
from leadq.engines import ENGINES, run, run_on_connection
from leadq.inputs import read_source
from leadq.model.loading import parse_model
from leadq.model.schema import ScoringModel
from leadq.results import lead_from_row, rank_result
from leadq.scoring import micros_since_epoch, score_files
from tests.test_spark import executor_bound_result

CORPUS = Path(__file__).parent / "corpus"

# Scores and contributions are rounded to 6 decimals on output.
SCORE_TOLERANCE = 1e-6
# Engines run the same query, so their raw doubles should differ at most in
# the last bits (another order of additions, another pow() implementation).
AGREEMENT_TOLERANCE = 1e-9

CASE_KEYS = {
    "description", "as_of", "timezone", "model", "leads", "events",
    "expected", "order", "xfail",
}  # fmt: skip
LEAD_KEYS = {
    "lead_id", "fit_score", "grade", "engagement_score", "product_score",
    "stage", "reasons",
}  # fmt: skip
SCORE_FIELDS = ("fit_score", "engagement_score", "product_score")


@dataclass
class Case:
    name: str
    as_of: datetime
    timezone: str | None
    model: ScoringModel
    leads: str
    events: str | None
    expected: list[dict[str, Any]]
    order: list[str] | None
    xfail: dict[str, str] = field(default_factory=dict)

    def write_inputs(self, folder: Path) -> tuple[Path, Path | None]:
        leads_path = folder / "leads.csv"
        leads_path.write_text(self.leads, encoding="utf-8")
        if self.events is None:
            return leads_path, None
        events_path = folder / "events.csv"
        events_path.write_text(self.events, encoding="utf-8")
        return leads_path, events_path

    def marks(self, test_name: str) -> list[pytest.MarkDecorator]:
        reason = self.xfail.get(test_name)
        if reason is None:
            return []
        return [pytest.mark.xfail(reason=reason, strict=True)]


def load_case(path: Path) -> Case:
    document = YAML(typ="safe", pure=True).load(path.read_text(encoding="utf-8"))
    unknown = set(document) - CASE_KEYS
    if unknown:
        raise ValueError(f"{path.name}: unknown keys {sorted(unknown)}")
    for entry in document["expected"]:
        if set(entry) != LEAD_KEYS:
            raise ValueError(
                f"{path.name}: expected entry {entry.get('lead_id')!r} must have "
                f"exactly the keys {sorted(LEAD_KEYS)}, got {sorted(entry)}"
            )
    # JSON is valid YAML, and the model's values are plain after safe loading.
    # NOTE: line numbers in a ModelError refer to this JSON text (one line).
    model_text = json.dumps(document["model"], ensure_ascii=False)
    return Case(
        name=path.name,
        as_of=parse_as_of(document["as_of"], path),
        timezone=document.get("timezone"),
        model=parse_model(model_text, source=path.name),
        leads=document["leads"],
        events=document.get("events"),
        expected=document["expected"],
        order=document.get("order"),
        xfail=xfail_reasons(document.get("xfail")),
    )


def parse_as_of(value: Any, path: Path) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"{path.name}: as_of must be a quoted string, got {value!r}")
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(
            f"{path.name}: as_of {value!r} has no UTC offset; add one, such as Z"
        )
    return moment.astimezone(timezone.utc)


# The service's databases run the same query on tables bound the same way.
DATABASES = ("postgresql",)


def xfail_reasons(value: str | dict[str, str] | None) -> dict[str, str]:
    tests = (*ENGINES, *DATABASES, "agreement")
    if value is None:
        return {}
    if isinstance(value, str):
        return {test: value for test in tests}
    unknown = set(value) - set(tests)
    if unknown:
        raise ValueError(
            f"xfail names unknown tests {sorted(unknown)}; expected some of {tests}"
        )
    return dict(value)


@dataclass
class InvalidCase:
    """A case file that failed to load. Its tests fail with the load error."""

    name: str
    error: Exception

    def marks(self, test_name: str) -> list[pytest.MarkDecorator]:
        return []


def load_cases() -> list[Case | InvalidCase]:
    cases: list[Case | InvalidCase] = []
    for path in sorted(CORPUS.glob("*.yaml")):
        try:
            cases.append(load_case(path))
        except Exception as error:  # noqa: BLE001 - reported by the case's tests
            cases.append(InvalidCase(path.name, error))
    return cases


CASES = load_cases()


def case_engine_params():
    for case in CASES:
        for engine in ENGINES:
            yield pytest.param(
                case, engine, id=f"{case.name}-{engine}", marks=case.marks(engine)
            )


def case_database_params():
    for case in CASES:
        for database in DATABASES:
            yield pytest.param(
                case, database, id=f"{case.name}-{database}", marks=case.marks(database)
            )


def case_params():
    for case in CASES:
        yield pytest.param(case, id=case.name, marks=case.marks("agreement"))


def require_valid(case: Case | InvalidCase) -> None:
    if isinstance(case, InvalidCase):
        pytest.fail(f"invalid case file {case.name}: {case.error!r}")


def nonzero_reasons(lead) -> dict[str, float]:
    return {c.rule_id: c.points for c in lead.contributions if c.points != 0}


def test_corpus_not_empty():
    assert len(CASES) > 0


@pytest.mark.parametrize(("case", "engine"), list(case_engine_params()))
def test_case_matches_expected(case: Case, engine: str, tmp_path: Path, engine_settings):
    require_valid(case)
    if engine == "spark":
        compiled = compile_model(case.model)
        raw = spark_result(case, tmp_path, engine_settings)
        ranked = rank_result(compiled, raw)
        check_expected(case, [lead_from_row(compiled, row) for row in ranked.to_pylist()])
        return
    leads_path, events_path = case.write_inputs(tmp_path)
    scored = score_files(
        leads_path,
        events_path,
        model=case.model,
        as_of=case.as_of,
        engine=engine,
        timezone=case.timezone,
        settings=engine_settings(engine),
    )
    check_expected(case, scored.leads)


@pytest.mark.parametrize(("case", "database"), list(case_database_params()))
def test_case_matches_expected_in_database(case: Case, database: str, tmp_path: Path, request):
    require_valid(case)
    url = request.getfixturevalue("postgres_url")
    compiled = compile_model(case.model)
    ranked = rank_result(compiled, database_result(case, url, tmp_path))
    check_expected(case, [lead_from_row(compiled, row) for row in ranked.to_pylist()])


def database_result(case: Case, url: str, folder: Path):
    leads_path, events_path = case.write_inputs(folder)
    compiled = compile_model(case.model)
    leads = read_source(leads_path)
    events = read_source(events_path) if events_path is not None else None
    tables, _ = bind(case.model, compiled.layout, leads, events, timezone=case.timezone)
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            return run_on_connection(connection, compiled, tables, micros_since_epoch(case.as_of))
    finally:
        engine.dispose()


def check_expected(case: Case, leads) -> None:
    by_id = {lead.lead_id: lead for lead in leads}
    expected_ids = [entry["lead_id"] for entry in case.expected]
    assert sorted(by_id) == sorted(expected_ids), "scored leads differ from expected"

    for entry in case.expected:
        lead = by_id[entry["lead_id"]]
        label = f"lead {lead.lead_id!r}"
        for name in SCORE_FIELDS:
            got = getattr(lead, name)
            assert got == pytest.approx(entry[name], abs=SCORE_TOLERANCE), (
                f"{label}: {name} is {got}, expected {entry[name]}"
            )
        assert lead.grade == entry["grade"], f"{label}: grade"
        assert lead.stage == entry["stage"], f"{label}: stage ({lead.stage_rule})"
        reasons = nonzero_reasons(lead)
        expected_reasons = entry["reasons"] or {}
        assert sorted(reasons) == sorted(expected_reasons), (
            f"{label}: non-zero rules are {reasons}, expected {expected_reasons}"
        )
        for rule_id, points in expected_reasons.items():
            assert reasons[rule_id] == pytest.approx(points, abs=SCORE_TOLERANCE), (
                f"{label}: rule {rule_id} gave {reasons[rule_id]}, expected {points}"
            )

    if case.order is not None:
        assert [lead.lead_id for lead in leads] == case.order


def raw_result(case: Case, engine: str, folder: Path, request, engine_settings) -> list[dict[str, Any]]:
    """Run one engine and return its unrounded rows, sorted by lead key."""
    if engine in DATABASES:
        table = database_result(case, request.getfixturevalue("postgres_url"), folder)
    elif engine == "spark":
        table = spark_result(case, folder, engine_settings)
    else:
        table = engine_result(case, engine, folder, engine_settings)
    return sorted(table.to_pylist(), key=lambda row: row["lead_key"])


def engine_result(case: Case, engine: str, folder: Path, engine_settings):
    leads_path, events_path = case.write_inputs(folder)
    compiled = compile_model(case.model)
    leads = read_source(leads_path)
    events = read_source(events_path) if events_path is not None else None
    tables, _ = bind(case.model, compiled.layout, leads, events, timezone=case.timezone)
    as_of = micros_since_epoch(case.as_of)
    return run(compiled, tables, as_of, engine, engine_settings(engine))


# A Spark query takes a second or more even on a few rows, so each case runs
# on Spark once, and the expected-result and agreement tests share the rows.
SPARK_RESULTS: dict[str, Any] = {}


def spark_result(case: Case, folder: Path, engine_settings):
    """Run a case on Spark, its events bound on Spark's executors from a Parquet file."""
    if case.name not in SPARK_RESULTS:
        SPARK_RESULTS[case.name] = _spark_result(case, folder, engine_settings)
    return SPARK_RESULTS[case.name]


def _spark_result(case: Case, folder: Path, engine_settings):
    leads_path, events_path = case.write_inputs(folder)
    if events_path is None:
        return engine_result(case, "spark", folder, engine_settings)
    events = read_source(events_path).table
    leads = read_source(leads_path)
    table, _ = executor_bound_result(case.model, leads, events, case.as_of, case.timezone, folder)
    return table


@pytest.mark.parametrize("case", list(case_params()))
def test_engines_agree(case: Case, tmp_path: Path, request, engine_settings):
    require_valid(case)
    reference_engine, *other_engines = ENGINES
    reference = raw_result(case, reference_engine, tmp_path, request, engine_settings)
    compiled = compile_model(case.model)
    numeric = ["fit_score", "engagement_score", "product_score"]
    numeric += [rule.column for rule in compiled.rules]
    rule_names = {rule.column: rule.rule_id for rule in compiled.rules}

    for engine in (*other_engines, *DATABASES):
        rows = raw_result(case, engine, tmp_path, request, engine_settings)
        pair = f"{reference_engine} and {engine}"
        keys = [row["lead_key"] for row in rows]
        assert keys == [row["lead_key"] for row in reference], f"{pair}: lead keys"
        for reference_row, row in zip(reference, rows):
            label = f"{pair}, lead {row['lead_key']!r}"
            for column in numeric:
                name = rule_names.get(column, column)
                value, reference_value = row[column], reference_row[column]
                assert value is not None, f"{label}: {name} is null on {engine}"
                assert reference_value is not None, (
                    f"{label}: {name} is null on {reference_engine}"
                )
                assert math.isclose(
                    value, reference_value, rel_tol=0, abs_tol=AGREEMENT_TOLERANCE
                ), (
                    f"{label}: {name} is {reference_value!r} on {reference_engine} "
                    f"and {value!r} on {engine}"
                )
            for column in ("grade", "stage_index", "stage_branch"):
                assert row[column] == reference_row[column], (
                    f"{label}: {column} is {reference_row[column]!r} on "
                    f"{reference_engine} and {row[column]!r} on {engine}"
                )
