"""The API side: the WeChat endpoints the bot calls, with WeChat's error codes and rules.

Every answer is HTTP 200 with a JSON body, as the real API does (``media/get`` answers the
file); failures carry ``errcode``/``errmsg`` (the message ends with a request id,
``rid: …``, like WeChat's). Endpoints, all under ``/cgi-bin/``: ``stable_token``, ``token``,
``message/custom/send`` (48-hour window and quotas), ``message/template/send``
(``client_msg_id`` dedupe, TEMPLATESENDJOBFINISH), ``message/subscribe/bizsend`` (one-time
consent), ``media/upload``, ``media/get``, ``menu/create``, ``menu/get``, ``menu/delete``,
``user/info``. ``/dev/admin/faults`` makes the next calls fail (:func:`faults_middleware`):
an errcode, a stall, a dropped connection, or an HTTP 5xx answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Literal

from aiohttp import web

from bot.config import Account
from devplatform.identity import new_media_id, original_id_for
from devplatform.messages import build_template_finish
from devplatform.rules import Refused, check_data, check_media, check_menu
from devplatform.state import PlatformState, Template, Token
from domain.messages import TEXT_LIMIT_BYTES

log = logging.getLogger(__name__)

PLATFORM = web.AppKey("platform", PlatformState)
MAX_BODY_BYTES = 11 * 1024 * 1024  # the largest upload: a 10 MB video, and the form

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid media size",
    40007: "invalid media_id",
    40008: "invalid message type",
    40009: "invalid image size",
    40010: "invalid voice size",
    40011: "invalid video size",
    40012: "invalid thumb size",
    40013: "invalid appid",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40020: "invalid button url size",
    40023: "invalid sub button size",
    40024: "invalid sub button type",
    40025: "invalid sub button name size",
    40026: "invalid sub button key size",
    40027: "invalid sub button url size",
    40036: "invalid template_id size",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41005: "media data missing",
    41006: "media_id missing",
    42001: "access_token expired",
    43002: "require POST method",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    44002: "empty post data",
    44003: "empty news data",
    44004: "empty content",
    45002: "content size out of limit",
    45008: "article size out of limit",
    45009: "reach max api daily quota limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    46003: "menu no exist",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
}


class ApiError(Exception):
    def __init__(self, errcode: int, errmsg: str | None = None) -> None:
        super().__init__(errmsg or errmsg_for(errcode))
        self.errcode = errcode


def errmsg_for(errcode: int) -> str:
    return ERRMSG.get(errcode, f"errcode {errcode}")


def _answer(payload: dict[str, Any]) -> web.Response:
    """Compact JSON, as WeChat writes it: ``{"errcode":0,"errmsg":"ok"}``."""
    return web.json_response(
        payload, dumps=lambda o: json.dumps(o, ensure_ascii=False, separators=(",", ":")))


def _error(errcode: int, errmsg: str | None = None) -> web.Response:
    rid = f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
    text = errmsg or errmsg_for(errcode)
    return _answer({"errcode": errcode, "errmsg": f"{text} rid: {rid}"})


def _refused(name: str, exc: ApiError | Refused) -> web.Response:
    errmsg = exc.errmsg if isinstance(exc, Refused) else None
    log.info("%s refused: %s %s", name, exc.errcode, errmsg or errmsg_for(exc.errcode))
    return _error(exc.errcode, errmsg)


def _token(request: web.Request) -> Token:
    """The request's ``access_token``, usable; else :class:`ApiError` 41001/40001/42001."""
    value = request.query.get("access_token", "")
    if not value:
        raise ApiError(41001)
    code, token = request.app[PLATFORM].check_token(value)
    if token is None:
        raise ApiError(code)
    return token


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
    elif msg_type in ("image", "voice"):
        media = body.get(msg_type)
        media_id = media.get("media_id") if isinstance(media, dict) else None
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


def _recipient(state: PlatformState, app_id: str, body: dict[str, Any]) -> str:
    touser = body.get("touser")
    if not isinstance(touser, str) or not touser or state.user(app_id, touser) is None:
        raise ApiError(40003)
    return touser


async def custom_send(request: web.Request) -> web.Response:
    """``POST /cgi-bin/message/custom/send?access_token=…``: record what the user is sent.

    Allowed within 48 h of the user's last message (5 sends per message) or 1 minute of a
    menu click, follow or scan (3 sends): else 45015 (also for a user who unfollowed) or
    45047. An image must be media the account uploaded (40007).
    """
    state = request.app[PLATFORM]
    try:
        token = _token(request)
        body = await _json_body(request)
        touser = _recipient(state, token.app_id, body)
        user = state.user(token.app_id, touser)
        if user is None or not user.followed:
            raise ApiError(45015)
        _check_message(body)
        kind = body["msgtype"]
        if kind in ("image", "voice") and state.enforce_rules and state.find_media(
                token.app_id, body[kind]["media_id"]) is None:
            raise ApiError(40007)
        allowed = state.customer_service_allows(token.app_id, touser)
        if allowed:
            raise ApiError(allowed)
    except ApiError as exc:
        return _refused("custom/send", exc)
    state.record_sent(touser, body)
    log.info("custom/send %s to %s", body["msgtype"], touser)
    return _answer({"errcode": 0, "errmsg": "ok"})


