"""regions.places: the villages, communities and landmarks a citizen may name for a region

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a catalogue loaded before has none: its regions are matched by name as before, until
    # the next `lianxin config load`
    with op.batch_alter_table("regions") as batch:
        batch.add_column(sa.Column("places", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("regions") as batch:
        batch.drop_column("places")
