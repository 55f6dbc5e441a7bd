"""``lianxin dev``: the bot and the dev platform as two child processes, and the chat.

It starts ``lianxin devplatform``, migrates the database, starts ``lianxin serve`` (the same
environment; their output goes to ``.run/platform.log`` and ``.run/bot.log``), pushes the
menu (``config/menu.toml``) to the platform as ``lianxin menu push`` does, waits until both
answer their health checks, then runs the chat in the foreground when stdin is a
terminal, or prints the command that opens it and waits. On exit (Ctrl-C, SIGTERM, end of
the chat, a child dying) both children are stopped, the bot first.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit

from bot.config import Settings
from devplatform import chat

START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
LOG_DIR = Path(".run")


class DevError(Exception):
    """Why the dev stack cannot run, in one line."""


@dataclass
class Child:
    name: str  # as the user knows it: "lianxin serve"
    process: subprocess.Popen[bytes]
    log: Path
    health_url: str

    def last_line(self) -> str:
        """The last line the child wrote (usually why it stopped)."""
        try:
            lines = self.log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].strip() if lines else ""

    def died(self) -> str | None:
        code = self.process.poll()
        if code is None:
            return None
        why = self.last_line()
        return f"{self.name} exited with code {code}" + (f": {why}" if why else "")


def port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def check_api_base(settings: Settings, platform_port: int) -> None:
    """Refuse to run the dev stack while the bot would call the real WeChat API."""
    parts = urlsplit(settings.wechat_api_base)
    if parts.hostname not in ("127.0.0.1", "localhost") or parts.port != platform_port:
        raise DevError(
            f"LIANXIN_WECHAT_API_BASE is {settings.wechat_api_base}, not the dev platform; "
            f"set it to http://127.0.0.1:{platform_port} (config/dev.env does)"
        )


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _command(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot.cli", *args]


def migrate(database_url: str) -> None:
    """``lianxin db upgrade``, in this process (the bot's follow events need the tables)."""
    from storage import db

    try:
        db.upgrade(database_url)
    except Exception as exc:  # any driver or migration error: one line, not a trace
        raise DevError(f"database migration failed: {type(exc).__name__}: {exc}") from None


def start_child(name: str, args: list[str], log: Path, health_url: str) -> Child:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        process = subprocess.Popen(
            _command(*args), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
        )
    return Child(name, process, log, health_url)


def wait_healthy(children: list[Child], timeout: float = START_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(children)
    while waiting:
        for child in list(waiting):
            death = child.died()
            if death:
                raise DevError(death)
            if _healthy(child.health_url):
                waiting.remove(child)
        if waiting and time.monotonic() > deadline:
            raise DevError(f"{waiting[0].name} did not answer {waiting[0].health_url} "
                           f"within {timeout:g} s (see {waiting[0].log})")
        if waiting:
            time.sleep(0.1)


def push_menu() -> None:
    """``lianxin menu push``, in this process, to the platform just started: on WeChat the
    operator pushes the menu once, and each start of the dev platform is a new platform
    without one. It prints what became of it, as that command does; a menu it could not
    push (a bad ``config/menu.toml``) leaves the chat without one (/menu says so)."""
    import argparse

    from bot.wechat import menu

    menu.cmd_push(argparse.Namespace(file=menu.DEFAULT_MENU, account=None))


def stop(children: list[Child]) -> None:
    """Stop the children last started first, each once the one after it has exited: the
    bot's stop finishes its late replies, and the platform is still there to take them."""
    for child in reversed(children):
        if child.process.poll() is None:
            child.process.terminate()
        try:
            child.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            child.process.kill()
            child.process.wait()


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """SIGTERM, and SIGINT even if the shell started us ignoring it, stop the stack."""
    previous = {
        signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_interrupt),
        # Python's own handler, so asyncio.run (the chat) still handles Ctrl-C its way
        signal.SIGINT: signal.signal(signal.SIGINT, signal.default_int_handler),
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _watch(children: list[Child], stopping: threading.Event) -> None:
    """While the chat runs in the foreground: say once if a child dies."""
    while not stopping.wait(0.5):
        for child in children:
            death = child.died()
            if death:
                print(f"\nlianxin dev: {death}", file=sys.stderr, flush=True)
                return


def wait_for_exit(children: list[Child]) -> str:
    """Block until Ctrl-C/SIGTERM (returns "") or a child dies (returns why)."""
    try:
        while True:
            for child in children:
                death = child.died()
                if death:
                    return death
            time.sleep(0.2)
    except KeyboardInterrupt:
        return ""


def run_dev(settings: Settings, *, platform_port: int, user: str, interactive: bool) -> int:
    """The whole ``lianxin dev`` session; raises :class:`DevError` for one-line failures."""
    check_api_base(settings, platform_port)
    bot_host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    if not port_is_free(settings.host, settings.port):
        raise DevError(f"port {settings.port} (LIANXIN_PORT, the bot) is busy")
    if not port_is_free("127.0.0.1", platform_port):
        raise DevError(f"port {platform_port} (--platform-port, the dev platform) is busy")
    platform_url = f"http://127.0.0.1:{platform_port}"
    children: list[Child] = []
    with signals_as_interrupt():
        try:
            children.append(start_child(
                "lianxin devplatform", ["devplatform", "--port", str(platform_port)],
                LOG_DIR / "platform.log", f"{platform_url}/dev/healthz"))
            migrate(settings.database_url)  # while the platform starts
            children.append(start_child(
                "lianxin serve", ["serve"], LOG_DIR / "bot.log",
                f"http://{bot_host}:{settings.port}/healthz"))
            wait_healthy(children[:1])
            push_menu()  # while the bot starts
            wait_healthy(children)
            print(f"lianxin dev: bot on http://{bot_host}:{settings.port}, dev platform on "
                  f"{platform_url}; logs in {LOG_DIR}/", flush=True)
            if interactive:
                stopping = threading.Event()
                threading.Thread(target=_watch, args=(children, stopping), daemon=True).start()
                try:
                    chat.main(chat.ChatOptions(platform=platform_url, user=user))
                finally:
                    stopping.set()
                return 0
            print(f"lianxin dev: open the chat with:  lianxin chat --platform {platform_url}"
                  f" --user {user}\nlianxin dev: Ctrl-C stops both.", flush=True)
            death = wait_for_exit(children)
            if death:
                raise DevError(death)
            return 0
        except KeyboardInterrupt:
            return 0
        finally:
            stop(children)
