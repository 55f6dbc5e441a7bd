"""staff in WeChat: a staff member's bound WeChat user, one-time bind codes, and the
notices staff get (listed in the API, pushed in WeChat to bound staff)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("wechat_account", sa.String(32), nullable=True))
        batch.add_column(sa.Column("wechat_openid", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_staff_wechat", ["wechat_account", "wechat_openid"])
    op.create_table(
        "staff_bind_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("code_hash", name="uq_staff_bind_codes_code_hash"),
    )
    op.create_table(
        "staff_notices",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("staff_id", sa.Integer(), sa.ForeignKey("staff.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("ticket_id", _ID, sa.ForeignKey("tickets.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("kind", sa.String(24), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_staff_notices_staff_id", "staff_notices", ["staff_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_staff_notices_staff_id", table_name="staff_notices")
    op.drop_table("staff_notices")
    op.drop_table("staff_bind_codes")
    with op.batch_alter_table("staff") as batch:
        batch.drop_constraint("uq_staff_wechat", type_="unique")
        batch.drop_column("wechat_openid")
        batch.drop_column("wechat_account")
