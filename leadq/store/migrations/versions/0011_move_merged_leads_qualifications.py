"""Move the qualifications of merged leads to the leads they were merged into.

A merge moves a lead's events, identities and outcomes to the surviving
lead, and from this revision on its qualifications too, so the survivor's
stage conditions and qualification history include them. Merges made
before it left qualifications with the merged lead, whose id no stage
condition reads. This revision moves them to the end of each chain of
merges. The survivors' scores and stages take them into account at their
next rescore: the schedule of `leadq serve`, `leadq rescore`, or a new
event.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

leads = sa.table("leads", sa.column("id", sa.BigInteger()), sa.column("merged_into", sa.BigInteger()))
qualifications = sa.table("qualifications", sa.column("lead_id", sa.BigInteger()))


def upgrade() -> None:
    connection = op.get_bind()
    merged = sa.select(leads.c.id).where(leads.c.merged_into.is_not(None))
    survivor = sa.select(leads.c.merged_into).where(leads.c.id == qualifications.c.lead_id).scalar_subquery()
    move = sa.update(qualifications).where(qualifications.c.lead_id.in_(merged)).values(lead_id=survivor)
    # Each round moves a qualification one step along its chain of merges,
    # so a chain needs at most as many rounds as there are merged leads.
    # The bound also ends the loop if merged_into ids ever formed a cycle.
    rounds = connection.execute(sa.select(sa.func.count()).select_from(merged.subquery())).scalar_one()
    for _ in range(rounds):
        if connection.execute(move).rowcount == 0:
            break


def downgrade() -> None:
    # The store does not record which merged lead a moved qualification
    # came from, so it stays with the survivor. Earlier revisions read it
    # there as the survivor's own.
    pass
