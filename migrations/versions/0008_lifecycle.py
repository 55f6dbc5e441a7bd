"""the lifecycle in storage: a version per ticket (optimistic concurrency), what it waits
for from the office, where a merged ticket went; per event the action, the party, the
staff member and what the citizen was told; departments whose answers are reviewed

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False,
                                   server_default="1"))
        batch.add_column(sa.Column("pending", sa.String(16), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("pending_due_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("pending_text", sa.Text(), nullable=True))
        batch.add_column(sa.Column("merged_into", sa.BigInteger().with_variant(
            sa.Integer(), "sqlite"), nullable=True))
        batch.create_foreign_key("fk_tickets_merged_into", "tickets", ["merged_into"],
                                 ["id"], ondelete="SET NULL")
        batch.create_index("ix_tickets_merged_into", ["merged_into"])
    with op.batch_alter_table("departments") as batch:
        batch.add_column(sa.Column("reviews_answers", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    with op.batch_alter_table("ticket_events") as batch:
        batch.add_column(sa.Column("action", sa.String(24), nullable=True))
        batch.add_column(sa.Column("party", sa.String(16), nullable=True))
        batch.add_column(sa.Column("staff_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("citizen_text", sa.Text(), nullable=True))
        batch.create_foreign_key("fk_ticket_events_staff_id", "staff", ["staff_id"], ["id"],
                                 ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("departments") as batch:
        batch.drop_column("reviews_answers")
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_constraint("fk_ticket_events_staff_id", type_="foreignkey")
        batch.drop_column("citizen_text")
        batch.drop_column("staff_id")
        batch.drop_column("party")
        batch.drop_column("action")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_index("ix_tickets_merged_into")
        batch.drop_constraint("fk_tickets_merged_into", type_="foreignkey")
        batch.drop_column("merged_into")
        batch.drop_column("pending_text")
        batch.drop_column("pending_due_on")
        batch.drop_column("pending")
        batch.drop_column("version")
