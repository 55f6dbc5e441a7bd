"""A user's conversation state, read after the per-user lock and written back before it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Conversation:
    """JSON-serialisable state of one user's conversation with one account.

    ``flow``/``step`` name where the user is in a flow (``None`` when idle); ``data`` holds
    what the flow has collected; ``expires_at`` (epoch seconds) is the stored timeout, so a
    restart or another worker sees the same deadline. ``messages`` counts messages handled.
    """

    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    expires_at: float | None = None
    messages: int = 0
    cleared: bool = False

    def clear(self) -> None:
        self.flow = None
        self.step = None
        self.data = {}
        self.expires_at = None
        self.cleared = True

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "step": self.step,
            "data": self.data,
            "expires_at": self.expires_at,
            "messages": self.messages,
        }

    @classmethod
    def from_json(cls, raw: Any) -> Conversation:
        if not isinstance(raw, dict):
            return cls()
        data = raw.get("data")
        expires = raw.get("expires_at")
        messages = raw.get("messages")
        return cls(
            flow=raw.get("flow") if isinstance(raw.get("flow"), str) else None,
            step=raw.get("step") if isinstance(raw.get("step"), str) else None,
            data=data if isinstance(data, dict) else {},
            expires_at=float(expires) if isinstance(expires, (int, float)) else None,
            messages=messages if isinstance(messages, int) else 0,
        )
