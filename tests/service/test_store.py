"""The store's schema, stage rules and the service commands' shared names."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from leadq.errors import OptionError
from leadq.model.loading import load_default_model
from leadq.service import commands, keys, webhooks
from leadq.service.rescoring import next_stage
from leadq.store import database
from leadq.store.tables import metadata
from tests.service.servers import leadq


def test_migrations_match_the_tables(store):
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection)
        assert compare_metadata(context, metadata) == []


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


def test_port_out_of_range_rejected(tmp_path):
    done = leadq("serve", "--port", "99999", "--database", f"sqlite:///{tmp_path / 'leadq.db'}")
    assert done.returncode == 2
    assert "--port 99999" in done.stderr
