"""A user's customer-service windows as the store keeps them (the edge records them as
each message or menu click arrives; domain/delivery.py has the platform's rules)."""

from __future__ import annotations

from domain.delivery import Route, Window, choose_channel
from storage.base import Store
from storage.keys import KeyBuilder


async def windows_of(store: Store, keys: KeyBuilder, account: str,
                     openid: str) -> list[tuple[Window, int]]:
    """The user's windows (after a message, after an event), each with the
    customer-service messages already sent in it."""
    windows: list[tuple[Window, int]] = []
    for interaction in ("message", "event"):
        window = Window.from_json(await store.get(keys.window(account, openid, interaction)))
        if window is not None:
            sent = await store.get(keys.custom_sent(account, openid, window.opened_at))
            windows.append((window, sent if isinstance(sent, int) else 0))
    return windows


async def reachable(store: Store, keys: KeyBuilder, account: str, openid: str,
                    now: float) -> bool:
    """Whether a customer-service message could reach the user now (a window open with
    quota left), as the delivery worker would decide."""
    windows = await windows_of(store, keys, account, openid)
    return choose_channel(now=now, windows=windows, route=Route(),
                          consented=False).channel == "custom"
