"""A user's conversation state, read after the per-user lock and written back before it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from storage.base import encode

LOST_ON_RESTART = "restart"  # data["dropped"]: the form was lost to a restart


@dataclass(slots=True)
class Conversation:
    """JSON-serialisable state of one user's conversation with one account.

    ``flow``/``step`` name where the user is in a flow (``None`` when idle); ``data`` holds
    what the flow has collected; ``expires_at`` (epoch seconds) is the stored timeout, so a
    restart or another worker sees the same deadline. ``marks`` outlive forms (``clear``
    keeps them): what a router must know of the user between forms, such as a legal
    consultation they have open.
    """

    flow: str | None = None
    step: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    expires_at: float | None = None
    marks: dict[str, Any] = field(default_factory=dict)

    def clear(self) -> None:
        """No form, nothing it collected (the marks stay)."""
        self.flow = None
        self.step = None
        self.data = {}
        self.expires_at = None

    def to_json(self) -> dict[str, Any]:
        shown = {
            "flow": self.flow,
            "step": self.step,
            "data": self.data,
            "expires_at": self.expires_at,
        }
        if self.marks:  # most states have none: their stored shape is unchanged
            shown["marks"] = self.marks
        return shown

    @classmethod
    def from_json(cls, raw: Any) -> Conversation:
        if not isinstance(raw, dict):
            return cls()
        data = raw.get("data")
        expires = raw.get("expires_at")
        marks = raw.get("marks")
        return cls(
            flow=raw.get("flow") if isinstance(raw.get("flow"), str) else None,
            step=raw.get("step") if isinstance(raw.get("step"), str) else None,
            data=data if isinstance(data, dict) else {},
            expires_at=float(expires) if isinstance(expires, (int, float)) else None,
            marks=marks if isinstance(marks, dict) else {},
        )


_IN_FLOW = '{"flow":"'  # how every state inside a flow begins, as the stores encode it


def open_in(stored: str) -> bool:
    """Whether a stored state (``to_json`` as the stores encode it) has a form open. A
    prefix test, not a parse: the in-process store asks on every state write. A state of
    another shape (another router's) is no form of ours."""
    return stored.startswith(_IN_FLOW)


def lost_on_restart(stored: str | None) -> str:
    """The state of a citizen whose form a restart lost (``stored``: the older state that
    was saved, if any; nothing of it is kept): no flow, and the mark that makes the desk
    say so once."""
    return encode(Conversation(data={"dropped": LOST_ON_RESTART}).to_json())
