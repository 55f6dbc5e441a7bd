"""``lianxin chat``: talk to the bot as a WeChat user, through the dev platform.

Lines from stdin (a terminal or a pipe) are sent as text or run as commands
(:mod:`.chat_commands`); the account's immediate answer is printed as ``[reply]`` and the
customer-service messages it pushes later as ``[push]``, while a background long poll of the
inbox watches for them; template and subscribe messages show as ``[template]`` and
``[subscribe]`` with their fields.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from devplatform.chat_commands import HELP, Command, CommandError, parse_line
from devplatform.replies import Reply

DEFAULT_PLATFORM = "http://127.0.0.1:8081"
INBOX_WAIT = 20.0
MAX_IMAGE_BYTES = 10 * 1024 * 1024


class PlatformUnreachable(Exception):
    """The dev platform did not answer; the text says where we tried."""


class PlatformRefused(Exception):
    """The dev platform answered 4xx with an error text meant for the user."""


@dataclass(frozen=True, slots=True)
class ChatOptions:
    platform: str = DEFAULT_PLATFORM
    user: str = "alice"
    account: str | None = None
    linger: float = 0.0  # after end of input, keep showing pushes this long
    echo: bool = False  # print each input line (for scripted, non-terminal input)


class PlatformClient:
    """The chat endpoints of the dev platform, for one user."""

    def __init__(self, session: aiohttp.ClientSession, options: ChatOptions) -> None:
        self._session = session
        self._base = f"{options.platform.rstrip('/')}/dev/chat/{options.user}"
        self._params = {"account": options.account} if options.account else {}
        self._where = options.platform

    async def _call(self, method: str, path: str, *, seconds: float,
                    params: dict[str, str] | None = None,
                    body: dict[str, Any] | None = None) -> dict[str, Any]:
        try:
            async with self._session.request(
                method, self._base + path, params={**self._params, **(params or {})},
                json=body, timeout=aiohttp.ClientTimeout(total=seconds),
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise PlatformUnreachable(
                f"no answer from the dev platform at {self._where} ({type(exc).__name__})"
            ) from None
        try:
            answer = json.loads(raw)
        except ValueError:  # not JSON (or not UTF-8): an error page, or not the platform
            answer = None
        if status >= 400:
            error = answer.get("error") if isinstance(answer, dict) else None
            raise PlatformRefused(str(error) if isinstance(error, str) and error else
                                  f"the dev platform answered HTTP {status}"
                                  + _first_line(raw))
        if not isinstance(answer, dict):
            raise PlatformUnreachable(f"unexpected answer from {self._where} "
                                      f"(HTTP {status}, not a JSON object)")
        return answer

    async def whoami(self) -> dict[str, Any]:
        return await self._call("GET", "", seconds=5)

    async def send(self, payload: dict[str, Any]) -> dict[str, Any]:
        # WeChat waits 3 × 5 s at most; leave room for the upload
        return await self._call("POST", "/send", body=payload, seconds=30)

    async def menu(self) -> dict[str, Any]:
        return await self._call("GET", "/menu", seconds=5)

    async def inbox(self, after: int, wait: float) -> tuple[list[dict[str, Any]], int]:
        answer = await self._call("GET", "/inbox", seconds=wait + 10,
                                  params={"after": str(after), "wait": str(wait)})
        messages = answer.get("messages")
        following = answer.get("next")
        if not isinstance(messages, list) or not isinstance(following, int):
            raise PlatformUnreachable("unexpected inbox answer")
        return [m for m in messages if isinstance(m, dict)], following


def _first_line(raw: bytes) -> str:
    """`` ("…")`` with the first line of an error page, shortened; empty if there is none."""
    line = raw.decode("utf-8", "replace").strip().split("\n", 1)[0].strip()
    if not line:
        return ""
    return f" ({line[:80]}{'…' if len(line) > 80 else ''})"


# -- rendering --------------------------------------------------------------------------------


def _labelled(label: str, text: str) -> str:
    pad = " " * (len(label) + 1)
    lines = text.split("\n") or [""]
    return "\n".join([f"{label} {lines[0]}", *((pad + line).rstrip() for line in lines[1:])])


def render_reply(reply: Reply) -> str:
    """How the passive reply shows in the terminal."""
    label = "[reply]"
    if reply.kind == "none":
        return f"{label} (no reply)"
    if reply.kind == "unavailable":
        return _labelled(label, f"{reply.text}\n(dev platform: {reply.detail})")
    if reply.kind == "image":
        return f"{label} [image] media_id={reply.media_id}"
    if reply.kind == "news":
        return _labelled(label, "\n".join(
            _article(a.title, a.description, a.url) for a in reply.articles))
    return _labelled(label, reply.text)


def _article(title: str, description: str, url: str) -> str:
    line = f"[news] {title}"
    if description:
        line += f" — {description}"
    return line + (f" <{url}>" if url else "")


def render_push(message: dict[str, Any]) -> str:
    """How a customer-service message (a custom/send body) shows in the terminal."""
    label = "[push]"
    kind = message.get("msgtype")
    if kind == "text":
        content = message.get("text", {}).get("content", "")
        return _labelled(label, str(content))
    if kind in ("image", "voice"):
        return f"{label} [{kind}] media_id={message.get(kind, {}).get('media_id', '')}"
    if kind == "news":
        articles = message.get("news", {}).get("articles", [])
        return _labelled(label, "\n".join(
            _article(str(a.get("title", "")), str(a.get("description", "")),
                     str(a.get("url", "")))
            for a in articles if isinstance(a, dict)))
    if kind in ("template", "subscribe"):
        return _notice(f"[{kind}]", message.get(kind))
    return f"{label} [{kind}]"


def _notice(label: str, sent: Any) -> str:
    """A template or subscribe message: title (template id), then ``key: value`` lines."""
    sent = sent if isinstance(sent, dict) else {}
    title = str(sent.get("title") or "")
    template_id = str(sent.get("template_id", ""))
    lines = [f"{title} ({template_id})" if title else template_id]
    data = sent.get("data")
    if isinstance(data, dict):
        lines += [f"{key}: {value}" for key, value in data.items()]
    target = sent.get("url") or sent.get("page")
    if target:
        lines.append(f"<{target}>")
    return _labelled(label, "\n".join(lines))


def render_menu(answer: dict[str, Any]) -> str:
    """The account's menu, each button with what it does (``/click KEY`` for click keys)."""
    buttons = answer.get("menu")
    if not isinstance(buttons, list) or not buttons:
        lines = ["the account has no menu (menu/create was not called)"]
    else:
        lines = []
        for button in buttons:
            if not isinstance(button, dict):
                continue
            subs = button.get("sub_button")
            if isinstance(subs, list) and subs:
                lines.append(f"{button.get('name', '')} ▸")
                lines += ["  " + _button(s) for s in subs if isinstance(s, dict)]
            else:
                lines.append(_button(button))
    templates = [t for t in answer.get("templates") or []
                 if isinstance(t, dict) and t.get("kind") == "subscribe"]
    if templates:
        lines.append("subscribe messages you can accept:")
        lines += [f"  /subscribe {t.get('template_id')}  {t.get('title', '')}".rstrip()
                  for t in templates]
    return _labelled("[menu]", "\n".join(lines))


