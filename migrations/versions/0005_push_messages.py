"""pushes.message: late image and news replies go through the outbox too

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL: the push is the text message in ``text``; else an image or news card (the
    # Outbound's JSON), ``text`` only labelling it for operators
    with op.batch_alter_table("pushes") as batch:
        batch.add_column(sa.Column("message", sa.JSON(), nullable=True))


def downgrade() -> None:
    # the older code would send the label as a text: an unfinished image or news push
    # is failed with the reason instead, and finished ones keep only their label
    pushes = sa.table("pushes", sa.column("status", sa.String), sa.column("reason", sa.Text),
                      sa.column("message", sa.JSON), sa.column("worker", sa.String),
                      sa.column("lease_until", sa.DateTime(timezone=True)))
    op.execute(
        pushes.update()
        .where(pushes.c.message.isnot(None),
               pushes.c.status.in_(("queued", "sending", "pending")))
        .values(status="failed", worker=None, lease_until=None,
                reason="downgraded below 0005: image and news pushes cannot be sent")
    )
    with op.batch_alter_table("pushes") as batch:
        batch.drop_column("message")
