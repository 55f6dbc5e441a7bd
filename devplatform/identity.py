"""Names WeChat gives things: OpenIDs, original ids, message ids, nonces, media ids."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time

_MEDIA_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def openid_for(app_id: str, name: str) -> str:
    """A stable 28-character OpenID for user ``name`` of account ``app_id``.

    Like WeChat's, it differs per account for the same person and uses the URL-safe
    base64 alphabet: ``o`` + 27 characters.
    """
    digest = hashlib.sha1(f"{app_id}{name}".encode()).digest()
    return "o" + base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")[:27]


def original_id_for(app_id: str) -> str:
    """The account's original id (``gh_`` + 12 hex digits), ToUserName of every message."""
    return "gh_" + hashlib.sha1(app_id.encode()).hexdigest()[:12]


def new_nonce() -> str:
    """A numeric nonce like WeChat's."""
    return str(secrets.randbelow(9 * 10**9) + 10**9)


def new_media_id() -> str:
    """A 64-character media id like those of uploaded images."""
    return "".join(secrets.choice(_MEDIA_ALPHABET) for _ in range(64))


class MsgIds:
    """Unique, increasing 64-bit message ids: milliseconds since the epoch, then a counter.

    The counter starts at a random point so two generators (two processes) rarely meet.
    """

    def __init__(self) -> None:
        self._last = (int(time.time() * 1000) << 20) | secrets.randbits(19)

    def next(self) -> int:
        candidate = int(time.time() * 1000) << 20
        self._last = max(candidate, self._last + 1)
        return self._last
