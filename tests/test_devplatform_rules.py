"""The dev platform holds the account to WeChat's outbound rules: the customer-service
window and quotas, template sends (client_msg_id, TEMPLATESENDJOBFINISH), subscribe
messages and consent, media, the menu, user info, and injected faults."""

from __future__ import annotations

import asyncio
import io
import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.wechat.api import QuotaExceeded, WeChatClient
from bot.wechat.codec import parse_xml
from devplatform.api import PLATFORM, create_api_app
from devplatform.identity import openid_for, original_id_for
from devplatform.rules import check_data
from devplatform.server import create_platform_app
from devplatform.state import MESSAGE_WINDOW, PlatformState, Template, load_templates
from storage import db
from storage.keys import KeyBuilder
from storage.memory import MemoryStore
from tests.test_devplatform import (
    APP_ID,
    PLAIN,
    PNG,
    SAFE,
    SECRET,
    Clock,
    free_port,
    recording_bot,
    serving,
    stack,
)

USER = "oUser"
OTHER = "oOther"
CUSTOM = "/cgi-bin/message/custom/send"
TEMPLATE = "/cgi-bin/message/template/send"
BIZSEND = "/cgi-bin/message/subscribe/bizsend"
STATUS_DATA = {"character_string1": {"value": "GZ-2024-000123"},
               "thing2": {"value": "小区路灯不亮"},
               "phrase3": {"value": "已受理"},
               "time4": {"value": "2024年5月6日 10:30"}}
SURVEY_DATA = {"character_string1": {"value": "GZ-2024-000123"},
               "thing2": {"value": "请为本次办理打分"}, "date3": {"value": "2024年5月8日"}}


class Api:
    """The API app with a fake clock and a token, and short ways to call it."""

    def __init__(self, client: Any, clock: Clock, token: str) -> None:
        self.client = client
        self.clock = clock
        self.token = token
        self.state: PlatformState = client.app[PLATFORM]

    async def advance(self, seconds: float) -> None:
        """Move the clock, and take a fresh token (the old one may have expired)."""
        self.clock.now += seconds
        resp = await self.client.post("/cgi-bin/stable_token", json={
            "grant_type": "client_credential", "appid": APP_ID, "secret": SECRET})
        self.token = (await resp.json())["access_token"]

    async def post(self, path: str, body: Any) -> dict[str, Any]:
        resp = await self.client.post(path, params={"access_token": self.token}, json=body)
        assert resp.status == 200  # errors too: WeChat answers HTTP 200 with an errcode
        answer: dict[str, Any] = await resp.json()
        return answer

    async def get(self, path: str, **query: str) -> dict[str, Any]:
        resp = await self.client.get(path, params={"access_token": self.token, **query})
        assert resp.status == 200
        answer: dict[str, Any] = await resp.json()
        return answer

    async def text(self, openid: str = USER, content: str = "进度更新") -> int:
        answer = await self.post(CUSTOM, {"touser": openid, "msgtype": "text",
                                          "text": {"content": content}})
        code: int = answer["errcode"]
        return code

    async def template(self, openid: str = USER, template_id: str = "TM_TICKET_STATUS",
                       data: Any = None, **extra: Any) -> dict[str, Any]:
        return await self.post(TEMPLATE, {"touser": openid, "template_id": template_id,
                                          "url": "https://x.example/t/123",
                                          "data": STATUS_DATA if data is None else data,
                                          **extra})

    async def bizsend(self, openid: str = USER, template_id: str = "SUB_SURVEY",
                      data: Any = None) -> dict[str, Any]:
        return await self.post(BIZSEND, {"touser": openid, "template_id": template_id,
                                         "page": "https://x.example/survey",
                                         "data": SURVEY_DATA if data is None else data})


@pytest.fixture
async def api(aiohttp_client: Any) -> Api:
    clock = Clock()
    state = PlatformState([SAFE, PLAIN], clock=clock)
    client = await aiohttp_client(create_api_app([SAFE, PLAIN], state=state))
    state.follow(APP_ID, USER)
    state.follow(APP_ID, OTHER)
    resp = await client.post("/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": APP_ID, "secret": SECRET})
    return Api(client, clock, (await resp.json())["access_token"])