def _template(state: PlatformState, app_id: str, body: dict[str, Any],
              kind: Literal["template", "subscribe"]) -> Template:
    template_id = body.get("template_id")
    if not isinstance(template_id, str) or not template_id:
        raise ApiError(40036 if kind == "template" else 40037)
    template = state.template(app_id, template_id, kind)
    if template is None:
        raise ApiError(40037)
    return template


def _shown_data(data: dict[str, Any], template: Template) -> dict[str, str]:
    return {key: str(data[key]["value"]) for key in template.keys}


async def template_send(request: web.Request) -> web.Response:
    """``POST /cgi-bin/message/template/send``: a template message to a follower.

    A repeat of (touser, client_msg_id) within 10 minutes answers the first msgid and sends
    nothing. After a send, TEMPLATESENDJOBFINISH goes to the bot (``failed:user block``
    when the user refuses template messages).
    """
    state = request.app[PLATFORM]
    try:
        token = _token(request)
        body = await _json_body(request)
        touser = _recipient(state, token.app_id, body)
        template = _template(state, token.app_id, body, "template")
        user = state.user(token.app_id, touser)
        if user is None or not user.followed:
            raise ApiError(43004)
        check_data(template.keys, body.get("data"))
        client_msg_id = body.get("client_msg_id")
        if client_msg_id is not None and not isinstance(client_msg_id, str):
            raise ApiError(47001)
    except (ApiError, Refused) as exc:
        return _refused("template/send", exc)
    if client_msg_id:
        earlier = state.dedupe_template(token.app_id, touser, client_msg_id)
        if earlier is not None:
            log.info("template/send repeat of %s to %s: msgid %d", client_msg_id, touser,
                     earlier)
            return _answer({"errcode": 0, "errmsg": "ok", "msgid": earlier})
    msg_id = state.new_msg_id()
    if client_msg_id:
        state.remember_template(token.app_id, touser, client_msg_id, msg_id)
    status = "failed:user block" if user.blocks_templates else "success"
    if status == "success":
        state.record_template(touser, {
            "msgid": msg_id, "template_id": template.template_id, "title": template.title,
            "url": body.get("url", ""), "miniprogram": body.get("miniprogram"),
            "data": _shown_data(body["data"], template), "client_msg_id": client_msg_id,
        })
    event = build_template_finish(original_id_for(token.app_id), touser, msg_id, status)
    state.finish_template(token.app_id, touser, msg_id, event, status)
    log.info("template/send %s to %s: msgid %d", template.template_id, touser, msg_id)
    return _answer({"errcode": 0, "errmsg": "ok", "msgid": msg_id})


async def subscribe_send(request: web.Request) -> web.Response:
    """``POST /cgi-bin/message/subscribe/bizsend``: uses one of the user's consents."""
    state = request.app[PLATFORM]
    try:
        token = _token(request)
        body = await _json_body(request)
        touser = _recipient(state, token.app_id, body)
        template = _template(state, token.app_id, body, "subscribe")
        user = state.user(token.app_id, touser)
        if user is None or not user.followed or user.consents.get(template.template_id, 0) < 1:
            raise ApiError(43101)
        check_data(template.keys, body.get("data"))
    except (ApiError, Refused) as exc:
        return _refused("subscribe/bizsend", exc)
    state.take_consent(token.app_id, touser, template.template_id)
    state.record_subscribe(touser, {
        "template_id": template.template_id, "title": template.title,
        "page": body.get("page", ""), "miniprogram": body.get("miniprogram"),
        "data": _shown_data(body["data"], template),
    })
    log.info("subscribe/bizsend %s to %s", template.template_id, touser)
    return _answer({"errcode": 0, "errmsg": "ok"})


async def media_upload(request: web.Request) -> web.Response:
    """``POST /cgi-bin/media/upload?type=image`` with the file in multipart field ``media``."""
    state = request.app[PLATFORM]
    try:
        token = _token(request)
        media_type = request.query.get("type", "")
        if media_type not in ("image", "voice", "video", "thumb"):
            raise ApiError(40004)
        if not request.content_type.startswith("multipart/"):
            raise ApiError(41005)
        try:
            form = await request.post()
        except (ValueError, web.HTTPRequestEntityTooLarge, web.RequestPayloadError):
            raise ApiError(40006) from None
        upload = form.get("media")
        if not isinstance(upload, web.FileField):
            raise ApiError(41005)
        data = upload.file.read()
        content_type = check_media(media_type, data)
    except (ApiError, Refused) as exc:
        return _refused("media/upload", exc)
    media_id = new_media_id()
    state.add_media(media_id, data, content_type, media_type=media_type, app_id=token.app_id)
    log.info("media/upload %s (%d bytes): %s", media_type, len(data), media_id)
    return _answer({"type": media_type, "media_id": media_id,
                    "created_at": int(state.now())})


