"""Note when a lead's event with a time ahead of the clock comes due.

A tracking message may carry a `timestamp` up to a day ahead of the
server's clock. Scores as of now leave such an event out, and before this
revision it counted only at the next full rescore, by default an hour
later. `leads.rescore_at` keeps the time of the lead's earliest such
event, and `leadq serve` rescores the lead once that time has passed.
Events stored before this revision are not noted; the next full rescore
counts them, as before.

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode, whose copy of the table on SQLite
    # would lose the AUTOINCREMENT of migration 0007.
    op.add_column("leads", sa.Column("rescore_at", sa.BigInteger(), nullable=True))
    op.create_index(
        op.f("ix_leads_rescore_at"),
        "leads",
        ["rescore_at"],
        unique=False,
        postgresql_where=sa.text("rescore_at IS NOT NULL"),
        sqlite_where=sa.text("rescore_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_leads_rescore_at"), table_name="leads")
    # SQLite runs ALTER TABLE DROP COLUMN since version 3.35.0.
    op.drop_column("leads", "rescore_at")
