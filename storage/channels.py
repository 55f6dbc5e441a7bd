"""What the outbox needs to know about a user's channels, kept in the store."""

from __future__ import annotations

from storage.base import Store
from storage.keys import KeyBuilder

CONSENT_TTL = 366 * 24 * 3600.0  # a one-time consent has no expiry; keep it a year


class Consents:
    """One-time subscribe-message consents, from the user's answers to WeChat's popup."""

    def __init__(self, store: Store, keys: KeyBuilder) -> None:
        self._store = store
        self._keys = keys

    async def record(self, account: str, openid: str, accepted: list[str],
                     rejected: list[str]) -> None:
        for template_id in accepted:
            await self._store.set(self._keys.consent(account, openid, template_id), 1,
                                  ttl=CONSENT_TTL)
        for template_id in rejected:
            await self._store.delete(self._keys.consent(account, openid, template_id))

    async def has(self, account: str, openid: str, template_id: str) -> bool:
        return bool(await self._store.get(self._keys.consent(account, openid, template_id)))
