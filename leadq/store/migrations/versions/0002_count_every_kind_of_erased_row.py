"""Count every kind of row that an erasure removes.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

COUNTS = (
    "leads_removed",
    "stage_changes_removed",
    "score_snapshots_removed",
    "outcomes_removed",
    "webhooks_removed",
    "webhooks_redacted",
)


def upgrade() -> None:
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        for name in COUNTS:
            batch_op.add_column(
                sa.Column(name, sa.Integer(), nullable=False, server_default="0")
            )


def downgrade() -> None:
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        for name in reversed(COUNTS):
            batch_op.drop_column(name)
