"""The whole lifecycle as people live it, on the dev platform: a citizen files in the
chat; the 12345 office and a department work the ticket through the staff API of the real
bot; every step the citizen should hear of arrives in their chat as a push, and 查询
shows the timeline. On SQLite and PostgreSQL (issue 11's "Done when")."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from domain.staff import Role
from storage import db
from tests.citizens import LAMP, fresh_staff, fresh_tickets
from tests.test_devplatform import stack


@pytest.mark.parametrize("store", ["memory", "redis"])
async def test_a_complaint_worked_to_the_end_reaches_the_citizen_at_every_step(
    database_url: str, store: str, request: pytest.FixtureRequest,
) -> None:
    redis_url = None
    if store == "redis":
        redis_url = str(request.getfixturevalue("redis_url"))
        client = Redis.from_url(redis_url)
        await client.flushdb()
        await client.aclose()
    engine = db.make_engine(database_url)
    try:
        await fresh_tickets(engine)
        tokens = await fresh_staff(engine, (("office", Role.SUPERVISOR, None),
                                            ("zhang", Role.HANDLER, "zjj")))
        office = {"Authorization": "Bearer " + tokens["office"]}
        zhang = {"Authorization": "Bearer " + tokens["zhang"]}
    finally:
        await engine.dispose()

    async with stack(database_url, redis_url=redis_url) as s:
        chat = f"{s.platform}/dev/chat/citizen"
        api = s.bot.removesuffix("/wechat") + "/api/v1"  # the staff API of the real bot
        seen = 0

        async def say(content: str) -> str:
            async with s.session.post(chat + "/send",
                                      json={"kind": "text", "content": content}) as r:
                reply: dict[str, Any] = await r.json()
            return str((reply.get("reply") or {}).get("text", ""))

        async def pushed(count: int) -> list[str]:
            """The next ``count`` pushes in the citizen's chat."""
            nonlocal seen
            found: list[str] = []
            for _ in range(50):
                async with s.session.get(chat + "/inbox",
                                         params={"after": str(seen), "wait": "1"}) as r:
                    inbox = await r.json()
                for message in inbox["messages"]:
                    found.append(message["text"]["content"])
                seen = inbox["next"]
                if len(found) >= count:
                    return found
            raise AssertionError(f"only {found} arrived")

        for answer in ("我要反映", "1", "1", "2", LAMP, "跳过", "13800138000", "2"):
            await say(answer)
        receipt = await say("确认")
        number = receipt.split("编号：")[1].split()[0]

        async def call(action: str, who: dict[str, str], **body: Any) -> dict[str, Any]:
            async with s.session.get(f"{api}/tickets?q={number}", headers=who) as r:
                [ticket] = (await r.json())["tickets"]
            async with s.session.post(f"{api}/tickets/{ticket['id']}/{action}",
                                      json={"version": ticket["version"], **body},
                                      headers=who) as r:
                assert r.status == 200, await r.text()
                moved: dict[str, Any] = (await r.json())["ticket"]
            return moved

        await call("sign", zhang)
        assert "已签收您的留言" in (await pushed(1))[0]
        ticket = await call("request_extension", zhang,
                            due_on=(date.today() + timedelta(days=30)).isoformat(),
                            text="需协调供电公司")
        await call("approve_extension", office)
        assert "办理时限延长至" in (await pushed(1))[0]
        await call("answer", zhang, text="路灯线路已更换，现已恢复照明。")
        assert "路灯线路已更换" in (await pushed(1))[0]
        await call("close", office)
        assert "已办结" in (await pushed(1))[0]
        timeline = await say(f"查询 {number}")
        assert "已办结" in timeline and "已签收您的留言" in timeline
        assert ticket["pending"] == "extension"
