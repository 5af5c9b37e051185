"""Index the leads list's default order: total descending, unscored last, then id.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite rejects NULLS LAST in an index, but it sorts NULL below every
    # value, so its descending index already puts unscored leads last.
    nulls_last = " NULLS LAST" if op.get_bind().dialect.name == "postgresql" else ""
    op.create_index(
        op.f("ix_leads_total_desc_id_desc"),
        "leads",
        [sa.text(f"total DESC{nulls_last}"), sa.text("id DESC")],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_leads_total_desc_id_desc"), table_name="leads")
