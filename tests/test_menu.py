"""The custom menu: config/menu.toml, the loader's errors, check and push."""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot.config import Account, ConfigError
from bot.wechat import menu as menu_module
from bot.wechat.api import MenuInvalid
from bot.wechat.menu import DEFAULT_MENU, load_menu, push_menu, render_menu
from devplatform.chat import ChatOptions, run_chat
from storage.keys import KeyBuilder
from storage.memory import MemoryStore
from tests.conftest import AES_KEY, APP_ID, APP_SECRET, TOKEN
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
OTHER_ID = "wx0000000000000001"


def keys_of(menu: dict[str, Any]) -> dict[str, str]:
    found: dict[str, str] = {}
    for button in menu["button"]:
        for leaf in button.get("sub_button") or [button]:
            found[leaf["name"]] = leaf["key"]
    return found


def test_the_shipped_menu_is_valid_and_uses_the_handlers_keys() -> None:
    menu = load_menu()
    assert keys_of(menu) == {"我要反映": "COMPLAINT", "进度查询": "MY_TICKETS",
                             "法律咨询": "LEGAL", "待评价": "SURVEY", "使用说明": "HELP"}
    # the three doors of issue 15, each within the platform's 16 bytes at the top
    assert [b["name"] for b in menu["button"]] == ["我要反映", "进度查询", "更多服务"]
    assert all(len(b["name"].encode()) <= 16 for b in menu["button"])
    assert all(len(s["name"].encode()) <= 60 for b in menu["button"]
               for s in b.get("sub_button", ()))
    assert all(b["type"] == "click" for b in menu["button"] if "sub_button" not in b)
    shown = render_menu(menu).splitlines()
    assert "我要反映  [click COMPLAINT]" in shown
    assert "  使用说明  [click HELP]" in shown


