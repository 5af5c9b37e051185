"""Keep the group calls of anonymous visitors and the time of each lead's account.

A group call with only an anonymous id, of a visitor that no lead has yet,
waits in `visitor_groups` until a call links the anonymous id to a lead,
which then joins the account. A lead is in the account of its group call
with the latest event time, so `leads.account_at` keeps that time. Leads
stored before this revision keep NULL, and any group call moves them.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode, whose copy of the table on SQLite
    # would lose the AUTOINCREMENT of migration 0007.
    op.add_column("leads", sa.Column("account_at", sa.BigInteger(), nullable=True))
    op.create_table(
        "visitor_groups",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("anonymous_id", sa.Text(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["account_id"], ["accounts.id"], name=op.f("fk_visitor_groups_account_id_accounts")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_groups")),
        sa.UniqueConstraint("message_id", name=op.f("uq_visitor_groups_message_id")),
    )
    with op.batch_alter_table("visitor_groups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_groups_anonymous_id"), ["anonymous_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("visitor_groups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_groups_anonymous_id"))
    op.drop_table("visitor_groups")
    # SQLite runs ALTER TABLE DROP COLUMN since version 3.35.0.
    op.drop_column("leads", "account_at")
