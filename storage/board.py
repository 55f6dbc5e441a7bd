"""The public board's reads (docs/BOARD.md): published tickets, newest answer first."""

from __future__ import annotations

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from domain.board import SHOWN, BoardEntry
from domain.tickets import Status
from storage.models import Ticket


def _entry(row: Ticket) -> BoardEntry:
    assert row.answer is not None and row.answered_at is not None
    return BoardEntry(id=row.id, number=row.number, kind=row.kind, category=row.category,
                      region=row.region, department=row.department, status=Status(row.status),
                      description=row.description, created_at=row.created_at,
                      answer=row.answer, answered_at=row.answered_at,
                      answer_due_on=row.answer_due_on)


class Board:
    def __init__(self, engine: AsyncEngine) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)

    @staticmethod
    def _published() -> Select[Ticket]:
        return select(Ticket).where(
            Ticket.public.is_(True), Ticket.withheld.is_(None), Ticket.answer.is_not(None),
            Ticket.answered_at.is_not(None), Ticket.merged_into.is_(None),
            Ticket.status.in_(sorted(s.value for s in SHOWN)))

    @classmethod
    def _filtered(cls, kind: str | None, category: str | None, region: str | None,
                  department: str | None) -> Select[Ticket]:
        query = cls._published()
        for column, value in ((Ticket.kind, kind), (Ticket.category, category),
                              (Ticket.region, region), (Ticket.department, department)):
            if value is not None:
                query = query.where(column == value)
        return query

    async def latest(self, *, kind: str | None = None, category: str | None = None,
                     region: str | None = None, department: str | None = None,
                     offset: int = 0, limit: int = 20) -> list[BoardEntry]:
        """Published tickets, the newest answer first: ``limit`` of them from ``offset``."""
        query = (self._filtered(kind, category, region, department)
                 .order_by(Ticket.answered_at.desc(), Ticket.id.desc())
                 .offset(offset).limit(limit))
        async with self._sessions() as session:
            return [_entry(row) for row in (await session.scalars(query)).all()]

    async def count(self, *, kind: str | None = None, category: str | None = None,
                    region: str | None = None, department: str | None = None) -> int:
        """How many tickets are published (with these filters)."""
        query = select(func.count()).select_from(
            self._filtered(kind, category, region, department).subquery())
        async with self._sessions() as session:
            return int(await session.scalar(query) or 0)

    async def one(self, number: str) -> BoardEntry | None:
        """A published ticket by its number; ``None`` for any other (not published, not
        answered, withheld, or no such number alike)."""
        async with self._sessions() as session:
            row = await session.scalar(self._published().where(Ticket.number == number))
        return None if row is None else _entry(row)
