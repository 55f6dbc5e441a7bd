"""Duty lawyers' profiles, their invite codes and their WeChat binding
(domain/consultation.py has the rules of a profile).

A profile is made by an admin (``lianxin lawyer invite`` or the staff API) with a one-time
invite code (8 digits, valid ``INVITE_TTL``, used once); the lawyer sends "律师绑定 <code>"
to the account and their WeChat user is bound to the profile: from then on the lawyer
router answers them. One WeChat user, one profile. A disabled profile serves nobody: its
lawyer is off duty and what they held goes back to the queue (storage/consultations.py).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from domain.consultation import (
    DEFAULT_CAPACITY,
    LawyerRecord,
    ProfileError,
    Status,
    check_profile,
)
from storage import one_time_codes as codes
from storage.models import Consultation, Lawyer, LawyerInvite, LawyerSignInCode

INVITE_TTL = timedelta(hours=24)
SIGN_IN_TTL = timedelta(minutes=10)  # a code to sign in to the web console


class StillHolding(Exception):
    """The WeChat user's current profile still holds consultations."""

    def __init__(self, count: int) -> None:
        super().__init__(f"the profile bound now holds {count} consultation(s)")
        self.count = count


class UnknownLawyer(LookupError):
    def __init__(self, lawyer_id: int) -> None:
        super().__init__(f"no lawyer {lawyer_id}")
        self.lawyer_id = lawyer_id


def _now() -> datetime:
    return datetime.now(UTC)


def record(row: Lawyer) -> LawyerRecord:
    return LawyerRecord(id=row.id, name=row.name, firm=row.firm, licence=row.licence,
                        areas=tuple(row.areas), capacity=row.capacity, active=row.active,
                        on_duty=row.on_duty, bound=row.wechat_openid is not None,
                        created_at=row.created_at)


