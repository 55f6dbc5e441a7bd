"""``lianxin devplatform``: the API side, the callback side and the chat endpoints.

Chat endpoints (for ``lianxin chat``; ``?account=NAME`` picks an account, default the first):

- ``GET /dev/healthz``;
- ``GET /dev/chat/{user}``: the user's OpenID and the account's original id;
- ``POST /dev/chat/{user}/send``: JSON ``{"kind": "text", "content": …}``, ``follow``,
  ``unfollow``, ``click`` (``key``), ``scan`` (``scene``), ``subscribe`` (``template_id``:
  accept one subscribe message, a ``subscribe_msg_popup_event``), ``location``
  (``latitude``, ``longitude``, ``label``, ``scale``), ``image`` (``data`` base64, or a
  multipart form with ``kind=image`` and a file field ``image``); answers the passive reply
  the user sees;
- ``GET /dev/chat/{user}/inbox?after=N&wait=S``: what the account pushed the user
  (customer-service, template and subscribe messages) after the first N, waiting up to S
  seconds (at most 25) for one to arrive;
- ``GET /dev/chat/{user}/menu``: the account's menu (``null`` if none) and its templates;
- ``GET /dev/media/{media_id}``: an uploaded image (the PicUrl of image messages).

Admin: ``POST|GET|DELETE /dev/admin/faults`` (see :mod:`.api`).
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from bot.config import Account
from bot.log_limits import server_log
from bot.server_header import hide_server_version
from devplatform.api import PLATFORM, add_api_routes, faults_middleware
from devplatform.identity import new_media_id, openid_for, original_id_for
from devplatform.state import TEMPLATE_EVENT_DELAY, PlatformState, Template
from devplatform.wechat_side import WECHAT_TIMEOUT, WECHAT_TRIES, CallbackClient, Delivery

log = logging.getLogger(__name__)

CALLBACKS = web.AppKey("callbacks", dict[str, CallbackClient])
MAX_INBOX_WAIT = 25.0
MAX_IMAGE_BYTES = 10 * 1024 * 1024
_USER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,32}")  # fullmatch: "$" also ends before a "\n"
_IMAGE_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
                (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))


class BadInput(Exception):
    """The chat request is wrong; the text says how (answered as HTTP 400)."""


def image_type(data: bytes) -> str:
    """The content type of PNG, JPEG or GIF bytes; :class:`BadInput` for anything else."""
    for magic, content_type in _IMAGE_TYPES:
        if data.startswith(magic):
            return content_type
    raise BadInput("not an image (PNG, JPEG or GIF)")


def default_callback_urls(accounts: list[Account], base: str) -> dict[str, str]:
    """``base`` for the default account, ``base/NAME`` for the others (the bot's paths)."""
    base = base.rstrip("/")
    return {a.name: base if a.name == "default" else f"{base}/{a.name}" for a in accounts}


def create_platform_app(
    accounts: list[Account],
    callback_urls: dict[str, str],
    *,
    token_ttl: int = 7200,
    reply_timeout: float = WECHAT_TIMEOUT,
    tries: int = WECHAT_TRIES,
    retry_delay: float = 0.5,
    templates: list[Template] | None = None,
    template_event_delay: float = TEMPLATE_EVENT_DELAY,
    state: PlatformState | None = None,
) -> web.Application:
    """Both sides for ``accounts``; ``state`` (default a new one with ``templates``) is
    ``app[PLATFORM]``; the platform's own events (TEMPLATESENDJOBFINISH) go to the bot."""
    if not accounts:
        raise ValueError("the dev platform needs at least one account")
    missing = [a.name for a in accounts if a.name not in callback_urls]
    if missing:
        raise ValueError(f"no callback URL for account {missing[0]}")
    app = web.Application(client_max_size=2 * MAX_IMAGE_BYTES,
                          middlewares=[faults_middleware],
                          handler_args={"logger": server_log()})
    hide_server_version()
    if state is None:
        state = PlatformState(accounts, token_ttl=token_ttl, templates=templates,
                              template_event_delay=template_event_delay)
    app[PLATFORM] = state
    platform = state

    async def session_ctx(app: web.Application) -> AsyncIterator[None]:
        async with aiohttp.ClientSession() as session:
            clients = {
                a.name: CallbackClient(
                    a, callback_urls[a.name], session, timeout=reply_timeout, tries=tries,
                    retry_delay=retry_delay, state=platform,
                )
                for a in accounts
            }
            by_app = {c.account.app_id: c for c in clients.values()}
            app[CALLBACKS] = clients

            async def to_bot(app_id: str, openid: str, body: str) -> str:
                return await by_app[app_id].push_event(openid, body)

            platform.event_sink = to_bot
            yield
            platform.event_sink = None
            await platform.close()

    app.cleanup_ctx.append(session_ctx)
    app.on_shutdown.append(_stop_waiting)  # before the stop waits for requests under way
    add_api_routes(app)
    app.router.add_get("/dev/healthz", healthz)
    app.router.add_get("/dev/chat/{user}", whoami)
    app.router.add_post("/dev/chat/{user}/send", send)
    app.router.add_get("/dev/chat/{user}/inbox", inbox)
    app.router.add_get("/dev/chat/{user}/menu", menu)
    app.router.add_get("/dev/media/{media_id}", media)
    return app


async def _stop_waiting(app: web.Application) -> None:
    app[PLATFORM].stop_waiting()


def _bad(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _client(request: web.Request) -> CallbackClient:
    clients = request.app[CALLBACKS]
    name = request.query.get("account")
    if name is None:
        return next(iter(clients.values()))
    if name not in clients:
        raise BadInput(f"no account named {name!r}; there are {', '.join(clients)}")
    return clients[name]


def _openid(request: web.Request, client: CallbackClient) -> str:
    user = request.match_info["user"]
    if not _USER_NAME.fullmatch(user):
        raise BadInput("a user name is 1-32 letters, digits, '.', '_' or '-'")
    return openid_for(client.account.app_id, user)


async def healthz(request: web.Request) -> web.Response:
    state = request.app[PLATFORM]
    return web.json_response({"status": "ok", "accounts": [a.name for a in state.accounts]})


async def whoami(request: web.Request) -> web.Response:
    try:
        client = _client(request)
        openid = _openid(request, client)
    except BadInput as exc:
        return _bad(str(exc))
    return web.json_response({
        "user": request.match_info["user"],
        "openid": openid,
        "account": client.account.name,
        "original_id": original_id_for(client.account.app_id),
        "callback": client.callback_url,
    })


async def _read_send(request: web.Request) -> dict[str, Any]:
    """The send request as a dict; a multipart image upload becomes ``kind=image, raw=…``."""
    if request.content_type.startswith("multipart/"):
        try:
            form = await request.post()
        except ValueError:  # aiohttp's reader: no boundary, no first boundary, no name
            raise BadInput("the multipart body cannot be read") from None
        upload = form.get("image")
        if not isinstance(upload, web.FileField):
            raise BadInput("a multipart send needs a file field named 'image'")
        return {"kind": str(form.get("kind", "image")), "raw": upload.file.read()}
    try:
        body = await request.json()
    except ValueError:
        raise BadInput("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object")
    return body


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float:
    value = body.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        low <= value <= high
    ):
        raise BadInput(f"{name} must be a number from {low:g} to {high:g}")
    return float(value)


# a voice message's media: an AMR file of one silent frame (the dev chat has no microphone)
AMR_SILENCE = b"#!AMR\n" + bytes([0x3C]) + bytes(31)
MAX_RECOGNITION = 600  # characters: about a minute of speech, the platform's limit


def _text(body: dict[str, Any], name: str, *, empty: bool = False) -> str:
    value = body.get(name, "" if empty else None)
    if not isinstance(value, str) or (not value and not empty):
        raise BadInput(f"{name} must be a non-empty string")
    return value


def _image_bytes(body: dict[str, Any]) -> bytes:
    raw = body.get("raw")
    if isinstance(raw, bytes):
        data = raw
    else:
        try:
            data = base64.b64decode(_text(body, "data"), validate=True)
        except binascii.Error:
            raise BadInput("data must be base64") from None
    if not data:
        raise BadInput("the image is empty")
    if len(data) > MAX_IMAGE_BYTES:
        raise BadInput(f"the image is over {MAX_IMAGE_BYTES // (1024 * 1024)} MB")
    return data


async def _deliver(
    request: web.Request, client: CallbackClient, openid: str, body: dict[str, Any]
) -> Delivery:
    kind = body.get("kind")
    if kind == "text":
        return await client.send_text(openid, _text(body, "content"))
    if kind == "follow":
        return await client.follow(openid)
    if kind == "unfollow":
        return await client.unfollow(openid)
    if kind == "click":
        return await client.click(openid, _text(body, "key"))
    if kind == "scan":
        return await client.scan(openid, _text(body, "scene"))
    if kind == "subscribe":
        template_id = _text(body, "template_id")
        state = request.app[PLATFORM]
        if state.template(client.account.app_id, template_id, "subscribe") is None:
            known = [t.template_id for t in state.registered(client.account.app_id)
                     if t.kind == "subscribe"]
            raise BadInput(f"the account has no subscribe template {template_id!r}; "
                           f"it has {', '.join(known) or 'none'}")
        return await client.accept_subscribe(openid, [template_id])
    if kind == "location":
        latitude = _number(body, "latitude", -90, 90)
        longitude = _number(body, "longitude", -180, 180)
        label = _text(body, "label", empty=True)
        scale = body.get("scale", 15)
        if isinstance(scale, bool) or not isinstance(scale, int) or not 1 <= scale <= 20:
            raise BadInput("scale must be a whole number from 1 to 20")
        return await client.send_location(openid, latitude, longitude, label, scale=scale)
    if kind == "image":
        data = _image_bytes(body)
        content_type = image_type(data)
        media_id = new_media_id()
        request.app[PLATFORM].add_media(media_id, data, content_type)
        pic_url = f"{request.scheme}://{request.host}/dev/media/{media_id}"
        return await client.send_image(openid, pic_url, media_id)
    if kind == "voice":  # what the platform's speech recognition heard ("" for nothing)
        recognition = _text(body, "recognition", empty=True)
        if len(recognition) > MAX_RECOGNITION:
            raise BadInput(f"recognition is over {MAX_RECOGNITION} characters")
        media_id = new_media_id()
        request.app[PLATFORM].add_media(media_id, AMR_SILENCE, "audio/amr")
        return await client.send_voice(openid, media_id, recognition)
    raise BadInput("kind must be text, follow, unfollow, click, scan, subscribe, location, "
                   "image or voice")


async def send(request: web.Request) -> web.Response:
    try:
        client = _client(request)
        openid = _openid(request, client)
        body = await _read_send(request)
        delivery = await _deliver(request, client, openid, body)
    except BadInput as exc:
        return _bad(str(exc))
    log.info("[%s] %s sent %s → %s (%d %s, %.2f s)", client.account.name,
             request.match_info["user"], body.get("kind"), delivery.reply.kind, delivery.tries,
             "try" if delivery.tries == 1 else "tries", delivery.seconds)
    return web.json_response({
        "reply": delivery.reply.to_json(),
        "msg_id": None if delivery.msg_id is None else str(delivery.msg_id),
        "tries": delivery.tries,
        "seconds": round(delivery.seconds, 3),
    })


async def inbox(request: web.Request) -> web.Response:
    try:
        client = _client(request)
        openid = _openid(request, client)
        after = int(request.query.get("after", "0"))
        wait = float(request.query.get("wait", str(MAX_INBOX_WAIT)))
        if after < 0 or not 0 <= wait <= MAX_INBOX_WAIT:
            raise ValueError
    except BadInput as exc:
        return _bad(str(exc))
    except ValueError:
        return _bad(f"after must be a whole number ≥ 0 and wait 0 to {MAX_INBOX_WAIT:g} s")
    state = request.app[PLATFORM]
    after = min(after, len(state.inbox.get(openid, ())))  # a restarted platform forgot them
    messages = await state.wait_inbox(openid, after, wait)
    return web.json_response({
        "messages": [{"seq": after + i + 1, **m} for i, m in enumerate(messages)],
        "next": after + len(messages),
    })


async def menu(request: web.Request) -> web.Response:
    try:
        client = _client(request)
    except BadInput as exc:
        return _bad(str(exc))
    state = request.app[PLATFORM]
    return web.json_response({
        "menu": state.menus.get(client.account.app_id),
        "templates": [{"template_id": t.template_id, "kind": t.kind, "title": t.title,
                       "keys": list(t.keys)} for t in state.registered(client.account.app_id)],
    })


async def media(request: web.Request) -> web.Response:
    found = request.app[PLATFORM].media.get(request.match_info["media_id"])
    if found is None:
        raise web.HTTPNotFound(text="no such media")
    return web.Response(body=found.data, content_type=found.content_type)
