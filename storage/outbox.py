"""The outbox: pushes written with the change that causes them, claimed by workers.

Everything sent to a user outside the HTTP reply is a push here: status updates, surveys,
and the edge's late replies (:meth:`Outbox.add_replies`). Several workers may run at once.
A worker claims only the *head* of each user's queue (the oldest push not yet finished),
so one user's pushes go out in the order they were made; on PostgreSQL the claim uses
``FOR UPDATE SKIP LOCKED`` so workers never wait on or take each other's rows, and every
state change after it is conditional on the claim still being the worker's (a worker
whose lease ran out cannot overwrite its successor).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from domain.delivery import bounded_reason
from domain.messages import TEXT_LIMIT_BYTES, Outbound, split_text
from storage.models import Push

UNFINISHED = ("queued", "sending", "pending")
FINISHED = ("sent", "delivered", "failed", "dead", "blocked", "uncertain")
STATUSES = UNFINISHED + FINISHED
REPLY = "reply"  # the purpose of the edge's late replies (config/delivery.toml)


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_key() -> str:
    """An idempotency key: also the template message's ``client_msg_id``."""
    return "lx" + secrets.token_hex(15)


def add_push(
    session: AsyncSession, *, account: str, openid: str, purpose: str, text: str,
    fields: dict[str, str] | None = None, idempotency_key: str | None = None,
    message: dict[str, Any] | None = None,
) -> Push:
    """Queue a push in the caller's transaction: it exists exactly when the change does.

    ``text`` is one customer-service message: at most 2048 bytes (split longer content into
    several pushes); ``ValueError`` otherwise. ``message`` (an image or news
    :class:`~domain.messages.Outbound` as JSON) is sent instead of ``text`` by customer
    service; ``text`` then labels it for operators.
    """
    size = len(text.encode("utf-8"))
    if not text or size > TEXT_LIMIT_BYTES:
        raise ValueError(f"a push's text must be 1 to {TEXT_LIMIT_BYTES} bytes, not {size}")
    if message is not None and Outbound.from_json(message).kind == "text":
        raise ValueError("a text push carries its text in text, not in message")
    now = utcnow()
    push = Push(
        account=account, openid=openid, purpose=purpose, text=text, fields=dict(fields or {}),
        message=message, idempotency_key=idempotency_key or new_key(), status="queued",
        attempts=0, next_attempt_at=now, created_at=now,
    )
    session.add(push)
    return push


def add_reply(session: AsyncSession, *, account: str, openid: str,
              outbound: Outbound) -> list[Push]:
    """Queue one late reply (purpose ``reply``) in the caller's transaction: a text as
    pushes of at most 2048 bytes (none for an empty text), an image or news card as one."""
    if outbound.kind == "text":
        return [add_push(session, account=account, openid=openid, purpose=REPLY, text=piece)
                for piece in split_text(outbound.text) if piece]
    label = (f"[image {outbound.media_id}]" if outbound.kind == "image" else
             "[news] " + " / ".join(a.title for a in outbound.articles))
    label = split_text(label or f"[{outbound.kind}]", 256)[0]
    return [add_push(session, account=account, openid=openid, purpose=REPLY, text=label,
                     message=outbound.to_json())]


@dataclass(frozen=True, slots=True)
class Claimed:
    """A push a worker holds, with what the last holder left behind."""

    id: int
    account: str
    openid: str
    purpose: str
    text: str
    fields: dict[str, Any]
    idempotency_key: str
    status_before: str  # queued, pending, or sending (a dead worker's lease ran out)
    channel_before: str | None  # sending: what was being tried; queued: template to resend
    attempts: int  # sends tried so far
    message: dict[str, Any] | None = None  # an image or news card instead of ``text``

    @property
    def outbound(self) -> Outbound:
        """What a customer-service message of this push carries."""
        if self.message is not None:
            return Outbound.from_json(self.message)
        return Outbound.of_text(self.text)


