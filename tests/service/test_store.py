"""The store's schema, stage rules and the service commands' shared names."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.pool import NullPool

from leadq.errors import ModelError, OptionError
from leadq.model.loading import default_model_text, load_default_model
from leadq.service import commands, keys, webhooks
from leadq.service.model_versions import activate_model, active_model
from leadq.service.erasure import erase_lead, find_erasure
from leadq.service.identity import merge_pair
from leadq.service.ingest import Message, ingest_messages
from leadq.service.rescoring import next_stage
from leadq.store import database
from leadq.store.tables import BINDING_TABLE_PREFIX, leads, metadata, migrated
from tests.conftest import STORE_DIALECTS, database_url
from tests.service.servers import leadq


def test_migrations_match_the_tables(store):
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": migrated})
        assert compare_metadata(context, metadata) == []


def _migrate(store, revision: str, *, down: bool = False) -> None:
    database.migrate_schema(store, revision, down=down)


@contextmanager
def _store_at(dialect: str, tmp_path, revision: str) -> Iterator[database.Store]:
    """Yield a new store of the dialect, migrated only up to `revision`."""
    with database_url(dialect, tmp_path) as url:
        store = database.open_store(url, upgrade=False)
        try:
            _migrate(store, revision)
            yield store
        finally:
            store.dispose()


def _insert_lead_with_history(connection) -> None:
    """Insert lead 1 and its move to mql in SQL, as a store of an older revision has them."""
    connection.execute(text(
        "INSERT INTO leads (id, lead_key, attributes, created_at, updated_at, reached) "
        "VALUES (1, 'u1', '{}', 1, 1, '[]')"
    ))
    connection.execute(text(
        "INSERT INTO stage_history (lead_id, at, new_stage, cause) VALUES (1, 2, 'mql', 'event')"
    ))  # fmt: skip


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_probability_migration_keeps_rows(dialect, tmp_path):
    with _store_at(dialect, tmp_path, "0005") as store:
        with store.engine.begin() as connection:
            _insert_lead_with_history(connection)
            connection.execute(text(
                "INSERT INTO score_snapshots (lead_id, at, fit, engagement, product, total, stage) "
                "VALUES (1, 2, 10, 20, 0, 30, 'mql')"
            ))  # fmt: skip
        _migrate(store, "head")
        with store.engine.connect() as connection:
            history = connection.execute(text("SELECT new_stage, probability FROM stage_history")).all()
            snapshots = connection.execute(text("SELECT total, probability FROM score_snapshots")).all()
        assert [tuple(row) for row in history] == [("mql", None)]
        assert [tuple(row) for row in snapshots] == [(30.0, None)]
        _migrate(store, "0005", down=True)
        with store.engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("score_snapshots")}
            kept = connection.execute(text("SELECT total FROM score_snapshots")).scalars().all()
        assert "probability" not in columns
        assert kept == [30.0]


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_downgrade_drops_binding_tables(dialect, tmp_path):
    with database_url(dialect, tmp_path) as url:
        store = database.open_store(url)
        try:
            with store.write() as connection:
                activate_model(connection, default_model_text(), "default")
            with store.engine.connect() as connection:
                tables = inspect(connection).get_table_names()
            assert any(name.startswith(BINDING_TABLE_PREFIX) for name in tables)
            _migrate(store, "base", down=True)
            with store.engine.connect() as connection:
                left = set(inspect(connection).get_table_names())
            assert left <= {database.ALEMBIC_VERSION_TABLE}
        finally:
            store.dispose()


def test_closed_idle_connection_replaced(tmp_path, monkeypatch):
    monkeypatch.setattr(database, "IDLE_CHECK_SECONDS", 0.0)
    with database_url("postgresql", tmp_path) as url:
        store = database.open_store(url)
        try:
            with store.read() as connection:
                first = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            other = create_engine(url, poolclass=NullPool)
            with other.connect() as connection:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
            other.dispose()
            with store.read() as connection:
                second = connection.execute(text("SELECT pg_backend_pid()")).scalar_one()
            assert second != first
        finally:
            store.dispose()


def test_commands_use_the_service_names():
    assert commands.KINDS == keys.KINDS
    assert commands.EVENT_TYPES == webhooks.EVENT_TYPES
    assert commands.URL_VARIABLE == database.URL_VARIABLE


MODEL = load_default_model()


def test_sticky_stage_holds_when_scores_decay():
    assert next_stage(MODEL, "sql", "mql") == "sql"
    assert next_stage(MODEL, "mql", "unqualified") == "mql"


def test_sticky_stage_moves_forward():
    assert next_stage(MODEL, "mql", "sql") == "sql"
    assert next_stage(MODEL, "sql", "pql") == "pql"
    assert next_stage(MODEL, "sql", "disqualified") == "disqualified"


def test_recycling_releases_a_sticky_stage():
    assert next_stage(MODEL, "sql", "unqualified", release_sticky=True) == "unqualified"


def test_removed_stage_gives_way():
    assert next_stage(MODEL, "nurture", "unqualified") == "unqualified"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_in_memory_database_rejected(url):
    with pytest.raises(OptionError, match="in memory"):
        database.database_url(url)


def test_other_database_rejected_password_hidden():
    with pytest.raises(OptionError) as raised:
        database.database_url("mysql://leadq:secret@127.0.0.1/leadq")

    assert str(raised.value) == (
        "--database 'mysql://leadq:***@127.0.0.1/leadq': leadq stores its data in "
        "SQLite or PostgreSQL; write sqlite:///path/to/leadq.db or "
        "postgresql://user@host:5432/name"
    )


@pytest.mark.parametrize("url", ["postgresql://u@127.0.0.1/x", "postgres://u@127.0.0.1/x"])
def test_postgresql_url_kept_as_given(url):
    assert database.database_url(url) == url


def test_port_out_of_range_rejected(tmp_path):
    done = leadq("serve", "--port", "99999", "--database", f"sqlite:///{tmp_path / 'leadq.db'}")
    assert done.returncode == 2
    assert "--port 99999" in done.stderr


def test_activation_requires_catch_all_stage(store):
    model_text = "stages:\n  - {id: hot, when: {score: total, at_least: 10}}\n"
    with pytest.raises(ModelError) as raised, store.write() as connection:
        activate_model(connection, model_text, "no-catch-all.yaml")

    message = str(raised.value)
    assert "stages[0].when" in message
    assert "{id: unqualified}" in message
    with store.read() as connection:
        assert active_model(connection) is None


def _identify(store, user: str) -> int:
    ingest_messages(store, [Message("identify", f"identify-{user}", user_id=user)])
    with store.read() as connection:
        return connection.execute(select(leads.c.id).where(leads.c.lead_key == user)).scalar_one()


def test_erased_lead_id_never_returns(store):
    _identify(store, "u1")
    last = _identify(store, "u2")
    with store.write() as connection:
        erase_lead(connection, last, 1)

    newer = _identify(store, "u3")

    assert newer > last
    with store.read() as connection:
        assert find_erasure(connection, last) is not None


def test_erased_merged_id_never_returns(store):
    survivor = _identify(store, "u1")
    merged = _identify(store, "u2")
    with store.write() as connection:
        assert merge_pair(connection, survivor, merged, 1) == survivor
        erase_lead(connection, survivor, 2)

    newer = _identify(store, "u3")

    assert newer > merged
    with store.read() as connection:
        assert find_erasure(connection, merged) == 2


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_merged_ids_migration_keeps_erasures(dialect, tmp_path):
    with _store_at(dialect, tmp_path, "0007") as store:
        with store.engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO erasures (at, lead_id, events_removed, identities_removed) VALUES (3, 7, 4, 1)"
            ))  # fmt: skip
        _migrate(store, "head")
        with store.engine.connect() as connection:
            upgraded = connection.execute(text("SELECT lead_id, events_removed, survivor_id FROM erasures")).all()
        _migrate(store, "0007", down=True)
        with store.engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns("erasures")}
            kept = connection.execute(text("SELECT lead_id, events_removed FROM erasures")).all()

    assert [tuple(row) for row in upgraded] == [(7, 4, None)]
    assert "survivor_id" not in columns
    assert [tuple(row) for row in kept] == [(7, 4)]


def test_lead_id_migration_counts_erased_ids(tmp_path):
    with _store_at("sqlite", tmp_path, "0006") as store:
        with store.engine.begin() as connection:
            _insert_lead_with_history(connection)
            connection.execute(text(
                "INSERT INTO erasures (at, lead_id, events_removed, identities_removed) VALUES (3, 7, 0, 0)"
            ))  # fmt: skip
        _migrate(store, "head")
        newer = _identify(store, "u8")
        with store.read() as connection:
            history = connection.execute(text("SELECT lead_id, new_stage FROM stage_history WHERE lead_id = 1")).all()
        _migrate(store, "0006", down=True)
        with store.engine.connect() as connection:
            lead_ids = connection.execute(text("SELECT id FROM leads ORDER BY id")).scalars().all()

    assert newer == 8
    assert [tuple(row) for row in history] == [(1, "mql")]
    assert lead_ids == [1, 8]


# Revisions before one that adds a time column to leads and a table of visitor calls.
VISITOR_MIGRATIONS = [("0009", "attribute_times", "visitor_traits"), ("0011", "account_at", "visitor_groups")]


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
@pytest.mark.parametrize(("before", "column", "table"), VISITOR_MIGRATIONS)
def test_visitor_migrations_keep_leads(dialect, before, column, table, tmp_path):
    with _store_at(dialect, tmp_path, before) as store:
        with store.engine.begin() as connection:
            _insert_lead_with_history(connection)
        _migrate(store, "head")
        with store.engine.connect() as connection:
            times = connection.execute(text(f"SELECT {column} FROM leads")).scalars().all()
            waiting = connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
        _migrate(store, before, down=True)
        with store.engine.connect() as connection:
            columns = {column["name"] for column in inspect(connection).get_columns("leads")}
            tables = set(inspect(connection).get_table_names())
            lead_rows = connection.execute(text("SELECT id, lead_key FROM leads")).all()
            definition = (
                connection.execute(text("SELECT sql FROM sqlite_master WHERE name = 'leads'")).scalar_one()
                if dialect == "sqlite"
                else ""
            )

    assert times == [None]
    assert waiting == 0
    assert column not in columns
    assert table not in tables
    assert [tuple(row) for row in lead_rows] == [(1, "u1")]
    if dialect == "sqlite":
        assert "AUTOINCREMENT" in definition


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_qualification_migration_moves_to_survivor(dialect, tmp_path):
    with _store_at(dialect, tmp_path, "0010") as store:
        with store.engine.begin() as connection:
            # Lead 3 was merged into lead 2, then lead 2 into lead 1, and lead 4 never.
            for lead_id, merged_into in ((1, None), (2, 1), (3, 2), (4, None)):
                connection.execute(
                    text(
                        "INSERT INTO leads (id, lead_key, attributes, created_at, updated_at, reached, merged_into) "
                        "VALUES (:id, :key, '{}', 1, 1, '[]', :merged_into)"
                    ),
                    {"id": lead_id, "key": f"u{lead_id}", "merged_into": merged_into},
                )
            for lead_id in (1, 2, 3, 4):
                connection.execute(
                    text(
                        "INSERT INTO qualifications (lead_id, framework, framework_version, answers, author, at, "
                        "result, reasons, score) VALUES (:lead_id, 'bant', '1', '{}', 'a', :at, 'passed', '[]', 0)"
                    ),
                    {"lead_id": lead_id, "at": lead_id},
                )
        _migrate(store, "head")
        with store.engine.connect() as connection:
            moved = connection.execute(text("SELECT at, lead_id FROM qualifications ORDER BY at")).all()
        _migrate(store, "0010", down=True)
        with store.engine.connect() as connection:
            kept = connection.execute(text("SELECT count(*) FROM qualifications")).scalar_one()

    assert [tuple(row) for row in moved] == [(1, 1), (2, 1), (3, 1), (4, 4)]
    assert kept == 4


def _round_trip_added_column(dialect, tmp_path, revision: str, inserts: list[str], table: str, key: str, column: str):
    """Run `inserts` at `revision`, upgrade to the newest revision and back, and read `table`.

    Returns each row's `key` and `column` after the upgrade, the table's
    columns after the downgrade, and the `key` values it kept.
    """
    with _store_at(dialect, tmp_path, revision) as store:
        with store.engine.begin() as connection:
            for statement in inserts:
                connection.execute(text(statement))
        _migrate(store, "head")
        with store.engine.connect() as connection:
            upgraded = connection.execute(text(f"SELECT {key}, {column} FROM {table}")).all()
        _migrate(store, revision, down=True)
        with store.engine.connect() as connection:
            columns = {c["name"] for c in inspect(connection).get_columns(table)}
            kept = connection.execute(text(f"SELECT {key} FROM {table}")).scalars().all()
    return [tuple(row) for row in upgraded], columns, kept


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_deletion_time_migration_keeps_subscriptions(dialect, tmp_path):
    insert = (
        "INSERT INTO webhook_subscriptions (url, secret, event_types, active, created_at) "
        "VALUES ('http://127.0.0.1:9/', 's', '[]', false, 1)"
    )
    upgraded, columns, kept = _round_trip_added_column(
        dialect, tmp_path, "0012", [insert], "webhook_subscriptions", "url", "deleted_at"
    )

    assert upgraded == [("http://127.0.0.1:9/", None)]
    assert "deleted_at" not in columns
    assert kept == ["http://127.0.0.1:9/"]

def _set_revision(store, revision: str | None) -> None:
    with store.write() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
        if revision is not None:
            connection.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:revision)"),
                {"revision": revision},
            )


def _newest_revision() -> str:
    return ScriptDirectory(str(database.MIGRATIONS)).get_current_head()


def _shown(url: str) -> str:
    return database.make_url(database.database_url(url)).render_as_string()


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_unknown_schema_revision_rejected(dialect, tmp_path):
    with database_url(dialect, tmp_path) as url:
        store = database.open_store(url)
        _set_revision(store, "zzz_future")
        store.dispose()
        listed = leadq("keys", "list", "--database", url)
        created = leadq("keys", "create", "read", "--database", url)

    message = (
        f"error: the store at {_shown(url)} has schema revision 'zzz_future', which "
        f"this leadq does not know (its newest is {_newest_revision()!r}), so a newer "
        "leadq wrote it. "
        "Use the leadq version that wrote the store, or upgrade leadq\n"
    )
    assert listed.returncode == 2
    assert listed.stderr == message
    assert created.returncode == 2
    assert created.stderr == message


@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_empty_revision_table_rejected(dialect, tmp_path):
    with database_url(dialect, tmp_path) as url:
        store = database.open_store(url)
        _set_revision(store, None)
        store.dispose()
        done = leadq("keys", "create", "read", "--database", url)

    assert done.returncode == 2
    assert done.stderr == (
        f"error: the store at {_shown(url)} has an empty alembic_version table beside "
        "other tables, so the revision of its schema is unknown. Restore the store, "
        "or that table's row, from a backup\n"
    )



@pytest.mark.parametrize("dialect", STORE_DIALECTS)
def test_recycle_decision_migration_keeps_events(dialect, tmp_path):
    inserts = [
        "INSERT INTO leads (id, lead_key, attributes, created_at, updated_at, reached) VALUES (1, 'u1', '{}', 1, 1, '[]')",
        "INSERT INTO events (message_id, lead_id, event_name, ts, received_at, properties, source) "
        "VALUES ('m-1', 1, 'ping', 5, 5, '{}', 'track')",
    ]
    upgraded, columns, kept = _round_trip_added_column(
        dialect, tmp_path, "0013", inserts, "events", "message_id", "excluded_by_recycle"
    )

    assert upgraded == [("m-1", None)]
    assert "excluded_by_recycle" not in columns
    assert kept == ["m-1"]
