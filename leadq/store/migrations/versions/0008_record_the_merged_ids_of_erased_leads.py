"""Record the ids of the leads merged into an erased lead.

A merged lead's id resolves to the lead it was merged into. Once that lead
is erased, its merged ids must answer 410 Gone as its own id does, so each
gets an `erasures` row whose `survivor_id` names the erased lead. Rows
written before this revision keep NULL, and the merged ids of their
erasures stay unknown. The index serves the lookup of an id that no lead
has.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.add_column(sa.Column("survivor_id", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_erasures_lead_id"), ["lead_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_erasures_lead_id"))
        batch_op.drop_column("survivor_id")
