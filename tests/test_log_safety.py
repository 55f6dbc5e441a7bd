"""What a citizen told the bot never reaches a log line: not through a failing statement's
exception (SQLite and a real PostgreSQL), not through a library's DEBUG output, and no
phone number in any spelling."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.logs import QUIET_BELOW, configure
from domain.contact import phones_in
from storage import db
from storage.tickets import NewTicket, Tickets

log = logging.getLogger("lianxin.test")

OPENID = "oLeakCheckOpenid4711"
DESCRIPTION = "楼道漏水三个月LEAKCHECK描述，物业不管"
PHONE = "13912340000"
PLACE = "幸福小区LEAKCHECK3栋"
LATITUDE, LONGITUDE = 27.123456, 112.654321
KEY = "complaint:leakcheck-idempotency"
DAY = date(2099, 12, 31)
NUMBER = f"LX{DAY:%Y%m%d}-000001"
# every value the INSERT of the ticket carries that a log line could repeat
SECRETS = (OPENID, "LEAKCHECK", PHONE, "139****0000", PLACE, "27.123456", "112.654321", KEY,
           NUMBER)
NEW = NewTicket(idempotency_key=KEY, account="default", openid=OPENID, kind="投诉",
                category="zfjs", region="dcjd", department="zjj", description=DESCRIPTION,
                due_on=DAY, phone=PHONE, latitude=LATITUDE, longitude=LONGITUDE, place=PLACE)


@pytest.fixture
def logging_to_stderr() -> Iterator[None]:
    """Lets a test call :func:`configure`, and puts the logging set-up back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    names = [*QUIET_BELOW, "apscheduler", "apscheduler.scheduler"]
    levels = {name: logging.getLogger(name).level for name in names}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, saved in levels.items():
        logging.getLogger(name).setLevel(saved)


async def _number_taken(tickets: Tickets, engine: AsyncEngine) -> None:
    """A second ticket gets the number of the first: the day's counter row was lost."""
    await tickets.create(replace(NEW, idempotency_key="first", openid="oFirst",
                                 description="第一张工单的描述文字", phone=None, place=None,
                                 latitude=None, longitude=None),
                         day=DAY, now=datetime(2099, 12, 31, tzinfo=UTC))
    async with engine.begin() as conn:
        await conn.execute(text("DELETE FROM ticket_counters"))
    await tickets.create(NEW, day=DAY, now=datetime(2099, 12, 31, tzinfo=UTC))


async def _kind_missing(tickets: Tickets, engine: AsyncEngine) -> None:
    """A NOT NULL column left empty (PostgreSQL quotes the whole failing row back)."""
    await tickets.create(replace(NEW, kind=None),  # type: ignore[arg-type]
                         day=DAY, now=datetime(2099, 12, 31, tzinfo=UTC))


@pytest.mark.parametrize("violation", [_number_taken, _kind_missing])
async def test_a_failing_statement_logs_no_citizen_data(
    engine: AsyncEngine, tickets: Tickets, logging_to_stderr: None,
    capsys: pytest.CaptureFixture[str], violation: object,
) -> None:
    configure("INFO")  # the default level: the exception is logged at ERROR
    with pytest.raises(IntegrityError) as caught:
        await violation(tickets, engine)  # type: ignore[operator]
    log.error("filing the ticket failed", exc_info=caught.value)
    err = capsys.readouterr().err
    assert "IntegrityError" in err
    assert [value for value in SECRETS if value in err] == []
    assert "Failing row" not in err
    assert "Key (" not in err
    assert "[SQL parameters hidden due to hide_parameters=True]" in err


async def test_a_value_asyncpg_cannot_encode_is_not_quoted(
    postgres_url: str, logging_to_stderr: None, capsys: pytest.CaptureFixture[str],
) -> None:
    """A value of the wrong type (a bug: the place where the latitude goes) is named by
    asyncpg in its error text, up to 40 characters of it."""
    configure("INFO")
    engine = db.make_engine(postgres_url)
    try:
        with pytest.raises(DBAPIError) as caught:
            await Tickets(engine).create(replace(NEW, latitude=PLACE),  # type: ignore[arg-type]
                                         day=DAY, now=datetime(2099, 12, 31, tzinfo=UTC))
    finally:
        await engine.dispose()
    log.error("filing the ticket failed", exc_info=caught.value)
    err = capsys.readouterr().err
    assert [value for value in SECRETS if value in err] == []
    assert "invalid input for query argument $" in err
    assert "the value is not shown" in err


async def test_debug_logging_prints_no_statement_parameters(
    database_url: str, logging_to_stderr: None, capsys: pytest.CaptureFixture[str],
) -> None:
    configure("DEBUG")
    log.debug("debug lines are printed")  # so the absence below is not for want of DEBUG
    engine = db.make_engine(database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM citizens"))
        citizens = db.Citizens(engine)
        await citizens.set_subscribed("default", OPENID, True)
        assert (await citizens.get("default", OPENID)) is not None  # a row read back, too
    finally:
        await engine.dispose()
    err = capsys.readouterr().err
    assert "DEBUG lianxin.test: debug lines are printed" in err
    assert OPENID not in err


def test_every_phone_spelling_is_masked_in_message_exception_and_traceback(
    logging_to_stderr: None, capsys: pytest.CaptureFixture[str],
) -> None:
    configure("INFO")
    try:
        raise ValueError("citizen wrote +86 139-8765-4321")
    except ValueError:
        log.exception("filing for %s failed (电话 １３９ ８７６５ ４３２１)", "0086 13987654321",
                      stack_info=True)
    err = capsys.readouterr().err
    assert "ValueError: citizen wrote 139****4321" in err
    assert "filing for 139****4321 failed (电话 139****4321)" in err
    assert "Stack (most recent call last)" in err
    assert phones_in(err) == set()


def test_a_landline_and_a_number_in_numerals_are_masked_in_every_line(
    logging_to_stderr: None, capsys: pytest.CaptureFixture[str],
) -> None:
    configure("INFO")
    try:
        raise ValueError("citizen wrote 座机（0731）8456 7890")
    except ValueError:
        log.exception("filing for %s failed (手机 一三八〇〇一三八〇〇〇)", "073184567890")
    err = capsys.readouterr().err
    assert "ValueError: citizen wrote 座机0731-****7890" in err
    assert "filing for 0731-****7890 failed (手机 138****8000)" in err
    assert "84567890" not in err and "8456 7890" not in err
    assert phones_in(err) == set()
