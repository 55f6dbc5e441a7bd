"""The WeChat callback: verify, decrypt, parse, dedupe, order per user, reply within budget.

One :class:`Callback` serves one account. A POST goes through, in order:

1. body size cap (413), query parameters (400: each known one at most once, in WeChat's
   format), timestamp window and ``signature`` (403);
2. mode: an account with an EncodingAESKey takes only ``encrypt_type=aes`` callbacks
   unless it is in compatible mode (403); ``msg_signature`` (403) and decryption (400);
3. nonce replay within the window: the same nonce with a different body is refused (403);
4. parse to an :class:`~domain.messages.Inbound` (400 on any fault; a number out of its
   range makes the message ignored: ``success``, one log line);
5. dedupe by MsgId or event key: a retry never runs the handler again; it gets the cached
   reply, or ``success`` when the first try answered asynchronously;
6. the handler runs under the user's lock (FIFO in process, store lock across processes),
   reading state only after taking it; if it has not answered within the budget the edge
   answers ``success`` and the reply goes out as customer-service messages when ready,
   before the user's next message is handled.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import HttpProcessingError

from bot.config import Account, Settings
from bot.log_limits import Summary
from bot.wechat_codec import (
    BadMessage,
    Crypto,
    OutOfRange,
    encrypted_field,
    render_reply,
    signature_ok,
    to_inbound,
)
from domain.delivery import WINDOW_SECONDS, window_opened_by
from domain.messages import Inbound, Outbound, split_text
from flows.context import Conversation
from handlers.router import Handler
from storage.base import LockTimeout, Store, WindowUpdate
from storage.keys import KeyBuilder

log = logging.getLogger(__name__)

SUCCESS = "success"
_WAIT_STEP = 0.02
# WeChat's query, every value untrusted: each known name at most once and in its format
_MAX_QUERY = 1024  # characters of the raw query; WeChat's is about 250
_FORMATS = {
    "signature": re.compile(r"[0-9a-fA-F]{40}"),
    "msg_signature": re.compile(r"[0-9a-fA-F]{40}"),
    "timestamp": re.compile(r"[0-9]{1,12}"),
    "nonce": re.compile(r"[0-9A-Za-z]{1,64}"),  # echoed in the reply: a plain token only
    "encrypt_type": re.compile(r"aes|raw", re.IGNORECASE),
    "echostr": re.compile(r"[0-9A-Za-z+/=_-]{1,256}"),  # echoed to the caller
}
# A first try's dedupe mark lives this long past its budget unless the try answers; then
# a retry may take over from a worker that died mid-message.
_LEASE_GRACE = 2.0
# How long a passive reply's extra messages wait for the request to take the first one.
_ANSWER_WAIT = 5.0


class Reject(Exception):
    """Refuse the request with ``status``; ``reason`` goes to the log (never user text)."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


Sender = Callable[[str, list[Outbound]], Awaitable[None]]


@dataclass(slots=True)  # not frozen: built for every message, frozen init costs 4x
class Verified:
    xml: str
    encrypted: bool
    nonce: str
    timestamp: str
    digest: str


class Turn:
    """One message's place in its user's queue.

    A place is done only when its own message has finished *and* every place before it
    is done, so a duplicate or refused message that releases at once never lets a later
    message overtake an earlier one that is still running.
    """

    __slots__ = ("_key", "_mine", "_owner", "_previous", "_released", "taken")

    def __init__(self, owner: Turns, key: str, previous: asyncio.Future[None] | None,
                 mine: asyncio.Future[None]) -> None:
        self._owner = owner
        self._key = key
        self._previous = previous
        self._mine = mine
        self._released = False
        self.taken = False  # a handler task owns this place and will release it

    @property
    def is_free(self) -> bool:
        """No earlier message of this user is still running in this process."""
        return self._previous is None or self._previous.done()

    async def wait(self, limit: float) -> bool:
        """Wait for every earlier message, at most ``limit`` s; ``False`` if it ran out."""
        if self._previous is None or self._previous.done():
            return True
        try:
            async with asyncio.timeout(limit):
                await asyncio.shield(self._previous)
        except TimeoutError:
            return False
        return True

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        previous = self._previous
        if previous is None or previous.done():
            self._finish()
        else:
            previous.add_done_callback(lambda _: self._finish())

    def _finish(self) -> None:
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


