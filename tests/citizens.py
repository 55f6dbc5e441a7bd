"""Citizens chatting with the bot through the HTTP edge, as WeChat would post their messages.

Used by the complaint and my-tickets tests: each message is signed and encrypted, posted to
``/wechat``, and the passive reply decrypted; pushes (replies after the first) are read
from the dev platform the app's WeChat client talks to.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devplatform.messages import build_image, build_location
from domain.catalogue import Catalogue
from domain.catalogue_file import parse_catalogue
from domain.staff import Role
from storage.catalogue import CatalogueRepository
from storage.staff import StaffAccounts
from tests.conftest import AES_KEY, APP_ID, TOKEN
from tests.wechat import Signer, event_xml, next_msg_id, text_xml

SIGNER = Signer(TOKEN, APP_ID, AES_KEY)
CATALOGUE_FILE = Path(__file__).resolve().parents[1] / "config" / "catalogue.toml"
TICKET_TABLES = ("staff_notices", "ticket_alerts", "surveys", "attachments", "ticket_events",
                 "tickets", "ticket_counters")
# a Monday: 5 working days on is Monday 30 November
MONDAY = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


# staff passwords hashed cheaply: the tests make many accounts
FAST_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


async def fresh_staff(engine: AsyncEngine,
                      accounts: Iterable[tuple[str, Role, str | None]]) -> dict[str, str]:
    """No pushes, notices or staff but ``accounts`` (login, role, department), each with
    an API token: the tokens by login."""
    async with engine.begin() as conn:
        for table in ("pushes", "staff_notices", "staff_bind_codes", "staff_tokens", "staff"):
            await conn.execute(text(f"DELETE FROM {table}"))
    staff = StaffAccounts(engine, hasher=FAST_HASH)
    tokens = {}
    for login, role, department in accounts:
        await staff.add(login, login, role, department)
        tokens[login] = (await staff.create_token(login, "test"))[1]
    return tokens


def demo_catalogue() -> Catalogue:
    return parse_catalogue(CATALOGUE_FILE.read_text(encoding="utf-8"), str(CATALOGUE_FILE))


async def fresh_tickets(engine: AsyncEngine, *, catalogue: Catalogue | None = None) -> None:
    """No tickets, and ``catalogue`` (the demo county's by default) loaded."""
    async with engine.begin() as conn:
        for table in TICKET_TABLES:
            await conn.execute(text(f"DELETE FROM {table}"))
    await CatalogueRepository(engine).save(catalogue or demo_catalogue(),
                                           source=str(CATALOGUE_FILE), digest="tests")


@dataclass
class Clock:
    """Wall time for the flow timeouts, moved by the test."""

    now: float = field(default_factory=time.time)

    def __call__(self) -> float:
        return self.now


@dataclass
class Today:
    """The date and time the bot believes it is (ticket numbers, due dates)."""

    moment: datetime = MONDAY

    def __call__(self) -> datetime:
        return self.moment

    @property
    def day(self) -> date:
        return self.moment.date()


class Citizen:
    """One WeChat user: every call posts one message and returns the bot's passive reply."""

    def __init__(self, client: TestClient[Any, Any], openid: str) -> None:
        self.client = client
        self.openid = openid
        self.last_status = 0

    async def post(self, xml: str) -> str:
        signed = SIGNER.sign(xml)
        resp = await self.client.post("/wechat", params=signed.params,
                                      data=signed.body.encode("utf-8"))
        self.last_status = resp.status
        body = await resp.text()
        assert resp.status == 200, body
        if body in ("", "success"):
            return ""
        fields = SIGNER.open_reply(body, encrypted=True)
        return str(fields.get("Content", ""))

    async def say(self, content: str, *, msg_id: int | None = None) -> str:
        return await self.post(text_xml(self.openid, content, msg_id=msg_id))

    async def says(self, *contents: str) -> str:
        """Several messages one after the other; the reply to the last."""
        reply = ""
        for content in contents:
            reply = await self.say(content)
        return reply

    async def photo(self, media_id: str) -> str:
        return await self.post(build_image("gh_0123456789ab", self.openid,
                                           f"http://mmbiz.qpic.cn/{media_id}.jpg", media_id,
                                           next_msg_id()))

    async def location(self, latitude: float, longitude: float, label: str) -> str:
        return await self.post(build_location("gh_0123456789ab", self.openid, latitude,
                                              longitude, label, next_msg_id()))

    async def voice(self, recognition: str) -> str:
        return await self.post(
            "<xml><ToUserName><![CDATA[gh_0123456789ab]]></ToUserName>"
            f"<FromUserName><![CDATA[{self.openid}]]></FromUserName>"
            f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[voice]]></MsgType>"
            "<MediaId><![CDATA[v1]]></MediaId><Format><![CDATA[amr]]></Format>"
            f"<Recognition><![CDATA[{recognition}]]></Recognition>"
            f"<MsgId>{next_msg_id()}</MsgId></xml>")

    async def click(self, key: str) -> str:
        return await self.post(event_xml(self.openid, "CLICK", key))

    async def follow(self) -> str:
        return await self.post(event_xml(self.openid, "subscribe"))


LAMP = "小区门口的路灯坏了一个星期，晚上很黑"


async def file_complaint(citizen: Citizen, *, description: str = LAMP, category: str = "1",
                         region: str = "2", phone: str = "13800138000",
                         public: str = "2") -> str:
    """The shortest whole complaint: every answer typed, no photos (by default 住房建设 in
    东城街道). Returns the receipt."""
    # 投诉, then no photos
    summary = await citizen.says("我要反映", "1", category, region, description, "跳过",
                                 phone, public)
    assert "请核对" in summary, summary
    return await citizen.say("确认")


def ticket_number_in(reply: str) -> str:
    found = re.search(r"LX\d{8}-\d{6}", reply)
    assert found, reply
    return found.group(0)

