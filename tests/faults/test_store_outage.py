"""PostgreSQL stopped and Redis restarted in the middle of a conversation: no answer claims
that something was received unless it was kept, WeChat is left to try again while the
outage is short, and the form carries on afterwards.
"""

from __future__ import annotations

from pathlib import Path

import aiohttp

from devplatform.state import PlatformState
from tests.faults.conftest import (
    RECEIPT,
    RemoteCitizen,
    Workers,
    prepare_database,
    tickets_of,
    up_to_the_summary,
    wechat_delivers,
    worker_env,
)
from tests.servers import PostgresCluster, free_port, start_redis
from tests.wechat import text_xml

CLAIMS = ("已收到", "已提交", "已受理")


async def test_confirm_while_the_database_is_down_is_never_claimed_and_files_once_after(
    workers: Workers, postgres: PostgresCluster, platform: tuple[str, PlatformState],
) -> None:
    base, _ = platform
    env = worker_env(postgres.url, base)
    prepare_database(env)
    bot = await workers.start(env, "bot")
    async with aiohttp.ClientSession(base_url=bot.url) as session:
        citizen = RemoteCitizen(session, "oDbDown")
        await up_to_the_summary(citizen)
        postgres.stop()
        tries = await wechat_delivers(session, [bot.url] * 3, text_xml("oDbDown", "确认"))
        # the first two tries get no answer in time (WeChat tries again); the last is told
        assert [t.answered for t in tries] == [False, False, True], tries
        told = tries[-1].text
        assert "没有处理成功" in told
        assert not any(claim in told for claim in CLAIMS)
        assert not RECEIPT.search(told)
        postgres.start()
        # the summary is still there: 确认 again files the complaint, once
        again = await wechat_delivers(session, [bot.url] * 3, text_xml("oDbDown", "确认"))
        receipt = again[-1].text
    numbers = await tickets_of(postgres.url, "oDbDown")
    assert len(numbers) == 1, (numbers, bot.output())
    assert numbers[0] in receipt
    # the outage is a store fault, not a bug: no traceback but the delivery job's one
    assert bot.output().count("Traceback") <= 1, bot.output()


async def test_answer_sent_while_redis_restarts_is_applied_on_wechats_next_try(
    workers: Workers, platform: tuple[str, PlatformState], tmp_path: Path,
) -> None:
    """redis-server (append-only file, as production runs it) restarted mid-form."""
    base, _ = platform
    port = free_port()
    data = str(tmp_path)
    redis = start_redis(port, data)
    database = f"sqlite+aiosqlite:///{data}/bot.db"
    try:
        env = worker_env(database, base, redis_url=f"redis://127.0.0.1:{port}/0")
        prepare_database(env)
        bot = await workers.start(env, "bot")
        async with aiohttp.ClientSession(base_url=bot.url) as session:
            citizen = RemoteCitizen(session, "oRedis")
            asked = await citizen.says("我要反映", "1", "1", "2",
                                       "小区门口的路灯坏了一个星期，晚上很黑", "跳过")
            assert "手机号" in asked, asked
            redis.terminate()
            redis.wait(timeout=10)
            phone = text_xml("oRedis", "13800138000")
            first = await wechat_delivers(session, [bot.url], phone)
            assert [t.answered for t in first] == [False], first  # WeChat tries again
            redis = start_redis(port, data)
            second = await wechat_delivers(session, [bot.url, bot.url], phone)
            assert second[-1].answered, second
            assert "公开" in second[-1].text, second  # the phone was taken: next question
            summary = await citizen.say("2")
            assert "联系电话：13800138000" in summary, summary
            receipt = await citizen.say("确认")
        numbers = await tickets_of(database, "oRedis")
        assert len(numbers) == 1
        assert numbers[0] in receipt
        assert "Traceback" not in bot.output()
    finally:
        redis.terminate()
        redis.wait(timeout=10)