def _button(button: dict[str, Any]) -> str:
    name, kind = str(button.get("name", "")), str(button.get("type", ""))
    if "key" in button:
        action = f"/click {button['key']}" if kind == "click" else f"{kind} {button['key']}"
    elif "url" in button:
        action = f"{kind} {button['url']}"
    else:
        action = kind
    return f"{name} — {action}"


# -- the session ------------------------------------------------------------------------------


def _start_reader(stream: TextIO, loop: asyncio.AbstractEventLoop,
                  queue: asyncio.Queue[str | None]) -> None:
    """Read lines in a daemon thread (works for terminals, pipes and files alike)."""

    def put(item: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: the chat is over
            loop.call_soon_threadsafe(queue.put_nowait, item)

    def read() -> None:
        try:
            for line in stream:
                put(line)
        except (OSError, ValueError, UnicodeDecodeError):
            pass
        put(None)

    threading.Thread(target=read, name="chat-stdin", daemon=True).start()


class ChatSession:
    def __init__(self, client: PlatformClient, options: ChatOptions,
                 write: Callable[[str], None]) -> None:
        self._client = client
        self._options = options
        self._write = write
        self._seen = 0

    async def start(self) -> None:
        """Check the platform and skip pushes sent before this chat started."""
        me = await self._client.whoami()
        _, self._seen = await self._client.inbox(0, 0)
        self._write(
            f"Chatting as {self._options.user} ({me.get('openid')}) with account "
            f"{me.get('account')} ({me.get('original_id')}) via {self._options.platform}.\n"
            "Type /help for commands."
        )

    async def watch_inbox(self) -> None:
        """Print pushes as they arrive; report a lost platform once, then keep trying."""
        lost = False
        while True:
            try:
                messages, self._seen = await self._client.inbox(self._seen, INBOX_WAIT)
            except (PlatformUnreachable, PlatformRefused) as exc:
                if not lost:
                    self._write(f"[error] {exc}; still trying")
                    lost = True
                await asyncio.sleep(1.0)
                continue
            lost = False
            for message in messages:
                self._write(render_push(message))

    async def handle(self, line: str) -> bool:
        """Act on one input line; False when the user asked to quit."""
        if self._options.echo and line.strip():
            self._write(f"you> {line.rstrip()}")
        try:
            command = parse_line(line)
            if command.action == "quit":
                return False
            if command.action == "help":
                self._write(HELP)
            elif command.action == "menu":
                self._write(render_menu(await self._client.menu()))
            elif command.action != "nothing":
                await self._send(command)
        except CommandError as exc:
            self._write(f"[error] {exc}")
        except (PlatformUnreachable, PlatformRefused) as exc:
            self._write(f"[error] {exc}")
        return True

    async def _send(self, command: Command) -> None:
        payload = command.payload
        if command.action == "image":
            payload = {"kind": "image", "data": _read_image(command.path)}
        answer = await self._client.send(payload)
        raw = answer.get("reply")
        try:
            reply = Reply.from_json(raw if isinstance(raw, dict) else {})
        except ValueError:
            raise PlatformUnreachable("the dev platform answered without a reply") from None
        self._write(render_reply(reply))


def _read_image(path: str) -> str:
    file = Path(path).expanduser()
    try:
        size = file.stat().st_size
        if size > MAX_IMAGE_BYTES:
            raise CommandError(f"{path} is over {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
        data = file.read_bytes()
    except FileNotFoundError:
        raise CommandError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise CommandError(f"{path} is a folder, not an image file") from None
    except OSError as exc:
        raise CommandError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL, or a character the file system cannot name
        raise CommandError(f"{path!r} is not a file name") from None
    return base64.b64encode(data).decode("ascii")


async def run_chat(options: ChatOptions, stdin: TextIO, write: Callable[[str], None]) -> int:
    """The chat until /quit or end of input; 0, or 1 if the platform cannot be reached."""
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        chat = ChatSession(PlatformClient(session, options), options, write)
        try:
            await chat.start()
        except (PlatformUnreachable, PlatformRefused) as exc:
            write(f"lianxin chat: {exc}. Is `lianxin devplatform` (or `lianxin dev`) running?")
            return 1
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        _start_reader(stdin, loop, queue)
        watcher = asyncio.create_task(chat.watch_inbox())
        try:
            while True:
                line = await queue.get()
                if line is None:
                    if options.linger > 0:
                        await asyncio.sleep(options.linger)
                    break
                if not await chat.handle(line):
                    break
        finally:
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
    return 0


def main(options: ChatOptions) -> int:
    """Entry for the CLI: stdin/stdout, Ctrl-C ends quietly."""

    def write(text: str) -> None:
        print(text, flush=True)

    if isinstance(sys.stdin, io.TextIOWrapper):
        # bytes that are not UTF-8 (a paste from elsewhere) arrive as U+FFFD, as a phone
        # would show them; strict decoding ended the chat at the first one
        sys.stdin.reconfigure(errors="replace")
    try:
        return asyncio.run(run_chat(options, sys.stdin, write))
    except KeyboardInterrupt:
        print("\nbye", flush=True)
        return 0
    except BrokenPipeError:  # the reader of our output went away (e.g. `| head`)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is quiet
        return 1