async def media_get(request: web.Request) -> web.Response:
    """``GET /cgi-bin/media/get?media_id=``: the file, or JSON 40007."""
    state = request.app[PLATFORM]
    try:
        token = _token(request)
        media_id = request.query.get("media_id", "")
        if not media_id:
            raise ApiError(41006)
        found = state.find_media(token.app_id, media_id)
        if found is None:
            raise ApiError(40007)
    except ApiError as exc:
        return _refused("media/get", exc)
    extension = found.content_type.rsplit("/", 1)[-1].replace("jpeg", "jpg")
    return web.Response(body=found.data, content_type=found.content_type, headers={
        "Content-Disposition": f'attachment; filename="{media_id}.{extension}"'})


async def menu_create(request: web.Request) -> web.Response:
    state = request.app[PLATFORM]
    try:
        token = _token(request)
        body = await _json_body(request)
        menu = check_menu(body)
    except (ApiError, Refused) as exc:
        return _refused("menu/create", exc)
    state.menus[token.app_id] = menu
    log.info("menu/create: %d buttons", len(menu))
    return _answer({"errcode": 0, "errmsg": "ok"})


async def menu_get(request: web.Request) -> web.Response:
    state = request.app[PLATFORM]
    try:
        token = _token(request)
        menu = state.menus.get(token.app_id)
        if menu is None:
            raise ApiError(46003)
    except ApiError as exc:
        return _refused("menu/get", exc)
    return _answer({"menu": {"button": menu}})


async def menu_delete(request: web.Request) -> web.Response:
    state = request.app[PLATFORM]
    try:
        token = _token(request)
    except ApiError as exc:
        return _refused("menu/delete", exc)
    state.menus.pop(token.app_id, None)
    return _answer({"errcode": 0, "errmsg": "ok"})


async def user_info(request: web.Request) -> web.Response:
    """``GET /cgi-bin/user/info?openid=&lang=``: what WeChat still tells about a user."""
    state = request.app[PLATFORM]
    try:
        token = _token(request)
        openid = request.query.get("openid", "")
        user = state.user(token.app_id, openid) if openid else None
        if user is None:
            raise ApiError(40003)
    except ApiError as exc:
        return _refused("user/info", exc)
    if not user.followed:
        return _answer({"subscribe": 0, "openid": openid, "tagid_list": []})
    return _answer({
        "subscribe": 1,
        "openid": openid,
        "subscribe_time": int(user.subscribe_time or 0),
        "remark": "",
        "groupid": 0,
        "tagid_list": [],
        "subscribe_scene": user.subscribe_scene,
        "qr_scene": int(user.qr_scene_str) if user.qr_scene_str.isdigit() else 0,
        "qr_scene_str": "" if user.qr_scene_str.isdigit() else user.qr_scene_str,
    })


# -- fault injection -----------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _retrieve(task: asyncio.Future[web.StreamResponse]) -> None:
    """A late answer nobody waits for any more: note a failure instead of warning about it."""
    if not task.cancelled() and task.exception() is not None:
        log.info("late answer failed: %s", type(task.exception()).__name__)


