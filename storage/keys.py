"""Every store key is built here, with one prefix, so Redis can be shared and inspected."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

_PLAIN = re.compile(r"[A-Za-z0-9_.|@-]{1,128}")


@functools.lru_cache(maxsize=65536)
def _part(value: str) -> str:
    """Keep user-controlled parts from forging key structure (':' separates fields)."""
    if _PLAIN.fullmatch(value):
        return value
    return "h" + hashlib.sha1(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class KeyBuilder:
    prefix: str = "lianxin"

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *(_part(p) for p in parts)))

    # the keys every message builds are spelled out (no generator): this is the hot path

    def state(self, account: str, user: str) -> str:
        return f"{self.prefix}:state:{_part(account)}:{_part(user)}"

    def dedupe(self, account: str, message_key: str) -> str:
        return f"{self.prefix}:dedupe:{_part(account)}:{_part(message_key)}"

    def reply(self, account: str, message_key: str) -> str:
        return f"{self.prefix}:reply:{_part(account)}:{_part(message_key)}"

    def parked(self, account: str) -> str:
        """The messages answered ``success`` while their handler still ran (a sorted set
        of their dedupe keys' message parts), for another worker to finish if it dies."""
        return f"{self.prefix}:parked:{_part(account)}"

    def nonce(self, account: str, nonce: str) -> str:
        return f"{self.prefix}:nonce:{_part(account)}:{_part(nonce)}"

    def user_lock(self, account: str, user: str) -> str:
        return f"{self.prefix}:lock:user:{_part(account)}:{_part(user)}"

    def window(self, account: str, user: str, interaction: str) -> str:
        """The user's customer-service window opened by a message or by an event."""
        return f"{self.prefix}:window:{_part(account)}:{_part(user)}:{_part(interaction)}"

    def custom_sent(self, account: str, user: str, opened_at: float) -> str:
        """Customer-service messages sent within one window (a new window, a new count)."""
        return self._key("sent", account, user, f"{opened_at:.3f}")

    def consent(self, account: str, user: str, template_id: str) -> str:
        """A one-time subscribe-message consent for one template."""
        return self._key("consent", account, user, template_id)

    def early_report(self, account: str, msgid: str) -> str:
        """A template delivery report that arrived before its send was recorded."""
        return self._key("report", account, msgid)

    def consult_queue(self, area: str) -> str:
        """A legal area's queue of consultations (a sorted set by the time each was asked);
        ``{consult}`` keeps every area in one Redis Cluster slot, so one script claims
        across a lawyer's areas."""
        return f"{self.prefix}:{{consult}}:queue:{_part(area)}"

    def sign_in_failures(self, kind: str, who: str) -> str:
        """Failed console sign-ins of one login name or one client address (``kind``),
        ``who`` hashed: a counter that runs out after the lockout."""
        digest = hashlib.sha256(who.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return f"{self.prefix}:signin:{_part(kind)}:{digest}"

    def token(self, app_id: str) -> str:
        return self._key("token", app_id)

    def token_lock(self, app_id: str) -> str:
        return self._key("lock", "token", app_id)
