"""Two real processes sharing one Redis and an expired token: exactly one token call."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from bot.config import Account
from devplatform.api import PLATFORM, create_api_app
from storage.keys import KeyBuilder
from tests.conftest import APP_ID, APP_SECRET, TOKEN

ROOT = Path(__file__).resolve().parents[1]
USER = "oTwoProcesses000000000000001"
SENDER = f"""
import asyncio, sys, time
import aiohttp
from bot.config import Account
from bot.wechat.api import WeChatClient
from storage.keys import KeyBuilder
from storage.redis_store import RedisStore

async def main(base, url, start, prefix):
    store = RedisStore.from_url(url)
    account = Account("default", {TOKEN!r}, {APP_ID!r}, {APP_SECRET!r}, None, base)
    async with aiohttp.ClientSession() as session:
        client = WeChatClient(session, account, store, KeyBuilder())
        await asyncio.sleep(max(0.0, start - time.time()))
        await asyncio.gather(*(client.send_text({USER!r}, f"{{prefix}}{{i}}")
                               for i in range(25)))
    await store.close()

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]))
"""


async def test_fifty_sends_in_two_processes_fetch_the_token_once(redis_url: str) -> None:
    account = Account("default", TOKEN, APP_ID, APP_SECRET, None, "http://unused")
    app = create_api_app([account])
    server = TestServer(app)
    await server.start_server()
    state = app[PLATFORM]
    state.follow(APP_ID, USER)
    redis: Redis = Redis.from_url(redis_url)
    try:
        await redis.flushdb()
        # what a previous run left: a token the store holds and the platform expired
        await redis.set(KeyBuilder().token(APP_ID),
                        f'{{"access_token":"stale","expires_at":{time.time() - 5}}}')
        base = str(server.make_url("")).rstrip("/")
        start = str(time.time() + 1.5)  # both processes fire at the same moment
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", SENDER, base, redis_url, start, prefix, cwd=ROOT,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            for prefix in ("a", "b")
        ]
        results = [await p.communicate() for p in procs]
        assert [p.returncode for p in procs] == [0, 0], results
        assert state.calls.get("/cgi-bin/stable_token") == 1
        texts = sorted(m["text"]["content"] for m in state.sent[USER])
        assert texts == sorted([f"a{i}" for i in range(25)] + [f"b{i}" for i in range(25)])
    finally:
        await redis.aclose()
        await server.close()
