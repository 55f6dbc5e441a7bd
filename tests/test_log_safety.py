"""What a citizen told the bot never reaches a log line: not through a library's DEBUG
output, and no phone number in any spelling."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import text

from bot.logs import QUIET_BELOW, configure
from domain.contact import mobiles_in
from storage import db

log = logging.getLogger("lianxin.test")

OPENID = "oLeakCheckOpenid4711"


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
    assert mobiles_in(err) == set()