@pytest.mark.parametrize(("text", "problem"), [
    ('[[button]]\nname = "一二三四五六"\ntype = "click"\nkey = "K"\n',
     "button[0].name: 18 bytes, at most 16"),
    ('[[button]]\nname = "我的"\n[[button.sub_button]]\nname = "' + "一" * 21
     + '"\ntype = "click"\nkey = "K"\n', "button[0].sub_button[0].name: 63 bytes, at most 60"),
    ('[[button]]\nname = "官网"\ntype = "view"\n', "button[0].url: is missing"),
    ('[[button]]\nname = "帮助"\ntype = "click"\nkey = "HELP"\nkye = "x"\n',
     "button[0].kye: is not a button field"),
    ('[[button]]\nname = "帮助"\ntype = "clack"\nkey = "HELP"\n',
     "button[0].type: 'clack' is not a menu button type"),
    ("", "button: is missing"),
    ('button = "x"\n', "button: must be a list of buttons"),
    ('[[button]]\nname = "帮助"\ntype = "click"\nkey = "HELP"\n' * 4,
     "button: 4 buttons, 1 to 3 allowed"),
    ('[[button]]\nname = "帮助\n', "Illegal character"),
])
def test_a_bad_menu_file_names_the_problem(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "menu.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_menu(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_missing_menu_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"menu\.toml: file not found"):
        load_menu(tmp_path / "menu.toml")


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="lianxin")
    menu_module.add_commands(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_menu_check_prints_the_menu(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse("menu", "check")
    assert args.file == DEFAULT_MENU
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "法律咨询  [click LEGAL]" in out
    assert "is valid (3 buttons)" in out


def test_menu_check_of_a_bad_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "menu.toml"
    path.write_text('[[button]]\nname = "官网"\ntype = "view"\n', encoding="utf-8")
    args = parse("menu", "check", "--file", str(path))
    assert args.func(args) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"lianxin menu check: {path}: button[0].url: is missing\n"


# -- push --------------------------------------------------------------------------------------


class MenuPlatform:
    """Tokens per app id; records each menu/create body by app id; 40018 for ``refuse``."""

    def __init__(self) -> None:
        self.menus: dict[str, list[Any]] = {}
        self.tokens: dict[str, str] = {}
        self.refuse: set[str] = set()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/cgi-bin/stable_token", self._token)
        app.router.add_post("/cgi-bin/menu/create", self._create)
        return app

    async def _token(self, request: web.Request) -> web.Response:
        body = await request.json()
        token = f"T-{body['appid']}"
        self.tokens[token] = body["appid"]
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _create(self, request: web.Request) -> web.Response:
        app_id = self.tokens.get(request.query.get("access_token", ""))
        if app_id is None:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        if app_id in self.refuse:
            return web.json_response({"errcode": 40018, "errmsg": "invalid button name size"})
        self.menus.setdefault(app_id, []).append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest.fixture
async def platform() -> AsyncIterator[tuple[str, MenuPlatform]]:
    fake = MenuPlatform()
    server = TestServer(fake.app())
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), fake
    await server.close()


async def test_push_menu_creates_it_on_each_account(
    platform: tuple[str, MenuPlatform],
) -> None:
    base, fake = platform
    fake.refuse.add(OTHER_ID)
    accounts = [Account("default", TOKEN, APP_ID, APP_SECRET, None, base),
                Account("county", TOKEN, OTHER_ID, APP_SECRET, None, base)]
    menu = load_menu()
    async with aiohttp.ClientSession() as session:
        results = await push_menu(menu, accounts, session, MemoryStore(), KeyBuilder())
    assert fake.menus == {APP_ID: [menu]}
    assert results["default"] is None
    assert isinstance(results["county"], MenuInvalid)
    assert results["county"].errcode == 40018


async def run_push(
    base: str, tmp_path: Path, *args: str
) -> tuple[int, str, str]:
    accounts = tmp_path / "accounts.toml"
    accounts.write_text(
        f'[accounts.county]\ntoken = "countyToken2026"\napp_id = "{OTHER_ID}"\n'
        f'app_secret = "x"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_")}
    env.update(LIANXIN_WECHAT_TOKEN=TOKEN, LIANXIN_WECHAT_APP_ID=APP_ID,
               LIANXIN_WECHAT_APP_SECRET=APP_SECRET, LIANXIN_WECHAT_API_BASE=base,
               LIANXIN_ACCOUNTS_FILE=str(accounts))
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.wechat.menu", "push", *args, env=env, cwd=ROOT,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_push_command_reaches_every_account(
    platform: tuple[str, MenuPlatform], tmp_path: Path
) -> None:
    base, fake = platform
    code, out, err = await run_push(base, tmp_path)
    assert (code, err) == (0, "")
    assert fake.menus == {APP_ID: [load_menu()], OTHER_ID: [load_menu()]}
    assert f"default ({APP_ID}): menu created (3 buttons)" in out
    assert f"county ({OTHER_ID}): menu created" in out


async def test_push_command_to_one_account_and_its_failures(
    platform: tuple[str, MenuPlatform], tmp_path: Path
) -> None:
    base, fake = platform
    code, _, err = await run_push(base, tmp_path, "--account", "county")
    assert (code, err) == (0, "")
    assert list(fake.menus) == [OTHER_ID]

    fake.refuse.add(OTHER_ID)
    code, out, err = await run_push(base, tmp_path)
    assert code == 1
    assert f"default ({APP_ID}): menu created" in out
    assert err == (f"lianxin menu push: county ({OTHER_ID}): WeChat API error 40018: "
                   "invalid button name size\n")

    code, _, err = await run_push(base, tmp_path, "--account", "nobody")
    assert code == 2
    assert err == ("lianxin menu push: --account nobody: no such account "
                   "(have default, county)\n")


async def test_push_command_refuses_a_bad_file_before_calling(
    platform: tuple[str, MenuPlatform], tmp_path: Path
) -> None:
    base, fake = platform
    path = tmp_path / "menu.toml"
    path.write_text('[[button]]\nname = "一二三四五六"\ntype = "click"\nkey = "K"\n',
                    encoding="utf-8")
    code, out, err = await run_push(base, tmp_path, "--file", str(path))
    assert (code, out) == (2, "")
    assert err == f"lianxin menu push: {path}: button[0].name: 18 bytes, at most 16\n"
    assert fake.menus == {} and fake.tokens == {}


# -- lianxin dev -------------------------------------------------------------------------------


async def test_lianxin_dev_starts_with_the_menu_pushed(tmp_path: Path) -> None:
    """`make run` (`lianxin dev`) pushes config/menu.toml to the dev platform it starts, so
    /menu in the chat shows it (each start is a new platform, without a menu)."""
    platform_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIANXIN_")}
    env.update(LIANXIN_WECHAT_TOKEN=TOKEN, LIANXIN_WECHAT_APP_ID=APP_ID,
               LIANXIN_WECHAT_APP_SECRET=APP_SECRET, LIANXIN_WECHAT_AES_KEY=AES_KEY,
               LIANXIN_WECHAT_API_BASE=f"http://127.0.0.1:{platform_port}",
               LIANXIN_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/dev.db",
               LIANXIN_PORT=str(free_port()), LIANXIN_STORE_SAVE_INTERVAL="0",
               PYTHONPATH=str(ROOT))  # it runs in tmp_path; the code is this checkout's
    dev = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "dev", "--platform-port", str(platform_port),
        env=env, cwd=tmp_path, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    assert dev.stdout is not None
    said: list[str] = []
    try:
        while not said or not said[-1].startswith("lianxin dev: open the chat with:"):
            line = await asyncio.wait_for(dev.stdout.readline(), 60)  # a bound on a hang
            assert line, f"lianxin dev ended: {said}"
            said.append(line.decode().rstrip())
        shown: list[str] = []
        code = await run_chat(ChatOptions(platform=f"http://127.0.0.1:{platform_port}"),
                              io.StringIO("/menu\n"), shown.append)
    finally:
        dev.send_signal(signal.SIGTERM)
        await asyncio.wait_for(dev.wait(), 60)
    assert code == 0
    menu = shown[-1].splitlines()
    assert menu[:3] == ["[menu] 我要反映 — /click COMPLAINT",
                        "       进度查询 — /click MY_TICKETS",
                        "       更多服务 ▸"]
    assert f"lianxin menu push: default ({APP_ID}): menu created (3 buttons)" in said
    assert dev.returncode == 0
