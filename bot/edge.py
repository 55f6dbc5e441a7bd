"""The WeChat callback: verify, decrypt, parse, dedupe, order per user, reply within budget.

One :class:`Callback` serves one account. A POST goes through, in order:

1. body size cap (413), query parameters (400), timestamp window and ``signature`` (403);
2. safe mode: ``msg_signature`` (403) and decryption (400);
3. nonce replay within the window: the same nonce with a different body is refused (403);
4. parse to an :class:`~domain.messages.Inbound` (400 on any fault);
5. dedupe by MsgId or event key: a retry never runs the handler again; it gets the cached
   reply, or ``success`` when the first try answered asynchronously;
6. the handler runs under the user's lock (FIFO in process, store lock across processes),
   reading state only after taking it; if it has not answered within the budget the edge
   answers ``success`` and the reply goes out as customer-service messages when ready.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from bot.config import Account, Settings
from bot.wechat_codec import (
    BadMessage,
    Crypto,
    Envelope,
    parse_xml,
    render_reply,
    signature_ok,
    to_inbound,
)
from domain.messages import Inbound, Outbound
from flows.context import Conversation
from handlers.router import Handler
from storage.base import Store
from storage.keys import KeyBuilder

log = logging.getLogger(__name__)

SUCCESS = "success"
_WAIT_STEP = 0.02


class Reject(Exception):
    """Refuse the request with ``status``; ``reason`` goes to the log (never user text)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


