"""Record the predictive artefact that a model version was stored with.

A model's name and version identify one content, and a model with a
`predictive` section depends on its artefact's model.joblib as much as on
its text. Activation compares this hash to tell a retrained artefact at
the same path from the stored one. Rows stored before this revision keep
NULL, and activation fills it in the next time it matches their text.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("artefact_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("artefact_sha256")
