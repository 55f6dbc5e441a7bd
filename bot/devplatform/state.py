"""What the dev platform remembers: tokens, followers, messages sent to users, media.

Per-user records (:class:`Follower`) and per-app token records are where the 48-hour
window and the customer-service quotas will hang; nothing here enforces them yet.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.config import Account

TOKEN_RENEW_MARGIN = 300.0  # normal-mode stable_token renews this long before expiry
OLD_TOKEN_GRACE = 300.0  # /cgi-bin/token: the previous token lives this much longer
FORCE_REFRESH_INTERVAL = 30.0  # force_refresh within this of the last one does not refresh


@dataclass(slots=True)
class Token:
    value: str
    app_id: str
    expires_at: float
    stable: bool  # from stable_token (else from the classic /cgi-bin/token)
    revoked: bool = False  # invalidated: answers 40001


@dataclass(slots=True)
class Follower:
    """One user of one account."""

    followed: bool = True
    last_message_at: float | None = None  # the 48-hour window starts here
    messages: int = 0


@dataclass(frozen=True, slots=True)
class MediaFile:
    data: bytes
    content_type: str


@dataclass(slots=True)
class _AppTokens:
    stable: Token | None = None
    classic: Token | None = None
    last_force_at: float | None = None
    issued: list[Token] = field(default_factory=list)


class PlatformState:
    """The platform's memory, shared by the API side, the callback side and the chat."""

    def __init__(
        self,
        accounts: list[Account],
        *,
        token_ttl: int = 7200,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if token_ttl < 1:
            raise ValueError("token_ttl must be at least 1 second")
        self.accounts = list(accounts)
        self.token_ttl = token_ttl
        # WeChat renews 5 minutes early on a 2-hour token; keep the same share for short ones
        self.renew_margin = min(TOKEN_RENEW_MARGIN, token_ttl / 24)
        self.token_calls = 0  # every request to stable_token or token, answered or refused
        self.tokens_issued = 0
        self.sent: dict[str, list[dict[str, Any]]] = {}  # openid → custom/send bodies
        self.users: dict[tuple[str, str], Follower] = {}  # (app_id, openid) → record
        self.media: dict[str, MediaFile] = {}
        self._clock = clock
        self._apps: dict[str, _AppTokens] = {a.app_id: _AppTokens() for a in accounts}
        self._tokens: dict[str, Token] = {}
        self._sent_changed = asyncio.Event()

    # -- accounts ----------------------------------------------------------------------------

    def account(self, app_id: str) -> Account | None:
        return next((a for a in self.accounts if a.app_id == app_id), None)

    # -- tokens ------------------------------------------------------------------------------

    def _issue(self, app_id: str, *, stable: bool) -> Token:
        token = Token(
            value=secrets.token_urlsafe(102),
            app_id=app_id,
            expires_at=self._clock() + self.token_ttl,
            stable=stable,
        )
        self._tokens[token.value] = token
        self._apps[app_id].issued.append(token)
        self.tokens_issued += 1
        return token

    def _usable(self, token: Token | None) -> bool:
        return token is not None and not token.revoked and token.expires_at > self._clock()

    def stable_token(self, app_id: str, *, force_refresh: bool) -> Token:
        """``stable_token``: the current token while it is valid (normal mode).

        Normal mode renews in the last ``renew_margin`` seconds and the old token stays valid
        until it expires. Force-refresh revokes the current token and issues a new one,
        except within 30 s of the previous forced refresh while the current token is valid
        (WeChat then does not refresh).
        """
        app = self._apps[app_id]
        now = self._clock()
        current = app.stable
        if force_refresh:
            recent = (app.last_force_at is not None
                      and now - app.last_force_at < FORCE_REFRESH_INTERVAL)
            if recent and self._usable(current):
                assert current is not None
                return current
            if current is not None:
                current.revoked = True
            app.last_force_at = now
        elif self._usable(current) and current is not None and (
            current.expires_at - now > self.renew_margin
        ):
            return current
        app.stable = self._issue(app_id, stable=True)
        return app.stable

    def classic_token(self, app_id: str) -> Token:
        """``/cgi-bin/token``: always a new token; the previous one lives 5 more minutes."""
        app = self._apps[app_id]
        previous = app.classic
        if previous is not None:
            previous.expires_at = min(previous.expires_at, self._clock() + OLD_TOKEN_GRACE)
        app.classic = self._issue(app_id, stable=False)
        return app.classic

    def expires_in(self, token: Token) -> int:
        return max(0, int(token.expires_at - self._clock()))

    def check_token(self, value: str) -> tuple[int, Token | None]:
        """``(0, token)`` if usable, else the errcode: 40001 unknown/revoked, 42001 expired."""
        token = self._tokens.get(value)
        if token is None or token.revoked:
            return 40001, None
        if token.expires_at <= self._clock():
            return 42001, None
        return 0, token

    def expire_tokens(self, app_id: str) -> None:
        """Test hook: every token of the app has expired (calls answer 42001)."""
        past = self._clock() - 1
        for token in self._apps[app_id].issued:
            token.expires_at = min(token.expires_at, past)

    def invalidate_tokens(self, app_id: str) -> None:
        """Test hook: every token of the app is invalid (calls answer 40001)."""
        for token in self._apps[app_id].issued:
            token.revoked = True

    # -- users -------------------------------------------------------------------------------

    def follow(self, app_id: str, openid: str) -> None:
        """Make ``openid`` a follower of the account (known to custom/send)."""
        self.users.setdefault((app_id, openid), Follower()).followed = True

    def unfollow(self, app_id: str, openid: str) -> None:
        self.users.setdefault((app_id, openid), Follower()).followed = False

    def saw_message(self, app_id: str, openid: str) -> None:
        """The user wrote to the account (only followers can)."""
        user = self.users.setdefault((app_id, openid), Follower())
        user.followed = True
        user.last_message_at = self._clock()
        user.messages += 1

    def user(self, app_id: str, openid: str) -> Follower | None:
        return self.users.get((app_id, openid))

    # -- messages sent to users --------------------------------------------------------------

    def record_sent(self, openid: str, body: dict[str, Any]) -> None:
        self.sent.setdefault(openid, []).append(body)
        changed, self._sent_changed = self._sent_changed, asyncio.Event()
        changed.set()

    async def wait_sent(self, openid: str, after: int, wait: float) -> list[dict[str, Any]]:
        """The messages sent to ``openid`` after the first ``after``; waits up to ``wait`` s."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while len(self.sent.get(openid, ())) <= after:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._sent_changed.wait(), remaining)
            except TimeoutError:
                break
        return self.sent.get(openid, [])[after:]

    # -- media -------------------------------------------------------------------------------

    def add_media(self, media_id: str, data: bytes, content_type: str) -> None:
        self.media[media_id] = MediaFile(data, content_type)
