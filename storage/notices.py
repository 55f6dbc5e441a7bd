"""Staff notices: a ticket sent to a department (its handlers), returned to the office or
awaiting the office's approval (the supervisors). Each is a row listed in the staff API,
and a push (purpose ``staff_notice``) to a member whose WeChat user is bound, both in the
caller's transaction: the notice exists exactly when the move does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.messages import split_text
from domain.staff import Role
from storage.models import Staff, StaffNotice
from storage.outbox import add_push

PURPOSE = "staff_notice"


@dataclass(frozen=True, slots=True)
class NoticeRecord:
    id: int
    ticket_id: int
    kind: str
    text: str
    created_at: datetime
    read: bool


async def notify(session: AsyncSession, *, ticket_id: int, kind: str, text: str,
                 department: str | None = None, now: datetime | None = None) -> int:
    """Notice the handlers of ``department`` (or, without one, the supervisors) of a
    ticket, in the caller's transaction; how many were noticed."""
    now = now or datetime.now(UTC)
    who = ((Staff.role == Role.HANDLER.value, Staff.department == department)
           if department is not None else (Staff.role == Role.SUPERVISOR.value,))
    recipients = (await session.scalars(
        select(Staff).where(*who, Staff.active.is_(True)).order_by(Staff.id))).all()
    for staff in recipients:
        session.add(StaffNotice(staff_id=staff.id, ticket_id=ticket_id, kind=kind,
                                text=text, created_at=now))
        if staff.wechat_account is not None and staff.wechat_openid is not None:
            for piece in split_text(text):  # a long one in several messages, not an error
                add_push(session, account=staff.wechat_account,
                         openid=staff.wechat_openid, purpose=PURPOSE, text=piece)
    return len(recipients)


class Notices:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def of_staff(self, staff_id: int, *, unread_only: bool = False,
                       limit: int = 100) -> Sequence[NoticeRecord]:
        """The member's notices, newest first."""
        query = (select(StaffNotice).where(StaffNotice.staff_id == staff_id)
                 .order_by(StaffNotice.id.desc()).limit(limit))
        if unread_only:
            query = query.where(StaffNotice.read_at.is_(None))
        async with self._sessions() as session:
            return [NoticeRecord(n.id, n.ticket_id, n.kind, n.text,
                                 n.created_at if n.created_at.tzinfo else
                                 n.created_at.replace(tzinfo=UTC), n.read_at is not None)
                    for n in (await session.scalars(query)).all()]

    async def unread(self, staff_id: int) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(
                select(func.count()).select_from(StaffNotice)
                .where(StaffNotice.staff_id == staff_id, StaffNotice.read_at.is_(None)))
                or 0)

    async def mark_read(self, staff_id: int, notice_id: int) -> bool:
        """Whether the member's notice ``notice_id`` exists (it is read now)."""
        async with self._sessions.begin() as session:
            found = await session.scalar(
                update(StaffNotice).where(StaffNotice.id == notice_id,
                                          StaffNotice.staff_id == staff_id)
                .values(read_at=datetime.now(UTC)).returning(StaffNotice.id))
        return found is not None
