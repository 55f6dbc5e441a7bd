"""SQLAlchemy models. Later issues add tickets, consultations and the outbox here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
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


class Push(Base):
    """A message the domain wants delivered to a user, written in the same transaction as
    the change that causes it and sent by a delivery worker (the outbox).

    ``status``: queued → sending → sent → delivered (template delivery report), or
    pending (no channel open: ``reason`` says why; retried when the user writes), failed
    (refused for good), dead (out of tries), blocked (the user blocked templates),
    uncertain (a worker stopped mid-send on a channel without idempotency: an operator
    decides whether to resend).
    """

    __tablename__ = "pushes"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_pushes_idempotency_key"),
        Index("ix_pushes_user_order", "account", "openid", "id"),
        Index("ix_pushes_due", "status", "next_attempt_at"),
        Index("ix_pushes_template_msgid", "template_msgid"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    idempotency_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    channel: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    worker: Mapped[str | None] = mapped_column(String(64))
    template_msgid: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
