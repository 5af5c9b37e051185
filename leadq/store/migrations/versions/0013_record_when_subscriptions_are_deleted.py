"""Record when a webhook subscription was deleted.

A deleted subscription keeps its row, so its delivery log stays readable,
and `leadq webhooks remove` of it says when it was removed. Rows deleted
before this revision keep NULL, and their removal time stays unknown.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("deleted_at", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("webhook_subscriptions", schema=None) as batch_op:
        batch_op.drop_column("deleted_at")
