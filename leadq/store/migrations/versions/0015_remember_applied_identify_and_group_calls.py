"""Remember the message ids of applied identify and group calls.

Before this revision a retried identify or group call was applied again,
and without a `timestamp` it took its own arrival time, so it could
replace a newer call's traits or account. `applied_calls` keeps the
message id of every call applied from this revision on; calls applied
before it are not known, and their retries apply again, as before.

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "applied_calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_applied_calls")),
        sa.UniqueConstraint("message_id", name=op.f("uq_applied_calls_message_id")),
    )


def downgrade() -> None:
    op.drop_table("applied_calls")