@pytest.fixture(scope="session")
def bot_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('rules') / 'bot.db'}"
    db.upgrade(url)
    return url


def errmsg(answer: dict[str, Any]) -> str:
    text: str = answer["errmsg"]
    return text.split(" rid: ")[0]


# -- customer-service window and quotas ------------------------------------------------------


async def test_a_follower_who_never_wrote_is_outside_the_window(api: Api) -> None:
    answer = await api.post(CUSTOM, {"touser": USER, "msgtype": "text",
                                     "text": {"content": "您好"}})
    assert answer["errcode"] == 45015
    assert errmsg(answer) == "response out of time limit or subscription is canceled"
    assert api.state.sent == {}


async def test_five_messages_per_user_message_and_each_message_resets_the_count(
    api: Api
) -> None:
    api.state.saw_message(APP_ID, USER)
    assert [await api.text() for _ in range(5)] == [0] * 5
    refused = await api.post(CUSTOM, {"touser": USER, "msgtype": "text",
                                      "text": {"content": "第六条"}})
    assert refused["errcode"] == 45047
    assert errmsg(refused) == "out of response count limit"
    api.clock.now += 3600
    api.state.saw_message(APP_ID, USER)
    assert [await api.text() for _ in range(6)] == [0] * 5 + [45047]
    assert len(api.state.sent[USER]) == 10
    assert await api.text(OTHER) == 45015  # another user's message opens nothing for them


async def test_the_window_closes_48_hours_after_the_last_message(api: Api) -> None:
    api.state.saw_message(APP_ID, USER)
    await api.advance(MESSAGE_WINDOW - 1)
    assert await api.text() == 0
    await api.advance(2)
    assert await api.text() == 45015


async def test_unfollowing_closes_the_window(api: Api) -> None:
    api.state.saw_message(APP_ID, USER)
    api.state.unfollow(APP_ID, USER)
    assert await api.text() == 45015


@pytest.mark.parametrize(("event", "key", "kind"), [
    ("CLICK", "HELP", "click"),
    ("scancode_push", "SCAN1", "click"),
    ("scancode_waitmsg", "SCAN2", "click"),
    ("subscribe", "", "subscribe"),
    ("subscribe", "qrscene_1001", "scan"),
    ("SCAN", "1001", "scan"),
])
async def test_click_follow_or_scan_allows_three_within_a_minute(
    api: Api, event: str, key: str, kind: str
) -> None:
    api.state.saw_event(APP_ID, USER, event, key)
    user = api.state.user(APP_ID, USER)
    assert user is not None
    assert user.last_interaction == (kind, api.clock.now)
    assert [await api.text() for _ in range(4)] == [0, 0, 0, 45047]
    api.state.saw_event(APP_ID, USER, event, key)
    api.clock.now += 61
    assert await api.text() == 45015


async def test_events_that_are_not_interactions_open_nothing(api: Api) -> None:
    for event in ("VIEW", "LOCATION", "unsubscribe", "TEMPLATESENDJOBFINISH"):
        api.state.saw_event(APP_ID, USER, event)
    assert await api.text() == 45015


async def test_a_click_after_a_message_adds_its_three_to_the_messages_five(api: Api) -> None:
    api.state.saw_message(APP_ID, USER)
    api.clock.now += 10
    api.state.saw_event(APP_ID, USER, "CLICK", "HELP")
    assert [await api.text() for _ in range(9)] == [0] * 8 + [45047]
    user = api.state.user(APP_ID, USER)
    assert user is not None
    assert user.last_interaction == ("click", api.clock.now)


async def test_more_than_one_article_is_45008(api: Api) -> None:
    api.state.saw_message(APP_ID, USER)
    articles = [{"title": "一"}, {"title": "二"}]
    answer = await api.post(CUSTOM, {"touser": USER, "msgtype": "news",
                                     "news": {"articles": articles}})
    assert answer["errcode"] == 45008


