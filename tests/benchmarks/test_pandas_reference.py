"""leadq and the pandas reference agree on every lead's scores and stage.

The data is a small generated set plus hand-made events on the boundaries
of the default model's rules: exact decay steps and windows, the as-of time,
the visit gap, calendar days and weeks, and repeated event ids. Each scenario
goes to a lead without other events, so that an off-by-one shows in its
scores.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks import pandas_reference
from benchmarks.generate import generate
from leadq.scoring import score_files

AS_OF = datetime(2026, 6, 1, tzinfo=timezone.utc)  # a Monday
TOLERANCE = 1e-6
MICROSECOND = timedelta(microseconds=1)
DAY = timedelta(days=1)


def boundary_events(emails: list[str]) -> list[dict]:
    """Build hand-made events; each scenario uses its own lead from `emails`."""
    steps, as_of_edge, visits, copies, calendar, product, keys = emails[
        : len(SCENARIOS)
    ]
    return [
        # Step decay: 0.5 from day 30 and 0 from day 90, boundary days included.
        _event("edge-1", steps, "demo_requested", AS_OF - 30 * DAY),
        _event("edge-2", steps, "demo_requested", AS_OF - 90 * DAY),
        # An event at the as-of time counts; one a microsecond later does not.
        _event("edge-3", as_of_edge, "meeting_booked", AS_OF),
        _event("edge-4", as_of_edge, "pricing_requested", AS_OF + MICROSECOND),
        # A gap of exactly 30 minutes starts a visit; a shorter one does not.
        _event("edge-5", visits, "page_viewed", AS_OF - 90 * DAY, url="/"),
        _event("edge-6", visits, "page_viewed", AS_OF - 5 * DAY, url="/"),
        _event(
            "edge-7",
            visits,
            "page_viewed",
            AS_OF - 5 * DAY + timedelta(minutes=30),
            url="/",
        ),
        _event(
            "edge-8",
            visits,
            "page_viewed",
            AS_OF - 5 * DAY + timedelta(minutes=60) - MICROSECOND,
            url="/",
        ),
        # Copies of one id: the earliest known copy counts, then the first row.
        _event("edge-9", copies, "email_clicked", AS_OF + timedelta(hours=1)),
        _event("edge-9", copies, "email_clicked", AS_OF - 10 * DAY),
        _event("edge-10", copies, "webinar_attended", AS_OF - 3 * DAY),
        _event("edge-10", copies, "webinar_registered", AS_OF - 3 * DAY),
        # Days and weeks: Sunday 23:59:59.999999 and Monday 00:00 differ.
        _event("edge-11", calendar, "email_opened", AS_OF - 7 * DAY - MICROSECOND),
        _event("edge-12", calendar, "email_opened", AS_OF - 7 * DAY),
        _event("edge-13", calendar, "email_opened", AS_OF - 6 * DAY),
        _event(
            "edge-14",
            calendar,
            "page_viewed",
            AS_OF - 3 * DAY - MICROSECOND,
            url="/pricing",
        ),
        _event("edge-15", calendar, "page_viewed", AS_OF - 3 * DAY, url="/pricing"),
        # The 30-day login window includes its first microsecond only.
        _event("edge-16", product, "trial_started", AS_OF - 40 * DAY),
        _event("edge-17", product, "logged_in", AS_OF - 30 * DAY),
        _event("edge-18", product, "logged_in", AS_OF - 30 * DAY - MICROSECOND),
        _event("edge-19", product, "feature_activated", AS_OF - 2 * DAY, feature="api"),
        _event(
            "edge-20",
            product,
            "feature_activated",
            AS_OF - 1 * DAY,
            feature=" Reports ",
        ),
        # Keys match trimmed and lower-cased.
        _event("edge-21", f"  {keys.upper()} ", "unsubscribed", AS_OF - 2 * DAY),
    ]


def _event(
    event_id, email, event, when, url=None, asset=None, form=None, feature=None
) -> dict:
    return {
        "event_id": event_id,
        "email": email,
        "event": event,
        "timestamp": when,
        "url": url,
        "asset": asset,
        "form": form,
        "feature": feature,
    }


SCENARIOS = ("steps", "as_of", "visits", "copies", "calendar", "product", "keys")


def append_boundary_events(data: Path) -> dict[str, str]:
    """Append the boundary events; return the lead key of each scenario."""
    events = pq.read_table(data / "events.parquet")
    active = set(pd.Series(events["email"].to_pylist()).str.strip().str.lower())
    leads = pq.read_table(data / "leads.parquet")["email"].to_pylist()
    quiet = [email for email in leads if email.strip().lower() not in active]
    extra = pa.Table.from_pylist(boundary_events(quiet), schema=events.schema)
    pq.write_table(pa.concat_tables([events, extra]), data / "events.parquet")
    chosen = quiet[: len(SCENARIOS)]
    return {
        name: email.strip().lower()
        for name, email in zip(SCENARIOS, chosen, strict=True)
    }


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("agreement")
    generate(folder, leads=300, events=20_000, seed=3, as_of=AS_OF.isoformat())
    return folder, append_boundary_events(folder)


@pytest.fixture(scope="module")
def data(generated) -> Path:
    return generated[0]


@pytest.fixture(scope="module")
def scenario(generated) -> dict[str, str]:
    return generated[1]


@pytest.fixture(scope="module")
def reference(data: Path) -> pd.DataFrame:
    leads, events = pandas_reference.load(
        data / "leads.parquet", data / "events.parquet"
    )
    return pandas_reference.score(leads, events, pd.Timestamp(AS_OF))


def leadq_scores(data: Path, engine: str) -> pd.DataFrame:
    run = score_files(
        data / "leads.parquet", data / "events.parquet", as_of=AS_OF, engine=engine
    )
    rows = [
        {
            "lead": lead.lead_id,
            "fit": lead.fit_score,
            "engagement": lead.engagement_score,
            "product": lead.product_score,
            "stage": lead.stage,
        }
        for lead in run.leads
    ]
    return pd.DataFrame(rows).set_index("lead")


def differences(
    leadq: pd.DataFrame, reference: pd.DataFrame, column: str
) -> pd.DataFrame:
    expected = reference[column].reindex(leadq.index)
    if column == "stage":
        differ = leadq[column] != expected
    else:
        differ = (leadq[column] - expected).abs() > TOLERANCE
    return pd.DataFrame({"leadq": leadq[column], "pandas": expected})[differ]


def test_reference_covers_every_stage(reference):
    assert set(reference["stage"]) == set(pandas_reference.STAGES)


@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_leadq_matches_reference(data, reference, engine):
    leadq = leadq_scores(data, engine)

    assert sorted(leadq.index) == sorted(reference.index)
    for column in ("fit", "engagement", "product", "stage"):
        wrong = differences(leadq, reference, column)
        assert wrong.empty, (
            f"{engine}: {len(wrong)} leads differ in {column}:\n{wrong.head(10)}"
        )


def decayed(points: float, age: timedelta, half_life_days: float) -> float:
    return points * 0.5 ** (age / DAY / half_life_days)


def test_reference_step_decay_boundaries(reference, scenario):
    lead = reference.loc[scenario["steps"]]
    assert lead["demo_request"] == pytest.approx(30 * 0.5)
    assert lead["stage"] in ("sql", "unqualified")


def test_reference_as_of_boundary(reference, scenario):
    lead = reference.loc[scenario["as_of"]]
    assert lead["meeting_booked"] == pytest.approx(25.0)
    assert lead["pricing_request"] == 0.0


def test_reference_visit_gap(reference, scenario):
    starts = [90 * DAY, 5 * DAY, 5 * DAY - timedelta(minutes=30)]
    expected = sum(decayed(2, age, 45) for age in starts)
    assert reference.loc[scenario["visits"], "returning_visits"] == pytest.approx(
        expected
    )


def test_reference_repeated_event_ids(reference, scenario):
    lead = reference.loc[scenario["copies"]]
    assert lead["email_click"] == pytest.approx(decayed(3, 10 * DAY, 45))
    assert lead["webinar_attended"] == pytest.approx(decayed(15, 3 * DAY, 45))
    assert lead["webinar_registered"] == 0.0


def test_reference_calendar_units(reference, scenario):
    lead = reference.loc[scenario["calendar"]]
    opens = decayed(1, 7 * DAY + MICROSECOND, 45) + decayed(1, 7 * DAY, 45)
    pricing = decayed(8, 3 * DAY + MICROSECOND, 45) + decayed(8, 3 * DAY, 45)
    assert lead["email_open"] == pytest.approx(opens)
    assert lead["pricing_page"] == pytest.approx(pricing)


def test_reference_product_window(reference, scenario):
    lead = reference.loc[scenario["product"]]
    features = decayed(10, 2 * DAY, 14) + decayed(10, 1 * DAY, 14)
    assert lead["trial_started"] == 10.0
    assert lead["active_days"] == pytest.approx(decayed(4, 30 * DAY, 14))
    assert lead["key_features"] == pytest.approx(features)


def test_reference_normalizes_event_keys(reference, scenario):
    lead = reference.loc[scenario["keys"]]
    assert lead["unsubscribed"] == -20.0
    assert lead["stage"] == "disqualified"


def test_json_properties_match_reference(tmp_path):
    generate(
        tmp_path,
        leads=100,
        events=5_000,
        seed=5,
        as_of=AS_OF.isoformat(),
        properties="json",
    )
    leads, events = pandas_reference.load(
        tmp_path / "leads.parquet", tmp_path / "events.parquet"
    )
    reference = pandas_reference.score(leads, events, pd.Timestamp(AS_OF))
    leadq = leadq_scores(tmp_path, "duckdb")

    for column in ("fit", "engagement", "product", "stage"):
        wrong = differences(leadq, reference, column)
        assert wrong.empty, f"{len(wrong)} leads differ in {column}:\n{wrong.head(10)}"


@pytest.fixture(scope="module")
def large_data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("agreement-1m")
    generate(folder, leads=20_000, events=1_000_000, seed=42, as_of=AS_OF.isoformat())
    return folder


@pytest.fixture(scope="module")
def large_reference(large_data: Path) -> pd.DataFrame:
    leads, events = pandas_reference.load(
        large_data / "leads.parquet", large_data / "events.parquet"
    )
    return pandas_reference.score(leads, events, pd.Timestamp(AS_OF))


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["duckdb", "sqlite"])
def test_leadq_matches_reference_at_1m_events(large_data, large_reference, engine):
    leadq = leadq_scores(large_data, engine)

    assert sorted(leadq.index) == sorted(large_reference.index)
    for column in ("fit", "engagement", "product", "stage"):
        wrong = differences(leadq, large_reference, column)
        assert wrong.empty, (
            f"{engine}: {len(wrong)} leads differ in {column}:\n{wrong.head(10)}"
        )
