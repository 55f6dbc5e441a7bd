"""Ticket rules: the number, the statuses, and which status may follow which. No I/O.

A ticket number is ``LX`` and the China date it was filed, a dash and the day's serial in
six digits: ``LX20261123-000001``. :data:`NUMBER` is the one pattern that reads it; what a
citizen types (any case, full-width, other dashes) is narrowed first (:func:`narrow`).

Statuses follow the 12345 lifecycle (受理 → 派单 → 签收 → 办理 → 答复 → 办结 → 评价, with
退单, 延期, 重办, 并单, 撤回 and 不予受理 beside it). Their Chinese names are in the text
catalogue under :attr:`Status.label_key`. :data:`TRANSITIONS` is the table of the moves
allowed today; storage writes no status change it does not allow.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

NUMBER_PREFIX = "LX"
SERIAL_DIGITS = 6
SERIAL_MAX = 10**SERIAL_DIGITS - 1
# not the front of a longer run of digits ("LX20261123-0000012" is no ticket number)
NUMBER = re.compile(rf"{NUMBER_PREFIX}[0-9]{{8}}-[0-9]{{{SERIAL_DIGITS}}}(?![0-9])",
                    re.IGNORECASE)
MAX_ATTACHMENTS = 9  # photos a ticket carries


def format_number(day: date, serial: int) -> str:
    """The number of the ``serial``-th ticket of ``day`` (China's date): ``LX20261123-000001``."""
    if not 1 <= serial <= SERIAL_MAX:
        raise ValueError(f"serial {serial} outside 1..{SERIAL_MAX}")
    return f"{NUMBER_PREFIX}{day:%Y%m%d}-{serial:0{SERIAL_DIGITS}d}"


# full-width digits, letters, hyphen and space, and dashes, as ASCII: what NFKC would do
# to the characters a command or a ticket number is made of, at a fraction of its cost
# (NFKC rewrites every full-width comma of an ordinary message)
_NARROW = {
    **{code: code - 0xFEE0 for code in range(0xFF10, 0xFF1A)},  # ０-９
    **{code: code - 0xFEE0 for code in range(0xFF21, 0xFF3B)},  # Ａ-Ｚ
    **{code: code - 0xFEE0 for code in range(0xFF41, 0xFF5B)},  # ａ-ｚ
    0xFF0D: ord("-"), 0x2014: ord("-"), 0x2013: ord("-"), 0x2212: ord("-"),  # －—–−
    0xFE63: ord("-"),  # small hyphen-minus
    0x3000: ord(" "), 0x00A0: ord(" "),  # ideographic and no-break space
    0xFE56: ord("?"), 0xFE16: ord("?"),  # small and vertical question marks (帮助)
}
_WIDE = re.compile("[" + "".join(chr(code) for code in _NARROW) + "]")


def narrow(text: str) -> str:
    """Full-width letters, digits, dashes and spaces as ASCII (a citizen's keyboard may
    send them)."""
    return text.translate(_NARROW) if _WIDE.search(text) else text


def parse_number(text: str) -> str | None:
    """The ticket number in ``text`` (``lx20261123-000001``, ``ＬＸ２０２６…－…`` too) as
    :func:`format_number` writes it, or ``None``."""
    found = NUMBER.search(narrow(text))
    return found.group(0).upper() if found else None


# a ticket number's last digits ("查询 000001"), which a citizen may use for their own tickets
SHORT_NUMBER = re.compile(rf"[0-9]{{{SERIAL_DIGITS}}}")
_SHORT_AT_END = re.compile(rf"(?<![0-9]){SHORT_NUMBER.pattern}$")


def short_number(text: str) -> str | None:
    """The serial that ends ``text`` (a command naming a ticket by its short number)."""
    found = _SHORT_AT_END.search(narrow(text).strip())
    return found.group(0) if found else None


def ends_with_short(number: str, short: str) -> bool:
    """Whether the full ``number`` is the one ``short`` names."""
    return number.endswith(f"-{short}")


class Status(StrEnum):
    SUBMITTED = "submitted"  # 受理
    DISPATCHED = "dispatched"  # 派单/交办
    ACCEPTED = "accepted"  # 签收
    IN_PROGRESS = "in_progress"  # 办理
    REPLIED = "replied"  # 答复
    CLOSED = "closed"  # 办结
    RATED = "rated"  # 评价
    RETURNED = "returned"  # 退单: the wrong department sent it back, to be sent on again
    EXTENDED = "extended"  # 延期
    REOPENED = "reopened"  # 不满意重办
    MERGED = "merged"  # 并单: joined an earlier ticket
    WITHDRAWN = "withdrawn"  # 撤回 by the citizen
    REJECTED = "rejected"  # 不予受理

    @classmethod
    def _missing_(cls, value: object) -> Status | None:
        """A status this version does not know (a newer version's, a hand-made fix) reads
        as a member outside the table: no move is allowed from it, and its label falls
        back to a neutral one, so a citizen's list never fails on it."""
        if not isinstance(value, str) or not value:
            return None
        member = str.__new__(cls, value)
        member._name_ = value.upper()
        member._value_ = value
        return member

    @property
    def known(self) -> bool:
        return self._name_ in type(self).__members__

    @property
    def label_key(self) -> str:
        """The text catalogue entry with the status's Chinese name (``status_accepted``)."""
        return f"status_{self.value}"


# The moves allowed today; the lifecycle issue extends the table. ``None``: a new ticket.
# A citizen may withdraw (撤回) until a department signs for it (签收): received, sent on,
# or sent back by the wrong department and waiting to be sent on again.
TRANSITIONS: Mapping[Status | None, frozenset[Status]] = {
    None: frozenset({Status.SUBMITTED}),
    Status.SUBMITTED: frozenset({Status.DISPATCHED, Status.WITHDRAWN}),
    Status.DISPATCHED: frozenset({Status.WITHDRAWN}),
    Status.RETURNED: frozenset({Status.WITHDRAWN}),
}
# where 撤回 is still possible
WITHDRAWABLE = frozenset(
    s for s, to in TRANSITIONS.items() if s is not None and Status.WITHDRAWN in to)
# no answer is due any more: the clock has stopped
ENDED = frozenset({Status.WITHDRAWN, Status.CLOSED, Status.RATED, Status.REJECTED,
                   Status.MERGED})


class TransitionRefused(ValueError):
    """A status change the table does not allow."""

    def __init__(self, current: Status | None, new: Status) -> None:
        super().__init__(f"a ticket may not move from {current or 'nothing'} to {new}")
        self.current = current
        self.new = new


def can_move(current: Status | None, new: Status) -> bool:
    """May a ticket in ``current`` (``None``: not filed yet) move to ``new``?"""
    return new in TRANSITIONS.get(current, frozenset())


def check_transition(current: Status | None, new: Status) -> None:
    """:class:`TransitionRefused` unless :func:`can_move`."""
    if not can_move(current, new):
        raise TransitionRefused(current, new)


@dataclass(frozen=True, slots=True)
class TicketRecord:
    """A ticket as handlers and flows see it (storage builds it from its row)."""

    id: int
    number: str
    idempotency_key: str
    account: str
    openid: str
    kind: str
    category: str  # catalogue ids as routed then: a later catalogue never rewrites them
    region: str | None  # None: the citizen did not say where
    department: str
    description: str
    phone: str | None
    public: bool
    latitude: float | None
    longitude: float | None
    place: str | None
    status: Status
    due_on: date | None  # None: the due year's statutory calendar is not published yet
    created_at: datetime  # timezone-aware (UTC)


@dataclass(frozen=True, slots=True)
class TicketEventRecord:
    """One transition: who moved the ticket, when, from which status to which, and a note
    (the department it went to, the citizen's reason)."""

    actor: str
    at: datetime  # timezone-aware (UTC)
    from_status: Status | None
    to_status: Status
    note: str


@dataclass(frozen=True, slots=True)
class AttachmentRecord:
    """A photo sent with a ticket, by the platform's media id."""

    media_id: str
    url: str
