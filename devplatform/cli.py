"""Commands of the dev platform: ``devplatform``, ``chat`` and ``dev``."""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import sys

from aiohttp import web

from bot.config import ConfigError, load_accounts, load_settings
from devplatform.chat import DEFAULT_PLATFORM, ChatOptions
from devplatform.chat import main as chat_main
from devplatform.state import TEMPLATE_EVENT_DELAY, load_templates
from devplatform.wechat_side import WECHAT_TIMEOUT

DEFAULT_PORT = 8081
SHUTDOWN_TIMEOUT = 5.0  # seconds a stop waits for requests under way (a send to the bot)


def _quick_exit() -> None:
    """At exit, leave what the process made to the end of the process: the interpreter's
    last collections went through all of it (aiohttp, SQLAlchemy, Alembic…), 0.3-0.8 s
    at every exit of these commands (``bench/quit.py``). ``lianxin serve`` freezes the
    same way at start-up. Runs after the threads are joined, before the collections."""
    atexit.register(gc.freeze)


def _fail(command: str, message: str) -> int:
    print(f"lianxin {command}: {message}", file=sys.stderr)
    return 2


def cmd_devplatform(args: argparse.Namespace) -> int:
    from devplatform.server import create_platform_app, default_callback_urls

    _quick_exit()
    try:
        settings = load_settings()
        accounts = load_accounts(settings)
    except ConfigError as exc:
        return _fail("devplatform", str(exc))
    logging.basicConfig(level=settings.log_level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    base = args.callback or f"http://127.0.0.1:{settings.port}/wechat"
    if not base.startswith(("http://", "https://")):
        return _fail("devplatform", "--callback must be an http:// or https:// address")
    urls = default_callback_urls(accounts, base)
    try:
        templates = load_templates(args.templates) if args.templates else None
    except ValueError as exc:
        return _fail("devplatform", str(exc))
    app = create_platform_app(accounts, urls, reply_timeout=args.reply_timeout,
                              templates=templates,
                              template_event_delay=args.template_event_delay)
    print(f"lianxin devplatform: WeChat stand-in on http://{args.host}:{args.port}; "
          f"callbacks to {', '.join(urls.values())}", flush=True)
    try:
        web.run_app(app, host=args.host, port=args.port, print=None, access_log=None,
                    shutdown_timeout=SHUTDOWN_TIMEOUT)
    except OSError as exc:
        return _fail("devplatform", f"cannot listen on {args.host}:{args.port}: "
                                    f"{exc.strerror or exc}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    _quick_exit()
    interactive = sys.stdin.isatty()
    linger = args.linger if args.linger is not None else (0.0 if interactive else 2.0)
    return chat_main(ChatOptions(platform=args.platform, user=args.user, account=args.account,
                                 linger=linger, echo=not interactive))


def cmd_dev(args: argparse.Namespace) -> int:
    from devplatform.runner import DevError, run_dev

    _quick_exit()
    try:
        settings = load_settings()
        load_accounts(settings)
        return run_dev(settings, platform_port=args.platform_port, user=args.user,
                       interactive=sys.stdin.isatty())
    except (ConfigError, DevError) as exc:
        return _fail("dev", str(exc))


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {value!r}") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError("a port is 1 to 65535")
    return port


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {value!r}") from None
    if not 0 <= seconds <= 600:
        raise argparse.ArgumentTypeError("must be 0 to 600 seconds")
    return seconds


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    platform = sub.add_parser(
        "devplatform", help="run a local stand-in for the WeChat platform",
        description="The WeChat API (tokens; custom, template and subscribe messages with "
                    "WeChat's rules; media; menu; user info; fault injection at "
                    "/dev/admin/faults) and WeChat's side of the callback, for the accounts "
                    "in the LIANXIN_* settings.")
    platform.add_argument("--host", default="127.0.0.1")
    platform.add_argument("--port", type=_port, default=DEFAULT_PORT)
    platform.add_argument(
        "--callback", metavar="URL",
        help="the bot's callback URL (default http://127.0.0.1:$LIANXIN_PORT/wechat; "
             "other accounts get /NAME appended)")
    platform.add_argument("--reply-timeout", type=_seconds, default=WECHAT_TIMEOUT,
                          help="seconds to wait for the bot before retrying (WeChat: 5)")
    platform.add_argument(
        "--templates", metavar="FILE",
        help='the accounts\' templates, a JSON list of {"id", "keys", "kind": "template" or '
             '"subscribe", "title"} (default: a built-in set, TM_* and SUB_*)')
    platform.add_argument("--template-event-delay", type=_seconds,
                          default=TEMPLATE_EVENT_DELAY, metavar="SECONDS",
                          help="seconds from template/send to its TEMPLATESENDJOBFINISH "
                               f"event (default {TEMPLATE_EVENT_DELAY:g})")
    platform.set_defaults(func=cmd_devplatform)

    chat = sub.add_parser("chat", help="chat with the bot as a WeChat user",
                          description="Lines are sent as text; /help lists the commands.")
    chat.add_argument("--user", default="alice", help="who you are (default alice)")
    chat.add_argument("--platform", default=DEFAULT_PLATFORM, metavar="URL",
                      help=f"the dev platform (default {DEFAULT_PLATFORM})")
    chat.add_argument("--account", help="which account to talk to (default the first)")
    chat.add_argument("--linger", type=_seconds, metavar="SECONDS",
                      help="after end of input keep showing pushes this long "
                           "(default 2 when stdin is not a terminal, else 0)")
    chat.set_defaults(func=cmd_chat)

    dev = sub.add_parser("dev", help="run the bot and the dev platform, and chat (make run)")
    dev.add_argument("--platform-port", type=_port, default=DEFAULT_PORT)
    dev.add_argument("--user", default="alice", help="who you are in the chat")
    dev.set_defaults(func=cmd_dev)