@web.middleware
async def faults_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Count every API call per path; apply the next pending fault that matches it."""
    if not request.path.startswith("/cgi-bin/"):
        return await handler(request)
    fault = request.app[PLATFORM].take_fault(request.path)
    if fault is None:
        return await handler(request)
    if fault.errcode is not None:
        log.info("fault: %s answers %d", request.path, fault.errcode)
        if fault.errmsg is not None:  # verbatim, as a misbehaving platform might
            return _answer({"errcode": fault.errcode, "errmsg": fault.errmsg})
        return _error(fault.errcode)
    if fault.status is not None:
        log.info("fault: %s answers HTTP %d", request.path, fault.status)
        return web.Response(status=fault.status, text="<html><body>server error</body></html>",
                            content_type="text/html")
    if fault.hang is not None:
        log.info("fault: %s hangs %g s", request.path, fault.hang)
        hang, released = fault.hang, request.app[PLATFORM].hung

        async def answer_late() -> web.StreamResponse:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(released.wait(), hang)
            return await handler(request)

        # like the real platform, finish the call even if the caller gave up waiting: the
        # body is read now (it cannot be once the caller has hung up)
        await request.read()
        late = asyncio.ensure_future(answer_late())
        late.add_done_callback(_retrieve)
        request.app[PLATFORM].track(late)
        return await asyncio.shield(late)
    log.info("fault: %s dropped", request.path)
    if request.transport is not None:
        request.transport.abort()
    return web.Response(status=500)  # never written: the connection is gone


def _fault_from(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    known = {"count", "errcode", "errmsg", "hang", "drop", "status", "path"}
    if set(body) - known:
        raise ValueError(f"unknown fields: {', '.join(sorted(set(body) - known))}")
    count = body.get("count", 1)
    if isinstance(count, bool) or not isinstance(count, int):
        raise ValueError("count must be a whole number")
    errcode, errmsg, hang, drop, status, path = (
        body.get(k) for k in ("errcode", "errmsg", "hang", "drop", "status", "path"))
    if errcode is not None and (isinstance(errcode, bool) or not isinstance(errcode, int)):
        raise ValueError("errcode must be a whole number")
    if errmsg is not None and not isinstance(errmsg, str):
        raise ValueError("errmsg must be a text")
    if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
        raise ValueError("status must be a whole number")
    if hang is not None and (isinstance(hang, bool) or not isinstance(hang, (int, float))):
        raise ValueError("hang must be a number of seconds")
    if drop not in (None, True, False):
        raise ValueError("drop must be true or false")
    if path is not None and not isinstance(path, str):
        raise ValueError("path must be a text")
    return {"count": count, "errcode": errcode, "errmsg": errmsg,
            "hang": None if hang is None else float(hang), "drop": bool(drop),
            "status": status, "path": path}


async def faults_post(request: web.Request) -> web.Response:
    """``POST /dev/admin/faults`` ``{"count": N, "errcode" (+ "errmsg"?) | "hang" | "drop" |
    "status": …, "path"?}``."""
    state = request.app[PLATFORM]
    try:
        state.inject_fault(**_fault_from(await request.json()))
    except ValueError as exc:  # also a body that is not JSON
        return web.json_response({"error": str(exc) or "the body must be JSON"}, status=400)
    return faults_get_response(state)


def faults_get_response(state: PlatformState) -> web.Response:
    return web.json_response({"pending": [f.to_json() for f in state.faults],
                              "calls": state.calls})


async def faults_get(request: web.Request) -> web.Response:
    return faults_get_response(request.app[PLATFORM])


async def faults_delete(request: web.Request) -> web.Response:
    state = request.app[PLATFORM]
    state.clear_faults()
    return faults_get_response(state)


def add_api_routes(app: web.Application) -> None:
    """The API endpoints and ``/dev/admin/faults``; add :func:`faults_middleware` too."""
    app.router.add_post("/cgi-bin/stable_token", stable_token)
    app.router.add_get("/cgi-bin/token", classic_token)
    app.router.add_post("/cgi-bin/message/custom/send", custom_send)
    app.router.add_post("/cgi-bin/message/template/send", template_send)
    app.router.add_post("/cgi-bin/message/subscribe/bizsend", subscribe_send)
    app.router.add_post("/cgi-bin/media/upload", media_upload)
    app.router.add_get("/cgi-bin/media/get", media_get)
    app.router.add_post("/cgi-bin/menu/create", menu_create)
    app.router.add_get("/cgi-bin/menu/get", menu_get)
    app.router.add_get("/cgi-bin/menu/delete", menu_delete)
    app.router.add_get("/cgi-bin/user/info", user_info)
    app.router.add_post("/dev/admin/faults", faults_post)
    app.router.add_get("/dev/admin/faults", faults_get)
    app.router.add_delete("/dev/admin/faults", faults_delete)

    async def close_state(app: web.Application) -> None:
        await app[PLATFORM].close()

    app.on_shutdown.append(close_state)  # before the callback session closes


def create_api_app(
    accounts: list[Account],
    *,
    token_ttl: int = 7200,
    state: PlatformState | None = None,
    enforce_rules: bool = False,
    templates: list[Template] | None = None,
) -> web.Application:
    """The API side alone; ``app[PLATFORM]`` is its state (hooks, ``sent``, ``calls``, …).

    Without a ``state``, the customer-service window, quotas and media checks are off
    unless ``enforce_rules`` (API-client tests send freely); pass a
    :class:`PlatformState` (rules on by default) for the full rules. With no callback,
    TEMPLATESENDJOBFINISH events are only recorded (``state.template_events``).
    """
    app = web.Application(client_max_size=MAX_BODY_BYTES, middlewares=[faults_middleware])
    app[PLATFORM] = state if state is not None else PlatformState(
        accounts, token_ttl=token_ttl, enforce_rules=enforce_rules, templates=templates)
    add_api_routes(app)
    return app