class Outbox:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._skip_locked = engine.dialect.name == "postgresql"

    async def add(self, **values: Any) -> int:
        """Queue one push in its own transaction (tools and tests; the domain uses add_push)."""
        async with self._sessions.begin() as session:
            push = add_push(session, **values)
            await session.flush()
            return push.id

    async def add_replies(self, *, account: str, openid: str,
                          outbounds: Sequence[Outbound]) -> list[int]:
        """Queue a user's late replies, in their order, in one transaction: all or none."""
        async with self._sessions.begin() as session:
            pushes = [push for outbound in outbounds
                      for push in add_reply(session, account=account, openid=openid,
                                            outbound=outbound)]
            await session.flush()
            return [push.id for push in pushes]

    # -- workers --------------------------------------------------------------------------

    async def claim(self, worker: str, *, limit: int, lease: float,
                    now: datetime | None = None, user: tuple[str, str] | None = None,
                    wake_pending: bool = False) -> list[Claimed]:
        """Take up to ``limit`` due heads of users' queues for ``lease`` seconds.

        ``user`` (account, openid): only that user's head. ``wake_pending``: a ``pending``
        head is due at once, not at its next look (the caller knows its user has just
        written, which is what it waits for).
        """
        now = now or utcnow()
        earlier = aliased(Push)
        blocked_by_earlier = exists().where(
            earlier.account == Push.account, earlier.openid == Push.openid,
            earlier.id < Push.id, earlier.status.in_(UNFINISHED),
        )
        waiting = (Push.status == "pending" if wake_pending
                   else and_(Push.status == "pending", Push.next_attempt_at <= now))
        due = or_(
            and_(Push.status == "queued", Push.next_attempt_at <= now),
            waiting,
            and_(Push.status == "sending", Push.lease_until < now),
        )
        mine = (and_(Push.account == user[0], Push.openid == user[1]) if user is not None
                else true())
        # queued pushes before pending ones (those only wait for the user), oldest due first
        query = (select(Push).where(mine, due, ~blocked_by_earlier)
                 .order_by((Push.status == "pending"), Push.next_attempt_at, Push.id)
                 .limit(limit))
        if self._skip_locked:
            query = query.with_for_update(skip_locked=True, of=Push)
        async with self._sessions.begin() as session:
            rows = {row.id: row for row in (await session.scalars(query)).all()}
            if not rows:
                return []
            # one statement for the batch; "still due" settles races where rows are not
            # locked (SQLite): a row another worker took meanwhile is no longer due
            taken = set((await session.execute(
                update(Push)
                .where(Push.id.in_(rows), due)
                .values(status="sending", worker=worker,
                        lease_until=now + timedelta(seconds=lease))
                .returning(Push.id)
                .execution_options(synchronize_session=False)
            )).scalars().all())
        return [
            Claimed(row.id, row.account, row.openid, row.purpose, row.text, dict(row.fields),
                    row.idempotency_key, row.status, row.channel, row.attempts,
                    dict(row.message) if row.message is not None else None)
            for row_id, row in sorted(rows.items()) if row_id in taken
        ]

    async def _update(self, push_id: int, holder: str, **values: Any) -> bool:
        """Change a claimed push, only while ``holder`` still holds the claim."""
        if isinstance(values.get("reason"), str):
            values["reason"] = bounded_reason(values["reason"])
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Push)
                .where(Push.id == push_id, Push.worker == holder, Push.status == "sending")
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    async def about_to_send(self, push_id: int, worker: str, channel: str,
                            lease: float | None = None) -> bool:
        """Record the channel (and count the try) before calling the API, so a successor
        knows what was being tried; ``lease`` renews the claim for this call."""
        values: dict[str, Any] = {"channel": channel, "attempts": Push.attempts + 1}
        if lease is not None:
            values["lease_until"] = utcnow() + timedelta(seconds=lease)
        return await self._update(push_id, worker, **values)

    async def sent(self, push_id: int, worker: str, channel: str, reason: str,
                   template_msgid: int | None = None) -> bool:
        return await self._update(push_id, worker, status="sent", channel=channel,
                                  reason=reason, sent_at=utcnow(), lease_until=None,
                                  template_msgid=template_msgid)

    async def retry_later(self, push_id: int, worker: str, reason: str, delay: float,
                          status: str = "queued", resend: str | None = None) -> bool:
        """Back to the queue (or ``pending``) after ``delay`` s; ``resend`` keeps a channel
        whose last try's outcome is unknown but safe to repeat (a template's
        ``client_msg_id``)."""
        return await self._update(push_id, worker, status=status, reason=reason,
                                  next_attempt_at=utcnow() + timedelta(seconds=delay),
                                  lease_until=None, worker=None, channel=resend)

    async def give_up(self, push_id: int, worker: str, status: str, reason: str) -> bool:
        assert status in ("failed", "dead", "uncertain")
        return await self._update(push_id, worker, status=status, reason=reason,
                                  lease_until=None)

    # -- delivery reports -----------------------------------------------------------------

    async def template_finished(self, account: str, msgid: int, status: str) -> bool:
        """Apply a TEMPLATESENDJOBFINISH report; ``False`` if no push has that msgid."""
        if status == "success":
            values: dict[str, Any] = {"status": "delivered", "delivered_at": utcnow()}
        elif status.replace(" ", "").lower() == "failed:userblock":
            values = {"status": "blocked", "reason": "the user blocked template messages"}
        else:
            values = {"status": "failed",
                      "reason": bounded_reason(f"template delivery failed: {status}")}
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Push)
                .where(Push.account == account, Push.template_msgid == msgid)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    # -- operators ------------------------------------------------------------------------

    async def list(self, *, statuses: Sequence[str] = (), limit: int = 50) -> list[Push]:
        query = select(Push).order_by(Push.id.desc()).limit(limit)
        if statuses:
            query = query.where(Push.status.in_(statuses))
        async with self._sessions() as session:
            return list((await session.scalars(query)).all())

    async def counts(self) -> dict[str, int]:
        async with self._sessions() as session:
            rows = await session.execute(select(Push.status, func.count()).group_by(Push.status))
            return {status: count for status, count in rows.all()}

    async def requeue(self, ids: Sequence[int] = (), *, statuses: Sequence[str] = ()) -> int:
        """Queue undelivered pushes again (failed, dead, uncertain, pending): by id, or
        every push in ``statuses``."""
        allowed = ("failed", "dead", "uncertain", "pending")
        which = Push.id.in_(ids) if ids else Push.status.in_(statuses)
        async with self._sessions.begin() as session:
            result = await session.execute(
                update(Push)
                .where(which, Push.status.in_(allowed))
                .values(status="queued", next_attempt_at=utcnow(), attempts=0, worker=None,
                        lease_until=None, channel=None, reason="requeued by an operator")
                .execution_options(synchronize_session=False)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def purge(self, *, statuses: Sequence[str], older_than: timedelta,
                    now: datetime | None = None) -> int:
        """Delete finished pushes older than ``older_than`` (at ``now``); unfinished ones
        never."""
        bad = [s for s in statuses if s not in FINISHED]
        if bad:
            raise ValueError(f"only finished pushes can be purged, not {bad[0]!r}")
        async with self._sessions.begin() as session:
            result = await session.execute(
                delete(Push).where(Push.status.in_(statuses),
                                   Push.created_at < (now or utcnow()) - older_than)
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def get(self, push_id: int) -> Push | None:
        async with self._sessions() as session:
            return await session.get(Push, push_id)
