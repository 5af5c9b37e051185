"""Record qualification conversations and name them in stage history.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qualifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("lead_id", sa.BigInteger(), nullable=False),
        sa.Column("framework", sa.Text(), nullable=False),
        sa.Column("framework_version", sa.Text(), nullable=False),
        sa.Column("answers", sa.Text(), nullable=False),
        sa.Column("author", sa.Text(), nullable=False),
        sa.Column("at", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.String(16), nullable=False),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("model_version_id", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_qualifications_lead_id_leads")
        ),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_versions.id"],
            name=op.f("fk_qualifications_model_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_qualifications")),
    )
    op.create_index("ix_qualifications_lead_id", "qualifications", ["lead_id"])
    op.create_index(
        "ix_qualifications_lead_framework_at",
        "qualifications",
        ["lead_id", "framework", "at"],
    )
    with op.batch_alter_table("stage_history", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("qualification_id", sa.BigInteger(), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_stage_history_qualification_id_qualifications",
            "qualifications",
            ["qualification_id"],
            ["id"],
        )
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "qualifications_removed",
                sa.Integer(),
                nullable=False,
                server_default="0",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("erasures", schema=None) as batch_op:
        batch_op.drop_column("qualifications_removed")
    with op.batch_alter_table("stage_history", schema=None) as batch_op:
        batch_op.drop_constraint(
            "fk_stage_history_qualification_id_qualifications", type_="foreignkey"
        )
        batch_op.drop_column("qualification_id")
    op.drop_index("ix_qualifications_lead_framework_at", "qualifications")
    op.drop_index("ix_qualifications_lead_id", "qualifications")
    op.drop_table("qualifications")
