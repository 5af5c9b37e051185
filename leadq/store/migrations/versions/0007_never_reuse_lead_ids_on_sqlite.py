"""Keep SQLite from giving a new lead the id of a deleted one.

SQLite numbers a new row one above the largest id in the table, so after
the lead with the largest id was erased, the next new lead took its id,
and the leads API answered for it where it promised 410 Gone. With
AUTOINCREMENT, SQLite never hands out an id again. SQLite cannot add it
to a table, so the table is built again, as SQLite's documentation for
table changes describes; leadq.store.database runs migrations on SQLite
with foreign keys off for that. PostgreSQL sequences never go back, so
nothing changes there.

Revision ID: 0007
Revises: 0006
"""

import re

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

PLAIN_ID = "\tid INTEGER NOT NULL, \n"
AUTOINCREMENT_ID = "\tid INTEGER NOT NULL CONSTRAINT pk_leads PRIMARY KEY AUTOINCREMENT, \n"
TABLE_PRIMARY_KEY = "\tCONSTRAINT pk_leads PRIMARY KEY (id), \n"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    table_sql = _schema_sql(bind, "table")[0]
    if PLAIN_ID not in table_sql or TABLE_PRIMARY_KEY not in table_sql:
        raise RuntimeError(f"the leads table's definition is not the one this migration rebuilds: {table_sql}")
    rebuilt = table_sql.replace(PLAIN_ID, AUTOINCREMENT_ID).replace(TABLE_PRIMARY_KEY, "")
    _rebuild_leads(bind, rebuilt)
    # Erased leads left no row, so their ids count from the erasure records.
    bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name IN ('leads', 'leads_rebuilt')")
    bind.exec_driver_sql(
        "INSERT INTO sqlite_sequence (name, seq) SELECT 'leads', max("
        "(SELECT coalesce(max(id), 0) FROM leads), (SELECT coalesce(max(lead_id), 0) FROM erasures))"
    )


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    table_sql = _schema_sql(bind, "table")[0]
    plain = table_sql.replace(AUTOINCREMENT_ID, PLAIN_ID).replace(
        "\tCONSTRAINT fk_leads_account_id_accounts", TABLE_PRIMARY_KEY + "\tCONSTRAINT fk_leads_account_id_accounts", 1
    )
    _rebuild_leads(bind, plain)


def _schema_sql(bind, kind: str) -> list[str]:
    rows = bind.exec_driver_sql(
        "SELECT sql FROM sqlite_master WHERE type = ? AND tbl_name = 'leads' AND sql IS NOT NULL", (kind,)
    )
    return [row[0] for row in rows]


def _rebuild_leads(bind, table_sql: str) -> None:
    """Copy the leads into a new table defined by `table_sql`, then give it their name and indexes."""
    # SQLite keeps a renamed table's definition with its name in quotes.
    create_rebuilt, found = re.subn(r'^CREATE TABLE "?leads"? \(', "CREATE TABLE leads_rebuilt (", table_sql)
    if found != 1:
        raise RuntimeError(f"the leads table's definition does not start as expected: {table_sql[:80]}")
    indexes = _schema_sql(bind, "index")
    bind.exec_driver_sql(create_rebuilt)
    bind.exec_driver_sql("INSERT INTO leads_rebuilt SELECT * FROM leads")
    bind.exec_driver_sql("DROP TABLE leads")
    bind.exec_driver_sql("ALTER TABLE leads_rebuilt RENAME TO leads")
    for index in indexes:
        bind.exec_driver_sql(index)
    broken = bind.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if broken:
        raise RuntimeError(f"rebuilding the leads table broke foreign keys: {broken[:5]}")
