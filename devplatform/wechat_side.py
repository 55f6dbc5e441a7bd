"""The callback side: deliver a user's message to the bot as WeChat does.

WeChat POSTs the signed (and in safe mode encrypted) message, waits ``timeout`` seconds
(5 s on the real platform) and, when the bot has not answered in time or the connection
failed, sends the very same request again: same MsgId, same body, 3 tries in all. The
answer is read by :func:`~devplatform.replies.read_reply`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass

import aiohttp

from bot.config import Account
from devplatform.identity import MsgIds, openid_for, original_id_for
from devplatform.messages import (
    build_click,
    build_image,
    build_location,
    build_scan,
    build_subscribe,
    build_subscribe_popup,
    build_text,
    build_unsubscribe,
    build_voice,
)
from devplatform.replies import Reply, read_reply
from devplatform.signing import sign_request
from devplatform.state import PlatformState

log = logging.getLogger(__name__)

WECHAT_TIMEOUT = 5.0
WECHAT_TRIES = 3


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message delivered: what the user saw, and how it went."""

    reply: Reply
    body: str  # the message XML before signing/encryption
    msg_id: int | None  # None for events
    tries: int  # requests made (1 to ``tries``)
    seconds: float


class CallbackClient:
    """WeChat's side of one account's callback URL."""

    def __init__(
        self,
        account: Account,
        callback_url: str,
        session: aiohttp.ClientSession,
        *,
        timeout: float = WECHAT_TIMEOUT,
        tries: int = WECHAT_TRIES,
        retry_delay: float = 0.5,
        encrypt: bool | None = None,
        state: PlatformState | None = None,
    ) -> None:
        """``encrypt`` defaults to safe mode when the account has an EncodingAESKey.

        With ``state``, users who write become known to the API side (as followers).
        """
        if tries < 1:
            raise ValueError("tries must be at least 1")
        self.account = account
        self.callback_url = callback_url
        self.original_id = original_id_for(account.app_id)
        self._session = session
        self._timeout = timeout
        self._tries = tries
        self._retry_delay = retry_delay
        self._encrypt = bool(account.aes_key) if encrypt is None else encrypt
        self._state = state
        self._msg_ids = MsgIds()

    def openid(self, name: str) -> str:
        return openid_for(self.account.app_id, name)

    def user(self, name: str) -> WeChatUser:
        return WeChatUser(self, name)

    # -- messages ----------------------------------------------------------------------------

    async def send_text(self, openid: str, content: str) -> Delivery:
        msg_id = self._msg_ids.next()
        return await self.deliver(
            openid, build_text(self.original_id, openid, content, msg_id), msg_id=msg_id)

    async def send_image(self, openid: str, pic_url: str, media_id: str) -> Delivery:
        msg_id = self._msg_ids.next()
        body = build_image(self.original_id, openid, pic_url, media_id, msg_id)
        return await self.deliver(openid, body, msg_id=msg_id)

    async def send_voice(self, openid: str, media_id: str, recognition: str) -> Delivery:
        msg_id = self._msg_ids.next()
        body = build_voice(self.original_id, openid, media_id, recognition, msg_id)
        return await self.deliver(openid, body, msg_id=msg_id)

    async def send_location(
        self, openid: str, latitude: float, longitude: float, label: str, *, scale: int = 15
    ) -> Delivery:
        msg_id = self._msg_ids.next()
        body = build_location(self.original_id, openid, latitude, longitude, label, msg_id,
                              scale=scale)
        return await self.deliver(openid, body, msg_id=msg_id)

    async def follow(self, openid: str) -> Delivery:
        if self._state is not None:
            self._state.follow(self.account.app_id, openid)
            self._state.saw_event(self.account.app_id, openid, "subscribe")
        return await self.deliver(openid, build_subscribe(self.original_id, openid))

    async def unfollow(self, openid: str) -> Delivery:
        if self._state is not None:
            self._state.unfollow(self.account.app_id, openid)
        return await self.deliver(openid, build_unsubscribe(self.original_id, openid))

    async def click(self, openid: str, key: str) -> Delivery:
        if self._state is not None:
            self._state.follow(self.account.app_id, openid)
            self._state.saw_event(self.account.app_id, openid, "CLICK", key)
        return await self.deliver(openid, build_click(self.original_id, openid, key))

    async def scan(self, openid: str, scene: str) -> Delivery:
        """Scan a QR code with ``scene``: SCAN for a follower, else follow through it."""
        user = self._state.user(self.account.app_id, openid) if self._state else None
        following = user is not None and user.followed
        body = build_scan(self.original_id, openid, scene, following=following)
        if self._state is not None:
            if not following:
                self._state.follow(self.account.app_id, openid, scene="ADD_SCENE_QR_CODE",
                                   qr_scene=scene)
            self._state.saw_event(self.account.app_id, openid,
                                  "SCAN" if following else "subscribe",
                                  scene if following else f"qrscene_{scene}")
        return await self.deliver(openid, body)

    async def accept_subscribe(self, openid: str, template_ids: list[str]) -> Delivery:
        """The user accepts one subscribe message of each template in a popup."""
        if self._state is not None:
            for template_id in template_ids:
                self._state.consent(self.account.app_id, openid, template_id)
        body = build_subscribe_popup(self.original_id, openid,
                                     [(t, "accept") for t in template_ids])
        return await self.deliver(openid, body)

    async def push_event(self, openid: str, body: str) -> str:
        """Deliver an event the platform raises itself (TEMPLATESENDJOBFINISH); the reply's
        kind (``none`` when the bot answered ``success``)."""
        delivery = await self.deliver(openid, body)
        if delivery.reply.kind != "none":
            log.warning("[%s] the bot answered an event with %s (%s)", self.account.name,
                        delivery.reply.kind, delivery.reply.detail or "expected success")
        return delivery.reply.kind

    # -- transport ---------------------------------------------------------------------------

    async def deliver(self, openid: str, body: str, *, msg_id: int | None = None) -> Delivery:
        """POST ``body`` (a message from ``openid``) with WeChat's retries; read the answer."""
        if msg_id is not None and self._state is not None:
            self._state.saw_message(self.account.app_id, openid)
        query, payload = sign_request(self.account, body, encrypt=self._encrypt, openid=openid)
        started = time.monotonic()
        problem, attempt = "", 0
        for attempt in range(1, self._tries + 1):
            try:
                async with self._session.post(
                    self.callback_url,
                    params=query,
                    data=payload.encode("utf-8"),
                    headers={"Content-Type": "text/xml"},
                    timeout=aiohttp.ClientTimeout(total=self._timeout),
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
            except TimeoutError:
                problem = f"no answer within {self._timeout:g} s"
            except (aiohttp.ClientError, OSError) as exc:
                problem = f"cannot reach {self.callback_url} ({type(exc).__name__})"
                if attempt < self._tries:
                    await asyncio.sleep(self._retry_delay)
            else:
                reply = read_reply(self.account, status, raw, openid=openid,
                                   encrypted=self._encrypt)
                if reply.kind == "unavailable":
                    log.warning("[%s] %s sees the error: %s", self.account.name, openid,
                                reply.detail)
                return Delivery(reply, body, msg_id, attempt, time.monotonic() - started)
            log.info("[%s] try %d of %d: %s", self.account.name, attempt, self._tries, problem)
        reply = Reply.unavailable(f"{problem}, {attempt} tries in all")
        log.warning("[%s] %s sees the error: %s", self.account.name, openid, reply.detail)
        return Delivery(reply, body, msg_id, attempt, time.monotonic() - started)


class WeChatUser:
    """One named user of one account: ``await alice.send_text("你好")``."""

    def __init__(self, client: CallbackClient, name: str) -> None:
        self.client = client
        self.name = name
        self.openid = client.openid(name)

    async def send_text(self, content: str) -> Delivery:
        return await self.client.send_text(self.openid, content)

    async def send_image(self, pic_url: str, media_id: str) -> Delivery:
        return await self.client.send_image(self.openid, pic_url, media_id)

    async def send_voice(self, media_id: str, recognition: str) -> Delivery:
        return await self.client.send_voice(self.openid, media_id, recognition)

    async def send_location(
        self, latitude: float, longitude: float, label: str, *, scale: int = 15
    ) -> Delivery:
        return await self.client.send_location(self.openid, latitude, longitude, label,
                                               scale=scale)

    async def follow(self) -> Delivery:
        return await self.client.follow(self.openid)

    async def unfollow(self) -> Delivery:
        return await self.client.unfollow(self.openid)

    async def click(self, key: str) -> Delivery:
        return await self.client.click(self.openid, key)

    async def scan(self, scene: str) -> Delivery:
        return await self.client.scan(self.openid, scene)

    async def accept_subscribe(self, *template_ids: str) -> Delivery:
        return await self.client.accept_subscribe(self.openid, list(template_ids))
