"""Async client for the WeChat Official Account API, on aiohttp.

The access token is shared by every process through the store: read from it, refreshed
under a store lock shortly before expiry with ``/cgi-bin/stable_token``, so any number of
workers make one token call per refresh. Every call has a timeout; errors come back as
:class:`WeChatAPIError` subclasses carrying ``errcode`` (:func:`error_for` is the one
mapping from errcode to class). What the platform would refuse for its form — template
and subscribe values, menus, media size and format, article count — is checked locally
first (:mod:`bot.wechat.fields`) and raises :class:`~bot.wechat.fields.FieldError` before
any request.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp

from bot.config import Account
from bot.wechat.fields import (
    FieldError,
    MediaKind,
    check_media,
    check_menu,
    check_subscribe_data,
    check_template_data,
)
from domain.delivery import one_line
from domain.messages import TEXT_LIMIT_BYTES, Article, Outbound
from domain.sending import SendError
from storage.base import LockTimeout, Store
from storage.keys import KeyBuilder

log = logging.getLogger(__name__)

TOKEN_REFRESH_MARGIN = 300.0  # refresh this many seconds before the token expires
ERRMSG_LIMIT = 200  # characters of the platform's errmsg kept (logs, outbox reasons)

_URL = re.compile(r"(?i)\b((?:https?|wss?|ftp)://[^\s?#\"'<>]*)(?:[?#][^\s\"'<>]*)?")
_SECRET_PAIR = re.compile(
    r"(?i)\b(access_token|refresh_token|token|secret|appsecret|app_secret|password|passwd"
    r"|key|ticket|code|signature|sign)(\s*[=:]\s*)(\"?)[^\s&,;\"'<>]+")
# an access token is 100+ such characters; a template id (43) is left alone
_OPAQUE = re.compile(r"[A-Za-z0-9_\-*.+/=]{48,}")
_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")  # terminal escape sequences


def clean_errmsg(raw: object, *, secrets: Iterable[str] = ()) -> str:
    """The platform's ``errmsg`` fit for logs and the outbox's reasons.

    No control or format characters (a terminal escape, a bidi override), no query string
    of any URL, no ``key=value`` pair naming a credential, no long opaque run that could be
    a token, none of ``secrets`` (the caller's token and app secret), at most
    :data:`ERRMSG_LIMIT` characters. Ordinary messages (``invalid openid rid: …``) pass
    unchanged.
    """
    text = raw if isinstance(raw, str) else str(raw)
    text = text[: ERRMSG_LIMIT * 20]  # bound the work on a huge answer
    for secret in secrets:
        if len(secret) >= 6:
            text = text.replace(secret, "***")
    text = one_line(_ESCAPE.sub("\n", text))
    text = _URL.sub(lambda m: m[1] + ("?…" if len(m[0]) > len(m[1]) else ""), text)
    text = _SECRET_PAIR.sub(lambda m: f"{m[1]}{m[2]}{m[3]}***", text)
    text = _OPAQUE.sub("***", text)
    if len(text) > ERRMSG_LIMIT:
        text = text[: ERRMSG_LIMIT - 1] + "…"
    return text


class WeChatAPIError(SendError):
    """The API answered with a non-zero errcode (or could not be reached: errcode < 0).

    ``errmsg`` is always :func:`clean_errmsg`'d: it ends up in logs and in the outbox.
    """

    errcode: int

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        errmsg = clean_errmsg(errmsg)
        super().__init__(errcode, errmsg)
        self.args = (f"WeChat API error {errcode}: {errmsg}",)


class SystemBusy(WeChatAPIError):
    """-1: the platform is busy; retry later."""


class TokenInvalid(WeChatAPIError):
    """40001 invalid credential or 42001 expired token (after one refresh and retry)."""


class BadCredentials(WeChatAPIError):
    """40013 invalid AppID, 40125 invalid AppSecret, 40164 IP not whitelisted."""


class InvalidUser(WeChatAPIError):
    """40003: the OpenID is not a follower of this account."""


class WindowClosed(WeChatAPIError):
    """45015: more than 48 h since the user's last message."""


class QuotaExceeded(WeChatAPIError):
    """45047 customer-service quota used; 45009 daily API quota used."""


class MinuteQuota(WeChatAPIError):
    """45011: too many calls this minute; retry next minute."""


class APIUnauthorized(WeChatAPIError):
    """48001: the account lacks this API (type, certification or grant); do not retry."""


class TemplateInvalid(WeChatAPIError):
    """40037 invalid template_id; 40036 a template_id of the wrong size."""


class NotFollowing(WeChatAPIError):
    """43004: the user does not follow the account (template messages need a follower)."""


class SubscriptionRefused(WeChatAPIError):
    """43101: the user refused the message or cancelled the subscription; 48002: the
    follower refuses messages from the account."""


class ArgumentInvalid(WeChatAPIError):
    """47003: a value breaks its rule; ``field`` is the key the errmsg names, if any
    (``argument invalid! data.thing1.value invalid`` → ``data.thing1.value``)."""

    field: str | None

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(errcode, errmsg)
        match = re.search(r"\bdata\.[A-Za-z0-9_]+\.value\b", self.errmsg)
        self.field = match[0] if match else None


class ArticleLimit(WeChatAPIError):
    """45008: a news message with more than 1 article."""


class MediaInvalid(WeChatAPIError):
    """40004 media type, 40005 file type, 40006/40009 file size, 40007 media_id, 41005 no
    media data."""


class MenuInvalid(WeChatAPIError):
    """40015–40027 button type, count, name, key or url; 40054/40055 url domain; 41007 no
    sub-menu data; 45064 unlinked mini program; 65316 too many external domains."""


class TokenUnavailable(WeChatAPIError):
    """-3: the shared token could not be read or refreshed (store down, lock busy)."""

    def __init__(self, errmsg: str) -> None:
        super().__init__(-3, errmsg)


class APIUnreachable(WeChatAPIError):
    """Network error, timeout or an HTTP 5xx answer (errcode -2).

    ``may_have_arrived`` is ``False`` only when the call cannot have taken effect (the
    connection was refused, or the access token for it could not be had); after a
    timeout, a dropped connection or a 5xx answer the outcome is unknown: the call may or
    may not have taken effect.
    """

    def __init__(self, errmsg: str, *, may_have_arrived: bool = True) -> None:
        super().__init__(-2, errmsg)
        self.may_have_arrived = may_have_arrived


_BY_CODE: dict[int, type[WeChatAPIError]] = {
    -1: SystemBusy,
    40001: TokenInvalid,
    42001: TokenInvalid,
    40014: TokenInvalid,
    40013: BadCredentials,
    40125: BadCredentials,
    40164: BadCredentials,
    40003: InvalidUser,
    45015: WindowClosed,
    45047: QuotaExceeded,
    45009: QuotaExceeded,
    45011: MinuteQuota,
    48001: APIUnauthorized,
    40036: TemplateInvalid,
    40037: TemplateInvalid,
    43004: NotFollowing,
    43101: SubscriptionRefused,
    48002: SubscriptionRefused,
    47003: ArgumentInvalid,
    45008: ArticleLimit,
    **dict.fromkeys((40004, 40005, 40006, 40007, 40009, 41005), MediaInvalid),
    **dict.fromkeys((*range(40015, 40028), 40054, 40055, 41007, 45064, 65316), MenuInvalid),
}
_TOKEN_CODES = frozenset({40001, 42001, 40014})
MENU_NOT_FOUND = 46003  # menu/get on an account without a menu


def error_for(errcode: int, errmsg: str) -> WeChatAPIError:
    """The typed error for an errcode (plain :class:`WeChatAPIError` for unknown codes)."""
    return _BY_CODE.get(errcode, WeChatAPIError)(errcode, errmsg)


@dataclass(frozen=True, slots=True)
class UserInfo:
    """``user/info``. Since 2021-12-27 nickname, avatar, sex and region are not returned;
    for a user who does not follow (``subscribed`` False) only ``openid`` is filled."""

    openid: str
    subscribed: bool
    subscribe_time: int | None = None
    unionid: str | None = None
    remark: str = ""
    groupid: int | None = None
    tagid_list: tuple[int, ...] = ()
    subscribe_scene: str | None = None
    qr_scene: int | None = None
    qr_scene_str: str | None = None
    language: str | None = None  # the platform has stopped filling it

    @classmethod
    def from_json(cls, data: Mapping[str, Any], openid: str) -> UserInfo:
        def integer(key: str) -> int | None:
            value = data.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        def string(key: str) -> str | None:
            value = data.get(key)
            return value if isinstance(value, str) else None

        tags = data.get("tagid_list")
        return cls(
            openid=string("openid") or openid,
            subscribed=data.get("subscribe") == 1,
            subscribe_time=integer("subscribe_time"),
            unionid=string("unionid") or None,
            remark=string("remark") or "",
            groupid=integer("groupid"),
            tagid_list=tuple(t for t in tags if isinstance(t, int) and not isinstance(t, bool))
            if isinstance(tags, list) else (),
            subscribe_scene=string("subscribe_scene") or None,
            qr_scene=integer("qr_scene"),
            qr_scene_str=string("qr_scene_str"),
            language=string("language") or None,
        )


@dataclass(frozen=True, slots=True)
class _Upload:
    """One file for a multipart body; a fresh form is built for each try."""

    field: str
    filename: str
    content: bytes
    content_type: str

    def form(self) -> aiohttp.FormData:
        form = aiohttp.FormData()
        form.add_field(self.field, self.content, filename=self.filename,
                       content_type=self.content_type)
        return form


class WeChatClient:
    """One account's API client. Open one per account; share one aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        account: Account,
        store: Store,
        keys: KeyBuilder,
        *,
        timeout: float = 10.0,
    ) -> None:
        self._session = session
        self._account = account
        self._store = store
        self._keys = keys
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self.token_fetches = 0  # how many times this client called stable_token

    # -- transport ---------------------------------------------------------------------------

    async def _request(
        self, method: str, path: str, *, params: dict[str, str] | None = None,
        body: Mapping[str, Any] | None = None, upload: _Upload | None = None,
    ) -> dict[str, Any]:
        url = self._account.api_base + path
        data: bytes | aiohttp.FormData | None = None
        headers: dict[str, str] | None = None
        if upload is not None:
            data = upload.form()
        elif body is not None:
            data = json.dumps(body, ensure_ascii=False).encode("utf-8")
            headers = {"Content-Type": "application/json; charset=utf-8"}
        try:
            async with self._session.request(
                method, url, params=params, data=data, timeout=self._timeout, headers=headers,
            ) as resp:
                raw = await resp.read()
                if resp.status >= 500:  # a gateway or the platform failed: outcome unknown
                    raise APIUnreachable(f"HTTP {resp.status} from {path}")
        except aiohttp.ClientConnectorError as exc:
            raise APIUnreachable(f"{type(exc).__name__} calling {path}",
                                 may_have_arrived=False) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise APIUnreachable(f"{type(exc).__name__} calling {path}") from None
        try:
            answer = json.loads(raw)
        except ValueError:
            raise APIUnreachable(f"not JSON from {path} (HTTP {resp.status})") from None
        if not isinstance(answer, dict):
            raise APIUnreachable(f"unexpected answer from {path}")
        code = answer.get("errcode", 0)
        if isinstance(code, int) and code != 0:
            secrets = [self._account.app_secret, *(params or {}).values()]
            raise error_for(code, clean_errmsg(answer.get("errmsg", ""), secrets=secrets))
        return answer

    # -- access token ------------------------------------------------------------------------

    async def access_token(self) -> str:
        """A token valid for at least a few minutes, refreshed under the shared lock."""
        try:
            cached = await self._store.get(self._keys.token(self._account.app_id))
        except Exception as exc:
            raise TokenUnavailable(f"store: {type(exc).__name__}") from None
        if _fresh(cached):
            return str(cached["access_token"])  # type: ignore[index]
        return await self._refresh(stale=None)

    async def _refresh(self, stale: str | None) -> str:
        try:
            return await self._refresh_locked(stale)
        except WeChatAPIError:
            raise
        except LockTimeout:
            raise TokenUnavailable("another holder kept the token lock too long") from None
        except Exception as exc:
            raise TokenUnavailable(f"store: {type(exc).__name__}") from None

    async def _refresh_locked(self, stale: str | None) -> str:
        """Fetch a new token unless another holder already did; ``stale`` forces one."""
        key = self._keys.token(self._account.app_id)
        async with self._store.lock(self._keys.token_lock(self._account.app_id), ttl=30, wait=30):
            cached = await self._store.get(key)
            if _fresh(cached) and cached["access_token"] != stale:  # type: ignore[index]
                return str(cached["access_token"])  # type: ignore[index]
            self.token_fetches += 1
            answer = await self._request(
                "POST", "/cgi-bin/stable_token",
                body={
                    "grant_type": "client_credential",
                    "appid": self._account.app_id,
                    "secret": self._account.app_secret,
                    "force_refresh": stale is not None,
                },
            )
            token = answer.get("access_token")
            expires_in = answer.get("expires_in")
            if not isinstance(token, str) or not isinstance(expires_in, int):
                raise APIUnreachable("stable_token answered without a token")
            await self._store.set(
                key, {"access_token": token, "expires_at": time.time() + expires_in},
                ttl=max(1, expires_in),
            )
            log.info("access token refreshed for %s (expires in %ss)", self._account.name,
                     expires_in)
            return token

    async def call(
        self, method: str, path: str, *, body: Mapping[str, Any] | None = None,
        params: dict[str, str] | None = None, upload: _Upload | None = None,
    ) -> dict[str, Any]:
        """Call an API path with the access token; on 40001/42001 refresh once and retry once.

        A token that cannot be had (the token call timed out, was dropped or answered 5xx)
        raises :class:`APIUnreachable` with ``may_have_arrived`` ``False``: the call itself
        was never made, so it is safe to make again.
        """
        token = await _before_the_call(self.access_token())
        try:
            return await self._request(
                method, path, params={**(params or {}), "access_token": token}, body=body,
                upload=upload,
            )
        except WeChatAPIError as exc:
            if exc.errcode not in _TOKEN_CODES:
                raise
        token = await _before_the_call(self._refresh(stale=token))
        return await self._request(
            method, path, params={**(params or {}), "access_token": token}, body=body,
            upload=upload,
        )

    # -- customer-service messages (within 48 h of the user's last message) ----------------

    async def _custom(self, openid: str, msgtype: str, content: Mapping[str, Any]) -> None:
        await self.call("POST", "/cgi-bin/message/custom/send", body={
            "touser": openid, "msgtype": msgtype, msgtype: content,
        })

    async def send_text(self, openid: str, text: str) -> None:
        size = len(text.encode("utf-8"))
        if not text or size > TEXT_LIMIT_BYTES:
            raise FieldError("text.content", "is empty" if not text else
                             f"{size} bytes, at most {TEXT_LIMIT_BYTES}")
        await self._custom(openid, "text", {"content": text})

    async def send_image(self, openid: str, media_id: str) -> None:
        """An image uploaded before (:meth:`upload_media`; a media_id lives 3 days)."""
        if not media_id:
            raise FieldError("image.media_id", "is empty")
        await self._custom(openid, "image", {"media_id": media_id})

    async def send_voice(self, openid: str, media_id: str) -> None:
        """A voice message by media id (one the account uploaded, or one a user sent it
        within the media's three days)."""
        if not media_id:
            raise FieldError("voice.media_id", "is empty")
        await self._custom(openid, "voice", {"media_id": media_id})

    async def send_news(self, openid: str, article: Article) -> None:
        """One news card (the platform allows exactly one per message since 2018)."""
        await self._custom(openid, "news", {"articles": [
            {"title": article.title, "description": article.description, "url": article.url,
             "picurl": article.image_url},
        ]})

    async def send(self, openid: str, outbound: Outbound) -> None:
        """Send one Outbound as a customer-service message."""
        if outbound.kind == "text":
            await self.send_text(openid, outbound.text)
        elif outbound.kind == "image":
            await self.send_image(openid, outbound.media_id)
        elif outbound.kind == "voice":
            await self.send_voice(openid, outbound.media_id)
        else:
            if len(outbound.articles) != 1:
                raise FieldError("news.articles",
                                 f"{len(outbound.articles)} articles, exactly 1 allowed")
            await self.send_news(openid, outbound.articles[0])

    # -- template and subscribe messages (outside the 48 h window) ---------------------------

    async def send_template(
        self, openid: str, template_id: str, data: Mapping[str, str], *,
        client_msg_id: str, url: str | None = None,
    ) -> int:
        """Send a template message; returns its msgid (TEMPLATESENDJOBFINISH reports it).

        The platform sends one message per (openid, client_msg_id) for 10 minutes, so a
        retry after a timeout with the same ``client_msg_id`` does not send twice.
        """
        if not template_id:
            raise FieldError("template_id", "is empty")
        if not client_msg_id:
            raise FieldError("client_msg_id", "is empty")
        check_template_data(data)
        body: dict[str, Any] = {
            "touser": openid, "template_id": template_id, "client_msg_id": client_msg_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url:
            body["url"] = url
        answer = await self.call("POST", "/cgi-bin/message/template/send", body=body)
        msgid = answer.get("msgid")
        if isinstance(msgid, int) and not isinstance(msgid, bool):
            return msgid
        if isinstance(msgid, str) and msgid.isascii() and msgid.isdigit():
            return int(msgid)
        raise APIUnreachable("template/send answered without a msgid")

    async def send_subscribe(
        self, openid: str, template_id: str, data: Mapping[str, str], *,
        page: str | None = None,
    ) -> None:
        """Send a subscribe message (订阅通知, ``bizsend``); the platform returns no msgid."""
        if not template_id:
            raise FieldError("template_id", "is empty")
        check_subscribe_data(data)
        body: dict[str, Any] = {
            "touser": openid, "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if page:
            body["page"] = page
        await self.call("POST", "/cgi-bin/message/subscribe/bizsend", body=body)

    # -- temporary media -----------------------------------------------------------------------

    async def upload_media(
        self, kind: MediaKind, filename: str, content: bytes, content_type: str,
    ) -> str:
        """Upload a temporary media file (valid 3 days); returns its media_id."""
        check_media(kind, content)
        if not filename:
            raise FieldError("media.filename", "is empty")
        answer = await self.call(
            "POST", "/cgi-bin/media/upload", params={"type": kind},
            upload=_Upload("media", filename, content, content_type),
        )
        media_id = answer.get("media_id")
        if not isinstance(media_id, str) or not media_id:
            raise APIUnreachable("media/upload answered without a media_id")
        return media_id

    # -- custom menu ---------------------------------------------------------------------------

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        """Replace the account's custom menu (``{"button": [...]}``)."""
        check_menu(menu)
        await self.call("POST", "/cgi-bin/menu/create", body=menu)

    async def get_menu(self) -> dict[str, Any]:
        """The account's custom menu as ``{"button": [...]}`` (``{}`` when it has none)."""
        try:
            answer = await self.call("GET", "/cgi-bin/menu/get")
        except WeChatAPIError as exc:
            if exc.errcode == MENU_NOT_FOUND:
                return {}
            raise
        menu = answer.get("menu")
        return dict(menu) if isinstance(menu, dict) else {}

    # -- users ---------------------------------------------------------------------------------

    async def user_info(
        self, openid: str, lang: Literal["zh_CN", "zh_TW", "en"] = "zh_CN",
    ) -> UserInfo:
        if not openid:
            raise FieldError("openid", "is empty")
        if lang not in ("zh_CN", "zh_TW", "en"):
            raise FieldError("lang", f"{lang!r} is not zh_CN, zh_TW or en")
        answer = await self.call("GET", "/cgi-bin/user/info",
                                 params={"openid": openid, "lang": lang})
        return UserInfo.from_json(answer, openid)


async def _before_the_call(getting: Awaitable[str]) -> str:
    """The token for a call: if getting it failed in a way whose outcome is unknown, the
    call it was for was still never made."""
    try:
        return await getting
    except APIUnreachable as exc:
        if not exc.may_have_arrived:
            raise
        raise APIUnreachable(f"token: {exc.errmsg}", may_have_arrived=False) from None


def _fresh(cached: Any) -> bool:
    return (
        isinstance(cached, dict)
        and isinstance(cached.get("access_token"), str)
        and isinstance(cached.get("expires_at"), (int, float))
        and cached["expires_at"] - time.time() > TOKEN_REFRESH_MARGIN
    )
