"""the scheduler and the survey: one active scheduler (a lease), each job once per tick
(a run log), the alerts the deadline jobs send at most once (reminders, 督办), and the
satisfaction surveys (评价, 不满意重办, 问题是否仍已解决)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "scheduler_leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "scheduler_runs",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("job", sa.String(32), nullable=False),
        sa.Column("tick", sa.DateTime(timezone=True), nullable=False),
        sa.Column("holder", sa.String(128), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("done", sa.Integer(), nullable=True),
        sa.UniqueConstraint("job", "tick", name="uq_scheduler_runs_job_tick"),
    )
    op.create_table(
        "ticket_alerts",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", _ID, sa.ForeignKey("tickets.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("ticket_id", "kind", "day", name="uq_ticket_alerts_once"),
    )


    op.create_table(
        "surveys",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("ticket_id", _ID, sa.ForeignKey("tickets.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("round", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(8), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("resolved", sa.Boolean(), nullable=True),
        sa.Column("redo", sa.Boolean(), nullable=True),
        sa.UniqueConstraint("ticket_id", "kind", "round", name="uq_surveys_round"),
    )
    op.create_index("ix_surveys_owner", "surveys", ["account", "openid", "step"])
    # the due date as it stood after each move (the reports judge an answer by it)
    with op.batch_alter_table("ticket_events") as batch:
        batch.add_column(sa.Column("due_on", sa.Date(), nullable=True))
    # the day a due date's count started (filing, 转办, 改派, 重办): a provisional one is
    # counted again from it
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("due_from", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("due_from")
    with op.batch_alter_table("ticket_events") as batch:
        batch.drop_column("due_on")
    op.drop_index("ix_surveys_owner", table_name="surveys")
    op.drop_table("surveys")
    op.drop_table("ticket_alerts")
    op.drop_table("scheduler_runs")
    op.drop_table("scheduler_leases")
