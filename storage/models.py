"""SQLAlchemy models. Later issues add tickets, consultations and the outbox here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, String, UniqueConstraint, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Citizen(Base):
    """A WeChat user of one account, known from the follow event or a first message."""

    __tablename__ = "citizens"
    __table_args__ = (UniqueConstraint("account", "openid", name="uq_citizens_account_openid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    subscribed: Mapped[bool] = mapped_column(default=True)
    first_seen_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    subscribed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    unsubscribed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