async def test_the_callback_side_records_clicks_and_the_window_follows(
    aiohttp_client: Any
) -> None:
    async with recording_bot() as (_recorder, bot_url):
        client = await aiohttp_client(create_platform_app([PLAIN], {"plain": bot_url + "/wechat"}))
        state: PlatformState = client.app[PLATFORM]
        await client.post("/dev/chat/dave/send", json={"kind": "click", "key": "MENU_QUERY"})
    openid = openid_for(PLAIN.app_id, "dave")
    user = state.user(PLAIN.app_id, openid)
    assert user is not None
    assert user.last_interaction is not None
    assert user.last_interaction[0] == "click"
    assert [state.customer_service_allows(PLAIN.app_id, openid) for _ in range(4)] == [
        0, 0, 0, 45047]


# -- template messages -----------------------------------------------------------------------


async def test_template_send_answers_a_msgid_and_records_the_message(api: Api) -> None:
    resp = await api.client.post(TEMPLATE, params={"access_token": api.token}, json={
        "touser": USER, "template_id": "TM_TICKET_STATUS", "data": STATUS_DATA,
        "url": "https://x.example/t/123", "client_msg_id": "push-1"})
    raw = await resp.text()
    answer = json.loads(raw)
    assert raw.startswith('{"errcode":0,"errmsg":"ok","msgid":')
    assert isinstance(answer["msgid"], int)
    assert 0 < answer["msgid"] < 2**63
    [sent] = api.state.templates[USER]
    assert sent["msgid"] == answer["msgid"]
    assert sent["data"]["thing2"] == "小区路灯不亮"
    assert api.state.inbox[USER] == [{"msgtype": "template", "template": sent}]
    assert api.state.sent == {}  # not a customer-service message: no window needed
    [event] = api.state.template_events  # no callback URL: recorded, not sent
    assert (event.openid, event.msg_id, event.status, event.reply) == (
        USER, answer["msgid"], "success", None)
    fields = parse_xml(event.body)
    assert fields["Event"] == "TEMPLATESENDJOBFINISH"
    assert fields["MsgID"] == str(answer["msgid"])
    assert fields["ToUserName"] == original_id_for(APP_ID)


async def test_the_same_client_msg_id_within_10_minutes_sends_once(api: Api) -> None:
    first = await api.template(client_msg_id="ticket-9-replied")
    api.clock.now += 599
    again = await api.template(client_msg_id="ticket-9-replied")
    assert again == first
    assert len(api.state.templates[USER]) == 1
    assert len(api.state.template_events) == 1
    other_user = await api.template(OTHER, client_msg_id="ticket-9-replied")
    assert other_user["msgid"] != first["msgid"]
    api.clock.now += 2
    later = await api.template(client_msg_id="ticket-9-replied")
    assert later["msgid"] != first["msgid"]
    assert len(api.state.templates[USER]) == 2
    no_id = [await api.template(), await api.template()]
    assert no_id[0]["msgid"] != no_id[1]["msgid"]


@pytest.mark.parametrize(("body", "errcode", "message"), [
    ({"touser": "oNobody", "template_id": "TM_TICKET_STATUS", "data": STATUS_DATA}, 40003,
     "invalid openid"),
    ({"template_id": "TM_TICKET_STATUS", "data": STATUS_DATA}, 40003, "invalid openid"),
    ({"touser": USER, "template_id": "TM_NOPE", "data": STATUS_DATA}, 40037,
     "invalid template_id"),
    ({"touser": USER, "template_id": "SUB_SURVEY", "data": SURVEY_DATA}, 40037,
     "invalid template_id"),
    ({"touser": USER, "data": STATUS_DATA}, 40036, "invalid template_id size"),
    ({"touser": "oGone", "template_id": "TM_TICKET_STATUS", "data": STATUS_DATA}, 43004,
     "require subscribe"),
    ({"touser": USER, "template_id": "TM_TICKET_STATUS", "data": "x"}, 47001,
     "data format error"),
    ({"touser": USER, "template_id": "TM_TICKET_STATUS",
      "data": {**STATUS_DATA, "time4": {"value": ""}}}, 47003,
     "argument invalid! data.time4.value is empty"),
    ({"touser": USER, "template_id": "TM_TICKET_STATUS",
      "data": {k: v for k, v in STATUS_DATA.items() if k != "thing2"}}, 47003,
     "argument invalid! data.thing2.value is empty"),
    ({"touser": USER, "template_id": "TM_TICKET_STATUS",
      "data": {**STATUS_DATA, "thing2": {"value": "很" * 21}}}, 47003,
     "argument invalid! data.thing2.value invalid"),
])
async def test_template_send_refusals(
    api: Api, body: dict[str, Any], errcode: int, message: str
) -> None:
    api.state.follow(APP_ID, "oGone")
    api.state.unfollow(APP_ID, "oGone")
    answer = await api.post(TEMPLATE, body)
    assert answer["errcode"] == errcode
    assert errmsg(answer) == message
    assert api.state.templates == {}
    assert api.state.template_events == []


