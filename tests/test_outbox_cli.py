"""`lianxin scheduler` and `lianxin outbox` as an operator runs them."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from bot.config import Account
from devplatform.api import PLATFORM, create_api_app
from devplatform.state import PlatformState
from storage import db
from storage.outbox import Outbox
from tests.cli import cli_env, lianxin
from tests.conftest import APP_ID, APP_SECRET, TOKEN
from tests.test_delivery import STATUS_FIELDS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return cli_env(tmp_path, LIANXIN_WECHAT_TOKEN=TOKEN, LIANXIN_WECHAT_APP_ID=APP_ID,
                   LIANXIN_WECHAT_APP_SECRET=APP_SECRET)


async def test_list_retry_purge(env: dict[str, str]) -> None:
    engine = db.make_engine(env["LIANXIN_DATABASE_URL"])
    outbox = Outbox(engine)
    first = await outbox.add(account="default", openid="oOp", purpose="reply", text="a")
    (claimed,) = await outbox.claim("w", limit=1, lease=30)
    await outbox.give_up(claimed.id, "w", "dead", "gave up after 8 tries: errcode -1")
    await outbox.add(account="default", openid="oOp2", purpose="reply", text="b")
    code, out, _ = await lianxin("outbox", "list", env=env)
    assert code == 0
    assert out.splitlines()[0] == "queued=1  dead=1"
    assert "gave up after 8 tries" in out
    code, out, _ = await lianxin("outbox", "list", "--status", "dead", env=env)
    assert len(out.splitlines()) == 2
    code, out, _ = await lianxin("outbox", "retry", str(first), env=env)
    assert (code, out.strip()) == (0, "requeued 1 push(es)")
    code, out, _ = await lianxin("outbox", "retry", "--status", "dead", env=env)
    assert (code, out.strip()) == (0, "requeued 0 push(es)")  # it was requeued already
    code, _, err = await lianxin("outbox", "retry", env=env)
    assert code == 2
    assert "takes push ids or --status" in err
    code, _, err = await lianxin("outbox", "purge", "--status", "queued", env=env)
    assert code == 2
    assert err.strip() == "lianxin: cannot purge 'queued' pushes: only sent, delivered, " \
                          "failed, dead, blocked, uncertain"
    code, _, err = await lianxin("outbox", "list", "--status", "lost", env=env)
    assert code == 2
    assert "unknown status 'lost'" in err
    await engine.dispose()


async def test_scheduler_without_redis_says_why(env: dict[str, str]) -> None:
    code, _, err = await lianxin("scheduler", env=env)
    assert code == 2
    assert err.startswith("lianxin: lianxin scheduler needs LIANXIN_REDIS_URL")
    assert len(err.strip().splitlines()) == 1


async def test_killed_scheduler_mid_template_send_does_not_send_twice(
    env: dict[str, str], redis_url: str,
) -> None:
    env["LIANXIN_REDIS_URL"] = redis_url
    # the session's Redis may hold an access token an earlier test's platform issued: this
    # platform would refuse it (40001) and the hung call would never record a template
    admin: Redis = Redis.from_url(redis_url)
    await admin.flushdb()
    await admin.aclose()
    account = Account("default", TOKEN, APP_ID, APP_SECRET, None, "http://unused")
    state = PlatformState([account])
    app = create_api_app([account], state=state)
    server = TestServer(app)
    await server.start_server()
    engine = db.make_engine(env["LIANXIN_DATABASE_URL"])
    try:
        state.follow(APP_ID, "oKill")  # never wrote: the push goes by template
        push = await Outbox(engine).add(account="default", openid="oKill",
                                        purpose="ticket_status", text="x",
                                        fields=STATUS_FIELDS)
        state.inject_fault(1, hang=2.0, path="/cgi-bin/message/template/send")
        env["LIANXIN_WECHAT_API_BASE"] = str(server.make_url("")).rstrip("/")
        args = (sys.executable, "-m", "bot.cli", "scheduler", "--interval", "0.1",
                "--lease", "1")
        first = await asyncio.create_subprocess_exec(
            *args, env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        # a process start (imports, the migration check) can take seconds on a busy
        # machine: wait for the send itself, not for a fixed time
        for _ in range(600):
            if state.calls.get("/cgi-bin/message/template/send"):
                break
            await asyncio.sleep(0.05)
        assert state.calls.get("/cgi-bin/message/template/send"), "no send within 30 s"
        first.send_signal(signal.SIGKILL)  # mid-send: the platform is still answering
        await first.wait()
        await asyncio.sleep(2.2)  # the platform finishes the send the dead worker began
        assert len(state.templates.get("oKill", [])) == 1
        second = await asyncio.create_subprocess_exec(
            *args, env=env, cwd=ROOT, stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL)
        try:
            for _ in range(600):
                row = await Outbox(engine).get(push)
                if row is not None and row.status == "sent":
                    break
                await asyncio.sleep(0.05)
        finally:
            second.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(second.wait(), 20)
            except TimeoutError:
                second.kill()
                await second.wait()
                raise
        assert row is not None
        assert row.status == "sent"
        assert state.calls["/cgi-bin/message/template/send"] == 2  # sent again …
        assert len(state.templates["oKill"]) == 1  # … and deduplicated by client_msg_id
        assert state is app[PLATFORM]
    finally:
        await engine.dispose()
        await server.close()
