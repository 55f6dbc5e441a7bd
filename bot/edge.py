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
from storage.base import LockTimeout, Store
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

    @property
    def is_free(self) -> bool:
        """No earlier message of this user is still running in this process."""
        return self._previous is None or self._previous.done()

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
            outbounds = await self._process(inbound, envelope, verified, started, turn)
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
        try:
            body = await request.read()  # the app's client_max_size caps it
        except web.HTTPRequestEntityTooLarge:
            raise Reject(413, f"body over {limit} bytes") from None
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

    # -- processing ------------------------------------------------------------------------

    async def _process(
        self, inbound: Inbound, envelope: Envelope, verified: Verified, started: float,
        turn: Turn,
    ) -> list[Outbound]:
        loop = asyncio.get_running_loop()
        deadline = started + self._settings.reply_budget
        keys, name = self._keys, self.account.name
        lock_key = keys.user_lock(name, inbound.user)
        state_key = keys.state(name, inbound.user)
        reply_key = keys.reply(name, envelope.dedupe_key)
        # one store round trip: nonce, dedupe and, when nobody is ahead, lock and state
        admission = await self._store.admit(
            nonce_key=keys.nonce(name, verified.nonce), body_digest=verified.digest,
            nonce_ttl=2 * self._settings.timestamp_window,
            dedupe_key=keys.dedupe(name, envelope.dedupe_key),
            dedupe_ttl=self._settings.dedupe_ttl,
            lock_key=lock_key if turn.is_free else None, lock_ttl=self._settings.lock_ttl,
            state_key=state_key,
        )
        if admission.verdict == "replay":
            raise Reject(403, "nonce replayed with a different body")
        if admission.verdict == "duplicate":
            turn.release()
            return await self._await_first(reply_key, deadline)

        attempt = _Attempt(reply_key, admission.lock_token, admission.state)
        task = loop.create_task(self._run(inbound, turn, attempt))
        if not await _finished_by(task, deadline) and not attempt.claimed:
            attempt.late = True
            log.info("[%s] handler over budget; replying later", name)
            await self._store.set(reply_key, {"mode": "async"}, ttl=self._settings.reply_ttl)
            self._spawn(self._push_when_done(inbound.user, task))
            return []
        outbounds = await task  # done, or claimed its passive reply and is committing
        if len(outbounds) > 1:  # a passive reply carries one message; push the rest
            self._spawn(self._push(inbound.user, outbounds[1:]))
        return outbounds[:1]

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

    async def _run(self, inbound: Inbound, turn: Turn, attempt: _Attempt) -> list[Outbound]:
        """Run the handler under the user's lock; state is read only after taking it."""
        settings, keys, name = self._settings, self._keys, self.account.name
        lock_key = keys.user_lock(name, inbound.user)
        state_key = keys.state(name, inbound.user)
        token, state = attempt.lock_token, attempt.state
        try:
            if token is None:  # someone was ahead: wait for our turn, then the lock
                await turn.wait()
                token, state = await self._lock_and_read(lock_key, state_key)
            conversation = Conversation.from_json(state)
            new_state: dict[str, object] | None
            try:
                outbounds = await self._handler(inbound, conversation)
                new_state = conversation.to_json()
            except Exception:
                log.exception("[%s] handler failed on a %s message", name, inbound.kind)
                outbounds, new_state = [Outbound.of_text(self._busy_text)], None
            reply: dict[str, object] | None = None
            if not attempt.late:  # the request is still waiting: this is its passive reply
                attempt.claimed = True
                reply = {"mode": "passive", "outbounds": [o.to_json() for o in outbounds]}
            await self._store.commit(
                state_key=state_key, state=new_state, state_ttl=settings.state_ttl,
                lock_key=lock_key, lock_token=token, reply_key=attempt.reply_key,
                reply=reply, reply_ttl=settings.reply_ttl,
            )
            token = None
            return outbounds
        finally:
            if token is not None:  # the commit did not happen: free the lock anyway
                await self._store.unlock(lock_key, token)
            turn.release()

    async def _lock_and_read(self, lock_key: str, state_key: str) -> tuple[str, object]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.lock_ttl
        delay = 0.002
        while (token := await self._store.try_lock(lock_key, self._settings.lock_ttl)) is None:
            if loop.time() >= deadline:
                raise LockTimeout(lock_key)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        return token, await self._store.get(state_key)

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


class _Attempt:
    """Shared by a request and its handler task to settle who sends the reply.

    Both run on one event loop, so the flags change without awaiting: the task *claims*
    the passive reply if the request is not yet *late*; the request marks itself late at
    the deadline only if the task has not claimed.
    """

    __slots__ = ("claimed", "late", "lock_token", "reply_key", "state")

    def __init__(self, reply_key: str, lock_token: str | None, state: object) -> None:
        self.reply_key = reply_key
        self.lock_token = lock_token
        self.state = state
        self.claimed = False
        self.late = False


async def _finished_by(task: asyncio.Task[list[Outbound]], deadline: float) -> bool:
    """Wait until ``task`` is done or the loop time reaches ``deadline``; never cancels."""
    if task.done():
        return True
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    task.add_done_callback(wake)
    timer = loop.call_at(deadline, wake)
    try:
        await waiter
    finally:
        timer.cancel()
        task.remove_done_callback(wake)
    return task.done()


def _public(status: int) -> str:
    return {
        400: "bad request",
        403: "forbidden",
        413: "request body too large",
    }.get(status, "refused")
