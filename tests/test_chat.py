"""``lianxin chat``: commands, the transcript a scripted user sees, Ctrl-C and EOF."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import sys
from pathlib import Path

import pytest
from aiohttp import web

from devplatform.chat import ChatOptions, render_menu, render_push, render_reply, run_chat
from devplatform.chat_commands import Command, CommandError, parse_line
from devplatform.identity import openid_for
from devplatform.replies import Reply
from domain.messages import Article, Inbound, Outbound
from flows.context import Conversation
from storage import db
from tests.test_devplatform import (
    APP_ID,
    PNG,
    SECRET,
    free_port,
    serving,
    stack,
    two_replies,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def bot_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('chat') / 'bot.db'}"
    db.upgrade(url)
    return url


@pytest.mark.parametrize(("line", "command"), [
    ("你好\n", Command("send", {"kind": "text", "content": "你好"})),
    ("  spaced out  \n", Command("send", {"kind": "text", "content": "  spaced out  "})),
    ("//follow is text\n", Command("send", {"kind": "text", "content": "/follow is text"})),
    ("\n", Command("nothing")),
    ("/follow", Command("send", {"kind": "follow"})),
    ("/UNFOLLOW", Command("send", {"kind": "unfollow"})),
    ("/click MENU_REPORT", Command("send", {"kind": "click", "key": "MENU_REPORT"})),
    ("/loc 26.647 106.630 贵阳市 人民政府", Command("send", {
        "kind": "location", "latitude": 26.647, "longitude": 106.63,
        "label": "贵阳市 人民政府"})),
    ("/loc -33.9 151.2", Command("send", {"kind": "location", "latitude": -33.9,
                                          "longitude": 151.2, "label": ""})),
    ("/img ~/my photo.png", Command("image", path="~/my photo.png")),
    ("/menu", Command("menu")),
    ("/scan 1001", Command("send", {"kind": "scan", "scene": "1001"})),
    ("/subscribe SUB_SURVEY", Command("send", {"kind": "subscribe",
                                               "template_id": "SUB_SURVEY"})),
    ("/help", Command("help")),
    ("/quit", Command("quit")),
])
def test_lines_become_commands(line: str, command: Command) -> None:
    assert parse_line(line) == command


@pytest.mark.parametrize(("line", "hint"), [
    ("/click", "usage: /click KEY"),
    ("/click TWO KEYS", "usage: /click KEY"),
    ("/loc", "usage: /loc LAT LNG LABEL"),
    ("/loc north 106 x", "LAT must be a number"),
    ("/loc 26 200 x", "LNG must be between -180 and 180"),
    ("/img", "usage: /img PATH"),
    ("/follow now", "/follow takes no arguments"),
    ("/menu please", "/menu takes no arguments"),
    ("/scan", "usage: /scan SCENE"),
    ("/subscribe", "usage: /subscribe TEMPLATE_ID"),
    ("/dance", "unknown command /dance"),
])
def test_bad_commands_say_what_to_type(line: str, hint: str) -> None:
    with pytest.raises(CommandError, match=re.escape(hint)):
        parse_line(line)


def test_replies_and_pushes_are_labelled_apart() -> None:
    assert render_reply(Reply(kind="text", text="第一行\n第二行")) == \
        "[reply] 第一行\n        第二行"
    assert render_reply(Reply(kind="none")) == "[reply] (no reply)"
    unavailable = render_reply(Reply.unavailable("the bot answered HTTP 500"))
    assert unavailable.startswith("[reply] 该公众号暂时无法提供服务，请稍后再试")
    assert "HTTP 500" in unavailable
    assert render_reply(Reply(kind="news", articles=(Article("进度", "已受理", "https://x/1"),))) \
        == "[reply] [news] 进度 — 已受理 <https://x/1>"
    assert render_push({"msgtype": "text", "text": {"content": "您的留言已办结"}}) == \
        "[push] 您的留言已办结"
    assert render_push({"msgtype": "image", "image": {"media_id": "M1"}}) == \
        "[push] [image] media_id=M1"


def test_template_and_subscribe_messages_show_with_their_fields() -> None:
    template = {"msgtype": "template", "template": {
        "template_id": "TM_TICKET_STATUS", "title": "留言办理进度通知", "url": "https://x/t/1",
        "data": {"character_string1": "GZ-1", "phrase3": "已受理"}}}
    assert render_push(template) == (
        "[template] 留言办理进度通知 (TM_TICKET_STATUS)\n"
        "           character_string1: GZ-1\n"
        "           phrase3: 已受理\n"
        "           <https://x/t/1>")
    subscribe = {"msgtype": "subscribe", "subscribe": {
        "template_id": "SUB_SURVEY", "title": "", "page": "", "data": {"thing2": "请评价"}}}
    assert render_push(subscribe) == "[subscribe] SUB_SURVEY\n            thing2: 请评价"


def test_menu_shows_what_each_button_does() -> None:
    shown = render_menu({"menu": [
        {"type": "click", "name": "我要留言", "key": "MENU_REPORT", "sub_button": []},
        {"name": "办事", "sub_button": [
            {"type": "view", "name": "官网", "url": "https://x/", "sub_button": []},
            {"type": "scancode_push", "name": "扫码", "key": "SCAN", "sub_button": []}]}],
        "templates": [{"template_id": "SUB_SURVEY", "kind": "subscribe", "title": "评价提醒"},
                      {"template_id": "TM_SURVEY", "kind": "template", "title": "x"}]})
    assert shown.splitlines() == [
        "[menu] 我要留言 — /click MENU_REPORT",
        "       办事 ▸",
        "         官网 — view https://x/",
        "         扫码 — scancode_push SCAN",
        "       subscribe messages you can accept:",
        "         /subscribe SUB_SURVEY  评价提醒",
    ]
    assert render_menu({"menu": None}) == \
        "[menu] the account has no menu (menu/create was not called)"


async def chat_transcript(platform: str, script: str, **options: object) -> tuple[int, str]:
    lines: list[str] = []
    code = await run_chat(ChatOptions(platform=platform, echo=True, **options),  # type: ignore[arg-type]
                          io.StringIO(script), lines.append)
    return code, "\n".join(lines)


async def test_scripted_chat_shows_replies_pushes_and_survives_bad_input(
    bot_db: str, tmp_path: Path
) -> None:
    picture = tmp_path / "p.png"
    picture.write_bytes(PNG)
    script = (f"你好\n/loc 1000 2 x\n/bogus\n/img {tmp_path / 'missing.png'}\n/img {tmp_path}\n"
              f"/img a\x00b.png\n/img {picture}\n/click HELP\n")
    async with stack(bot_db, two_replies) as s:
        code, out = await chat_transcript(s.platform, script, linger=0.5)
        alice = s.state.user(APP_ID, openid_for(APP_ID, "alice"))
    assert code == 0
    assert "Chatting as alice" in out
    assert "you> 你好\n[reply] 收到：你好" in out
    assert "[push] 稍后推送的消息" in out
    assert "[error] LAT must be between -90 and 90" in out
    assert "[error] unknown command /bogus; /help lists the commands" in out
    assert "[error] no such file:" in out
    assert "is a folder, not an image file" in out
    assert "[error] 'a\\x00b.png' is not a file name" in out
    assert out.count("[reply] 收到：") == 3  # the text, the image and the click
    assert out.count("[push] 稍后推送的消息") == 3
    assert alice is not None
    assert alice.messages == 2  # the text and the image (a click is an event)
    assert "Traceback" not in out


async def test_chat_shows_template_and_subscribe_messages_and_the_menu(bot_db: str) -> None:
    async with stack(bot_db) as s:  # the real handler: silent on the platform's events
        alice = openid_for(APP_ID, "alice")
        async with s.session.post(f"{s.platform}/cgi-bin/stable_token", json={
                "grant_type": "client_credential", "appid": APP_ID, "secret": SECRET}) as r:
            token = {"access_token": (await r.json())["access_token"]}
        async with s.session.post(f"{s.platform}/cgi-bin/menu/create", params=token, json={
                "button": [{"type": "click", "name": "我要留言", "key": "MENU_REPORT"}]}) as r:
            assert (await r.json())["errcode"] == 0

        async def account_sends() -> None:
            """Once alice has accepted, the account sends her a template and a notice."""
            while True:
                user = s.state.user(APP_ID, alice)
                if user is not None and user.consents.get("SUB_SURVEY"):
                    break
                await asyncio.sleep(0.02)
            async with s.session.post(
                f"{s.platform}/cgi-bin/message/template/send", params=token, json={
                    "touser": alice, "template_id": "TM_TICKET_STATUS", "data": {
                        "character_string1": {"value": "GZ-2024-000123"},
                        "thing2": {"value": "小区路灯不亮"}, "phrase3": {"value": "已办结"},
                        "time4": {"value": "2024年5月6日 10:30"}}}) as r:
                assert (await r.json())["errcode"] == 0
            async with s.session.post(
                f"{s.platform}/cgi-bin/message/subscribe/bizsend", params=token, json={
                    "touser": alice, "template_id": "SUB_SURVEY", "data": {
                        "character_string1": {"value": "GZ-2024-000123"},
                        "thing2": {"value": "请为本次办理打分"},
                        "date3": {"value": "2024年5月8日"}}}) as r:
                assert (await r.json())["errcode"] == 0

        sender = asyncio.create_task(account_sends())
        code, out = await chat_transcript(
            s.platform, "/follow\n/menu\n/subscribe SUB_SURVEY\n/subscribe NOPE\n",
            linger=0.8)
        await asyncio.wait_for(sender, 1)
        await s.state.settle()
    assert code == 0
    assert "[menu] 我要留言 — /click MENU_REPORT" in out
    assert "/subscribe SUB_SURVEY  评价提醒" in out
    assert "you> /subscribe SUB_SURVEY\n[reply] (no reply)" in out
    assert "[error] the account has no subscribe template 'NOPE'" in out
    assert "[template] 留言办理进度通知 (TM_TICKET_STATUS)" in out
    assert "           phrase3: 已办结" in out
    assert "[subscribe] 评价提醒 (SUB_SURVEY)" in out
    assert "            thing2: 请为本次办理打分" in out
    assert [e.reply for e in s.state.template_events] == ["none"]


# What the account receives for a character in a typed text: XML 1.0 carries tab, line
# feed and everything from U+0020 but U+FFFE, U+FFFF and lone surrogates; a CR is read as a
# line feed; anything else arrives as U+FFFD. WeChat itself passes C0 controls into the
# callback's CDATA raw (unreadable XML: the bot answers 400 and the user sees "该公众号暂时
# 无法提供服务"); the dev platform sends what a lenient reader would make of them.
TYPED = [*(chr(c) for c in range(32) if c != 10), "\x7f", "\x85", "\u2028", "\ufffe",
         "\uffff", "\ud800", "\udfff", "\U0010ffff", "]]>"]


class Echo:
    async def __call__(self, inbound: Inbound, conversation: Conversation) -> list[Outbound]:
        return [Outbound.of_text(f"收到：{inbound.text}")]


def echo(app: web.Application) -> Echo:
    return Echo()


def received(typed: str) -> str:
    if typed in ("\t", "\x7f", "\x85", "\u2028", "\U0010ffff", "]]>"):
        return typed
    return "\n" if typed == "\r" else "\ufffd"


async def test_control_characters_in_a_typed_text_reach_the_bot_readable(
    bot_db: str
) -> None:
    """Every C0 control character and the other characters XML cannot carry, typed in a
    text: the platform answers (no HTTP 500), the bot reads the message and answers it, and
    the chat shows the answer (no error line)."""
    script = "".join(f"a{c}b\n" for c in TYPED)
    async with stack(bot_db, echo) as s:  # one passive reply each: nothing left to push
        code, out = await chat_transcript(s.platform, script)
    assert code == 0
    assert "[error]" not in out
    answers = re.findall(r"\[reply\] 收到：(a.*?b)\n(?:you>|$)", out + "\n", re.S)
    assert [a.replace("\n" + " " * 8, "\n") for a in answers] == \
        [f"a{received(c)}b" for c in TYPED]


async def test_an_error_page_from_the_platform_is_one_clear_line() -> None:
    """Whatever the platform answers, the chat says what happened in one line and goes
    on: an HTTP 500 page (not JSON) names the status, a 4xx names the platform's error,
    a 200 that is not JSON says so; never a JSONDecodeError."""
    answers = iter([
        web.Response(status=500, text="500 Internal Server Error\n\nServer got itself in "
                                       "trouble"),
        web.Response(status=502, body=b"\xff\xfe<html>bad gateway</html>"),
        web.json_response({"error": "kind must be text"}, status=400),
        web.Response(text="<html>not the platform</html>"),
        web.json_response({"reply": {"kind": "text", "text": "好的"}}),
    ])

    async def whoami(request: web.Request) -> web.Response:
        return web.json_response({"openid": "o1", "account": "default",
                                  "original_id": "gh_1"})

    async def inbox(request: web.Request) -> web.Response:
        return web.json_response({"messages": [], "next": 0})

    async def send(request: web.Request) -> web.Response:
        return next(answers)

    fake = web.Application()
    fake.router.add_get("/dev/chat/{user}", whoami)
    fake.router.add_get("/dev/chat/{user}/inbox", inbox)
    fake.router.add_post("/dev/chat/{user}/send", send)
    async with serving(fake) as url:
        code, out = await chat_transcript(url, "一\n二\n三\n四\n五\n")
    assert code == 0
    errors = [line for line in out.splitlines() if line.startswith("[error]")]
    assert errors == [
        "[error] the dev platform answered HTTP 500 (500 Internal Server Error)",
        "[error] the dev platform answered HTTP 502 (\ufffd\ufffd<html>bad gateway</html>)",
        "[error] kind must be text",
        f"[error] unexpected answer from {url} (HTTP 200, not a JSON object)",
    ]
    assert out.endswith("you> 五\n[reply] 好的")
    assert "JSONDecodeError" not in out


async def test_quit_stops_reading(bot_db: str) -> None:
    async with stack(bot_db, two_replies) as s:
        code, out = await chat_transcript(s.platform, "/quit\nnever sent\n", linger=5.0)
        assert s.state.user(APP_ID, openid_for(APP_ID, "alice")) is None
    assert code == 0
    assert "never sent" not in out


async def test_end_of_input_lingers_for_late_pushes(bot_db: str) -> None:
    async with stack(bot_db, two_replies) as s:
        code, out = await chat_transcript(s.platform, "hi\n", linger=0.5)
    assert code == 0
    assert out.index("[reply] 收到：hi") < out.index("[push] 稍后推送的消息")


async def test_chat_without_a_platform_says_so_once() -> None:
    code, out = await chat_transcript(f"http://127.0.0.1:{free_port()}", "hi\n")
    assert code == 1
    assert out.startswith("lianxin chat: no answer from the dev platform at http://127.0.0.1:")
    assert "Is `lianxin devplatform` (or `lianxin dev`) running?" in out


# `python -m bot.cli ARGS` with SIGINT at Python's default (KeyboardInterrupt), as a user's
# terminal starts it. A child inherits an ignored SIGINT, and the suite may run with one
# (a background job of a script ignores SIGINT), so it is set here, not inherited.
CLI_WITH_DEFAULT_SIGINT = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler)"
                           "; from bot.cli import main; raise SystemExit(main())")


async def run_cli(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", CLI_WITH_DEFAULT_SIGINT, *args, cwd=REPO,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})})


async def test_lianxin_chat_reads_piped_stdin(bot_db: str) -> None:
    async with stack(bot_db, two_replies) as s:
        process = await run_cli("chat", "--platform", s.platform, "--user", "erin",
                                "--linger", "0.5")
        out, err = await asyncio.wait_for(
            process.communicate("在吗\n/what\n".encode()), 10)
    text = out.decode()
    assert process.returncode == 0, err.decode()
    assert "Chatting as erin" in text
    assert "you> 在吗\n[reply] 收到：在吗" in text
    assert "[push] 稍后推送的消息" in text
    assert "[error] unknown command /what" in text
    assert b"Traceback" not in err


async def test_lianxin_chat_reads_bytes_that_are_not_utf8_as_replacement_characters(
    bot_db: str
) -> None:
    """A pasted byte that is not UTF-8 arrives as U+FFFD (a phone sends only Unicode);
    it used to end the chat as if the input had ended."""
    async with stack(bot_db, two_replies) as s:
        # standard input decoded as in a UTF-8 terminal (strictly; under the C locale
        # Python would escape such bytes as lone surrogates instead)
        process = await run_cli("chat", "--platform", s.platform, "--linger", "0.5",
                                env={"PYTHONIOENCODING": "utf-8:strict"})
        out, err = await asyncio.wait_for(process.communicate(b"caf\xe9\n\xff\n/what\n"), 20)
    text = out.decode()
    assert process.returncode == 0, err.decode()
    assert "[reply] 收到：caf\ufffd" in text
    assert "[reply] 收到：\ufffd" in text
    assert "[error] unknown command /what" in text


async def test_ctrl_c_ends_the_chat_cleanly(bot_db: str) -> None:
    async with stack(bot_db, two_replies) as s:
        process = await run_cli("chat", "--platform", s.platform)
        assert process.stdout is not None
        banner = await asyncio.wait_for(process.stdout.readline(), 10)
        assert banner.startswith(b"Chatting as alice")
        process.send_signal(signal.SIGINT)
        out, err = await asyncio.wait_for(process.communicate(), 10)
    assert process.returncode == 0
    assert out.decode().strip().endswith("bye")
    assert b"Traceback" not in err