class Lawyers:
    def __init__(self, engine: AsyncEngine, *, clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._clock = clock

    async def add(self, name: str, firm: str, licence: str, areas: Sequence[str], *,
                  capacity: int = DEFAULT_CAPACITY,
                  known_areas: Sequence[str] | None = None) -> LawyerRecord:
        """A new active profile, off duty and not bound yet; :class:`ProfileError` for a
        bad field or a licence number already on file."""
        check_profile(name, firm, licence, areas, capacity, known_areas)
        row = Lawyer(name=name.strip(), firm=firm.strip(), licence=licence, areas=list(areas),
                     capacity=capacity, active=True, on_duty=False, created_at=self._clock())
        try:
            async with self._sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            raise ProfileError("licence", f"{licence} is on file already") from None
        return record(row)

    async def get(self, lawyer_id: int) -> LawyerRecord | None:
        async with self._sessions() as session:
            row = await session.get(Lawyer, lawyer_id)
        return None if row is None else record(row)

    async def by_licence(self, licence: str) -> LawyerRecord | None:
        async with self._sessions() as session:
            row = (await session.scalars(select(Lawyer).where(Lawyer.licence == licence))
                   ).first()
        return None if row is None else record(row)

    async def all(self) -> list[LawyerRecord]:
        async with self._sessions() as session:
            rows = (await session.scalars(select(Lawyer).order_by(Lawyer.id))).all()
        return [record(row) for row in rows]

    async def set_active(self, lawyer_id: int, active: bool) -> LawyerRecord:
        """Disable a profile (it is off duty then; ``Consultations.give_back_inactive``
        puts back what it held, and the scheduler's job does if a caller did not), or
        enable it again. :class:`UnknownLawyer`."""
        now = self._clock()
        values: dict[str, object] = {"active": active,
                                     "disabled_at": None if active else now}
        if not active:
            values.update(on_duty=False, duty_changed_at=now, current_id=None)
        async with self._sessions.begin() as session:
            done = await session.execute(
                update(Lawyer).where(Lawyer.id == lawyer_id).values(**values))
        if done.rowcount == 0:  # type: ignore[attr-defined]
            raise UnknownLawyer(lawyer_id)
        found = await self.get(lawyer_id)
        assert found is not None
        return found

    async def set_duty(self, lawyer_id: int, on: bool) -> LawyerRecord | None:
        """On duty (上线) or off (下线); ``None`` for a profile that is not active."""
        async with self._sessions.begin() as session:
            done = await session.execute(
                update(Lawyer).where(Lawyer.id == lawyer_id, Lawyer.active.is_(True))
                .values(on_duty=on, duty_changed_at=self._clock()))
        if done.rowcount == 0:  # type: ignore[attr-defined]
            return None
        return await self.get(lawyer_id)

    async def covered_areas(self) -> frozenset[str]:
        """The legal areas some active lawyer with a bound WeChat user serves (on duty or
        not): a question in another would wait for nobody."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(Lawyer.areas).where(
                Lawyer.active.is_(True), Lawyer.wechat_openid.is_not(None)))).all()
        return frozenset(area for areas in rows for area in areas)

    async def on_duty(self) -> list[LawyerRecord]:
        """The active lawyers on duty now."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(Lawyer).where(
                Lawyer.on_duty.is_(True), Lawyer.active.is_(True)).order_by(Lawyer.id))).all()
        return [record(row) for row in rows]

    # -- invites and binding -----------------------------------------------------------------

    async def invite(self, lawyer_id: int) -> tuple[str, datetime]:
        """A one-time invite code for the profile and when it expires.
        :class:`UnknownLawyer`; :class:`ProfileError` for a disabled profile."""
        lawyer = await self.get(lawyer_id)
        if lawyer is None:
            raise UnknownLawyer(lawyer_id)
        if not lawyer.active:
            raise ProfileError("lawyer", f"lawyer {lawyer_id} is disabled")
        return await self._issue(LawyerInvite, lawyer_id, INVITE_TTL)

    async def _issue(self, table: type[LawyerInvite] | type[LawyerSignInCode],
                     lawyer_id: int, ttl: timedelta) -> tuple[str, datetime]:
        """A one-time code for the lawyer in ``table`` (its digest kept), and its expiry."""
        now = self._clock()

        async def store(code_hash: str) -> None:
            async with self._engine.begin() as conn:
                await conn.execute(insert(table).values(
                    lawyer_id=lawyer_id, code_hash=code_hash, created_at=now,
                    expires_at=now + ttl))

        return await codes.issue(store), now + ttl

    async def sign_in_code(self, lawyer_id: int) -> tuple[str, datetime]:
        """A one-time code (ten minutes) for the lawyer to sign in to the web console."""
        return await self._issue(LawyerSignInCode, lawyer_id, SIGN_IN_TTL)

    async def forget_codes(self, before: datetime) -> int:
        """Delete the invite and sign-in codes that expired before ``before``; how many."""
        async with self._engine.begin() as conn:
            done = 0
            for table in (LawyerInvite, LawyerSignInCode):
                result = await conn.execute(delete(table).where(table.expires_at < before))
                done += int(result.rowcount)
            return done

    async def sign_in(self, code: str) -> LawyerRecord | None:
        """The active lawyer whose live sign-in ``code`` this is (used up by this call);
        ``None`` for a code that is wrong, used or expired."""
        if not codes.well_formed(code):
            return None
        now = self._clock()
        async with AsyncSession(self._engine, expire_on_commit=False) as session, \
                session.begin():
            lawyer_id = await _use(session, LawyerSignInCode, code, now)
            row = None if lawyer_id is None else await session.get(Lawyer, lawyer_id)
        return record(row) if row is not None and row.active else None

    async def bind(self, code: str, account: str, openid: str) -> LawyerRecord | None:
        """Bind the WeChat user to the profile of a live invite ``code`` (used up by this
        call); ``None`` for a code that is wrong, used or expired, or a profile disabled
        since. The user is unbound from any other profile first — :class:`StillHolding`
        (the code not used up) while that profile holds consultations: its citizens
        would be left talking to nobody."""
        if not codes.well_formed(code):
            return None
        now = self._clock()
        try:
            async with AsyncSession(self._engine, expire_on_commit=False) as session, \
                    session.begin():
                lawyer_id = await _use(session, LawyerInvite, code, now)
                if lawyer_id is None:
                    return None
                row = await session.get(Lawyer, lawyer_id)
                if row is None or not row.active:
                    return None
                holding = await session.scalar(
                    select(func.count()).select_from(Consultation)
                    .join(Lawyer, Lawyer.id == Consultation.lawyer_id)
                    .where(Lawyer.wechat_account == account, Lawyer.wechat_openid == openid,
                           Lawyer.id != lawyer_id,
                           Consultation.status == Status.TAKEN.value))
                if holding:
                    raise StillHolding(int(holding))
                await session.execute(
                    update(Lawyer).where(Lawyer.wechat_account == account,
                                         Lawyer.wechat_openid == openid)
                    .values(wechat_account=None, wechat_openid=None, on_duty=False))
                await session.execute(
                    update(Lawyer).where(Lawyer.id == lawyer_id)
                    .values(wechat_account=account, wechat_openid=openid))
                await session.refresh(row)
                return record(row)
        except IntegrityError:  # the same user bound elsewhere at the same moment
            return None

    async def all_bound(self) -> dict[tuple[str, str], LawyerRecord]:
        """Every active profile with a bound WeChat user, by (account, openid)."""
        async with self._sessions() as session:
            rows = (await session.scalars(select(Lawyer).where(
                Lawyer.wechat_openid.is_not(None), Lawyer.active.is_(True)))).all()
        return {(row.wechat_account or "", row.wechat_openid or ""): record(row)
                for row in rows}

    async def bound_to(self, account: str, openid: str) -> LawyerRecord | None:
        """The active profile this WeChat user is bound to now, if any."""
        async with self._sessions() as session:
            row = (await session.scalars(select(Lawyer).where(
                Lawyer.wechat_account == account, Lawyer.wechat_openid == openid,
                Lawyer.active.is_(True)))).first()
        return None if row is None else record(row)

    async def set_current(self, lawyer_id: int, consultation_id: int | None) -> None:
        """Which consultation the lawyer's next messages go to (切换 N)."""
        async with self._sessions.begin() as session:
            await session.execute(update(Lawyer).where(Lawyer.id == lawyer_id)
                                  .values(current_id=consultation_id))

    async def current(self, lawyer_id: int) -> int | None:
        async with self._sessions() as session:
            return await session.scalar(select(Lawyer.current_id).where(Lawyer.id == lawyer_id))


async def _use(session: AsyncSession, table: type[LawyerInvite] | type[LawyerSignInCode],
               code: str, now: datetime) -> int | None:
    """Use up the live ``code`` of ``table`` in the caller's transaction: its lawyer's id,
    or ``None`` for a code that is wrong, used or expired."""
    found: int | None = await session.scalar(
        update(table).where(table.code_hash == codes.digest(code), table.used_at.is_(None),
                            table.expires_at > now)
        .values(used_at=now).returning(table.lawyer_id))
    return found
