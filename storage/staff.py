"""Staff accounts and their API tokens (domain/staff.py has the rules).

Passwords are hashed with argon2id (``argon2-cffi``, its RFC 9106 low-memory profile by
default), off the event loop: a hash takes tens of milliseconds by design. An API token is
``lx_`` and 43 characters of ``secrets.token_urlsafe`` (256 bits); only its SHA-256 is
kept, and the secret is returned once, when it is made. A token of a disabled account, or
a revoked one, authenticates nobody. Its last use is recorded at most once a minute.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import ColumnElement, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from domain.staff import (
    LOGIN,
    PASSWORD_MAX,
    TOKEN_LABEL_MAX,
    AccountError,
    Role,
    StaffRecord,
    TokenRecord,
    check_account,
    check_password,
)
from storage import one_time_codes as codes
from storage.models import Staff, StaffBindCode, StaffToken

TOKEN_PREFIX = "lx_"
LAST_USED_EVERY = timedelta(minutes=1)  # how often a token's last use is written
BIND_CODE_TTL = timedelta(minutes=10)


class UnknownAccount(LookupError):
    """No account has this login name."""

    def __init__(self, login: str) -> None:
        super().__init__(f"no staff account {login!r}")
        self.login = login


def _now() -> datetime:
    return datetime.now(UTC)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _utf8(text: str) -> bytes:
    """What is hashed: a password as typed, with whatever bad bytes a request carried
    (a lone surrogate from undecodable input) kept rather than failing."""
    return text.encode("utf-8", "surrogatepass")


def _record(row: Staff) -> StaffRecord:
    return StaffRecord(id=row.id, login=row.login, display_name=row.display_name,
                       role=Role(row.role), department=row.department, active=row.active,
                       created_at=_aware(row.created_at))


def _token(row: StaffToken) -> TokenRecord:
    return TokenRecord(id=row.id, staff_id=row.staff_id, label=row.label,
                       created_at=_aware(row.created_at),
                       last_used_at=_aware_or_none(row.last_used_at),
                       revoked_at=_aware_or_none(row.revoked_at))


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes for what was written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _aware_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else _aware(moment)


class StaffAccounts:
    """The staff repository."""

    def __init__(self, engine: AsyncEngine, *, hasher: PasswordHasher | None = None,
                 clock: Callable[[], datetime] = _now) -> None:
        self._engine = engine
        self._hasher = hasher or PasswordHasher()
        self._clock = clock
        self._dummy: str | None = None  # verified against when no account matches

    async def count(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(Staff))).scalar_one())

    async def add(self, login: str, display_name: str, role: Role, department: str | None,
                  password: str | None = None) -> StaffRecord:
        """A new active account; :class:`AccountError` for a bad field or a login in use.
        (That ``department`` names a department of the catalogue is the caller's check.)"""
        check_account(login, display_name, role, department)
        hashed = None
        if password is not None:
            check_password(password)
            hashed = await asyncio.to_thread(self._hasher.hash, _utf8(password))
        row = Staff(login=login, display_name=display_name.strip(), role=role.value,
                    department=department or None, active=True, password_hash=hashed,
                    created_at=self._clock())
        try:
            async with AsyncSession(self._engine, expire_on_commit=False) as session:
                session.add(row)
                await session.commit()
        except IntegrityError:
            raise AccountError("login", f"{login!r} is taken") from None
        return _record(row)

    async def _row(self, *where: ColumnElement[bool]) -> Staff | None:
        async with AsyncSession(self._engine) as session:
            return (await session.scalars(select(Staff).where(*where))).first()

    async def get(self, login: str) -> StaffRecord | None:
        row = await self._row(Staff.login == login)
        return None if row is None else _record(row)

    async def by_id(self, staff_id: int) -> StaffRecord | None:
        row = await self._row(Staff.id == staff_id)
        return None if row is None else _record(row)

    async def all(self) -> list[StaffRecord]:
        async with AsyncSession(self._engine) as session:
            rows = (await session.scalars(select(Staff).order_by(Staff.login))).all()
        return [_record(row) for row in rows]

    async def set_active(self, login: str, active: bool) -> StaffRecord:
        """Disable (or enable again) an account: a disabled one signs in with nothing, its
        tokens included. :class:`UnknownAccount` if there is none."""
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(Staff).where(Staff.login == login)
                .values(active=active, disabled_at=None if active else self._clock()))
        if done.rowcount == 0:
            raise UnknownAccount(login)
        found = await self.get(login)
        assert found is not None
        return found

    async def set_password(self, login: str, password: str) -> None:
        """:class:`AccountError` for a bad password, :class:`UnknownAccount`."""
        check_password(password)
        hashed = await asyncio.to_thread(self._hasher.hash, _utf8(password))
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(Staff).where(Staff.login == login).values(password_hash=hashed))
        if done.rowcount == 0:
            raise UnknownAccount(login)

    async def sign_in(self, login: str, password: str) -> StaffRecord | None:
        """The active account with this login and password, else ``None``; as slow for an
        unknown login as for a wrong password, so the answer's time tells nothing (the
        hash verified against when there is no account is made before the look-up, the
        first time, whoever asks)."""
        dummy = await self._dummy_hash()
        staff = await self._row(Staff.login == login) if LOGIN.fullmatch(login) else None
        if staff is None or staff.password_hash is None or len(password) > PASSWORD_MAX:
            await asyncio.to_thread(self._verify, dummy, password[:PASSWORD_MAX])
            return None
        if not await asyncio.to_thread(self._verify, staff.password_hash, password):
            return None
        return _record(staff) if staff.active else None

    def _verify(self, hashed: str, password: str) -> bool:
        try:
            return self._hasher.verify(hashed, _utf8(password))
        except (VerificationError, InvalidHashError):
            return False

    async def _dummy_hash(self) -> str:
        if self._dummy is None:
            self._dummy = await asyncio.to_thread(self._hasher.hash, secrets.token_hex(16))
        return self._dummy

    # -- API tokens -------------------------------------------------------------------------

    async def create_token(self, login: str, label: str) -> tuple[TokenRecord, str]:
        """A new token for the account: its record and its secret (shown once, not kept).
        :class:`UnknownAccount`; :class:`AccountError` for a bad label or a disabled
        account."""
        label = label.strip()
        if not label or len(label) > TOKEN_LABEL_MAX:
            raise AccountError("label", f"1–{TOKEN_LABEL_MAX} characters")
        staff = await self.get(login)
        if staff is None:
            raise UnknownAccount(login)
        if not staff.active:
            raise AccountError("login", f"{login!r} is disabled")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = self._clock()
        async with self._engine.begin() as conn:
            token_id = (await conn.execute(
                insert(StaffToken).values(
                    staff_id=staff.id, label=label, secret_hash=_digest(secret),
                    created_at=now).returning(StaffToken.id))).scalar_one()
        return TokenRecord(id=token_id, staff_id=staff.id, label=label, created_at=now,
                           last_used_at=None, revoked_at=None), secret

    async def tokens(self, login: str) -> list[TokenRecord]:
        """The account's tokens, revoked ones included, oldest first."""
        async with AsyncSession(self._engine) as session:
            rows = (await session.scalars(
                select(StaffToken).join(Staff, Staff.id == StaffToken.staff_id)
                .where(Staff.login == login).order_by(StaffToken.id))).all()
        return [_token(row) for row in rows]

    async def revoke_token(self, token_id: int, login: str | None = None) -> bool:
        """Revoke token ``token_id`` (of account ``login`` when given); whether a token
        that was live is revoked now."""
        condition = [StaffToken.id == token_id, StaffToken.revoked_at.is_(None)]
        if login is not None:
            condition.append(StaffToken.staff_id.in_(
                select(Staff.id).where(Staff.login == login).scalar_subquery()))
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(StaffToken).where(*condition).values(revoked_at=self._clock()))
        return done.rowcount == 1

    async def authenticate(self, secret: str) -> StaffRecord | None:
        """The active account a live token ``secret`` belongs to, else ``None``."""
        if not secret.startswith(TOKEN_PREFIX) or len(secret) > 128 or not secret.isascii():
            return None  # no token of ours
        now = self._clock()
        async with AsyncSession(self._engine) as session:
            row = (await session.execute(
                select(Staff, StaffToken.id, StaffToken.last_used_at)
                .join(StaffToken, StaffToken.staff_id == Staff.id)
                .where(StaffToken.secret_hash == _digest(secret),
                       StaffToken.revoked_at.is_(None), Staff.active.is_(True)))).first()
        if row is None:
            return None
        staff, token_id, used = row
        if used is None or now - _aware(used) >= LAST_USED_EVERY:
            async with self._engine.begin() as conn:
                await conn.execute(update(StaffToken).where(StaffToken.id == token_id)
                                   .values(last_used_at=now))
        return _record(staff)


    # -- WeChat binding --------------------------------------------------------------------

    async def bind_code(self, login: str) -> tuple[str, datetime]:
        """A one-time code (8 digits, valid 10 minutes) that binds the WeChat user who
        sends it to this account, and when it expires. :class:`UnknownAccount`;
        :class:`AccountError` for a disabled account."""
        staff = await self.get(login)
        if staff is None:
            raise UnknownAccount(login)
        if not staff.active:
            raise AccountError("login", f"{login!r} is disabled")
        now = self._clock()

        async def store(code_hash: str) -> None:
            async with self._engine.begin() as conn:
                await conn.execute(insert(StaffBindCode).values(
                    staff_id=staff.id, code_hash=code_hash, expires_at=now + BIND_CODE_TTL))

        return await codes.issue(store), now + BIND_CODE_TTL

    async def forget_bind_codes(self, before: datetime) -> int:
        """Delete the bind codes that expired before ``before`` (used or not); how many."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(StaffBindCode).where(StaffBindCode.expires_at < before))
            return int(result.rowcount)

    async def bind(self, code: str, account: str, openid: str) -> StaffRecord | None:
        """Bind the WeChat user to the account of a live ``code`` (used up by this call);
        ``None`` for a code that is wrong, used or expired. The user is unbound from any
        other account first: one WeChat user, one account."""
        if not codes.well_formed(code):
            return None
        now = self._clock()
        try:
            return await self._bind(code, account, openid, now)
        except IntegrityError:  # the same user bound elsewhere at the same moment
            return None

    async def _bind(self, code: str, account: str, openid: str,
                    now: datetime) -> StaffRecord | None:
        async with AsyncSession(self._engine) as session, session.begin():
            staff_id = await session.scalar(
                update(StaffBindCode)
                .where(StaffBindCode.code_hash == codes.digest(code),
                       StaffBindCode.used_at.is_(None), StaffBindCode.expires_at > now)
                .values(used_at=now).returning(StaffBindCode.staff_id))
            if staff_id is None:
                return None
            row = await session.get(Staff, staff_id)
            if row is None or not row.active:  # disabled since the code was made
                return None
            await session.execute(
                update(Staff).where(Staff.wechat_account == account,
                                    Staff.wechat_openid == openid)
                .values(wechat_account=None, wechat_openid=None))
            await session.execute(
                update(Staff).where(Staff.id == staff_id)
                .values(wechat_account=account, wechat_openid=openid))
            await session.refresh(row)
            return _record(row)

    async def unbind(self, account: str, openid: str) -> bool:
        """Unbind the WeChat user from its staff account; whether one was bound."""
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(Staff).where(Staff.wechat_account == account,
                                    Staff.wechat_openid == openid)
                .values(wechat_account=None, wechat_openid=None))
        return done.rowcount > 0

    async def unbind_login(self, login: str) -> bool:
        """Unbind the account's WeChat user (a lost phone); whether one was bound.
        :class:`UnknownAccount`."""
        if await self.get(login) is None:
            raise UnknownAccount(login)
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(Staff).where(Staff.login == login, Staff.wechat_openid.is_not(None))
                .values(wechat_account=None, wechat_openid=None))
        return done.rowcount > 0

    async def bound(self, account: str, openid: str) -> StaffRecord | None:
        """The active account this WeChat user is bound to, if any."""
        row = await self._row(Staff.wechat_account == account, Staff.wechat_openid == openid,
                              Staff.active.is_(True))
        return None if row is None else _record(row)

    async def all_bound(self) -> dict[tuple[str, str], StaffRecord]:
        """Every active account with a bound WeChat user, by (account, openid)."""
        async with AsyncSession(self._engine) as session:
            rows = (await session.scalars(select(Staff).where(
                Staff.wechat_openid.is_not(None), Staff.active.is_(True)))).all()
        return {(row.wechat_account or "", row.wechat_openid or ""): _record(row)
                for row in rows}
