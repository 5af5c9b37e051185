"""Keep on each merged event whether its former lead's recycle left it out.

A merge moves the merged lead's events to the surviving lead. From this
revision on, it records on each of them whether a recycle of the merged
lead left the event out (`events.excluded_by_recycle`), and the
survivor's own baseline decides only the other events. Stores do not
record which lead an event had before a merge, so events moved by merges
before this revision keep NULL and stay decided by the survivor's
baseline, as before.

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode, which would copy the whole events
    # table on SQLite.
    op.add_column("events", sa.Column("excluded_by_recycle", sa.Boolean(), nullable=True))


def downgrade() -> None:
    # SQLite runs ALTER TABLE DROP COLUMN since version 3.35.0.
    op.drop_column("events", "excluded_by_recycle")
