"""the legal consultation: duty lawyers and their invite codes, consultations with their
messages and timeline, and the consultation's areas and hours in the catalogue

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _moment(name: str, nullable: bool = True) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("catalogue_meta") as batch:
        batch.add_column(sa.Column("legal", sa.JSON(), nullable=True))
    op.create_table(
        "lawyers",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(32), nullable=False),
        sa.Column("firm", sa.String(64), nullable=False),
        sa.Column("licence", sa.String(20), nullable=False),
        sa.Column("areas", sa.JSON(), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("on_duty", sa.Boolean(), nullable=False),
        _moment("duty_changed_at"),
        sa.Column("current_id", _ID, nullable=True),
        _moment("created_at", nullable=False),
        _moment("disabled_at"),
        sa.Column("wechat_account", sa.String(32), nullable=True),
        sa.Column("wechat_openid", sa.String(64), nullable=True),
        sa.UniqueConstraint("licence", name="uq_lawyers_licence"),
        sa.UniqueConstraint("wechat_account", "wechat_openid", name="uq_lawyers_wechat"),
    )
    op.create_table(
        "lawyer_invites",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("lawyer_id", sa.Integer(), sa.ForeignKey("lawyers.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        _moment("created_at", nullable=False),
        _moment("expires_at", nullable=False),
        _moment("used_at"),
        sa.UniqueConstraint("code_hash", name="uq_lawyer_invites_code_hash"),
    )
    op.create_table(
        "consultation_counters",
        sa.Column("day", sa.Date(), primary_key=True),
        sa.Column("last", sa.Integer(), nullable=False),
    )
    op.create_table(
        "consultations",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("number", sa.String(24), nullable=False),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("account", sa.String(32), nullable=False),
        sa.Column("openid", sa.String(64), nullable=False),
        sa.Column("name", sa.String(32), nullable=True),
        sa.Column("area", sa.String(32), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("left_message", sa.Boolean(), nullable=False),
        _moment("queued_at", nullable=False),
        sa.Column("asked_position", sa.Integer(), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), sa.ForeignKey("lawyers.id"), nullable=True),
        _moment("taken_at"),
        _moment("first_answer_at"),
        _moment("last_lawyer_at"),
        _moment("last_citizen_at"),
        _moment("reminded_at"),
        _moment("notified_at"),
        _moment("ended_at"),
        sa.Column("end_reason", sa.String(16), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        _moment("created_at", nullable=False),
        sa.UniqueConstraint("number", name="uq_consultations_number"),
        sa.UniqueConstraint("idempotency_key", name="uq_consultations_idempotency_key"),
    )
    op.create_index("ix_consultations_queue", "consultations",
                    ["status", "area", "queued_at", "id"])
    op.create_index("ix_consultations_owner", "consultations", ["account", "openid", "status"])
    op.create_index("ix_consultations_lawyer", "consultations", ["lawyer_id", "status"])
    op.create_table(
        "consultation_messages",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("consultation_id", _ID,
                  sa.ForeignKey("consultations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sender", sa.String(8), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), sa.ForeignKey("lawyers.id"), nullable=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("media_id", sa.String(256), nullable=True),
        _moment("at", nullable=False),
    )
    op.create_index("ix_consultation_messages_of", "consultation_messages",
                    ["consultation_id", "id"])
    op.create_table(
        "consultation_events",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("consultation_id", _ID,
                  sa.ForeignKey("consultations.id", ondelete="CASCADE"), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("lawyer_id", sa.Integer(), sa.ForeignKey("lawyers.id"), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        _moment("at", nullable=False),
    )
    op.create_index("ix_consultation_events_of", "consultation_events",
                    ["consultation_id", "id"])
    # the citizen rates the lawyer with the ticket's survey: a survey is of a ticket or of
    # a consultation
    with op.batch_alter_table("surveys") as batch:
        batch.alter_column("ticket_id", existing_type=_ID, nullable=True)
        batch.add_column(sa.Column("consultation_id", _ID, nullable=True))
        batch.create_foreign_key("fk_surveys_consultation", "consultations",
                                 ["consultation_id"], ["id"], ondelete="CASCADE")
    op.create_index("ix_surveys_consultation", "surveys", ["consultation_id"])


def downgrade() -> None:
    op.execute("DELETE FROM surveys WHERE ticket_id IS NULL")
    op.drop_index("ix_surveys_consultation", table_name="surveys")
    with op.batch_alter_table("surveys") as batch:
        batch.drop_constraint("fk_surveys_consultation", type_="foreignkey")
        batch.drop_column("consultation_id")
        batch.alter_column("ticket_id", existing_type=_ID, nullable=False)
    op.drop_index("ix_consultation_events_of", table_name="consultation_events")
    op.drop_table("consultation_events")
    op.drop_index("ix_consultation_messages_of", table_name="consultation_messages")
    op.drop_table("consultation_messages")
    op.drop_index("ix_consultations_lawyer", table_name="consultations")
    op.drop_index("ix_consultations_owner", table_name="consultations")
    op.drop_index("ix_consultations_queue", table_name="consultations")
    op.drop_table("consultations")
    op.drop_table("consultation_counters")
    op.drop_table("lawyer_invites")
    op.drop_table("lawyers")
    with op.batch_alter_table("catalogue_meta") as batch:
        batch.drop_column("legal")