@pytest.mark.parametrize(("key", "value", "ok"), [
    ("thing1", "字" * 20, True),
    ("thing1", "字" * 21, False),
    ("thing1", "第一行\n第二行", False),
    ("character_string1", "GZ-2024_0001/#A", True),
    ("character_string1", "A" * 33, False),
    ("character_string1", "编号123", False),
    ("phrase1", "配送中", True),
    ("phrase1", "处理中请稍候", False),
    ("phrase1", "done", False),
    ("number1", "12345.67", True),
    ("number1", "1" * 33, False),
    ("number1", "12a", False),
    ("phone_number1", "+86-0851-12345678", True),
    ("phone_number1", "1" * 18, False),
    ("phone_number1", "call me", False),
    ("car_number1", "粤A8Z888挂", True),
    ("car_number1", "粤A8Z8888挂", False),
    ("amount1", "¥39.8", True),
    ("amount1", "3.00", False),
    ("time1", "15:01", True),
    ("date1", "2019年10月1日", True),
    ("letter1", "abc", True),
    ("letter1", "abc1", False),
    ("symbol1", "~!", True),
    ("keyword1", "旧模板的任意文字", True),
])
def test_data_values_follow_the_key_types(key: str, value: str, ok: bool) -> None:
    data = {key: {"value": value, "color": "#173177"}}
    if ok:
        check_data((key,), data)
    else:
        with pytest.raises(Exception, match=f"data.{key}.value invalid"):
            check_data((key,), data)


async def test_registered_templates_and_a_templates_file(api: Api, tmp_path: Path) -> None:
    api.state.register_template(APP_ID, "TM_CUSTOM", ["thing1"], title="自定义")
    assert (await api.template(template_id="TM_CUSTOM",
                               data={"thing1": {"value": "好"}}))["errcode"] == 0
    file = tmp_path / "templates.json"
    file.write_text(json.dumps([
        {"id": "T1", "keys": ["thing1", "time2"], "title": "通知"},
        {"id": "S1", "keys": ["thing1"], "kind": "subscribe"},
    ]), encoding="utf-8")
    assert load_templates(file) == [
        Template("T1", ("thing1", "time2"), "template", "通知"),
        Template("S1", ("thing1",), "subscribe", "")]
    file.write_text('[{"id": "T1"}]', encoding="utf-8")
    with pytest.raises(ValueError, match="template 1 needs an id, a list of keys"):
        load_templates(file)
    with pytest.raises(ValueError, match="cannot read templates"):
        load_templates(tmp_path / "missing.json")


async def test_a_user_who_blocks_templates_gets_failed_user_block(api: Api) -> None:
    api.state.block_templates(APP_ID, USER)
    answer = await api.template()
    assert answer["errcode"] == 0
    [event] = api.state.template_events
    assert event.status == "failed:user block"
    assert parse_xml(event.body)["Status"] == "failed:user block"
    assert USER not in api.state.inbox


async def test_templatesendjobfinish_reaches_the_real_bot_in_safe_mode(bot_db: str) -> None:
    async with stack(bot_db, template_event_delay=0.05) as s:
        async with s.session.post(f"{s.platform}/dev/chat/alice/send",
                                  json={"kind": "follow"}) as r:
            assert (await r.json())["reply"]["kind"] == "text"  # the welcome
        alice = openid_for(APP_ID, "alice")
        async with s.session.post(f"{s.platform}/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": APP_ID, "secret": SECRET}) as r:
            token = (await r.json())["access_token"]
        async with s.session.post(f"{s.platform}{TEMPLATE}", params={"access_token": token},
                                  json={"touser": alice, "template_id": "TM_TICKET_STATUS",
                                        "data": STATUS_DATA}) as r:
            msg_id = (await r.json())["msgid"]
        assert s.state.template_events == []  # sent asynchronously, after the delay
        await asyncio.wait_for(s.state.settle(), 5)
        [event] = s.state.template_events
        assert (event.msg_id, event.status) == (msg_id, "success")
        assert event.reply == "none"  # the bot verified, decrypted and answered success


