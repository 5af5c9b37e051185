"""Keep the traits of anonymous visitors and the event time of each lead attribute.

An identify call with only an anonymous id describes a visitor that no
lead has yet. Its traits wait in `visitor_traits` until a call links the
anonymous id to a lead, which then takes them. A trait's value is the one
with the latest event time, so `leads.attribute_times` keeps the time of
each attribute's value. Leads stored before this revision keep NULL: their
attributes have no time, and any trait with a time replaces them.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ALTER TABLE, not batch mode, whose copy of the table on SQLite
    # would lose the AUTOINCREMENT of migration 0007.
    op.add_column("leads", sa.Column("attribute_times", sa.Text(), nullable=True))
    op.create_table(
        "visitor_traits",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("message_id", sa.Text(), nullable=False),
        sa.Column("anonymous_id", sa.Text(), nullable=False),
        sa.Column("traits", sa.Text(), nullable=False),
        sa.Column("ts", sa.BigInteger(), nullable=False),
        sa.Column("received_at", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_visitor_traits")),
        sa.UniqueConstraint("message_id", name=op.f("uq_visitor_traits_message_id")),
    )
    with op.batch_alter_table("visitor_traits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_visitor_traits_anonymous_id"), ["anonymous_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("visitor_traits", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_visitor_traits_anonymous_id"))
    op.drop_table("visitor_traits")
    # SQLite runs ALTER TABLE DROP COLUMN since version 3.35.0.
    op.drop_column("leads", "attribute_times")
