"""Which channel a push may use now, and when to try again: pure rules, no I/O.

WeChat lets an account message a user through three doors, each with its own rule:

- customer-service messages while the user's *window* is open: 48 h after the user's last
  message, at most 5 per message; or 1 minute after a menu click, follow or scan, at most 3;
- a template message, if the push's purpose has a template configured;
- a subscribe (订阅通知) message, if the purpose has one and the user consented to it.

Otherwise the push waits, with the reason, until the user writes again.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Channel = Literal["custom", "template", "subscribe"]
Interaction = Literal["message", "event"]

MESSAGE_WINDOW = 48 * 3600.0
MESSAGE_QUOTA = 5
EVENT_WINDOW = 60.0
EVENT_QUOTA = 3

WINDOW_SECONDS: dict[str, float] = {"message": MESSAGE_WINDOW, "event": EVENT_WINDOW}

# inbound kinds that open a window, by what they open
MESSAGE_KINDS = frozenset({"text", "image", "voice", "video", "location", "link"})
WINDOW_EVENTS = frozenset({"click", "scancode_push", "scancode_waitmsg", "subscribe",
                           "subscribe_scan", "scan"})


@dataclass(frozen=True, slots=True)
class Window:
    """The user's last interaction that opened a customer-service window."""

    opened_at: float
    interaction: Interaction

    def to_json(self) -> dict[str, object]:
        return {"at": self.opened_at, "kind": self.interaction}

    @classmethod
    def from_json(cls, raw: object) -> Window | None:
        if not isinstance(raw, dict):
            return None
        at, kind = raw.get("at"), raw.get("kind")
        if not isinstance(at, (int, float)) or kind not in ("message", "event"):
            return None
        return cls(float(at), kind)

    def limits(self) -> tuple[float, int]:
        if self.interaction == "message":
            return MESSAGE_WINDOW, MESSAGE_QUOTA
        return EVENT_WINDOW, EVENT_QUOTA

    def is_open(self, now: float) -> bool:
        return now - self.opened_at < self.limits()[0]

    @property
    def quota(self) -> int:
        return self.limits()[1]


def window_opened_by(kind: str, event: str) -> Interaction | None:
    """What an inbound message of ``kind`` (with ``event`` for events) opens, if anything."""
    if kind in MESSAGE_KINDS:
        return "message"
    if kind == "event" and event in WINDOW_EVENTS:
        return "event"
    return None


@dataclass(frozen=True, slots=True)
class Route:
    """Where a purpose may go besides customer service (from the delivery config)."""

    template_id: str | None = None
    subscribe_template_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    channel: Channel | None
    reason: str  # why this channel, or why none (shown to operators)
    window: Window | None = None  # the window a customer-service message uses


def choose_channel(
    *, now: float, windows: Sequence[tuple[Window, int]], route: Route, consented: bool,
    exclude: frozenset[Channel] = frozenset(),
) -> Decision:
    """The first door open for this push, in the order WeChat's rules prefer.

    ``windows``: the user's open-or-not windows (after a message, after an event), each
    with the customer-service messages already sent in it.
    """
    if "custom" in exclude:
        why = "customer-service refused by the platform"
    elif not windows:
        why = "no customer-service window: the user has not written"
    else:
        why = "customer-service window closed"
        for window, sent in windows:
            if not window.is_open(now):
                continue
            if sent < window.quota:
                return Decision("custom", "customer-service window open", window)
            why = f"customer-service quota used ({window.quota} per {window.interaction})"
    if route.template_id and "template" not in exclude:
        return Decision("template", f"{why}; template message")
    if route.subscribe_template_id and "subscribe" not in exclude:
        if consented:
            return Decision("subscribe", f"{why}; subscribe message")
        why = f"{why}; no subscribe consent"
    elif not route.template_id:
        why = f"{why}; no template configured for this purpose"
    return Decision(None, why)


def backoff(attempt: int, *, base: float = 2.0, cap: float = 300.0,
            rng: random.Random | None = None) -> float:
    """Seconds before retry number ``attempt`` (1-based): exponential, capped, jittered ±50 %."""
    raw = min(cap, base * (2 ** max(0, attempt - 1)))
    draw = rng.random() if rng is not None else random.random()
    return float(raw * (0.5 + draw))


REASON_LIMIT = 300  # characters of a push's reason kept (``lianxin outbox list`` prints it)
_UNPRINTABLE = frozenset(("Cc", "Cf", "Cs", "Zl", "Zp"))
_BREAK = re.compile(r"\s*\x00[\x00\s]*")


def one_line(text: str) -> str:
    """``text`` without control or format characters (line breaks, a terminal's escape, a
    bidi override): each run of them, with the spaces around it, becomes one space."""
    marked = "".join("\x00" if unicodedata.category(c) in _UNPRINTABLE else c for c in text)
    return _BREAK.sub(" ", marked).strip()


def bounded_reason(reason: str, limit: int = REASON_LIMIT) -> str:
    """A push's reason as operators read it: :func:`one_line`, at most ``limit``
    characters (cut with an ellipsis)."""
    text = one_line(reason[: limit * 4])
    return text if len(text) <= limit else text[: limit - 1] + "…"
