"""A worker killed (kill -9) while it holds messages: nothing lost, nothing run twice, and
the citizen is not kept waiting.

Two `lianxin serve` workers share a real redis-server and a real PostgreSQL, as behind a
load balancer. Worker A takes the citizens' 确认 and is killed while their handlers run
(the database is stalled so that they are still running); WeChat's tries then reach
worker B at 1 s, 5 s and 10 s, as in the fault campaign.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from devplatform.state import PlatformState
from tests.conftest import APP_ID
from tests.faults.conftest import (
    RECEIPT,
    RemoteCitizen,
    Try,
    Workers,
    prepare_database,
    pushed_texts,
    tickets_of,
    up_to_the_summary,
    wechat_delivers,
    wechat_try,
    worker_env,
)
from tests.servers import PostgresCluster, redis_process
from tests.wechat import text_xml

CITIZENS = 4


async def test_confirms_held_by_a_killed_worker_are_each_filed_once_and_answered(
    workers: Workers, postgres: PostgresCluster, platform: tuple[str, PlatformState],
) -> None:
    base, state = platform
    with redis_process() as (redis_url, _):
        env = worker_env(postgres.url, base, redis_url=redis_url, deliver_in_process="true")
        prepare_database(env)
        a = await workers.start(env, "a")
        b = await workers.start(env, "b")
        openids = [f"oKilled{i}" for i in range(CITIZENS)]
        async with aiohttp.ClientSession(base_url=b.url) as on_b:
            for openid in openids:
                state.follow(APP_ID, openid)
                await up_to_the_summary(RemoteCitizen(on_b, openid))

        confirms = {openid: text_xml(openid, "确认") for openid in openids}
        async with aiohttp.ClientSession() as wechat:
            postgres.stall()  # A's handlers wait on the database: they hold the messages
            start = time.monotonic()
            first = [asyncio.create_task(wechat_try(wechat, a.url, xml, 0.0))
                     for xml in confirms.values()]
            await asyncio.sleep(0.8)
            a.kill()
            postgres.resume()
            for task in first:
                assert not (await task).answered  # A died before answering anyone
            # WeChat's next tries: 1 s, then 5 s and 10 s if still unanswered, all to B
            retries = await asyncio.gather(*(
                _retries(wechat, b.url, xml, start) for xml in confirms.values()))

        for openid, tries in zip(openids, retries, strict=True):
            assert tries[-1].answered, (openid, tries, b.output())
            numbers = await tickets_of(postgres.url, openid)
            assert len(numbers) == 1, (openid, numbers)  # handled exactly once
            # answered once: passively, or pushed when the handler ran past the budget
            passive = RECEIPT.findall(tries[-1].text)
            pushed = await _pushed_receipts(state, openid, expect=not passive)
            assert bool(passive) != bool(pushed), (openid, tries, pushed)  # one answer
            assert set(passive + pushed) == set(numbers), (openid, tries, pushed)
        log = a.output() + b.output()
        assert "Traceback" not in log, log


async def test_the_citizens_next_message_is_answered_soon_after_a_worker_died(
    workers: Workers, postgres: PostgresCluster, platform: tuple[str, PlatformState],
) -> None:
    """The dead worker held the citizen's lock: a new message gets through within 10 s."""
    base, _ = platform
    with redis_process() as (redis_url, _):
        env = worker_env(postgres.url, base, redis_url=redis_url)
        prepare_database(env)
        a = await workers.start(env, "a")
        b = await workers.start(env, "b")
        async with aiohttp.ClientSession() as wechat:
            postgres.stall()
            held = asyncio.create_task(
                wechat_try(wechat, a.url, text_xml("oNext", "我要反映"), 0.0))
            await asyncio.sleep(0.8)
            a.kill()
            postgres.resume()
            await held
            started = time.monotonic()
            answer = await wechat_try(wechat, b.url, text_xml("oNext", "帮助"), 0.0)
            waited = time.monotonic() - started
        assert answer.answered, answer
        assert answer.text, answer  # the help, passively: the lock was freed in time
        assert waited < 10.0, waited
        assert "Traceback" not in b.output(), b.output()


async def _retries(session: aiohttp.ClientSession, url: str, xml: str,
                   start: float) -> list[Try]:
    """WeChat's tries after the first went unanswered: at 1 s (the connection broke), then
    5 s apart."""
    tries = await wechat_delivers(session, [url, url], xml, start=start + 1.0)
    if not tries[-1].answered:
        tries += await wechat_delivers(session, [url], xml, start=start + 10.0)
    return tries


async def _pushed_receipts(state: PlatformState, openid: str, *, expect: bool) -> list[str]:
    """Receipt numbers pushed to ``openid``; waits for one when ``expect``."""
    for _ in range(150 if expect else 10):
        found = [n for t in pushed_texts(state, openid) for n in RECEIPT.findall(t)]
        if found or not expect:
            if not expect:
                await asyncio.sleep(0.1)
                continue
            return found
        await asyncio.sleep(0.1)
    return [n for t in pushed_texts(state, openid) for n in RECEIPT.findall(t)]
