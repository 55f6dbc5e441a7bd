"""the public board: the department's answer as published, when it was given and the due
date it was given against, and the office's reason for withholding a ticket from the board;
the duty lawyers' one-time codes to sign in to the web console

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("answer", sa.Text(), nullable=True))
        batch.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("answer_due_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("withheld", sa.Text(), nullable=True))
    op.create_index("ix_tickets_board", "tickets", ["public", "answered_at"])
    op.create_table(
        "lawyer_sign_in_codes",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("lawyer_id", sa.Integer(),
                  sa.ForeignKey("lawyers.id", ondelete="CASCADE",
                                name="fk_lawyer_sign_in_codes_lawyer"), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("code_hash", name="uq_lawyer_sign_in_codes_code_hash"),
    )


def downgrade() -> None:
    op.drop_table("lawyer_sign_in_codes")
    op.drop_index("ix_tickets_board", table_name="tickets")
    with op.batch_alter_table("tickets") as batch:
        for column in ("withheld", "answer_due_on", "answered_at", "answer"):
            batch.drop_column(column)
