from leadq.learning.labels import Outcome, conversion_times

DAY = 86_400_000_000


def test_won_is_conversion():
    history = [Outcome("a", "won", 5 * DAY), Outcome("b", "lost", 3 * DAY)]
    assert conversion_times(history) == {"a": 5 * DAY}


def test_reopened_cancels_earlier_won():
    history = [Outcome("a", "won", 5 * DAY), Outcome("a", "reopened", 9 * DAY)]
    assert conversion_times(history) == {}


def test_reopened_at_same_time_cancels():
    history = [Outcome("a", "reopened", 5 * DAY), Outcome("a", "Won", 5 * DAY)]
    assert conversion_times(history) == {}


def test_won_after_reopening_counts():
    history = [
        Outcome("a", "won", 5 * DAY),
        Outcome("a", "reopened", 9 * DAY),
        Outcome("a", "converted", 12 * DAY),
    ]
    assert conversion_times(history) == {"a": 12 * DAY}


def test_reopening_touches_only_its_lead():
    history = [Outcome("a", "won", 5 * DAY), Outcome("b", "reopened", 9 * DAY)]
    assert conversion_times(history) == {"a": 5 * DAY}


def test_stored_reopening_cancels(tmp_path):
    from sqlalchemy import insert

    from leadq.learning.labels import stored_outcomes
    from leadq.store.database import open_store
    from leadq.store.tables import leads, outcomes

    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    with store.engine.begin() as connection:
        for lead_id, key in ((1, "kept"), (2, "reopened")):
            connection.execute(insert(leads).values(id=lead_id, lead_key=key, created_at=0, updated_at=0))
        rows = [(1, "won", 5 * DAY), (2, "won", 5 * DAY), (2, "reopened", 8 * DAY)]
        for lead_id, outcome, at in rows:
            connection.execute(
                insert(outcomes).values(lead_id=lead_id, outcome=outcome, at=at, source="import")
            )
    with store.engine.connect() as connection:
        history = stored_outcomes(connection)
    store.engine.dispose()
    assert len(history) == 3
    assert conversion_times(history) == {"kept": 5 * DAY}


def test_outcome_file_ignores_lead_columns(tmp_path):
    from leadq.learning.labels import read_outcome_file
    from leadq.model.loading import load_default_model

    # The built-in model maps the leads columns title and company_size,
    # which an outcomes file does not have.
    path = tmp_path / "outcomes.csv"
    path.write_text("email,outcome,at\nAna@acme.example,won,2026-01-06T00:00:00Z\n", encoding="utf-8")
    history = read_outcome_file(path, load_default_model(), None, None)
    assert history == [Outcome("ana@acme.example", "won", 20_459 * DAY)]
