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
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout

from bot.config import Account, Settings
from bot.log_limits import Summary
from bot.wechat.codec import (
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
from handlers.context import Handler, StateContext
from storage.base import DONE, Admission, LockTimeout, Store, WindowUpdate
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
    message: str  # the channel's dedupe key of the message (a parked message's name)


class _Outcome:
    """Why a request has no reply to give yet (see :meth:`Callback._answer_later`)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


# nothing of the message was kept (a store or the database failed): it must run again
UNPROCESSED = _Outcome("unprocessed")
# another worker holds the message and has neither answered nor promised to
PENDING = _Outcome("pending")
_TAKE_OVER = _Outcome("take over")  # the worker that held the message stopped renewing

Result = list[Outbound] | _Outcome


class _Attempt:
    """Shared by a request and its handler task to settle who sends the reply.

    Both run on one event loop, so the flags change without awaiting: the task *claims*
    the passive reply if the request is not yet *late*; the request marks itself late at
    the deadline only if the task has not claimed. ``passive`` carries the claimed reply
    (or :data:`UNPROCESSED`) to the request once it is settled; ``answered`` tells the
    task the request has it.
    """

    __slots__ = ("answered", "claimed", "expired", "late", "lock_token", "passive", "state",
                 "token")

    def __init__(self, token: str, lock_token: str | None, state: object,
                 late: bool = False) -> None:
        self.token = token  # the message's dedupe lease
        self.lock_token = lock_token
        self.state = state
        self.claimed = False
        self.late = late
        self.expired = False  # the handler ran past its time and was cancelled
        self.passive: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self.answered: asyncio.Future[None] | None = None  # made only for extra messages


class _Lease:
    """Renews a running message's dedupe lease and user lock every third of ``ttl``.

    Nothing is scheduled for a message that finishes within the first third (almost
    all of them). If the store says the message's lease is someone else's (this worker
    stalled longer than the lease and another took the message over), ``lost`` is set.
    """

    __slots__ = ("_attempt", "_keys", "_loop", "_name", "_store", "_task", "_timer", "_ttl",
                 "lost", "warned")

    def __init__(self, store: Store, keys: _Keys, attempt: _Attempt, ttl: float,
                 name: str) -> None:
        self._store = store
        self._keys = keys
        self._attempt = attempt
        self._ttl = ttl
        self._name = name
        self._loop = asyncio.get_running_loop()
        self._task: asyncio.Task[None] | None = None
        self.lost = False
        self.warned = False
        self._timer: asyncio.TimerHandle | None = self._loop.call_later(ttl / 3, self._beat)

    def _beat(self) -> None:
        self._timer = None
        self._task = self._loop.create_task(self._renew())

    async def _renew(self) -> None:
        attempt, keys = self._attempt, self._keys
        leases = [(keys.dedupe, attempt.token)]
        if attempt.lock_token is not None:
            leases.append((keys.lock, attempt.lock_token))
        try:
            async with asyncio.timeout(self._ttl / 3):
                held = await self._store.renew(leases, self._ttl)
        except Exception as exc:  # the store blinked: try again at the next beat
            if not self.warned:
                self.warned = True
                log.warning("[%s] could not renew a message's lease: %s", self._name,
                            type(exc).__name__)
        else:
            if not held[0] and not self.lost:
                self.lost = True
                log.error("[%s] a message's lease lapsed while its handler ran (the store "
                          "or this worker stalled); another worker may run it too",
                          self._name)
        if self._timer is None and self._task is not None:
            self._timer = self._loop.call_later(self._ttl / 3, self._beat)

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None:
            task, self._task = self._task, None
            task.cancel()


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
        # messages whose handler runs in this process: alive whatever their lease says (a
        # busy event loop can renew late), so never taken over here
        self._running: set[str] = set()

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
                             keys.dedupe(name, envelope.dedupe_key), envelope.dedupe_key)
        try:
            result = await self._process(inbound, message_keys, verified, started, turn)
        except Reject as exc:
            turn.release()
            return self._refuse(exc.status, exc.reason)
        except Exception as exc:
            # the store failed before the message was admitted or while it ran: nothing
            # of it was kept; never answer 500, never claim it was received
            if not turn.taken:
                turn.release()
            log.warning("[%s] a %s message was not processed: %s", self.account.name,
                        inbound.kind, _fault(exc))
            result = UNPROCESSED
        if isinstance(result, _Outcome):
            later = await self._answer_later(inbound, result, started)
            if later is None:
                return web.Response(status=503, text="try again")
            result = later
        outbounds = result
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
    ) -> Result:
        settings, name = self._settings, self.account.name
        deadline = started + settings.reply_budget
        admission, turn = await self._admit(inbound, keys, verified, deadline, turn)
        if isinstance(admission, (list, _Outcome)):
            return admission
        assert admission.token is not None
        attempt = _Attempt(admission.token, admission.lock_token, admission.state)
        task = asyncio.get_running_loop().create_task(self._run(inbound, turn, attempt, keys))
        turn.taken = True
        self._keep(task)
        await asyncio.sleep(0)  # a handler that never waits is done after this one turn
        await _first_of((attempt.passive, task), deadline)
        if not attempt.passive.done() and not task.done() and not attempt.claimed:
            attempt.late = True  # the task will push its reply when it is ready
            log.info("[%s] handler over budget; replying later", name)
            if await self._park(inbound, keys):
                return []
            # not parked: if this worker died now, nobody would finish the message, so
            # WeChat must not stop trying (its retry finds the answer pushed, or runs it)
            return PENDING
        await _first_of((attempt.passive, task), None)  # claimed: its commit is in flight
        if attempt.passive.done():
            outbounds = attempt.passive.result()
            if attempt.answered is not None and not attempt.answered.done():
                attempt.answered.set_result(None)
            return outbounds if isinstance(outbounds, _Outcome) else outbounds[:1]
        task.result()  # the task failed before it could answer: raise its error here
        return UNPROCESSED

    async def _admit(
        self, inbound: Inbound, keys: _Keys, verified: Verified, deadline: float, turn: Turn,
    ) -> tuple[Admission | Result, Turn]:
        """Admit the message, or wait for the worker that has it (taking it over if that
        worker died): the admission and the turn it runs in, or the answer found."""
        settings, name = self._settings, self.account.name
        while True:
            # one store round trip: nonce, dedupe and, when nobody is ahead, lock and state;
            # the dedupe mark is a lease, renewed while this worker runs the message
            # (a stalled Redis fails within its socket timeout, well inside the budget)
            try:
                admission = await self._store.admit(
                    nonce_key=self._keys.nonce(name, verified.nonce),
                    body_digest=verified.digest, nonce_ttl=2 * settings.timestamp_window,
                    dedupe_key=keys.dedupe, dedupe_ttl=settings.lease,
                    lock_key=keys.lock if turn.is_free else None, lock_ttl=settings.lease,
                    state_key=keys.state, window=self._window_update(inbound),
                )
            except BaseException:
                turn.release()  # also a place taken for a take-over: nothing runs in it
                raise
            if admission.verdict == "replay":
                raise Reject(403, "nonce replayed with a different body")
            if admission.verdict == "new":
                return admission, turn
            turn.release()
            found = await self._await_first(keys, deadline)
            if found is not _TAKE_OVER:
                return found, turn
            log.warning("[%s] taking over a %s message whose worker stopped renewing its "
                        "lease", name, inbound.kind)
            turn = self.turns.reserve(keys.lock)

    async def _answer_later(self, inbound: Inbound, outcome: _Outcome,
                            started: float) -> list[Outbound] | None:
        """A message with no answer yet: hold the request past WeChat's 5 s while WeChat
        will try again (``None``: answer nothing it would take as handled); on its last
        try, say what happened."""
        if time.time() - inbound.created_at < self._settings.last_try_age:
            loop = asyncio.get_running_loop()
            await asyncio.sleep(max(0.0, started + self._settings.retry_hold - loop.time()))
            log.info("[%s] a %s message left for WeChat's next try (%s)", self.account.name,
                     inbound.kind, outcome.name)
            return None
        if outcome is PENDING:  # its worker lives and will push the answer
            return []
        return [Outbound.of_text(self._busy_text)]

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

    async def _await_first(self, keys: _Keys, deadline: float) -> Result | _Outcome:
        """A duplicate: wait, within our own budget, for the worker that has the message.

        Its cached passive reply is ours too; its promise to push the answer (the message
        is parked, or done) means ``success``; its lease lapsing (it died) means this try
        takes the message over; still running at our deadline is :data:`PENDING`.
        """
        loop = asyncio.get_running_loop()
        while True:
            async with asyncio.timeout_at(deadline + 0.5):
                reply, mark = await self._store.get_many([keys.reply, keys.dedupe])
            if isinstance(reply, dict) and reply.get("mode") == "passive":
                raw = reply.get("outbounds") or []
                return [Outbound.from_json(o) for o in raw[:1]]
            if mark is None and keys.message not in self._running:
                return _TAKE_OVER
            if isinstance(reply, dict) or mark == DONE:
                return []
            if loop.time() >= deadline:
                return PENDING
            await asyncio.sleep(_WAIT_STEP)

    async def _run(self, inbound: Inbound, turn: Turn, attempt: _Attempt, keys: _Keys) -> None:
        """Run the handler under the user's lock; state is read only after taking it.

        Its replies are out (passive, or pushed) before the user's next message starts.
        If the handler fails, nothing is kept: the state stays as it was and the message's
        lease is given back, so WeChat's next try (or, for a parked message, another
        worker) runs it again.
        """
        settings, name = self._settings, self.account.name
        lease = _Lease(self._store, keys, attempt, settings.lease, name)
        committed = False
        self._running.add(keys.message)
        try:
            if attempt.lock_token is None:  # someone was ahead: wait for our turn, the lock
                if not await turn.wait(settings.lock_ttl):
                    log.warning("[%s] previous message still running after %ss; going on",
                                name, settings.lock_ttl)
                await self._lock_and_read(keys, attempt)
            handled = await self._handle(inbound, StateContext(attempt.state), attempt)
            if handled is None:
                await self._failed(inbound, attempt, keys)
                return
            outbounds, new_state = handled
            # a late message's reply key held it parked: it now says the answer is pushed
            reply: dict[str, object] = {"mode": "pushed"}
            if not attempt.late:  # the request is still waiting: this is its passive reply
                attempt.claimed = True
                reply = {"mode": "passive", "outbounds": [o.to_json() for o in outbounds]}
            ours = await self._commit(keys, attempt, new_state, reply)
            committed = True
            lease.cancel()
            if not ours:  # another worker took the message over: it answers
                if not attempt.late:
                    attempt.passive.set_result(PENDING)
                return
            if not attempt.claimed:
                await self._push(inbound.user, outbounds)
                await self._unpark(keys)
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
            lease.cancel()
            self._running.discard(keys.message)
            if not committed:  # give the message (and the lock) back for another try
                leases = [(keys.dedupe, attempt.token)]
                if attempt.lock_token is not None:
                    leases.append((keys.lock, attempt.lock_token))
                with suppress(Exception):
                    async with asyncio.timeout(settings.lease):
                        await self._store.release(leases)
            turn.release()

    async def _commit(self, keys: _Keys, attempt: _Attempt, state: StateContext,
                      reply: dict[str, object]) -> bool:
        """Commit the message (fenced by its lease); ``False`` if another worker holds it.

        The state is written only if the handler changed it (deleted if it cleared it);
        an untouched state stays as it was, expiry included.

        A commit whose answer was lost (the store timed out after running it) is read
        back: if the message is done, it was this commit.
        """
        settings = self._settings
        assert attempt.lock_token is not None
        try:
            value = state.get() if state.changed else None
            return await self._store.commit(
                state_key=keys.state, state=value, state_ttl=settings.state_ttl,
                clear_state=state.changed and value is None,
                lock_key=keys.lock, lock_token=attempt.lock_token, reply_key=keys.reply,
                reply=reply, reply_ttl=settings.reply_ttl, dedupe_key=keys.dedupe,
                dedupe_ttl=settings.dedupe_ttl, dedupe_token=attempt.token,
            )
        except Exception:
            with suppress(Exception):
                async with asyncio.timeout(settings.lease):
                    if await self._store.get(keys.dedupe) == DONE:
                        log.warning("[%s] a commit timed out but was applied",
                                    self.account.name)
                        return True
            raise

    async def _failed(self, inbound: Inbound, attempt: _Attempt, keys: _Keys) -> None:
        """The handler failed: nothing of the message was kept (see :meth:`_run`)."""
        if not attempt.late:  # the request answers: WeChat will try again, or it is told
            attempt.claimed = True
            attempt.passive.set_result(UNPROCESSED)
            return
        if attempt.expired:  # a handler that hangs would hang again: say so and stop
            await self._push(inbound.user, [Outbound.of_text(self._busy_text)])
            await self._unpark(keys)
        # else the message stays parked: recover_parked runs it again after a pause

    async def _handle(
        self, inbound: Inbound, state: StateContext, attempt: _Attempt
    ) -> tuple[list[Outbound], StateContext] | None:
        """The handler's replies (texts split to WeChat's size) and the state to save, or
        ``None`` if it failed. The state is the handler's: the edge neither reads nor
        checks what it holds.

        A handler running past ``lock_ttl`` is cancelled by one timer and counts as failed.
        """
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None

        def expire() -> None:
            attempt.expired = True
            task.cancel()

        timer = loop.call_later(self._settings.lock_ttl, expire)
        try:
            outbounds = await self._handler(inbound, state)
        except asyncio.CancelledError:
            if not attempt.expired:
                raise
            task.uncancel()
            log.error("[%s] handler ran past %ss on a %s message", self.account.name,
                      self._settings.lock_ttl, inbound.kind)
            return None
        except Exception as exc:
            log.error("[%s] handler failed on a %s message: %s", self.account.name,
                      inbound.kind, _fault(exc), exc_info=not _is_store_fault(exc))
            return None
        finally:
            timer.cancel()
        fitted: list[Outbound] = []
        for outbound in outbounds:
            if outbound.kind == "text":
                fitted.extend(Outbound.of_text(piece) for piece in split_text(outbound.text))
            else:
                fitted.append(outbound)
        return fitted, state

    async def _lock_and_read(self, keys: _Keys, attempt: _Attempt) -> None:
        """Take the user's lock (a lease, renewed with the message's) and read the state."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._settings.lock_ttl
        delay = 0.002
        while (token := await self._store.try_lock(keys.lock, self._settings.lease)) is None:
            if loop.time() >= deadline:
                raise LockTimeout(keys.lock)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        attempt.lock_token = token
        attempt.state = await self._store.get(keys.state)

    # -- parked messages: answered ``success``, still to be finished ------------------------

    async def _park(self, inbound: Inbound, keys: _Keys, tries: int = 0) -> bool:
        """Record a message answered ``success`` before its handler finished, so another
        worker finishes it if this one dies (:meth:`recover_parked`); ``False`` if the
        store would not take it."""
        settings = self._settings
        try:
            async with asyncio.timeout(1.0):
                await self._store.set(keys.reply, {"mode": "async", "tries": tries,
                                                   "inbound": _inbound_json(inbound)},
                                      ttl=settings.parked_ttl)
                await self._store.park(self._keys.parked(self.account.name), keys.message,
                                       time.time() + settings.lease * 2 ** tries)
        except Exception as exc:
            log.warning("[%s] could not park a late message: %s", self.account.name,
                        _fault(exc))
            return False
        return True

    async def _unpark(self, keys: _Keys) -> None:
        with suppress(Exception):
            async with asyncio.timeout(1.0):
                await self._store.unpark(self._keys.parked(self.account.name), keys.message)

    async def recover_parked(self) -> int:
        """Finish parked messages whose worker stopped renewing their lease (it died, or
        its handler failed); returns how many were taken. Called every ``lease`` s."""
        settings, name = self._settings, self.account.name
        registry = self._keys.parked(name)
        taken = 0
        for message in await self._store.parked(registry, time.time()):
            keys = self._keys_of(message)
            reply, mark = await self._store.get_many([keys.reply, keys.dedupe])
            if mark == DONE or not isinstance(reply, dict) or reply.get("mode") != "async":
                if reply is None and mark is None:
                    log.error("[%s] a parked message was given up after %ss", name,
                              settings.parked_ttl)
                await self._store.unpark(registry, message)
                continue
            if mark is not None or message in self._running:
                continue  # its worker is alive
            token = self._store.new_token()
            if not await self._store.set_if_absent(keys.dedupe, token, settings.lease):
                continue  # another worker took it first
            inbound = _inbound_from_json(reply.get("inbound"))
            tries = int(reply.get("tries", 0)) + 1
            if inbound is None or tries > _RECOVERY_TRIES:
                log.error("[%s] a parked message failed %d times; the user is told", name,
                          tries - 1)
                if inbound is not None:
                    await self._push(inbound.user, [Outbound.of_text(self._busy_text)])
                await self._store.set(keys.dedupe, DONE, ttl=settings.dedupe_ttl)
                await self._store.unpark(registry, message)
                continue
            log.warning("[%s] finishing a parked %s message (try %d)", name, inbound.kind,
                        tries)
            keys.lock = self._keys.user_lock(name, inbound.user)
            keys.state = self._keys.state(name, inbound.user)
            await self._park(inbound, keys, tries)
            attempt = _Attempt(token, None, None, late=True)
            turn = self.turns.reserve(keys.lock)
            turn.taken = True
            self._keep(asyncio.get_running_loop().create_task(
                self._run(inbound, turn, attempt, keys)))
            taken += 1
        return taken

    def _keys_of(self, message: str) -> _Keys:
        name = self.account.name
        return _Keys("", "", self._keys.reply(name, message), self._keys.dedupe(name, message),
                     message)

    async def recover_forever(self) -> None:
        """The recovery loop every worker runs (cancelled at shutdown)."""
        failures = 0
        while True:
            await asyncio.sleep(self._settings.lease)
            try:
                await self.recover_parked()
                failures = 0
            except Exception as exc:
                failures += 1
                if failures == 1:
                    log.warning("[%s] could not look for parked messages: %s",
                                self.account.name, _fault(exc))

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


_RECOVERY_TRIES = 3  # runs of a parked message after its first, then the user is told


def _inbound_json(inbound: Inbound) -> dict[str, object]:
    return {"account": inbound.account, "user": inbound.user, "kind": inbound.kind,
            "payload": dict(inbound.payload), "created_at": inbound.created_at,
            "message_id": inbound.message_id}


def _inbound_from_json(raw: object) -> Inbound | None:
    if not isinstance(raw, dict):
        return None
    try:
        return Inbound(account=str(raw["account"]), user=str(raw["user"]), kind=raw["kind"],
                       payload=dict(raw.get("payload") or {}),
                       created_at=int(raw.get("created_at", 0)),
                       message_id=str(raw.get("message_id", "")))
    except (KeyError, TypeError, ValueError):
        return None


def _is_store_fault(exc: BaseException) -> bool:
    """A store, database or network fault (retrying may work), not a bug in our code."""
    return isinstance(exc, (OSError, TimeoutError, LockTimeout, RedisError, DBAPIError,
                            SQLAlchemyTimeout))


def _fault(exc: BaseException) -> str:
    """A fault for the log: its type and, for store faults, a bounded message (the
    database's hides statement parameters)."""
    if _is_store_fault(exc):
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return type(exc).__name__


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