class SlowOnce:
    """A plain-mode fake bot: records requests; the first one answers too late."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], str]] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.query), await request.text()))
        if len(self.requests) == 1:
            await asyncio.sleep(0.5)
        return web.Response(text="success")


async def test_the_event_is_signed_and_retried_like_every_callback(aiohttp_client: Any) -> None:
    bot = SlowOnce()
    fake = web.Application()
    fake.router.add_post("/wechat", bot.handle)
    async with serving(fake) as bot_url:
        client = await aiohttp_client(create_platform_app(
            [PLAIN], {"plain": bot_url + "/wechat"}, reply_timeout=0.2,
            template_event_delay=0.01))
        state: PlatformState = client.app[PLATFORM]
        openid = openid_for(PLAIN.app_id, "erin")
        state.follow(PLAIN.app_id, openid)
        token = (await (await client.post("/cgi-bin/stable_token", json={
            "grant_type": "client_credential", "appid": PLAIN.app_id,
            "secret": PLAIN.app_secret})).json())["access_token"]
        answer = await (await client.post(TEMPLATE, params={"access_token": token}, json={
            "touser": openid, "template_id": "TM_SURVEY",
            "data": {"character_string1": {"value": "A1"}, "thing2": {"value": "请评价"},
                     "time3": {"value": "10:30"}}})).json()
        await asyncio.wait_for(state.settle(), 5)
    assert len(bot.requests) == 2
    assert bot.requests[0] == bot.requests[1]  # the very same request again
    query, body = bot.requests[0]
    assert {"signature", "timestamp", "nonce", "openid"} <= set(query)
    fields = parse_xml(body)
    assert (fields["FromUserName"], fields["MsgID"], fields["Status"]) == (
        openid, str(answer["msgid"]), "success")


# -- subscribe messages ----------------------------------------------------------------------


async def test_bizsend_needs_one_consent_per_message(api: Api) -> None:
    refused = await api.bizsend()
    assert refused["errcode"] == 43101
    assert errmsg(refused) == "user refuse to accept the msg"
    api.state.consent(APP_ID, USER, "SUB_SURVEY")
    bad = await api.bizsend(data={**SURVEY_DATA, "date3": {"value": ""}})
    assert (bad["errcode"], errmsg(bad)) == (47003, "argument invalid! data.date3.value is empty")
    ok = await api.bizsend()
    assert ok == {"errcode": 0, "errmsg": "ok"}  # no msgid, as WeChat
    assert (await api.bizsend())["errcode"] == 43101  # the consent was used up
    [sent] = api.state.subscribe_sent[USER]
    assert sent["data"] == {"character_string1": "GZ-2024-000123", "thing2": "请为本次办理打分",
                            "date3": "2024年5月8日"}
    assert api.state.inbox[USER] == [{"msgtype": "subscribe", "subscribe": sent}]
    assert (await api.bizsend(template_id="TM_SURVEY"))["errcode"] == 40037
    assert (await api.bizsend("oNobody"))["errcode"] == 40003


async def test_subscribe_in_the_chat_sends_the_popup_event_and_records_consent(
    aiohttp_client: Any
) -> None:
    async with recording_bot() as (recorder, bot_url):
        client = await aiohttp_client(create_platform_app([PLAIN], {"plain": bot_url + "/wechat"}))
        resp = await client.post("/dev/chat/dave/send",
                                 json={"kind": "subscribe", "template_id": "SUB_SURVEY"})
        assert (await resp.json())["reply"]["kind"] == "none"
        unknown = await client.post("/dev/chat/dave/send",
                                    json={"kind": "subscribe", "template_id": "TM_SURVEY"})
        assert unknown.status == 400
        assert "no subscribe template 'TM_SURVEY'" in (await unknown.json())["error"]
    state: PlatformState = client.app[PLATFORM]
    user = state.user(PLAIN.app_id, openid_for(PLAIN.app_id, "dave"))
    assert user is not None
    assert user.consents == {"SUB_SURVEY": 1}
    [body] = recorder.bodies
    fields = parse_xml(body)
    assert fields["Event"] == "subscribe_msg_popup_event"
    assert fields["SubscribeMsgPopupEvent"]["List"] == {
        "TemplateId": "SUB_SURVEY", "SubscribeStatusString": "accept", "PopupScene": "2"}


# -- media -----------------------------------------------------------------------------------


async def upload(api: Api, data: bytes, media_type: str = "image",
                 field: str = "media") -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field(field, io.BytesIO(data), filename="a.png", content_type="image/png")
    resp = await api.client.post("/cgi-bin/media/upload",
                                 params={"access_token": api.token, "type": media_type},
                                 data=form)
    assert resp.status == 200
    answer: dict[str, Any] = await resp.json()
    return answer


async def test_uploaded_images_can_be_fetched_and_sent(api: Api) -> None:
    answer = await upload(api, PNG)
    assert answer["type"] == "image"
    assert answer["created_at"] == int(api.clock.now)
    media_id = answer["media_id"]
    got = await api.client.get("/cgi-bin/media/get",
                               params={"access_token": api.token, "media_id": media_id})
    assert await got.read() == PNG
    assert got.content_type == "image/png"
    api.state.saw_message(APP_ID, USER)
    image = {"touser": USER, "msgtype": "image", "image": {"media_id": media_id}}
    assert (await api.post(CUSTOM, image))["errcode"] == 0
    unknown = {"touser": USER, "msgtype": "image", "image": {"media_id": "NOPE"}}
    assert (await api.post(CUSTOM, unknown))["errcode"] == 40007
    assert (await api.get("/cgi-bin/media/get", media_id="NOPE"))["errcode"] == 40007
    await api.advance(3 * 86400 + 1)  # temporary media live 3 days
    assert (await api.get("/cgi-bin/media/get", media_id=media_id))["errcode"] == 40007
    api.state.saw_message(APP_ID, USER)
    assert (await api.post(CUSTOM, image))["errcode"] == 40007


@pytest.mark.parametrize(("data", "media_type", "field", "errcode"), [
    (b"hello, not an image", "image", "media", 40005),
    (b"\xff\xd8\xff" + b"\x00" * (2 * 1024 * 1024), "image", "media", 40009),
    (PNG, "sticker", "media", 40004),
    (PNG, "image", "file", 41005),
    (PNG, "thumb", "media", 40005),  # a thumb is a JPEG
])
async def test_media_upload_refusals(
    api: Api, data: bytes, media_type: str, field: str, errcode: int
) -> None:
    assert (await upload(api, data, media_type, field))["errcode"] == errcode
    assert api.state.media == {}


# -- menu ------------------------------------------------------------------------------------

MENU = {"button": [
    {"type": "click", "name": "我要留言", "key": "MENU_REPORT"},
    {"name": "办事", "sub_button": [
        {"type": "click", "name": "查询进度", "key": "MENU_QUERY"},
        {"type": "view", "name": "官网", "url": "https://x.example/"}]},
]}


def _menu(**changes: Any) -> dict[str, Any]:
    return {"button": [{"type": "click", "name": "留言", "key": "K", **changes}]}


def _sub(**changes: Any) -> dict[str, Any]:
    return {"button": [{"name": "办事", "sub_button": [
        {"type": "click", "name": "查询", "key": "K", **changes}]}]}


async def test_menu_create_then_get(api: Api) -> None:
    assert (await api.get("/cgi-bin/menu/get"))["errcode"] == 46003
    assert await api.post("/cgi-bin/menu/create", MENU) == {"errcode": 0, "errmsg": "ok"}
    menu = (await api.get("/cgi-bin/menu/get"))["menu"]["button"]
    assert [b["name"] for b in menu] == ["我要留言", "办事"]
    assert menu[1]["sub_button"][1] == {"type": "view", "name": "官网",
                                        "url": "https://x.example/", "sub_button": []}


@pytest.mark.parametrize(("body", "errcode"), [
    ({"button": []}, 40016),
    ({"button": [_menu()["button"][0]] * 4}, 40016),
    ({}, 40016),
    (_menu(name="一二三四五六"), 40018),  # 18 bytes
    (_menu(type="dance"), 40017),
    (_menu(key="k" * 129), 40019),
    (_menu(type="view", key=None), 40020),
    (_menu(type="view", url="https://x/" + "a" * 1020), 40020),
    ({"button": [{"name": "办事", "sub_button": []}]}, 40023),
    ({"button": [{"name": "办事", "sub_button": [_menu()["button"][0]] * 6}]}, 40023),
    (_sub(name="字" * 21), 40025),
    (_sub(type="dance"), 40024),
    (_sub(key=""), 40026),
    (_sub(type="view"), 40027),
])
async def test_menu_create_refusals(api: Api, body: dict[str, Any], errcode: int) -> None:
    answer = await api.post("/cgi-bin/menu/create", body)
    assert answer["errcode"] == errcode
    assert api.state.menus == {}


# -- user info -------------------------------------------------------------------------------


async def test_user_info(api: Api) -> None:
    info = await api.get("/cgi-bin/user/info", openid=USER, lang="zh_CN")
    assert info["subscribe"] == 1
    assert info["openid"] == USER
    assert info["subscribe_time"] == int(api.clock.now)
    assert info["subscribe_scene"] == "ADD_SCENE_SEARCH"
    assert "nickname" not in info  # not given out since 2021
    api.state.follow(APP_ID, "oScanned", scene="ADD_SCENE_QR_CODE", qr_scene="1001")
    scanned = await api.get("/cgi-bin/user/info", openid="oScanned")
    assert (scanned["subscribe_scene"], scanned["qr_scene"]) == ("ADD_SCENE_QR_CODE", 1001)
    api.state.unfollow(APP_ID, USER)
    assert await api.get("/cgi-bin/user/info", openid=USER) == {
        "subscribe": 0, "openid": USER, "tagid_list": []}
    assert (await api.get("/cgi-bin/user/info", openid="oNobody"))["errcode"] == 40003


# -- fault injection -------------------------------------------------------------------------


async def test_admin_fault_answers_an_errcode_for_the_next_n_calls(api: Api) -> None:
    api.state.saw_message(APP_ID, USER)
    resp = await api.client.post("/dev/admin/faults", json={"count": 2, "errcode": 45009})
    assert (await resp.json())["pending"] == [{"count": 2, "errcode": 45009}]
    first = await api.post(CUSTOM, {"touser": USER, "msgtype": "text",
                                    "text": {"content": "x"}})
    assert (first["errcode"], errmsg(first)) == (45009, "reach max api daily quota limit")
    assert (await api.template())["errcode"] == 45009  # any API path
    assert await api.text() == 0
    assert api.state.calls == {"/cgi-bin/stable_token": 1, CUSTOM: 2, TEMPLATE: 1}
    assert len(api.state.sent[USER]) == 1
    shown = await (await api.client.get("/dev/admin/faults")).json()
    assert shown["pending"] == []


async def test_a_fault_for_one_path_leaves_the_others_alone(api: Api) -> None:
    api.state.saw_message(APP_ID, USER)
    await api.client.post("/dev/admin/faults",
                          json={"count": 1, "errcode": -1, "path": TEMPLATE})
    assert await api.text() == 0
    busy = await api.template()
    assert (busy["errcode"], errmsg(busy)) == (-1, "system error")
    assert (await api.template())["errcode"] == 0


async def test_hang_delays_then_answers_normally(api: Api) -> None:
    api.state.saw_message(APP_ID, USER)
    api.state.inject_fault(1, hang=0.3, path=CUSTOM)
    started = time.monotonic()
    assert await api.text() == 0
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert await api.text() == 0
    assert time.monotonic() - started < 0.3


async def test_drop_closes_the_connection_without_an_answer(api: Api) -> None:
    api.state.saw_message(APP_ID, USER)
    await api.client.post("/dev/admin/faults", json={"count": 1, "drop": True})
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.client.post(CUSTOM, params={"access_token": api.token},
                              json={"touser": USER, "msgtype": "text", "text": {"content": "x"}})
    assert USER not in api.state.sent
    assert await api.text() == 0


async def test_status_fault_answers_an_http_server_error_without_doing_the_call(
    api: Api,
) -> None:
    api.state.saw_message(APP_ID, USER)
    resp = await api.client.post("/dev/admin/faults",
                                 json={"count": 1, "status": 500, "path": CUSTOM})
    assert (await resp.json())["pending"] == [{"count": 1, "status": 500, "path": CUSTOM}]
    failed = await api.client.post(CUSTOM, params={"access_token": api.token}, json={
        "touser": USER, "msgtype": "text", "text": {"content": "x"}})
    assert failed.status == 500
    assert USER not in api.state.sent  # the platform did not do it
    assert await api.text() == 0


async def test_errcode_fault_can_carry_its_own_errmsg(api: Api) -> None:
    api.state.saw_message(APP_ID, USER)
    await api.client.post("/dev/admin/faults", json={"count": 1, "errcode": 40003,
                                                     "errmsg": "odd\u001b[0m text"})
    answer = await api.post(CUSTOM, {"touser": USER, "msgtype": "text",
                                     "text": {"content": "x"}})
    assert answer == {"errcode": 40003, "errmsg": "odd\u001b[0m text"}  # verbatim


async def test_fault_admin_refuses_bad_bodies_and_delete_clears(api: Api) -> None:
    for body in ({"count": 1}, {"count": 1, "errcode": 1, "drop": True}, {"count": 0,
                 "errcode": 1}, {"count": 1, "hang": -1}, {"count": 1, "errcode": 0},
                 {"count": 1, "errcode": 1, "path": "/wechat"}, {"count": "2", "drop": True},
                 {"count": 1, "drop": True, "what": 1}, [1], {"count": 1, "status": 404},
                 {"count": 1, "status": 500, "errcode": -1}, {"count": 1, "status": "500"},
                 {"count": 1, "errmsg": "x"}, {"count": 1, "errcode": 1, "errmsg": 2}):
        resp = await api.client.post("/dev/admin/faults", json=body)
        assert resp.status == 400, body
        assert (await resp.json())["error"]
    bad_json = await api.client.post("/dev/admin/faults", data=b"{nope")
    assert bad_json.status == 400
    api.state.inject_fault(3, errcode=45011)
    cleared = await (await api.client.delete("/dev/admin/faults")).json()
    assert cleared["pending"] == []
    assert await api.text() == 45015  # the call went through to the rules


async def test_the_bots_client_sees_an_injected_quota_error_with_one_token_fetch(
    aiohttp_client: Any
) -> None:
    client = await aiohttp_client(create_api_app([SAFE]))
    state: PlatformState = client.app[PLATFORM]
    state.follow(APP_ID, USER)
    state.inject_fault(1, errcode=45009, path=CUSTOM)
    account = replace(SAFE, api_base=str(client.make_url("")).rstrip("/"))
    async with aiohttp.ClientSession() as session:
        wechat = WeChatClient(session, account, MemoryStore(), KeyBuilder())
        with pytest.raises(QuotaExceeded):
            await wechat.send_text(USER, "配额用完")
        await wechat.send_text(USER, "恢复了")
    assert state.calls == {"/cgi-bin/stable_token": 1, CUSTOM: 2}
    assert [m["text"]["content"] for m in state.sent[USER]] == ["恢复了"]


async def test_faults_work_on_the_whole_dev_platform_too(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_platform_app(
        [SAFE], {"default": f"http://127.0.0.1:{free_port()}/wechat"}))
    await client.post("/dev/admin/faults", json={"count": 1, "errcode": 40164,
                                                 "path": "/cgi-bin/stable_token"})
    answer = await (await client.post("/cgi-bin/stable_token", json={
        "grant_type": "client_credential", "appid": APP_ID, "secret": SECRET})).json()
    assert answer["errcode"] == 40164
    assert (await client.get("/dev/healthz")).status == 200  # /dev/ is never faulted
    assert client.app[PLATFORM].calls == {"/cgi-bin/stable_token": 1}

