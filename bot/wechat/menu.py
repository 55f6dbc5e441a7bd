"""The custom menu: loaded from ``config/menu.toml``, checked, pushed to every account.

``lianxin menu check [--file PATH]`` validates the file and prints the menu;
``lianxin menu push [--file PATH] [--account NAME]`` sends it with ``menu/create`` to the
environment's account and every account in ``LIANXIN_ACCOUNTS_FILE`` (or to one).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bot.config import (
    REPO_ROOT,
    Account,
    ConfigError,
    load_accounts,
    load_settings,
    read_toml,
)
from bot.wechat.api import WeChatAPIError, WeChatClient
from bot.wechat.fields import FieldError, check_menu
from storage.base import Store
from storage.keys import KeyBuilder
from storage.memory import MemoryStore

DEFAULT_MENU = REPO_ROOT / "config" / "menu.toml"
_TARGET_FIELDS = ("key", "url", "article_id", "media_id", "pagepath")


def load_menu(path: Path = DEFAULT_MENU) -> dict[str, Any]:
    """The menu in ``path`` as a ``menu/create`` body; :class:`ConfigError` names the problem
    (``config/menu.toml: button[1].sub_button[0].name: 72 bytes, at most 60``)."""
    menu = read_toml(path, str(path))
    try:
        check_menu(menu)
    except FieldError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return menu


def render_menu(menu: Mapping[str, Any]) -> str:
    """The menu as indented lines: name, type and what the button does."""
    lines: list[str] = []

    def line(button: Mapping[str, Any], indent: str) -> None:
        target = next((f" {button[f]}" for f in _TARGET_FIELDS if f in button), "")
        action = f"  [{button['type']}{target}]" if "type" in button else ""
        lines.append(f"{indent}{button['name']}{action}")

    for button in menu["button"]:
        line(button, "")
        for sub in button.get("sub_button") or ():
            line(sub, "  ")
    return "\n".join(lines)


async def push_menu(
    menu: Mapping[str, Any], accounts: Sequence[Account], session: aiohttp.ClientSession,
    store: Store, keys: KeyBuilder, *, api_timeout: float = 10.0,
) -> dict[str, WeChatAPIError | None]:
    """Create ``menu`` on each account, one after the other; the error per account name."""
    results: dict[str, WeChatAPIError | None] = {}
    for account in accounts:
        client = WeChatClient(session, account, store, keys, timeout=api_timeout)
        try:
            await client.create_menu(menu)
        except WeChatAPIError as exc:
            results[account.name] = exc
        else:
            results[account.name] = None
    return results


def _fail(command: str, message: str) -> int:
    print(f"lianxin menu {command}: {message}", file=sys.stderr)
    return 2


def cmd_check(args: argparse.Namespace) -> int:
    try:
        menu = load_menu(args.file)
    except ConfigError as exc:
        return _fail("check", str(exc))
    print(render_menu(menu))
    print(f"lianxin menu check: {args.file} is valid ({len(menu['button'])} buttons)")
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    try:
        menu = load_menu(args.file)
        settings = load_settings()
        accounts = load_accounts(settings)
    except ConfigError as exc:
        return _fail("push", str(exc))
    if args.account is not None:
        chosen = [a for a in accounts if a.name == args.account]
        if not chosen:
            return _fail("push", f"--account {args.account}: no such account (have "
                                 f"{', '.join(a.name for a in accounts)})")
        accounts = chosen

    async def run() -> dict[str, WeChatAPIError | None]:
        store: Store
        if settings.redis_url:
            from storage.redis_store import RedisStore

            store = RedisStore.from_url(settings.redis_url)
        else:
            store = MemoryStore()
        try:
            async with aiohttp.ClientSession() as session:
                return await push_menu(menu, accounts, session, store, KeyBuilder(),
                                       api_timeout=settings.api_timeout)
        finally:
            await store.close()

    results = asyncio.run(run())
    failed = 0
    for account in accounts:
        error = results[account.name]
        if error is None:
            print(f"lianxin menu push: {account.name} ({account.app_id}): menu created "
                  f"({len(menu['button'])} buttons)")
        else:
            failed += 1
            print(f"lianxin menu push: {account.name} ({account.app_id}): {error}",
                  file=sys.stderr)
    return 1 if failed else 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lianxin menu push`` and ``lianxin menu check``."""
    menu = sub.add_parser("menu", help="the account's custom menu (config/menu.toml)")
    menu_sub = menu.add_subparsers(dest="menu_command", required=True)
    file_help = f"the menu file (default {DEFAULT_MENU.relative_to(REPO_ROOT)})"

    check = menu_sub.add_parser("check", help="validate the menu file and print it")
    check.add_argument("--file", type=Path, default=DEFAULT_MENU, metavar="PATH",
                       help=file_help)
    check.set_defaults(func=cmd_check)

    push = menu_sub.add_parser(
        "push", help="create the menu on every account (or --account NAME)",
        description="Sends the menu with menu/create to the account in the LIANXIN_* "
                    "settings and every account in LIANXIN_ACCOUNTS_FILE.")
    push.add_argument("--file", type=Path, default=DEFAULT_MENU, metavar="PATH",
                      help=file_help)
    push.add_argument("--account", metavar="NAME",
                      help="push to this account only (default is the environment's account)")
    push.set_defaults(func=cmd_push)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.wechat.menu check|push``: the same commands outside ``lianxin``."""
    parser = argparse.ArgumentParser(prog="lianxin")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["menu", *(sys.argv[1:] if argv is None else argv)])
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    raise SystemExit(main())
