"""Async client for the WeChat Official Account API, on aiohttp.

The access token is shared by every process through the store: read from it, refreshed
under a store lock shortly before expiry with ``/cgi-bin/stable_token``, so any number of
workers make one token call per refresh. Every call has a timeout; errors come back as
:class:`WeChatAPIError` subclasses carrying ``errcode``.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import aiohttp

from bot.config import Account
from domain.messages import Outbound
from storage.base import LockTimeout, Store
from storage.keys import KeyBuilder

log = logging.getLogger(__name__)

TOKEN_REFRESH_MARGIN = 300.0  # refresh this many seconds before the token expires


class WeChatAPIError(Exception):
    """The API answered with a non-zero errcode (or could not be reached: errcode < 0)."""

    errcode: int

    def __init__(self, errcode: int, errmsg: str = "") -> None:
        super().__init__(f"WeChat API error {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg


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


class TokenUnavailable(WeChatAPIError):
    """-3: the shared token could not be read or refreshed (store down, lock busy)."""

    def __init__(self, errmsg: str) -> None:
        super().__init__(-3, errmsg)


class APIUnreachable(WeChatAPIError):
    """Network error or timeout (errcode -2); nothing is known about delivery."""

    def __init__(self, errmsg: str) -> None:
        super().__init__(-2, errmsg)


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
}
_TOKEN_CODES = frozenset({40001, 42001, 40014})


def error_for(errcode: int, errmsg: str) -> WeChatAPIError:
    return _BY_CODE.get(errcode, WeChatAPIError)(errcode, errmsg)


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
        body: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        url = self._account.api_base + path
        data = None if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            async with self._session.request(
                method, url, params=params, data=data, timeout=self._timeout,
                headers={"Content-Type": "application/json; charset=utf-8"} if data else None,
            ) as resp:
                raw = await resp.read()
                if resp.status >= 500:
                    raise APIUnreachable(f"HTTP {resp.status} from {path}")
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
            raise error_for(code, str(answer.get("errmsg", "")))
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
        self, method: str, path: str, *, body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Call an API path with the access token; on 40001/42001 refresh once and retry once."""
        token = await self.access_token()
        try:
            return await self._request(
                method, path, params={**(params or {}), "access_token": token}, body=body
            )
        except WeChatAPIError as exc:
            if exc.errcode not in _TOKEN_CODES:
                raise
        token = await self._refresh(stale=token)
        return await self._request(
            method, path, params={**(params or {}), "access_token": token}, body=body
        )

    # -- customer-service messages -----------------------------------------------------------

    async def send_text(self, openid: str, text: str) -> None:
        await self.call("POST", "/cgi-bin/message/custom/send", body={
            "touser": openid, "msgtype": "text", "text": {"content": text},
        })

    async def send(self, openid: str, outbound: Outbound) -> None:
        """Send one Outbound as a customer-service message."""
        if outbound.kind == "text":
            await self.send_text(openid, outbound.text)
        elif outbound.kind == "image":
            await self.call("POST", "/cgi-bin/message/custom/send", body={
                "touser": openid, "msgtype": "image", "image": {"media_id": outbound.media_id},
            })
        else:
            await self.call("POST", "/cgi-bin/message/custom/send", body={
                "touser": openid, "msgtype": "news", "news": {"articles": [
                    {"title": a.title, "description": a.description, "url": a.url,
                     "picurl": a.image_url} for a in outbound.articles[:1]
                ]},
            })


def _fresh(cached: Any) -> bool:
    return (
        isinstance(cached, dict)
        and isinstance(cached.get("access_token"), str)
        and isinstance(cached.get("expires_at"), (int, float))
        and cached["expires_at"] - time.time() > TOKEN_REFRESH_MARGIN
    )
