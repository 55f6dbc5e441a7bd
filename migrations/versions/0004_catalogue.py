"""the routing catalogue in the database; a ticket's region and due date may be unknown

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalogue_meta",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("county", sa.Text(), nullable=False),
        sa.Column("deadlines", sa.JSON(), nullable=False),
        sa.Column("anonymous_kinds", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "departments",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("short_name", sa.Text(), nullable=False),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_table(
        "categories",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("display_order", sa.Integer(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.UniqueConstraint("display_order", name="uq_categories_display_order"),
    )
    op.create_table(
        "regions",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("parent", sa.String(32), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_table(
        "routing_rules",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("category", sa.String(32), nullable=False),
        sa.Column("region", sa.String(32), nullable=False),
        sa.Column("department", sa.String(32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.UniqueConstraint("category", "region", name="uq_routing_rules_category_region"),
    )
    # batch mode: SQLite cannot alter a column, so the table is copied
    with op.batch_alter_table("tickets") as batch:
        batch.alter_column("region", existing_type=sa.String(32), nullable=True)
        batch.alter_column("due_on", existing_type=sa.Date(), nullable=True)


def downgrade() -> None:
    # Tickets made since may lack a region or a due date: the old schema needs both, so
    # they get "" (no region) and the day they were made (due at once, which shows).
    tickets = sa.table("tickets", sa.column("region", sa.String(32)),
                       sa.column("due_on", sa.Date()),
                       sa.column("created_at", sa.DateTime(timezone=True)))
    op.execute(tickets.update().where(tickets.c.region.is_(None)).values(region=""))
    day = (sa.func.substr(tickets.c.created_at, 1, 10)
           if op.get_bind().dialect.name == "sqlite" else sa.cast(tickets.c.created_at, sa.Date))
    op.execute(tickets.update().where(tickets.c.due_on.is_(None)).values(due_on=day))
    with op.batch_alter_table("tickets") as batch:
        batch.alter_column("region", existing_type=sa.String(32), nullable=False)
        batch.alter_column("due_on", existing_type=sa.Date(), nullable=False)
    op.drop_table("routing_rules")
    op.drop_table("regions")
    op.drop_table("categories")
    op.drop_table("departments")
    op.drop_table("catalogue_meta")
