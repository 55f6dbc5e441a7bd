"""The delivery worker: takes pushes from the outbox and sends each by the channel the
platform allows at that moment, retrying what can be retried and saying why for the rest.

Several workers may run at once (on PostgreSQL): the outbox hands each the head of a
user's queue only, so a user's pushes go out in order and no push is held by two workers.
Late replies come in bursts (one message's answers): once such a push is settled, the
worker goes on with that user's next push in the same round, and
:meth:`DeliveryWorker.deliver_user` does the same at once for one user (the fast path for
the edge's late replies), each claiming through the same outbox claim.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

from domain.delivery import (
    Channel,
    Decision,
    Route,
    Window,
    backoff,
    choose_channel,
)
from domain.sending import FieldError, Messenger, Purpose, SendError
from storage.base import Store
from storage.keys import KeyBuilder
from storage.outbox import REPLY, Claimed, Outbox
from storage.windows import windows_of

log = logging.getLogger(__name__)

# errcodes worth another try later, with backoff: busy, network, token, daily/minute quota
TRANSIENT = frozenset({-1, -2, -3, 40001, 42001, 45009, 45011})
PENDING_RECHECK = 5.0  # seconds between looks at a push waiting for the user to write
FOLLOW_ON = 20  # a user's pushes sent one after another at once, at most

# what became of a claimed push: out of its user's way (sent, failed, dead, uncertain), or
# still at the head (back in the queue for later, pending, or the claim was lost)
Settled = bool
# _send: a door the platform turned out to have closed (try the next), or how it ended
Outcome = Channel | Literal["settled", "waits"]


class DeliveryWorker:
    def __init__(
        self,
        outbox: Outbox,
        store: Store,
        keys: KeyBuilder,
        clients: Mapping[str, Messenger],
        purposes: Mapping[str, Purpose],
        *,
        name: str,
        max_attempts: int = 8,
        lease: float = 60.0,
        batch: int = 50,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        retry_base: float = 2.0,
        pending_recheck: float = PENDING_RECHECK,
    ) -> None:
        self._outbox = outbox
        self._store = store
        self._keys = keys
        self._clients = clients
        self._purposes = purposes
        self.name = name
        self._max_attempts = max_attempts
        self._lease = lease
        self._batch = batch
        self._clock = clock
        self._rng = rng or random.Random()
        self._retry_base = retry_base
        self._pending_recheck = pending_recheck

    async def run_once(self) -> int:
        """Claim due pushes and deliver them concurrently (one per user; after a settled
        late reply, that user's next ones); how many heads were taken."""
        claimed = await self._outbox.claim(self.name, limit=self._batch, lease=self._lease)
        if claimed:
            await asyncio.gather(*(self._deliver_in_turn(push) for push in claimed))
        return len(claimed)

    async def deliver_user(self, account: str, openid: str) -> int:
        """Deliver one user's queue now, head first, while each push settles; how many.

        For a user who has just written (the edge's late replies): a push of theirs that
        waits for them (``pending``) is looked at at once. A head in backoff is left to
        its time, and everything behind it waits with it.
        """
        return await self._follow_on(account, openid, wake_pending=True, limit=FOLLOW_ON,
                                     after_replies_only=False)

    async def _deliver_in_turn(self, push: Claimed) -> None:
        """Deliver ``push``; if it was a late reply and is settled, the same user's next
        ones while each settles and was a late reply, so one message's answers do not go
        out one a round. (Other pushes wait for the next round: a claim per push costs a
        full outbox's drain rate, ``bench/outbox.py``.)"""
        if await self._deliver_safely(push) and push.purpose == REPLY:
            await self._follow_on(push.account, push.openid, wake_pending=False,
                                  limit=FOLLOW_ON - 1, after_replies_only=True)

    async def _follow_on(self, account: str, openid: str, *, wake_pending: bool,
                         limit: int, after_replies_only: bool) -> int:
        """Claim and deliver the user's head, again while it settles (and, with
        ``after_replies_only``, was a late reply)."""
        done = 0
        for _ in range(limit):
            claimed = await self._outbox.claim(self.name, limit=1, lease=self._lease,
                                               user=(account, openid),
                                               wake_pending=wake_pending)
            if not claimed:
                break
            done += 1
            if not await self._deliver_safely(claimed[0]):
                break
            if after_replies_only and claimed[0].purpose != REPLY:
                break
        return done

    async def drain(self, *, rounds: int = 1000) -> None:
        """Run until nothing is due (tests and ``lianxin outbox`` tools)."""
        for _ in range(rounds):
            if not await self.run_once():
                return

    async def _deliver_safely(self, push: Claimed) -> Settled:
        try:
            return await self._deliver(push)
        except _Recorded:
            log.exception("push %s: sent, but recording it failed; the lease will tell",
                          push.id)
        except Exception as exc:  # a bug or the database before any send
            log.exception("push %s: delivery failed unexpectedly", push.id)
            with contextlib.suppress(Exception):
                await self._retry(push, f"internal error: {type(exc).__name__}")
        return False

    async def _deliver(self, push: Claimed) -> Settled:
        client = self._clients.get(push.account)
        purpose = self._purposes.get(push.purpose)
        if client is None or purpose is None:
            what = "account" if client is None else "purpose"
            return await self._outbox.give_up(push.id, self.name, "failed", f"unknown {what}")
        route = Route(purpose.template_id, purpose.subscribe_template_id)
        if push.channel_before == "template" and purpose.template_id:
            # the last template try may have arrived (a worker stopped, or the call timed
            # out): send it again by template, which the platform dedupes by client_msg_id,
            # never by another door that would make a second copy
            outcome = await self._send(push, purpose, Decision(
                "template", "template sent again with the same client_msg_id after an "
                "unknown outcome"), client)
            return outcome == "settled"
        if push.status_before == "sending" and push.channel_before is not None:
            # the last worker stopped mid-send on a door without an idempotency key
            return await self._outbox.give_up(
                push.id, self.name, "uncertain",
                f"a worker stopped while sending by {push.channel_before}, which has no "
                "idempotency key: it may or may not have arrived; requeue to send again")
        excluded: set[Channel] = set()
        while True:
            decision = await self._decide(push, route, frozenset(excluded))
            if decision.channel is None:
                await self._outbox.retry_later(push.id, self.name, decision.reason,
                                               self._pending_recheck, status="pending")
                return False
            outcome = await self._send(push, purpose, decision, client)
            if outcome == "settled":
                return True
            if outcome == "waits":
                return False
            excluded.add(outcome)  # that door turned out closed: try the next one

    async def _decide(self, push: Claimed, route: Route,
                      exclude: frozenset[Channel]) -> Decision:
        windows = ([] if "custom" in exclude
                   else await windows_of(self._store, self._keys, push.account, push.openid))
        consented = bool(route.subscribe_template_id) and bool(await self._store.get(
            self._keys.consent(push.account, push.openid, route.subscribe_template_id or "")))
        decision = choose_channel(now=self._clock(), windows=windows, route=route,
                                  consented=consented, exclude=exclude)
        if decision.channel == "custom" and decision.window is not None:
            window = decision.window
            used = await self._store.incr(
                self._keys.custom_sent(push.account, push.openid, window.opened_at),
                ttl=window.limits()[0] + 60)
            if used > window.quota:  # another worker took the last slot meanwhile
                return await self._decide(push, route, exclude | {"custom"})
        return decision

    async def _send(self, push: Claimed, purpose: Purpose, decision: Decision,
                    client: Messenger) -> Outcome:
        """Send by ``decision.channel``; the channel to exclude if that door was closed,
        else whether the push is settled or still waits at its user's head."""
        channel = decision.channel
        assert channel is not None
        # the lease restarts for each call, so deciding, re-routing and token waits before
        # it never eat into the time the call itself may take
        if not await self._outbox.about_to_send(push.id, self.name, channel, self._lease):
            log.warning("push %s: lost its claim before sending", push.id)
            return "waits"
        msgid: int | None = None
        try:
            if channel == "custom":
                if push.message is None:
                    await client.send_text(push.openid, push.text)
                else:  # an image or news card (a late reply)
                    await client.send(push.openid, push.outbound)
            elif channel == "template":
                assert purpose.template_id is not None
                msgid = await client.send_template(
                    push.openid, purpose.template_id, _data(purpose, push.fields),
                    client_msg_id=push.idempotency_key)
            else:
                assert purpose.subscribe_template_id is not None
                await client.send_subscribe(push.openid, purpose.subscribe_template_id,
                                            _data(purpose, push.fields))
                # one-time consent: used up by this send
                await self._store.delete(self._keys.consent(
                    push.account, push.openid, purpose.subscribe_template_id))
        except FieldError as exc:
            await self._outbox.give_up(push.id, self.name, "failed", f"{channel}: {exc}")
            return "settled"
        except SendError as exc:
            return await self._on_error(push, channel, decision, exc)
        try:
            recorded = await self._outbox.sent(push.id, self.name, channel, decision.reason,
                                               msgid)
        except Exception as exc:
            # the message is out; only the record failed. Never send it again from here:
            # when the lease lapses a successor finds it mid-send (template: resent and
            # deduped; otherwise uncertain, for an operator)
            raise _Recorded(push.id) from exc
        if msgid is not None:
            await self._early_report(push.account, msgid)
        return "settled" if recorded else "waits"

    async def _early_report(self, account: str, msgid: int) -> None:
        """A delivery report that arrived before the send was recorded (kept by the edge)."""
        key = self._keys.early_report(account, str(msgid))
        status = await self._store.get(key)
        if isinstance(status, str):
            await self._outbox.template_finished(account, msgid, status)
            await self._store.delete(key)

    async def _on_error(self, push: Claimed, channel: Channel, decision: Decision,
                        exc: SendError) -> Outcome:
        code = exc.errcode
        unknown = exc.may_have_arrived
        if unknown and channel == "template":
            return await self._retry(push, f"template: {exc.errmsg}; will resend with the "
                                     "same client_msg_id", resend="template")
        if unknown:  # no idempotency key: sending again could make a second copy
            await self._outbox.give_up(
                push.id, self.name, "uncertain",
                f"{channel}: errcode {code}: {exc.errmsg}: the outcome is unknown, the "
                "message may or may not have arrived; requeue to send again")
            return "settled"
        if channel == "custom" and code == 45015 and decision.window is not None:
            # the platform says the window is closed: believe it, then try another door
            await self._forget_window(push, decision.window)
            return "custom"
        if channel == "custom" and code == 45047 and decision.window is not None:
            key = self._keys.custom_sent(push.account, push.openid, decision.window.opened_at)
            await self._store.set(key, decision.window.quota, ttl=decision.window.limits()[0])
            return "custom"
        if channel == "subscribe" and code == 43101:  # consent used up or withdrawn
            route_id = self._purposes[push.purpose].subscribe_template_id or ""
            await self._store.delete(self._keys.consent(push.account, push.openid, route_id))
            return "subscribe"
        if channel == "template" and code in (43101, 48002):  # the user refuses templates
            return "template"
        if code in TRANSIENT or code not in _PERMANENT:
            if channel == "custom" and decision.window is not None:
                # the platform refused it, so the quota slot was not used: give it back
                await self._store.incr(self._keys.custom_sent(
                    push.account, push.openid, decision.window.opened_at),
                    ttl=decision.window.limits()[0], by=-1)
            return await self._retry(push, f"{channel}: errcode {code}: {exc.errmsg}")
        await self._outbox.give_up(push.id, self.name, "failed",
                                   f"{channel}: errcode {code}: {exc.errmsg}")
        return "settled"

    async def _forget_window(self, push: Claimed, window: Window) -> None:
        """Delete the window we used, unless the user has opened a new one meanwhile."""
        key = self._keys.window(push.account, push.openid, window.interaction)
        current = Window.from_json(await self._store.get(key))
        if current is not None and current.opened_at == window.opened_at:
            await self._store.delete(key)

    async def _retry(self, push: Claimed, reason: str,
                     resend: Channel | None = None) -> Outcome:
        """Back to the queue after a backoff, or ``dead`` once out of tries."""
        tries = push.attempts + 1  # this claim's send counts
        if tries >= self._max_attempts:
            await self._outbox.give_up(push.id, self.name, "dead",
                                       f"gave up after {tries} tries: {reason}")
            return "settled"
        delay = backoff(tries, base=self._retry_base, rng=self._rng)
        await self._outbox.retry_later(push.id, self.name, reason, delay, resend=resend)
        return "waits"


# refused for good: invalid user, not following, bad template or arguments, unauthorized,
# text too long
_PERMANENT = frozenset({40003, 40037, 40036, 43004, 47003, 48001, 45008, 40007, 43116,
                        45002})


class _Recorded(Exception):
    """The message was sent but recording that failed: do not send it again."""


def _data(purpose: Purpose, fields: Mapping[str, Any]) -> dict[str, str]:
    data: dict[str, str] = {}
    for key, field in purpose.fields.items():
        value = fields.get(field)
        if value is None or value == "":
            raise FieldError(key, f"the push has no {field!r}")
        data[key] = str(value)
    return data
