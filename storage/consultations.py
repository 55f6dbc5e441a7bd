"""Consultations: the durable record of each legal question, its queue, its conversation
and its timeline (domain/consultation.py has the rules).

Every change that someone should hear about writes its pushes in the same transaction
(``Note``: to the citizen or to the lawyer, resolved here from the consultation, so a
caller never handles a WeChat id). The queue is the table (``status = 'queued'``, by
``queued_at`` then id); with Redis, a sorted set per area indexes it
(storage/consult_queue.py) and a claim is still decided by the table: the update that
takes a consultation requires it to be queued. On PostgreSQL the table's own claim is
``SELECT … FOR UPDATE SKIP LOCKED``; on SQLite writers take turns.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.consultation import (
    RECENT,
    RECENT_WITHIN,
    TO_CITIZEN,
    TO_LAWYER,
    Action,
    ConsultationRecord,
    EndReason,
    LawyerRecord,
    Status,
    format_number,
)
from domain.messages import split_text
from domain.workdays import local_day
from storage.consult_queue import RedisQueue
from storage.models import (
    Consultation,
    ConsultationCounter,
    ConsultationEvent,
    ConsultationMessage,
    Lawyer,
)
from storage.outbox import add_push
from storage.survey_ask import ask_consultation
from storage.tickets import next_serial

log = logging.getLogger(__name__)

CLAIM_TRIES = 20  # stale index members a claim drops before the table decides


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Note:
    """A push a change makes: to the consultation's citizen or its lawyer. ``message``: an
    image or voice :class:`~domain.messages.Outbound` as JSON (``text`` then labels it);
    ``fields``: what a template fills, for a purpose that has one."""

    to: Literal["citizen", "lawyer"]
    purpose: str
    text: str
    message: dict[str, Any] | None = None
    fields: dict[str, str] | None = None


Tell = Callable[[ConsultationRecord], Sequence[Note]]


def _silent(_: ConsultationRecord) -> Sequence[Note]:
    return ()


@dataclass(frozen=True, slots=True)
class NewConsultation:
    idempotency_key: str
    account: str
    openid: str
    name: str | None
    area: str
    question: str
    left_message: bool
    photos: tuple[str, ...] = ()  # media ids sent with the question


class Took(StrEnum):
    TAKEN = "taken"
    NONE_WAITING = "none_waiting"
    AT_CAPACITY = "at_capacity"


@dataclass(frozen=True, slots=True)
class Taking:
    outcome: Took
    consultation: ConsultationRecord | None = None


def record(row: Consultation) -> ConsultationRecord:
    return ConsultationRecord(
        id=row.id, number=row.number, account=row.account, openid=row.openid, name=row.name,
        area=row.area, question=row.question, status=Status(row.status),
        left_message=row.left_message, queued_at=row.queued_at, lawyer_id=row.lawyer_id,
        taken_at=row.taken_at, first_answer_at=row.first_answer_at,
        last_lawyer_at=row.last_lawyer_at, last_citizen_at=row.last_citizen_at,
        ended_at=row.ended_at,
        end_reason=None if row.end_reason is None else EndReason(row.end_reason),
        version=row.version, created_at=row.created_at)


class Consultations:
    def __init__(self, engine: AsyncEngine, *, queue: RedisQueue | None = None) -> None:
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._queue = queue
        self._postgres = engine.dialect.name == "postgresql"

    # -- asking -----------------------------------------------------------------------------

    async def ask(self, new: NewConsultation, *, now: datetime,
                  news: Callable[[ConsultationRecord], str] | None = None,
                  ) -> tuple[ConsultationRecord, bool]:
        """Queue a new consultation; the same ``idempotency_key`` again finds the first
        (whether this call made it). The first to wait in its area is ``news`` (a push)
        to the lawyers on duty for the area who hold none: the others are busy, or know
        the queue from 上线 and their last 结束."""
        try:
            async with self._sessions.begin() as session:
                position = 1 + int(await session.scalar(
                    select(func.count()).select_from(Consultation).where(
                        Consultation.status == Status.QUEUED.value,
                        Consultation.area == new.area)) or 0)
                serial = await next_serial(session, ConsultationCounter, local_day(now))
                row = Consultation(
                    number=format_number(local_day(now), serial),
                    idempotency_key=new.idempotency_key, account=new.account,
                    openid=new.openid, name=new.name, area=new.area, question=new.question,
                    status=Status.QUEUED.value, left_message=new.left_message, queued_at=now,
                    asked_position=position, version=1, created_at=now)
                session.add(row)
                await session.flush()
                for media_id in new.photos:
                    session.add(ConsultationMessage(
                        consultation_id=row.id, sender="citizen", kind="image", text="",
                        media_id=media_id, at=now))
                session.add(ConsultationEvent(
                    consultation_id=row.id, action=Action.QUEUED.value,
                    note="left_message" if new.left_message else "", at=now))
                if news is not None and position == 1:
                    await self._news(session, row, news(record(row)))
        except IntegrityError:  # asked before with this key (a repeated confirm)
            async with self._sessions() as session:
                found = (await session.scalars(select(Consultation).where(
                    Consultation.idempotency_key == new.idempotency_key))).first()
            if found is None:
                raise
            return record(found), False
        made = record(row)
        await self._index(made)
        return made, True

    async def _index(self, consultation: ConsultationRecord) -> None:
        """Put a queued consultation in the Redis index (after its commit). A failure is
        logged: the table has it, and the restore job puts it back."""
        if self._queue is None:
            return
        try:
            await self._queue.add(consultation.area, consultation.id, consultation.queued_at)
        except Exception as exc:
            log.warning("consultation %s not indexed in Redis (%s): the restore job will",
                        consultation.number, type(exc).__name__)

    async def _unindex(self, consultation: ConsultationRecord) -> None:
        """Take a consultation that no longer waits off the Redis index (after its
        commit). A failure is logged: a claim drops a member it finds not queued."""
        if self._queue is None:
            return
        try:
            await self._queue.remove(consultation.area, consultation.id)
        except Exception as exc:
            log.warning("consultation %s not taken off the Redis index (%s)",
                        consultation.number, type(exc).__name__)

    # -- reading ----------------------------------------------------------------------------

    async def get(self, consultation_id: int) -> ConsultationRecord | None:
        async with self._sessions() as session:
            row = await session.get(Consultation, consultation_id)
        return None if row is None else record(row)

    async def position(self, consultation: ConsultationRecord) -> int:
        """Its place in its area's queue (1: next), counting those asked before it."""
        async with self._sessions() as session:
            ahead = await session.scalar(select(func.count()).select_from(Consultation).where(
                Consultation.status == Status.QUEUED.value,
                Consultation.area == consultation.area,
                (Consultation.queued_at < consultation.queued_at)
                | ((Consultation.queued_at == consultation.queued_at)
                   & (Consultation.id < consultation.id))))
        return 1 + int(ahead or 0)

    async def waiting(self, areas: Sequence[str]) -> int:
        """How many wait in ``areas``."""
        if not areas:
            return 0
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Consultation)
                                            .where(Consultation.status == Status.QUEUED.value,
                                                   Consultation.area.in_(list(areas)))) or 0)

    async def open_of(self, account: str, openid: str) -> ConsultationRecord | None:
        """The citizen's consultation still queued or taken, if any (one at a time)."""
        async with self._sessions() as session:
            row = (await session.scalars(select(Consultation).where(
                Consultation.account == account, Consultation.openid == openid,
                Consultation.status.in_([Status.QUEUED.value, Status.TAKEN.value]))
                .order_by(Consultation.id.desc()))).first()
        return None if row is None else record(row)

    async def of_citizen(self, account: str, openid: str,
                         limit: int = 10) -> list[ConsultationRecord]:
        """The citizen's consultations, newest first."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(Consultation).where(
                Consultation.account == account, Consultation.openid == openid)
                .order_by(Consultation.id.desc()).limit(limit))).all()
        return [record(row) for row in rows]

    async def latest(self, *, status: Status | None = None, area: str | None = None,
                     lawyer_id: int | None = None, limit: int = 50) -> list[ConsultationRecord]:
        """The newest consultations (of ``status``, in ``area``, that ``lawyer_id`` took),
        at most ``limit``."""
        query = select(Consultation).order_by(Consultation.id.desc()).limit(limit)
        if lawyer_id is not None:
            query = query.where(Consultation.lawyer_id == lawyer_id)
        if status is not None:
            query = query.where(Consultation.status == status.value)
        if area is not None:
            query = query.where(Consultation.area == area)
        async with self._sessions() as session:
            return [record(row) for row in (await session.scalars(query)).all()]

    async def waiting_by_area(self) -> dict[str, tuple[int, datetime]]:
        """The queue per area: how many wait, and since when the longest has."""
        async with self._sessions() as session:
            rows = (await session.execute(
                select(Consultation.area, func.count(), func.min(Consultation.queued_at))
                .where(Consultation.status == Status.QUEUED.value)
                .group_by(Consultation.area))).all()
        return {area: (int(count), oldest) for area, count, oldest in rows}

    async def held_by(self, lawyer_id: int) -> list[ConsultationRecord]:
        """What the lawyer holds now, in the order they took it."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(Consultation).where(
                Consultation.lawyer_id == lawyer_id,
                Consultation.status == Status.TAKEN.value)
                .order_by(Consultation.taken_at, Consultation.id))).all()
        return [record(row) for row in rows]

    async def recent_waits(self, area: str, now: datetime) -> list[tuple[float, int]]:
        """(seconds from asking to being taken, place when asked) of the area's latest
        taken consultations (``RECENT`` within ``RECENT_WITHIN``): what a wait is
        estimated from. A message left out of hours is not a live wait."""
        async with self._sessions() as session:
            rows = (await session.execute(
                select(Consultation.created_at, Consultation.taken_at,
                       Consultation.asked_position)
                .where(Consultation.area == area, Consultation.taken_at.is_not(None),
                       Consultation.left_message.is_(False),
                       Consultation.taken_at >= now - RECENT_WITHIN)
                .order_by(Consultation.taken_at.desc()).limit(RECENT))).all()
        return [((taken - asked).total_seconds(), place) for asked, taken, place in rows
                if taken is not None]

    async def messages(self, consultation_id: int) -> list[ConsultationMessage]:
        async with self._sessions() as session:
            return list((await session.scalars(select(ConsultationMessage).where(
                ConsultationMessage.consultation_id == consultation_id)
                .order_by(ConsultationMessage.id))).all())

    # -- taking -----------------------------------------------------------------------------

    async def take(self, lawyer: LawyerRecord, *, now: datetime, tell: Tell = _silent,
                   ) -> Taking:
        """The longest-waiting consultation of the lawyer's areas, now theirs (and their
        current one), with ``tell``'s pushes; or why none."""
        if await self._held(lawyer.id) >= lawyer.capacity:
            return Taking(Took.AT_CAPACITY)
        if self._queue is not None:
            for _ in range(CLAIM_TRIES):
                claimed = await self._queue.claim(lawyer.areas)
                if claimed is None:
                    break
                taken = await self._take(lawyer, now, tell, claimed)
                if taken is not None:
                    return Taking(Took.TAKEN, taken)
        # no index, or it had nothing (left) for these areas: the table decides
        taken = await self._take(lawyer, now, tell, None)
        return Taking(Took.NONE_WAITING) if taken is None else Taking(Took.TAKEN, taken)

    async def _held(self, lawyer_id: int) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(Consultation)
                                            .where(Consultation.lawyer_id == lawyer_id,
                                                   Consultation.status == Status.TAKEN.value))
                       or 0)

    async def _take(self, lawyer: LawyerRecord, now: datetime, tell: Tell,
                    claimed: int | None) -> ConsultationRecord | None:
        """Take ``claimed`` (from the index) if it is still queued in the lawyer's areas,
        else (``None``) the table's longest-waiting one."""
        for _ in range(CLAIM_TRIES):
            async with self._sessions.begin() as session:
                target = claimed
                if target is None:
                    query = (select(Consultation.id)
                             .where(Consultation.status == Status.QUEUED.value,
                                    Consultation.area.in_(list(lawyer.areas)))
                             .order_by(Consultation.queued_at, Consultation.id).limit(1))
                    if self._postgres:
                        query = query.with_for_update(skip_locked=True)
                    target = await session.scalar(query)
                    if target is None:
                        return None
                row = await session.scalar(
                    update(Consultation)
                    .where(Consultation.id == target, Consultation.status == Status.QUEUED.value,
                           Consultation.area.in_(list(lawyer.areas)))
                    .values(status=Status.TAKEN.value, lawyer_id=lawyer.id, taken_at=now,
                            reminded_at=None, last_lawyer_at=None,
                            version=Consultation.version + 1)
                    .returning(Consultation))
                if row is None:
                    if claimed is not None:  # cancelled or taken since it was indexed
                        return None
                    continue  # SQLite: another writer took it between the two statements
                await session.execute(update(Lawyer).where(Lawyer.id == lawyer.id)
                                      .values(current_id=row.id))
                taken = record(row)
                await self._event(session, taken, Action.TAKEN, lawyer.id, now)
                await self._notes(session, taken, tell(taken))
                return taken
        return None

    # -- the conversation --------------------------------------------------------------------

    async def add(self, consultation_id: int, *, sender: Literal["citizen", "lawyer"],
                  kind: str, text: str = "", media_id: str | None = None, now: datetime,
                  lawyer_id: int | None = None, tell: Tell = _silent,
                  notice: Note | None = None) -> ConsultationRecord | None:
        """Keep a message of the consultation and make ``tell``'s pushes: the citizen's
        while it waits (more of the question) or while it is taken (relayed); the
        lawyer's (``lawyer_id``) while they hold it, with ``notice`` first (the template
        for a citizen out of reach) unless one went since the citizen last wrote.
        ``None``: it is not in such a state any more (ended, taken back, another
        lawyer's)."""
        if sender == "citizen":
            allowed = [Status.QUEUED.value, Status.TAKEN.value]
            # the citizen wrote: reachable again, an answer waiting for them goes now
            values: dict[str, Any] = {"last_citizen_at": now, "notified_at": None}
            condition: list[ColumnElement[bool]] = [Consultation.status.in_(allowed)]
        else:
            values = {"last_lawyer_at": now, "reminded_at": None,
                      "first_answer_at": func.coalesce(Consultation.first_answer_at, now)}
            if notice is not None:
                values["notified_at"] = func.coalesce(Consultation.notified_at, now)
            condition = [Consultation.status == Status.TAKEN.value,
                         Consultation.lawyer_id == lawyer_id]
        async with self._sessions.begin() as session:
            row = await session.scalar(
                update(Consultation).where(Consultation.id == consultation_id, *condition)
                .values(version=Consultation.version + 1, **values).returning(Consultation))
            if row is None:
                return None
            session.add(ConsultationMessage(
                consultation_id=row.id, sender=sender, kind=kind, text=text,
                lawyer_id=lawyer_id if sender == "lawyer" else row.lawyer_id,
                media_id=media_id, at=now))
            changed = record(row)
            first_notice = notice is not None and row.notified_at == now
            await self._notes(session, changed,
                              [*([notice] if first_notice and notice else []), *tell(changed)])
            return changed

    # -- ending, giving back, leaving -----------------------------------------------------------

    async def end(self, consultation_id: int, *, reason: EndReason, now: datetime,
                  lawyer_id: int | None = None, tell: Tell = _silent, note: str = "",
                  version: int | None = None,
                  survey: Callable[[ConsultationRecord], tuple[str, str]] | None = None,
                  ) -> ConsultationRecord | None:
        """End a taken consultation (by its lawyer, or for the citizen's silence), and
        with ``survey`` (the question and its template label) ask the citizen to rate the
        lawyer; ``None``: it is not taken (by that lawyer) any more, or (``version``) it
        changed since it was read."""
        condition: list[ColumnElement[bool]] = [Consultation.status == Status.TAKEN.value]
        if lawyer_id is not None:
            condition.append(Consultation.lawyer_id == lawyer_id)
        if version is not None:
            condition.append(Consultation.version == version)
        action = Action.ENDED if reason is EndReason.LAWYER else Action.SILENT
        async with self._sessions.begin() as session:
            row = await session.scalar(
                update(Consultation).where(Consultation.id == consultation_id, *condition)
                .values(status=Status.ENDED.value, ended_at=now, end_reason=reason.value,
                        version=Consultation.version + 1).returning(Consultation))
            if row is None:
                return None
            ended = record(row)
            await self._forget_current(session, ended)
            await self._event(session, ended, action, ended.lawyer_id, now, note)
            await self._notes(session, ended, tell(ended))
            if survey is not None:
                text, label = survey(ended)
                await ask_consultation(session, row, text=text, label=label, now=now)
        return ended

    async def give_back(self, consultation_id: int, *, lawyer_id: int, timed_out: bool,
                        now: datetime, note: str = "", tell: Tell = _silent,
                        version: int | None = None) -> ConsultationRecord | None:
        """Put a taken consultation back in the queue at its place (转回 by its lawyer, or
        the lawyer's silence); ``tell`` runs on it as it was (its lawyer still named).
        ``None``: not taken by that lawyer any more, or (``version``) changed since read."""
        async with self._sessions.begin() as session:
            before = await session.scalar(select(Consultation).where(
                Consultation.id == consultation_id, Consultation.lawyer_id == lawyer_id,
                Consultation.status == Status.TAKEN.value,
                *([] if version is None else [Consultation.version == version])))
            if before is None:
                return None
            held = record(before)
            row = await session.scalar(
                update(Consultation).where(Consultation.id == consultation_id,
                                           Consultation.version == held.version)
                .values(status=Status.QUEUED.value, lawyer_id=None, taken_at=None,
                        reminded_at=None, version=Consultation.version + 1)
                .returning(Consultation))
            if row is None:
                return None
            back = record(row)
            await self._forget_current(session, held)
            await self._event(session, back,
                              Action.TIMED_OUT if timed_out else Action.RETURNED,
                              lawyer_id, now, note)
            await self._notes(session, held, tell(held))
        await self._index(back)
        return back

    async def cancel(self, consultation_id: int, *, account: str, openid: str,
                     now: datetime) -> ConsultationRecord | None:
        """The citizen leaves the queue (取消): abandoned. ``None``: not theirs, or not
        waiting any more (a lawyer took it meanwhile)."""
        async with self._sessions.begin() as session:
            row = await session.scalar(
                update(Consultation).where(
                    Consultation.id == consultation_id, Consultation.account == account,
                    Consultation.openid == openid, Consultation.status == Status.QUEUED.value)
                .values(status=Status.ABANDONED.value, ended_at=now,
                        end_reason=EndReason.CANCELLED.value,
                        version=Consultation.version + 1).returning(Consultation))
            if row is None:
                return None
            left = record(row)
            await self._event(session, left, Action.ABANDONED, None, now)
        await self._unindex(left)
        return left

    # -- the timers (scheduler/jobs.py) --------------------------------------------------------

    async def awaiting_lawyer(self, since_before: datetime) -> list[ConsultationRecord]:
        """Taken, and waiting for the lawyer since ``since_before`` or earlier: not
        answered since it was taken at that time, or the citizen's last word, after the
        lawyer's, came then (its moment: :func:`awaited_since`)."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(Consultation).where(
                Consultation.status == Status.TAKEN.value,
                ((Consultation.last_lawyer_at.is_(None))
                 & (Consultation.taken_at <= since_before))
                | ((Consultation.last_citizen_at > Consultation.last_lawyer_at)
                   & (Consultation.last_citizen_at <= since_before)))
                .order_by(Consultation.id))).all()
        return [record(row) for row in rows]

    async def silent(self, answered_before: datetime,
                     away_before: datetime) -> list[ConsultationRecord]:
        """Taken, and the citizen has said nothing since the lawyer's last message, sent
        at or before ``answered_before`` — or, when it waited for a citizen out of reach
        (the template went), at or before ``away_before``."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(Consultation).where(
                Consultation.status == Status.TAKEN.value,
                ((Consultation.notified_at.is_(None))
                 & (Consultation.last_lawyer_at <= answered_before))
                | ((Consultation.notified_at.is_not(None))
                   & (Consultation.last_lawyer_at <= away_before)),
                (Consultation.last_citizen_at.is_(None))
                | (Consultation.last_citizen_at < Consultation.last_lawyer_at))
                .order_by(Consultation.id))).all()
        return [record(row) for row in rows]

    async def remind(self, consultation: ConsultationRecord, *, now: datetime,
                     tell: Tell) -> bool:
        """Remind the lawyer once of a consultation waiting for their answer (as read:
        one answered since is left alone); whether this call did."""
        async with self._sessions.begin() as session:
            row = await session.scalar(
                update(Consultation).where(
                    Consultation.id == consultation.id,
                    Consultation.version == consultation.version,
                    Consultation.reminded_at.is_(None))
                .values(reminded_at=now, version=Consultation.version + 1)
                .returning(Consultation))
            if row is None:
                return False
            reminded = record(row)
            await self._event(session, reminded, Action.REMINDED, reminded.lawyer_id, now)
            await self._notes(session, reminded, tell(reminded))
        return True

    async def expire_waiting(self, before: datetime, *, now: datetime,
                             tell: Tell) -> int:
        """Close what has waited since ``before`` or earlier without any lawyer taking
        it (its citizen told ``tell``'s pushes): a question nobody answers should not
        promise an answer for ever. How many."""
        async with self._sessions() as session:
            stale = (await session.scalars(select(Consultation.id).where(
                Consultation.status == Status.QUEUED.value,
                Consultation.queued_at <= before))).all()
        done = 0
        for consultation_id in stale:
            async with self._sessions.begin() as session:
                row = await session.scalar(
                    update(Consultation).where(Consultation.id == consultation_id,
                                               Consultation.status == Status.QUEUED.value)
                    .values(status=Status.ENDED.value, ended_at=now,
                            end_reason=EndReason.EXPIRED.value,
                            version=Consultation.version + 1).returning(Consultation))
                if row is None:
                    continue
                closed = record(row)
                await self._event(session, closed, Action.EXPIRED, None, now)
                await self._notes(session, closed, tell(closed))
            done += 1
            await self._unindex(closed)
        return done

    async def give_back_inactive(self, now: datetime,
                                 tell_citizen: Callable[[ConsultationRecord], str]) -> int:
        """Give back to the queue what disabled lawyers still hold (a disable cut short
        left some, or the job finds them first), each citizen told ``tell_citizen``;
        how many."""
        async with self._sessions() as session:
            rows = (await session.execute(
                select(Consultation.id, Consultation.lawyer_id, Consultation.version)
                .join(Lawyer, Lawyer.id == Consultation.lawyer_id)
                .where(Consultation.status == Status.TAKEN.value,
                       Lawyer.active.is_(False)))).all()
        done = 0
        for consultation_id, lawyer_id, version in rows:
            assert lawyer_id is not None  # joined with its lawyer
            back = await self.give_back(
                consultation_id, lawyer_id=lawyer_id, timed_out=False, now=now,
                note="disabled", version=version,
                tell=lambda c: [Note("citizen", TO_CITIZEN, tell_citizen(c))])
            done += back is not None
        return done

    async def restore_index(self) -> int:
        """Put what waits in the table back in the Redis index (what Redis lost); how many
        it lacked. 0 without Redis."""
        if self._queue is None:
            return 0
        async with self._sessions() as session:
            rows = (await session.execute(
                select(Consultation.area, Consultation.id, Consultation.queued_at)
                .where(Consultation.status == Status.QUEUED.value))).all()
        return await self._queue.restore((area, cid, at) for area, cid, at in rows)

    # -- pieces ------------------------------------------------------------------------------

    @staticmethod
    async def _news(session: AsyncSession, row: Consultation, text: str) -> None:
        holding = select(Consultation.lawyer_id).where(
            Consultation.status == Status.TAKEN.value,
            Consultation.lawyer_id.is_not(None)).distinct()
        idle = (await session.execute(select(
            Lawyer.areas, Lawyer.wechat_account, Lawyer.wechat_openid).where(
            Lawyer.on_duty.is_(True), Lawyer.active.is_(True),
            Lawyer.wechat_openid.is_not(None), Lawyer.id.not_in(holding)))).all()
        for areas, account, openid in idle:
            if row.area in areas and account and openid:
                add_push(session, account=account, openid=openid, purpose=TO_LAWYER,
                         text=text)

    @staticmethod
    async def _event(session: AsyncSession, consultation: ConsultationRecord, action: Action,
                     lawyer_id: int | None, now: datetime, note: str = "") -> None:
        session.add(ConsultationEvent(consultation_id=consultation.id, action=action.value,
                                      lawyer_id=lawyer_id, note=note, at=now))

    @staticmethod
    async def _forget_current(session: AsyncSession,
                              consultation: ConsultationRecord) -> None:
        """The lawyer's current consultation is none once it is no longer theirs."""
        if consultation.lawyer_id is not None:
            await session.execute(update(Lawyer).where(
                Lawyer.id == consultation.lawyer_id, Lawyer.current_id == consultation.id)
                .values(current_id=None))

    @staticmethod
    async def _notes(session: AsyncSession, consultation: ConsultationRecord,
                     notes: Sequence[Note]) -> None:
        lawyer: tuple[str | None, str | None] | None = None
        for note in notes:
            if note.to == "citizen":
                account, openid = consultation.account, consultation.openid
            else:
                if lawyer is None and consultation.lawyer_id is not None:
                    found = (await session.execute(
                        select(Lawyer.wechat_account, Lawyer.wechat_openid)
                        .where(Lawyer.id == consultation.lawyer_id))).first()
                    lawyer = (None, None) if found is None else (found[0], found[1])
                if lawyer is None or lawyer[0] is None or lawyer[1] is None:
                    continue  # no lawyer, or one unbound since: the list shows it
                account, openid = lawyer[0], lawyer[1]
            pieces = [note.text] if note.message is not None else split_text(note.text)
            for piece in pieces:
                add_push(session, account=account, openid=openid, purpose=note.purpose,
                         text=piece, fields=note.fields, message=note.message)


def awaited_since(consultation: ConsultationRecord) -> datetime:
    """Since when a taken consultation waits for its lawyer: its taking, if the lawyer
    has not answered since; else the citizen's last word."""
    if consultation.last_lawyer_at is None or consultation.last_citizen_at is None:
        assert consultation.taken_at is not None
        return consultation.taken_at
    return consultation.last_citizen_at
