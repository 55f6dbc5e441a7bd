"""Staff accounts (domain/staff.py, storage/staff.py) on SQLite and PostgreSQL: the rules
for an account, passwords hashed with argon2, API tokens shown once and kept hashed,
revoked, disabled accounts; what each role may see. The command line: tests/test_staff_cli.py."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.staff import AccountError, Role, StaffRecord, check_account
from storage.staff import StaffAccounts, UnknownAccount

# argon2 at its cheapest, so the tests stay fast; production keeps the library's default
FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def staff(engine: AsyncEngine, clock: Clock) -> StaffAccounts:
    async with engine.begin() as conn:
        for table in ("staff_tokens", "staff"):
            await conn.execute(text(f"DELETE FROM {table}"))
    return StaffAccounts(engine, hasher=FAST, clock=clock)


# -- the rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(("login", "name", "role", "department", "field"), [
    ("ab", "张三", Role.HANDLER, "zjj", "login"),  # too short
    ("Zhang", "张三", Role.HANDLER, "zjj", "login"),  # upper case
    ("1zhang", "张三", Role.HANDLER, "zjj", "login"),
    ("zhang san", "张三", Role.HANDLER, "zjj", "login"),
    ("z" * 33, "张三", Role.HANDLER, "zjj", "login"),
    ("zhang", " ", Role.HANDLER, "zjj", "display_name"),
    ("zhang", "张" * 65, Role.HANDLER, "zjj", "display_name"),
    ("zhang", "张三", Role.HANDLER, None, "department"),  # a handler needs one
    ("zhang", "张三", Role.SUPERVISOR, "zjj", "department"),  # the office has none
    ("zhang", "张三", Role.ADMIN, "zjj", "department"),
])
def test_an_account_is_refused_naming_the_field(login: str, name: str, role: Role,
                                                department: str | None, field: str) -> None:
    with pytest.raises(AccountError) as refused:
        check_account(login, name, role, department)
    assert refused.value.field == field


def test_valid_accounts() -> None:
    check_account("zhang.san_2", "张三", Role.HANDLER, "zjj")
    check_account("ops", "12345 值班", Role.SUPERVISOR, None)
    check_account("z" * 32, "管理员", Role.ADMIN, None)


def record(role: Role, department: str | None, active: bool = True) -> StaffRecord:
    return StaffRecord(1, "x", "X", role, department, active, datetime.now(UTC))


def test_a_handler_sees_its_own_department_and_a_supervisor_every_one() -> None:
    assert record(Role.HANDLER, "zjj").sees_department("zjj")
    assert not record(Role.HANDLER, "zjj").sees_department("gaj")
    assert record(Role.SUPERVISOR, None).sees_department("gaj")
    assert not record(Role.ADMIN, None).sees_department("zjj")  # accounts, not tickets
    assert not record(Role.SUPERVISOR, None, active=False).sees_department("zjj")
    assert not record(Role.HANDLER, "zjj", active=False).sees_department("zjj")


# -- accounts and passwords ------------------------------------------------------------------


async def test_an_account_signs_in_with_its_password_only(staff: StaffAccounts) -> None:
    made = await staff.add("zhang", "张三", Role.HANDLER, "zjj", PASSWORD)
    assert (made.login, made.role, made.department, made.active) == (
        "zhang", Role.HANDLER, "zjj", True)
    assert await staff.sign_in("zhang", PASSWORD) == made
    assert await staff.sign_in("zhang", PASSWORD + "!") is None
    assert await staff.sign_in("nobody", PASSWORD) is None
    assert await staff.count() == 1


class Counting(PasswordHasher):
    """The cheap hasher, noting the longest password it was given."""

    longest = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        Counting.longest = max(Counting.longest, len(password))
        return super().verify(hash, password)


async def test_a_huge_password_is_refused_without_hashing_it_all(engine: AsyncEngine,
                                                                  staff: StaffAccounts) -> None:
    counting = StaffAccounts(engine, hasher=Counting(time_cost=1, memory_cost=8,
                                                      parallelism=1))
    await counting.add("zhang", "张三", Role.HANDLER, "zjj", PASSWORD)
    assert await counting.sign_in("zhang", PASSWORD + "x" * 100_000) is None
    assert await counting.sign_in("nobody", "x" * 100_000) is None
    assert Counting.longest <= 1024


async def test_undecodable_input_signs_in_nobody_and_fails_nothing(
    staff: StaffAccounts,
) -> None:
    """aiohttp reads bad UTF-8 in a header as lone surrogates: no account, no error."""
    await staff.add("zhang", "张三", Role.HANDLER, "zjj", PASSWORD)
    await staff.create_token("zhang", "t")
    assert await staff.sign_in("zhang", "pass\udcffword here") is None
    assert await staff.sign_in("nob\udcffody", PASSWORD) is None
    assert await staff.authenticate("lx_\udcff" + "A" * 42) is None


async def test_the_password_is_kept_as_an_argon2id_hash(staff: StaffAccounts,
                                                        engine: AsyncEngine) -> None:
    await staff.add("zhang", "张三", Role.HANDLER, "zjj", PASSWORD)
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT password_hash FROM staff"))).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_a_short_password_and_a_taken_login_are_refused(staff: StaffAccounts) -> None:
    with pytest.raises(AccountError, match="password: at least 10 characters"):
        await staff.add("zhang", "张三", Role.HANDLER, "zjj", "short")
    assert await staff.get("zhang") is None  # nothing kept of a refused account
    await staff.add("zhang", "张三", Role.HANDLER, "zjj")
    with pytest.raises(AccountError, match="login: 'zhang' is taken"):
        await staff.add("zhang", "张三丰", Role.SUPERVISOR, None)
    assert [s.display_name for s in await staff.all()] == ["张三"]


async def test_two_accounts_made_at_once_with_one_login_make_one(staff: StaffAccounts) -> None:
    results = await asyncio.gather(
        *(staff.add("lisi", f"李{n}", Role.SUPERVISOR, None) for n in range(5)),
        return_exceptions=True)
    assert sum(isinstance(r, StaffRecord) for r in results) == 1
    assert all(isinstance(r, (StaffRecord, AccountError)) for r in results)


async def test_a_new_password_replaces_the_old(staff: StaffAccounts) -> None:
    await staff.add("zhang", "张三", Role.HANDLER, "zjj")  # tokens only, at first
    assert await staff.sign_in("zhang", PASSWORD) is None
    await staff.set_password("zhang", PASSWORD)
    assert await staff.sign_in("zhang", PASSWORD) is not None
    await staff.set_password("zhang", "another long one")
    assert await staff.sign_in("zhang", PASSWORD) is None
    assert await staff.sign_in("zhang", "another long one") is not None
    with pytest.raises(UnknownAccount):
        await staff.set_password("nobody", PASSWORD)


# -- tokens ------------------------------------------------------------------------------------


async def test_a_token_is_shown_once_kept_hashed_and_names_its_account(
    staff: StaffAccounts, engine: AsyncEngine,
) -> None:
    made = await staff.add("zhang", "张三", Role.HANDLER, "zjj")
    token, secret = await staff.create_token("zhang", "curl on my laptop")
    assert secret.startswith("lx_") and len(secret) == 46
    assert await staff.authenticate(secret) == made
    async with engine.connect() as conn:
        kept = (await conn.execute(text("SELECT secret_hash FROM staff_tokens"))).scalar_one()
    assert kept == hashlib.sha256(secret.encode()).hexdigest() and secret not in kept
    assert [t.label for t in await staff.tokens("zhang")] == ["curl on my laptop"]
    assert token.staff_id == made.id
    _, second = await staff.create_token("zhang", "the console")
    assert second != secret and await staff.authenticate(second) == made


@pytest.mark.parametrize("secret", ["", "lx_", "lx_" + "A" * 43, "Bearer lx_x", "x" * 10_000])
async def test_anything_but_a_live_token_authenticates_nobody(staff: StaffAccounts,
                                                              secret: str) -> None:
    await staff.add("zhang", "张三", Role.HANDLER, "zjj")
    await staff.create_token("zhang", "t")
    assert await staff.authenticate(secret) is None


async def test_a_revoked_token_and_a_disabled_account_authenticate_nobody(
    staff: StaffAccounts,
) -> None:
    await staff.add("zhang", "张三", Role.HANDLER, "zjj", PASSWORD)
    await staff.add("wang", "王五", Role.SUPERVISOR, None)
    first, secret = await staff.create_token("zhang", "one")
    _, other = await staff.create_token("zhang", "two")
    assert not await staff.revoke_token(first.id, "wang")  # not wang's to revoke
    assert await staff.authenticate(secret) is not None
    assert await staff.revoke_token(first.id, "zhang")
    assert not await staff.revoke_token(first.id)  # already
    assert await staff.authenticate(secret) is None
    assert await staff.authenticate(other) is not None  # only that one
    disabled = await staff.set_active("zhang", False)
    assert not disabled.active
    assert await staff.authenticate(other) is None
    assert await staff.sign_in("zhang", PASSWORD) is None
    with pytest.raises(AccountError, match="disabled"):
        await staff.create_token("zhang", "three")
    await staff.set_active("zhang", True)
    assert await staff.authenticate(other) is not None  # enabled again
    with pytest.raises(UnknownAccount):
        await staff.set_active("nobody", False)
    with pytest.raises(UnknownAccount):
        await staff.create_token("nobody", "t")


async def test_a_tokens_last_use_is_kept_at_most_once_a_minute(staff: StaffAccounts,
                                                               clock: Clock) -> None:
    await staff.add("zhang", "张三", Role.HANDLER, "zjj")
    _, secret = await staff.create_token("zhang", "t")
    assert (await staff.tokens("zhang"))[0].last_used_at is None
    first = clock.now
    await staff.authenticate(secret)
    clock.now += timedelta(seconds=30)
    await staff.authenticate(secret)
    assert (await staff.tokens("zhang"))[0].last_used_at == first
    clock.now += timedelta(seconds=30)
    await staff.authenticate(secret)
    assert (await staff.tokens("zhang"))[0].last_used_at == clock.now


@pytest.mark.parametrize("label", ["", "   ", "x" * 65])
async def test_a_token_needs_a_label(staff: StaffAccounts, label: str) -> None:
    await staff.add("zhang", "张三", Role.HANDLER, "zjj")
    with pytest.raises(AccountError, match="label"):
        await staff.create_token("zhang", label)
    assert await staff.tokens("zhang") == []


async def test_by_default_passwords_get_argon2s_recommended_cost(
    engine: AsyncEngine, staff: StaffAccounts,
) -> None:
    """RFC 9106's second recommendation (64 MiB, 3 passes, 4 lanes), as argon2-cffi
    ships it; the tests above use the cheapest only to stay fast."""
    await StaffAccounts(engine).add("zhang", "张三", Role.HANDLER, "zjj", PASSWORD)
    async with engine.connect() as conn:
        stored = (await conn.execute(text("SELECT password_hash FROM staff"))).scalar_one()
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert await StaffAccounts(engine).sign_in("zhang", PASSWORD) is not None
