"""The API side: the WeChat endpoints the bot calls, with WeChat's error codes.

Every answer is HTTP 200 with a JSON body, as the real API does; failures carry
``errcode``/``errmsg`` (the message ends with a request id, ``rid: …``, like WeChat's).
"""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

from aiohttp import web

from bot.config import Account
from bot.devplatform.state import PlatformState
from domain.messages import TEXT_LIMIT_BYTES

log = logging.getLogger(__name__)

PLATFORM = web.AppKey("platform", PlatformState)
MAX_BODY_BYTES = 1024 * 1024

ERRMSG = {
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40007: "invalid media_id",
    40008: "invalid message type",
    40013: "invalid appid",
    40125: "invalid appsecret",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    42001: "access_token expired",
    43004: "require subscribe",
    44002: "empty post data",
    44003: "empty news data",
    44004: "empty content",
    45002: "content size out of limit",
    45008: "article size out of limit",
    47001: "data format error",
}


class ApiError(Exception):
    def __init__(self, errcode: int) -> None:
        super().__init__(ERRMSG[errcode])
        self.errcode = errcode


def _answer(payload: dict[str, Any]) -> web.Response:
    """Compact JSON, as WeChat writes it: ``{"errcode":0,"errmsg":"ok"}``."""
    return web.json_response(
        payload, dumps=lambda o: json.dumps(o, ensure_ascii=False, separators=(",", ":")))


def _error(errcode: int) -> web.Response:
    rid = f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
    return _answer({"errcode": errcode, "errmsg": f"{ERRMSG[errcode]} rid: {rid}"})


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        raw = await request.read()  # the app's client_max_size caps it
    except (web.HTTPRequestEntityTooLarge, web.RequestPayloadError):
        raise ApiError(47001) from None
    if not raw.strip():
        raise ApiError(44002)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(47001) from None
    if not isinstance(body, dict):
        raise ApiError(47001)
    return body


def _credentials(state: PlatformState, grant_type: Any, appid: Any, secret: Any) -> Account:
    if grant_type != "client_credential":
        raise ApiError(40002)
    if not isinstance(appid, str) or not appid:
        raise ApiError(41002)
    if not isinstance(secret, str) or not secret:
        raise ApiError(41004)
    account = state.account(appid)
    if account is None:
        raise ApiError(40013)
    if not secrets.compare_digest(secret.encode(), account.app_secret.encode()):
        raise ApiError(40125)
    return account


async def stable_token(request: web.Request) -> web.Response:
    """``POST /cgi-bin/stable_token`` with JSON grant_type, appid, secret, force_refresh."""
    state = request.app[PLATFORM]
    state.token_calls += 1
    try:
        body = await _json_body(request)
        account = _credentials(state, body.get("grant_type"), body.get("appid"),
                               body.get("secret"))
        force = body.get("force_refresh", False)
        if not isinstance(force, bool):
            raise ApiError(47001)
    except ApiError as exc:
        log.info("stable_token refused: %s %s", exc.errcode, exc)
        return _error(exc.errcode)
    token = state.stable_token(account.app_id, force_refresh=force)
    log.info("stable_token for %s (force_refresh=%s)", account.name, force)
    return _answer({"access_token": token.value, "expires_in": state.expires_in(token)})


async def classic_token(request: web.Request) -> web.Response:
    """``GET /cgi-bin/token?grant_type=client_credential&appid=…&secret=…``."""
    state = request.app[PLATFORM]
    state.token_calls += 1
    q = request.query
    try:
        account = _credentials(state, q.get("grant_type"), q.get("appid"), q.get("secret"))
    except ApiError as exc:
        log.info("token refused: %s %s", exc.errcode, exc)
        return _error(exc.errcode)
    token = state.classic_token(account.app_id)
    log.info("token for %s", account.name)
    return _answer({"access_token": token.value, "expires_in": state.expires_in(token)})


def _check_message(body: dict[str, Any]) -> None:
    """Validate a custom/send body's message part (after the recipient checks)."""
    msg_type = body.get("msgtype")
    if msg_type == "text":
        text = body.get("text")
        content = text.get("content") if isinstance(text, dict) else None
        if not isinstance(content, str) or not content:
            raise ApiError(44004)
        if len(content.encode("utf-8")) > TEXT_LIMIT_BYTES:
            raise ApiError(45002)
    elif msg_type == "image":
        image = body.get("image")
        media_id = image.get("media_id") if isinstance(image, dict) else None
        if not isinstance(media_id, str) or not media_id:
            raise ApiError(40007)
    elif msg_type == "news":
        news = body.get("news")
        articles = news.get("articles") if isinstance(news, dict) else None
        if not isinstance(articles, list) or not articles:
            raise ApiError(44003)
        if len(articles) > 1:
            raise ApiError(45008)
        article = articles[0]
        if not isinstance(article, dict) or not isinstance(article.get("title"), str):
            raise ApiError(47001)
    else:
        raise ApiError(40008)


async def custom_send(request: web.Request) -> web.Response:
    """``POST /cgi-bin/message/custom/send?access_token=…``: record what the user is sent."""
    state = request.app[PLATFORM]
    value = request.query.get("access_token", "")
    try:
        if not value:
            raise ApiError(41001)
        code, token = state.check_token(value)
        if token is None:
            raise ApiError(code)
        body = await _json_body(request)
        touser = body.get("touser")
        if not isinstance(touser, str) or not touser:
            raise ApiError(40003)
        user = state.user(token.app_id, touser)
        if user is None:
            raise ApiError(40003)
        if not user.followed:
            raise ApiError(43004)
        _check_message(body)
    except ApiError as exc:
        log.info("custom/send refused: %s %s", exc.errcode, exc)
        return _error(exc.errcode)
    state.record_sent(touser, body)
    log.info("custom/send %s to %s", body["msgtype"], touser)
    return _answer({"errcode": 0, "errmsg": "ok"})


def add_api_routes(app: web.Application) -> None:
    app.router.add_post("/cgi-bin/stable_token", stable_token)
    app.router.add_get("/cgi-bin/token", classic_token)
    app.router.add_post("/cgi-bin/message/custom/send", custom_send)


def create_api_app(
    accounts: list[Account], *, token_ttl: int = 7200, state: PlatformState | None = None
) -> web.Application:
    """The API side alone; ``app[PLATFORM]`` is its state (token hooks, ``sent``, …)."""
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[PLATFORM] = state if state is not None else PlatformState(accounts, token_ttl=token_ttl)
    add_api_routes(app)
    return app