Sender = Callable[[str, list[Outbound]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Verified:
    xml: str
    encrypted: bool
    nonce: str
    timestamp: str
    digest: str


class Turn:
    """One message's place in its user's queue; released when its handler has finished."""

    __slots__ = ("_key", "_mine", "_owner", "_previous")

    def __init__(self, owner: Turns, key: str, previous: asyncio.Future[None] | None,
                 mine: asyncio.Future[None]) -> None:
        self._owner = owner
        self._key = key
        self._previous = previous
        self._mine = mine

    async def wait(self) -> None:
        """Return once every earlier message of this user has finished."""
        if self._previous is not None:
            await asyncio.shield(self._previous)

    def release(self) -> None:
        if not self._mine.done():
            self._mine.set_result(None)
        self._owner.forget(self._key, self._mine)


class Turns:
    """Per-user FIFO in this process: the place is taken without awaiting, at arrival.

    Across processes the store lock serialises; this keeps arrival order within one.
    """

    def __init__(self) -> None:
        self._tails: dict[str, asyncio.Future[None]] = {}

    def reserve(self, key: str) -> Turn:
        previous = self._tails.get(key)
        mine: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._tails[key] = mine
        return Turn(self, key, previous, mine)

    def forget(self, key: str, tail: asyncio.Future[None]) -> None:
        if self._tails.get(key) is tail:
            del self._tails[key]

    def __len__(self) -> int:
        return len(self._tails)


class Callback:
    def __init__(
        self,
        account: Account,
        settings: Settings,
        store: Store,
        keys: KeyBuilder,
        handler: Handler,
        sender: Sender,
        busy_text: str,
    ) -> None:
        self.account = account
        self._settings = settings
        self._store = store
        self._keys = keys
        self._handler = handler
        self._sender = sender
        self._busy_text = busy_text
        self._crypto = (
            Crypto(account.token, account.aes_key, account.app_id) if account.aes_key else None
        )
        self.turns = Turns()
        self._background: set[asyncio.Task[None]] = set()

    # -- HTTP ------------------------------------------------------------------------------

    async def get(self, request: web.Request) -> web.Response:
        """Server address verification: echo ``echostr`` when the signature holds."""
        q = request.query
        signature, timestamp, nonce = q.get("signature", ""), q.get("timestamp", ""), q.get(
            "nonce", "")
        echostr = q.get("echostr")
        if not (signature and timestamp and nonce) or echostr is None:
            log.warning("[%s] verification refused: missing parameters", self.account.name)
            return web.Response(status=400, text="missing parameters")
        if not signature_ok((self.account.token, timestamp, nonce), signature):
            log.warning("[%s] verification refused: bad signature", self.account.name)
            return web.Response(status=403, text="bad signature")
        return web.Response(text=echostr)

    async def post(self, request: web.Request) -> web.Response:
        started = asyncio.get_running_loop().time()
        try:
            verified = await self._verify(request)
            inbound, envelope = to_inbound(verified.xml, self.account.name)
        except Reject as exc:
            return self._refuse(exc.status, exc.reason)
        except BadMessage as exc:
            return self._refuse(400, str(exc))
        # take the user's place in line now, before anything awaits
        turn = self.turns.reserve(self._keys.user_lock(self.account.name, inbound.user))
        try:
            await self._check_nonce(verified)
            outbounds = await self._process(inbound, envelope, started, turn)
        except Reject as exc:
            turn.release()
            return self._refuse(exc.status, exc.reason)
        except Exception:
            # the store or something below failed: tell the user, never answer 500
            turn.release()
            log.exception("[%s] processing failed", self.account.name)
            outbounds = [Outbound.of_text(self._busy_text)]
        if not outbounds:
            return web.Response(text=SUCCESS)
        xml = render_reply(outbounds[0], envelope)
        if verified.encrypted:
            assert self._crypto is not None
            xml = self._crypto.encrypt(xml, verified.nonce)
        return web.Response(text=xml, content_type="application/xml")

    def _refuse(self, status: int, reason: str) -> web.Response:
        log.warning("[%s] request refused (%s): %s", self.account.name, status, reason)
        return web.Response(status=status, text=_public(status))

    # -- verification ----------------------------------------------------------------------

    async def _verify(self, request: web.Request) -> Verified:
        limit = self._settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise Reject(413, f"body of {request.content_length} bytes over {limit}")
        q = request.query
        signature, timestamp, nonce = (q.get("signature", ""), q.get("timestamp", ""),
                                       q.get("nonce", ""))
        if not (signature and timestamp and nonce):
            raise Reject(400, "missing signature, timestamp or nonce")
        if not timestamp.isdigit() or len(timestamp) > 12 or len(nonce) > 64:
            raise Reject(400, "malformed timestamp or nonce")
        if abs(time.time() - int(timestamp)) > self._settings.timestamp_window:
            raise Reject(403, "timestamp outside the window")
        if not signature_ok((self.account.token, timestamp, nonce), signature):
            raise Reject(403, "bad signature")
        body = await _read_capped(request, limit)
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Reject(400, "body is not UTF-8") from None
        encrypted = q.get("encrypt_type", "raw").lower() == "aes"
        if encrypted:
            if self._crypto is None:
                raise Reject(400, "encrypted message but no AES key configured")
            outer = parse_xml(text)
            secret = outer.get("Encrypt")
            if not isinstance(secret, str) or not secret:
                raise Reject(400, "no Encrypt field")
            if not self._crypto.signature_ok(secret, q.get("msg_signature", ""), timestamp,
                                             nonce):
                raise Reject(403, "bad msg_signature")
            text = self._crypto.decrypt(secret)
        return Verified(text, encrypted, nonce, timestamp, hashlib.sha1(body).hexdigest())

    async def _check_nonce(self, verified: Verified) -> None:
        """A nonce may come again within the window only with the same body (a retry)."""
        key = self._keys.nonce(self.account.name, verified.nonce)
        if not await self._store.set_if_absent(
            key, verified.digest, ttl=2 * self._settings.timestamp_window
        ) and await self._store.get(key) != verified.digest:
            raise Reject(403, "nonce replayed with a different body")

    # -- processing ------------------------------------------------------------------------

    async def _process(
        self, inbound: Inbound, envelope: Envelope, started: float, turn: Turn
    ) -> list[Outbound]:
        loop = asyncio.get_running_loop()
        deadline = started + self._settings.reply_budget
        dedupe_key = self._keys.dedupe(self.account.name, envelope.dedupe_key)
        reply_key = self._keys.reply(self.account.name, envelope.dedupe_key)
        if not await self._store.set_if_absent(dedupe_key, 1, ttl=self._settings.dedupe_ttl):
            turn.release()
            return await self._await_first(reply_key, deadline)

        task = asyncio.create_task(self._run(inbound, turn))
        remaining = max(0.0, deadline - loop.time())
        done, _ = await asyncio.wait({task}, timeout=remaining)
        if task in done:
            outbounds = task.result()
            await self._store.set(
                reply_key, {"mode": "passive", "outbounds": [o.to_json() for o in outbounds]},
                ttl=self._settings.reply_ttl,
            )
            if len(outbounds) > 1:  # a passive reply carries one message; push the rest
                self._spawn(self._push(inbound.user, outbounds[1:]))
            return outbounds[:1]
        log.info("[%s] handler over budget; replying later", self.account.name)
        await self._store.set(reply_key, {"mode": "async"}, ttl=self._settings.reply_ttl)
        self._spawn(self._push_when_done(inbound.user, task))
        return []

    async def _await_first(self, reply_key: str, deadline: float) -> list[Outbound]:
        """A duplicate: wait for the first try's answer, within our own budget."""
        loop = asyncio.get_running_loop()
        while True:
            cached = await self._store.get(reply_key)
            if isinstance(cached, dict):
                if cached.get("mode") == "passive":
                    raw = cached.get("outbounds") or []
                    return [Outbound.from_json(o) for o in raw[:1]]
                return []
            if loop.time() >= deadline:
                return []
            await asyncio.sleep(_WAIT_STEP)

    async def _run(self, inbound: Inbound, turn: Turn) -> list[Outbound]:
        """Run the handler under the user's lock; state is read only after taking it."""
        try:
            await turn.wait()
            return await self._run_locked(inbound)
        finally:
            turn.release()

    async def _run_locked(self, inbound: Inbound) -> list[Outbound]:
        lock_name = self._keys.user_lock(self.account.name, inbound.user)
        state_key = self._keys.state(self.account.name, inbound.user)
        async with self._store.lock(
            lock_name, ttl=self._settings.lock_ttl, wait=self._settings.lock_ttl
        ):
            conversation = Conversation.from_json(await self._store.get(state_key))
            try:
                outbounds = await self._handler(inbound, conversation)
            except Exception:
                log.exception("[%s] handler failed on a %s message", self.account.name,
                              inbound.kind)
                return [Outbound.of_text(self._busy_text)]
            await self._store.set(state_key, conversation.to_json(),
                                  ttl=self._settings.state_ttl)
            return outbounds

    # -- asynchronous replies --------------------------------------------------------------

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _push_when_done(self, user: str, task: asyncio.Task[list[Outbound]]) -> None:
        try:
            outbounds = await task
        except Exception:
            log.exception("[%s] late handler failed", self.account.name)
            return
        await self._push(user, outbounds)

    async def _push(self, user: str, outbounds: list[Outbound]) -> None:
        if not outbounds:
            return
        try:
            await self._sender(user, outbounds)
        except Exception as exc:
            log.error("[%s] could not push %d message(s): %s", self.account.name,
                      len(outbounds), exc)

    async def drain(self, grace: float = 10.0) -> None:
        """Wait for background replies to finish (called at shutdown)."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=grace)


async def _read_capped(request: web.Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > limit:
            raise Reject(413, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _public(status: int) -> str:
    return {
        400: "bad request",
        403: "forbidden",
        413: "request body too large",
    }.get(status, "refused")