@dataclass(slots=True)
class _Keys:
    """Every store key one message uses, built once."""

    lock: str
    state: str
    reply: str
    dedupe: str


class _Attempt:
    """Shared by a request and its handler task to settle who sends the reply.

    Both run on one event loop, so the flags change without awaiting: the task *claims*
    the passive reply if the request is not yet *late*; the request marks itself late at
    the deadline only if the task has not claimed. ``passive`` carries the claimed reply
    to the request once it is committed; ``answered`` tells the task the request has it.
    """

    __slots__ = ("answered", "claimed", "expired", "late", "lock_token", "passive", "state")

    def __init__(self, lock_token: str | None, state: object) -> None:
        self.lock_token = lock_token
        self.state = state
        self.claimed = False
        self.late = False
        self.expired = False  # the handler ran past its time and was cancelled
        self.passive: asyncio.Future[list[Outbound]] = (
            asyncio.get_running_loop().create_future()
        )
        self.answered: asyncio.Future[None] | None = None  # made only for extra messages


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
        self._refusals = Summary(log)  # refusal lines, identical ones summarised
        self._background: set[asyncio.Task[None]] = set()

    # -- HTTP ------------------------------------------------------------------------------

    async def get(self, request: web.Request) -> web.Response:
        """Server address verification: echo ``echostr`` when the signature holds."""
        try:
            q = _query(request, ("signature", "timestamp", "nonce", "echostr"))
        except Reject as exc:
            return self._refuse(exc.status, f"verification: {exc.reason}")
        if abs(time.time() - int(q["timestamp"])) > self._settings.timestamp_window:
            return self._refuse(403, "verification timestamp outside the window")
        if not signature_ok((self.account.token, q["timestamp"], q["nonce"]), q["signature"]):
            return self._refuse(403, "verification with a bad signature")
        return web.Response(text=q["echostr"])

    async def post(self, request: web.Request) -> web.Response:
        started = asyncio.get_running_loop().time()
        try:
            verified = await self._verify(request)
            inbound, envelope = to_inbound(verified.xml, self.account.name)
        except Reject as exc:
            return self._refuse(exc.status, exc.reason)
        except OutOfRange as exc:  # well-formed but impossible: nothing to do with it
            self._refusals.log(logging.WARNING, (200, str(exc)),
                               "[%s] message ignored: %s", self.account.name, exc)
            return web.Response(text=SUCCESS)
        except ValueError as exc:  # BadMessage, and any other parse fault of the body
            return self._refuse(400, str(exc) if isinstance(exc, BadMessage) else
                                f"unreadable message ({type(exc).__name__})")
        # take the user's place in line now, before anything awaits
        keys, name = self._keys, self.account.name
        lock_key = keys.user_lock(name, inbound.user)
        turn = self.turns.reserve(lock_key)
        message_keys = _Keys(lock_key, keys.state(name, inbound.user),
                             keys.reply(name, envelope.dedupe_key),
                             keys.dedupe(name, envelope.dedupe_key))
        try:
            outbounds = await self._process(inbound, message_keys, verified, started, turn)
        except Reject as exc:
            turn.release()
            return self._refuse(exc.status, exc.reason)
        except Exception:
            # the store or something below failed: tell the user, never answer 500
            if not turn.taken:
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
        """One WARNING line (identical ones summarised, see :mod:`bot.log_limits`)."""
        self._refusals.log(logging.WARNING, (status, reason),
                           "[%s] request refused (%s): %s", self.account.name, status, reason)
        return web.Response(status=status, text=_public(status))

    # -- verification ----------------------------------------------------------------------

    async def _verify(self, request: web.Request) -> Verified:
        limit = self._settings.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            raise Reject(413, f"body over {limit} bytes (Content-Length)")
        if request.headers.get("Content-Encoding", "identity").lower() != "identity":
            raise Reject(400, "compressed body (WeChat never compresses)")
        q = _query(request, ("signature", "timestamp", "nonce"),
                   ("encrypt_type", "msg_signature"))
        timestamp, nonce = q["timestamp"], q["nonce"]
        if abs(time.time() - int(timestamp)) > self._settings.timestamp_window:
            raise Reject(403, "timestamp outside the window")
        if not signature_ok((self.account.token, timestamp, nonce), q["signature"]):
            raise Reject(403, "bad signature")
        # the plaintext signature covers no body: a replayed query would carry any message
        encrypted = q.get("encrypt_type", "raw").lower() == "aes"
        if not encrypted and self._crypto is not None and not self.account.compatible:
            raise Reject(403, "plaintext callback to a safe-mode account")
        if encrypted and self._crypto is None:
            raise Reject(400, "encrypted message but no AES key configured")
        if encrypted and "msg_signature" not in q:
            raise Reject(400, "encrypted message without msg_signature")
        try:
            body = await request.read()  # the app's client_max_size caps it
        except web.HTTPRequestEntityTooLarge:
            raise Reject(413, f"body over {limit} bytes (streamed)") from None
        except (web.RequestPayloadError, ClientPayloadError, HttpProcessingError):
            raise Reject(400, "unreadable body") from None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Reject(400, "body is not UTF-8") from None
        if encrypted:
            assert self._crypto is not None
            # in compatible mode the body carries the plaintext fields too: only the
            # encrypted part, covered by msg_signature, is read
            secret = encrypted_field(text)
            if not self._crypto.signature_ok(secret, q["msg_signature"], timestamp, nonce):
                raise Reject(403, "bad msg_signature")
            text = self._crypto.decrypt(secret)
        return Verified(text, encrypted, nonce, timestamp, hashlib.sha1(body).hexdigest())

    # -- processing ------------------------------------------------------------------------

    async def _process(
        self, inbound: Inbound, keys: _Keys, verified: Verified, started: float, turn: Turn,
    ) -> list[Outbound]:
        settings, name = self._settings, self.account.name
        deadline = started + settings.reply_budget
        lock_key, state_key, reply_key, dedupe_key = keys.lock, keys.state, keys.reply, keys.dedupe
        # one store round trip: nonce, dedupe and, when nobody is ahead, lock and state;
        # the dedupe mark is a lease until this try answers (then it lives dedupe_ttl)
        # (a stalled Redis fails within its socket timeout, well inside the budget)
        admission = await self._store.admit(
            nonce_key=self._keys.nonce(name, verified.nonce), body_digest=verified.digest,
            nonce_ttl=2 * settings.timestamp_window, dedupe_key=dedupe_key,
            dedupe_ttl=settings.reply_budget + _LEASE_GRACE,
            lock_key=lock_key if turn.is_free else None, lock_ttl=settings.lock_ttl,
            state_key=state_key, window=self._window_update(inbound),
        )
        if admission.verdict == "replay":
            raise Reject(403, "nonce replayed with a different body")
        if admission.verdict == "duplicate":
            turn.release()
            return await self._await_first(reply_key, deadline)

        attempt = _Attempt(admission.lock_token, admission.state)
        task = asyncio.get_running_loop().create_task(self._run(inbound, turn, attempt, keys))
        turn.taken = True
        self._keep(task)
        await asyncio.sleep(0)  # a handler that never waits is done after this one turn
        await _first_of((attempt.passive, task), deadline)
        if not attempt.passive.done() and not task.done() and not attempt.claimed:
            attempt.late = True  # the task will push its reply when it is ready
            log.info("[%s] handler over budget; replying later", name)
            try:
                async with asyncio.timeout(1.0):
                    await self._store.set(dedupe_key, 1, ttl=settings.dedupe_ttl)
                    await self._store.set(reply_key, {"mode": "async"},
                                          ttl=settings.reply_ttl)
            except Exception as exc:  # the push still happens; retries may just wait
                log.error("[%s] could not mark a late reply: %s", name, type(exc).__name__)
            return []
        await _first_of((attempt.passive, task), None)  # claimed: its commit is in flight
        if attempt.passive.done():
            outbounds = attempt.passive.result()
            if attempt.answered is not None and not attempt.answered.done():
                attempt.answered.set_result(None)
            return outbounds[:1]
        task.result()  # the task failed before it could answer: raise its error here
        return []

    def _window_update(self, inbound: Inbound) -> WindowUpdate | None:
        """What this message does to the user's customer-service window (outbox rules)."""
        interaction = window_opened_by(inbound.kind, inbound.event)
        if interaction is not None:
            return WindowUpdate(self._keys.window(self.account.name, inbound.user, interaction),
                                {"at": time.time(), "kind": interaction},
                                WINDOW_SECONDS[interaction])
        if inbound.event == "unsubscribe":
            return WindowUpdate(self._keys.window(self.account.name, inbound.user, "message"),
                                None)
        return None

    async def _await_first(self, reply_key: str, deadline: float) -> list[Outbound]:
        """A duplicate: wait for the first try's answer, within our own budget."""
        loop = asyncio.get_running_loop()
        while True:
            async with asyncio.timeout_at(deadline + 0.5):
                cached = await self._store.get(reply_key)
            if isinstance(cached, dict):
                if cached.get("mode") == "passive":
                    raw = cached.get("outbounds") or []
                    return [Outbound.from_json(o) for o in raw[:1]]
                return []
            if loop.time() >= deadline:
                return []
            await asyncio.sleep(_WAIT_STEP)

    async def _run(self, inbound: Inbound, turn: Turn, attempt: _Attempt, keys: _Keys) -> None:
        """Run the handler under the user's lock; state is read only after taking it.

        Its replies are out (passive, or pushed) before the user's next message starts.
        """
        settings, name = self._settings, self.account.name
        lock_key, state_key, reply_key, dedupe_key = keys.lock, keys.state, keys.reply, keys.dedupe
        token, state = attempt.lock_token, attempt.state
        try:
            if token is None:  # someone was ahead: wait for our turn, then the lock
                if not await turn.wait(settings.lock_ttl):
                    log.warning("[%s] previous message still running after %ss; going on",
                                name, settings.lock_ttl)
                token, state = await self._lock_and_read(lock_key, state_key)
            outbounds, new_state = await self._handle(inbound, Conversation.from_json(state),
                                                      attempt)
            reply: dict[str, object] | None = None
            if not attempt.late:  # the request is still waiting: this is its passive reply
                attempt.claimed = True
                reply = {"mode": "passive", "outbounds": [o.to_json() for o in outbounds]}
            await self._store.commit(
                state_key=state_key, state=new_state, state_ttl=settings.state_ttl,
                lock_key=lock_key, lock_token=token, reply_key=reply_key, reply=reply,
                reply_ttl=settings.reply_ttl, dedupe_key=dedupe_key,
                dedupe_ttl=settings.dedupe_ttl,
            )
            token = None
            if not attempt.claimed:
                await self._push(inbound.user, outbounds)
                return
            if len(outbounds) > 1:
                attempt.answered = asyncio.get_running_loop().create_future()
            attempt.passive.set_result(outbounds)
            if attempt.answered is not None:  # a passive reply carries one; push the rest
                with suppress(TimeoutError):
                    async with asyncio.timeout(_ANSWER_WAIT):
                        await attempt.answered
                await self._push(inbound.user, outbounds[1:])
        finally:
            if token is not None:  # the commit did not happen: free the lock anyway
                with suppress(Exception):
                    await self._store.unlock(lock_key, token)
            turn.release()

    async def _handle(
        self, inbound: Inbound, conversation: Conversation, attempt: _Attempt
    ) -> tuple[list[Outbound], dict[str, object] | None]:
        """The handler's replies (texts split to WeChat's size) and the state to save.

        A handler running past ``lock_ttl`` (when the lock would lapse) is cancelled by
        one timer and answered with the busy text.
        """
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def expire() -> None:
            attempt.expired = True
            task.cancel()

        timer = loop.call_later(self._settings.lock_ttl, expire)
        try:
            outbounds = await self._handler(inbound, conversation)
        except asyncio.CancelledError:
            if not attempt.expired:
                raise
            task.uncancel()
            log.error("[%s] handler ran past %ss on a %s message", self.account.name,
                      self._settings.lock_ttl, inbound.kind)
            return [Outbound.of_text(self._busy_text)], None
        except Exception:
            log.exception("[%s] handler failed on a %s message", self.account.name,
                          inbound.kind)
            return [Outbound.of_text(self._busy_text)], None
        finally:
            timer.cancel()
        fitted: list[Outbound] = []
        for outbound in outbounds:
            if outbound.kind == "text":
                fitted.extend(Outbound.of_text(piece) for piece in split_text(outbound.text))
            else:
                fitted.append(outbound)
        return fitted, conversation.to_json()

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

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        task.add_done_callback(_log_failure)

    async def _push(self, user: str, outbounds: list[Outbound]) -> None:
        if not outbounds:
            return
        try:
            await self._sender(user, outbounds)
        except Exception as exc:
            log.error("[%s] could not push %d message(s): %s", self.account.name,
                      len(outbounds), exc)

    async def drain(self, grace: float = 10.0) -> None:
        """Wait for handlers and their replies to finish (called at shutdown)."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=grace)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("handler task failed: %s", type(task.exception()).__name__)


async def _first_of(futures: tuple[asyncio.Future[Any], ...], deadline: float | None) -> None:
    """Wait until one of ``futures`` is done or the loop reaches ``deadline``; cancels none."""
    if any(f.done() for f in futures):
        return
    loop = asyncio.get_running_loop()
    waiter: asyncio.Future[None] = loop.create_future()

    def wake(_: object = None) -> None:
        if not waiter.done():
            waiter.set_result(None)

    for future in futures:
        future.add_done_callback(wake)
    timer = None if deadline is None else loop.call_at(deadline, wake)
    try:
        await waiter
    finally:
        if timer is not None:
            timer.cancel()
        for future in futures:
            future.remove_done_callback(wake)


def _query(request: web.Request, required: tuple[str, ...],
           optional: tuple[str, ...] = ()) -> dict[str, str]:
    """The callback's query parameters, each checked against WeChat's format.

    :class:`Reject` (400) for a query over :data:`_MAX_QUERY` characters, a known name
    given twice (which value would the signature cover?), a required one missing, or a
    value out of format (non-ASCII, a broken percent-escape, too long). Other names are
    ignored.
    """
    if len(request.query_string) > _MAX_QUERY:
        raise Reject(400, "query string too long")
    query = request.query
    values: dict[str, str] = {}
    for name in (*required, *optional):
        given = query.getall(name, ())
        if len(given) > 1:
            raise Reject(400, f"{name} given more than once")
        if not given:
            if name in required:
                raise Reject(400, f"missing {name}")
            continue
        if not _FORMATS[name].fullmatch(given[0]):
            raise Reject(400, f"malformed {name}")
        values[name] = given[0]
    return values


def _public(status: int) -> str:
    return {
        400: "bad request",
        403: "forbidden",
        413: "request body too large",
    }.get(status, "refused")
