"""Ticket rules: the number, the statuses, and which status may follow which. No I/O.

A ticket number is ``LX`` and the China date it was filed, a dash and the day's serial in
six digits: ``LX20261123-000001``. :data:`NUMBER` is the one pattern that reads it; what a
citizen types (any case, full-width, other dashes) is narrowed first (:func:`narrow`).

Statuses follow the 12345 lifecycle (受理 → 转办 → 签收, 办理中 → 答复 → 办结 → 评价, with
退单 and 改派, 延期, 重办, 并单, 撤回 and 不予受理 beside it). Their Chinese names are in the
text catalogue under :attr:`Status.label_key`. :data:`MOVES` is the lifecycle: who may do
what from which status (``docs/LIFECYCLE.md``); :data:`TRANSITIONS`, derived from it, is
which status may follow which, and storage writes no status change it does not allow.
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


def short_of(number: str) -> str:
    """The last six digits a citizen may name the ticket ``number`` by."""
    return number.rsplit("-", 1)[-1]


class Status(StrEnum):
    SUBMITTED = "submitted"  # 已受理
    DISPATCHED = "dispatched"  # 已转办 (派单/交办)
    IN_PROGRESS = "in_progress"  # 办理中: signed for (签收)
    REPLIED = "replied"  # 已答复
    CLOSED = "closed"  # 已办结
    RATED = "rated"  # 已评价
    RETURNED = "returned"  # 退单: the wrong department sent it back, to be sent on again
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
        """The text catalogue entry with the status's Chinese name (``status_in_progress``)."""
        return f"status_{self.value}"


class Pending(StrEnum):
    """What a ticket in :attr:`Status.IN_PROGRESS` may be waiting for from the 12345 office
    besides its department's work: at most one thing at a time."""

    NOTHING = ""
    EXTENSION = "extension"  # 申请延期: a new due date asked for, to be approved or denied
    REVIEW = "review"  # an answer written, to be approved before the citizen gets it


class Party(StrEnum):
    """Who acts on a ticket."""

    CITIZEN = "citizen"  # the reporter, in WeChat
    HANDLER = "handler"  # staff of the department the ticket is with
    SUPERVISOR = "supervisor"  # the 12345 office: every department
    SYSTEM = "system"  # the catalogue's automatic dispatch, the scheduler


class Action(StrEnum):
    FILE = "file"  # 受理: the citizen's 确认
    DISPATCH = "dispatch"  # 转办
    SIGN = "sign"  # 签收
    RETURN = "return"  # 退单: not ours
    REDISPATCH = "redispatch"  # 改派
    REQUEST_EXTENSION = "request_extension"  # 申请延期
    APPROVE_EXTENSION = "approve_extension"  # 同意延期
    DENY_EXTENSION = "deny_extension"  # 不同意延期
    ANSWER = "answer"  # 答复 (to the citizen, or to review first)
    APPROVE_ANSWER = "approve_answer"  # 审核通过: the answer goes out
    SEND_BACK_ANSWER = "send_back_answer"  # 审核退回: the department answers again
    CLOSE = "close"  # 办结
    MERGE = "merge"  # 并单
    REJECT = "reject"  # 不予受理
    WITHDRAW = "withdraw"  # 撤回
    SUPERVISE = "supervise"  # 督办: overdue, the department is pressed (status unchanged)
    RATE = "rate"  # 评价: the citizen's answer to the survey
    REOPEN = "reopen"  # 不满意重办: the citizen asks for it to be done again
    WITHHOLD = "withhold"  # 不予公开: the office keeps it off the public board, saying why
    UNPUBLISH = "unpublish"  # 撤回公开: the citizen takes back the consent to publish


@dataclass(frozen=True, slots=True)
class Move:
    """One row of the lifecycle: ``action`` by one of ``parties`` from a ticket in one of
    ``sources`` waiting for ``waits`` (``None``: whatever it waits for) leads to ``target``
    (``None``: the status stays) waiting for ``then`` (``None``: what it waited for);
    ``tells_citizen``: the citizen gets a push (in the same transaction as the move)."""

    action: Action
    sources: frozenset[Status | None]
    target: Status | None
    parties: frozenset[Party]
    tells_citizen: bool
    waits: Pending | None = Pending.NOTHING
    then: Pending | None = Pending.NOTHING

    def pending_after(self, before: Pending) -> Pending:
        """What the ticket waits for after this move, from what it waited for before."""
        return before if self.then is None else self.then


_OFFICE = frozenset({Party.SUPERVISOR})
_DEPARTMENT = frozenset({Party.HANDLER})
_DEPARTMENT_OR_OFFICE = frozenset({Party.HANDLER, Party.SUPERVISOR})
# a ticket with no department signed for it yet: where 撤回, 并单 and 不予受理 still apply
_UNSIGNED = frozenset({Status.SUBMITTED, Status.DISPATCHED, Status.RETURNED})
# signed for and being worked on, the first time or again after 不满意重办
_SIGNED: frozenset[Status | None] = frozenset({Status.IN_PROGRESS, Status.REOPENED})

# a ticket that is or may come onto the public board (answered, or still being worked on)
_ON_BOARD: frozenset[Status | None] = frozenset({
    Status.SUBMITTED, Status.DISPATCHED, Status.IN_PROGRESS, Status.REPLIED, Status.CLOSED,
    Status.RATED, Status.RETURNED, Status.REOPENED})

# The lifecycle, one row per action (docs/LIFECYCLE.md has it as a table with its sources).
# An answer that needs review (a department's setting) is ANSWER to ``then=REVIEW``, the
# status unchanged; without review it goes out at once. :func:`answer_move` picks the row.
MOVES: tuple[Move, ...] = (
    Move(Action.FILE, frozenset({None}), Status.SUBMITTED, frozenset({Party.CITIZEN}), False),
    Move(Action.DISPATCH, frozenset({Status.SUBMITTED}), Status.DISPATCHED,
         frozenset({Party.SUPERVISOR, Party.SYSTEM}), True),
    Move(Action.SIGN, frozenset({Status.DISPATCHED}), Status.IN_PROGRESS, _DEPARTMENT, True),
    Move(Action.RETURN, frozenset({Status.DISPATCHED}), Status.RETURNED, _DEPARTMENT, False),
    Move(Action.REDISPATCH, frozenset({Status.RETURNED, Status.DISPATCHED}), Status.DISPATCHED,
         _OFFICE, True),
    Move(Action.REQUEST_EXTENSION, _SIGNED, None,
         _DEPARTMENT, False, then=Pending.EXTENSION),
    Move(Action.APPROVE_EXTENSION, _SIGNED, None,
         _OFFICE, True, waits=Pending.EXTENSION),
    Move(Action.DENY_EXTENSION, _SIGNED, None,
         _OFFICE, False, waits=Pending.EXTENSION),
    Move(Action.ANSWER, _SIGNED, Status.REPLIED,
         _DEPARTMENT, True),
    Move(Action.ANSWER, _SIGNED, None,
         _DEPARTMENT, False, then=Pending.REVIEW),
    Move(Action.APPROVE_ANSWER, _SIGNED,
         Status.REPLIED, _OFFICE, True, waits=Pending.REVIEW),
    Move(Action.SEND_BACK_ANSWER, _SIGNED, None,
         _OFFICE, False, waits=Pending.REVIEW),
    Move(Action.CLOSE, frozenset({Status.REPLIED}), Status.CLOSED, _DEPARTMENT_OR_OFFICE,
         True),
    Move(Action.MERGE, _UNSIGNED, Status.MERGED, _OFFICE, True),
    Move(Action.REJECT, _UNSIGNED, Status.REJECTED, _OFFICE, True),
    Move(Action.WITHDRAW, _UNSIGNED, Status.WITHDRAWN, frozenset({Party.CITIZEN}), False),
    # 督办: a deadline passed (签收 or 答复); an event and notices, nothing else changes
    Move(Action.SUPERVISE, frozenset({Status.DISPATCHED, *_SIGNED}), None,
         frozenset({Party.SUPERVISOR, Party.SYSTEM}), False, waits=None, then=None),
    # the survey: the rating is the citizen's passive reply; 重办 (after a low rating, or
    # a "no" to 问题是否仍已解决) goes back to the same department with a fresh deadline
    Move(Action.RATE, frozenset({Status.CLOSED}), Status.RATED, frozenset({Party.CITIZEN}),
         False),
    Move(Action.REOPEN, frozenset({Status.CLOSED, Status.RATED}), Status.REOPENED,
         frozenset({Party.CITIZEN}), False),
    # the public board (docs/BOARD.md): neither changes the status nor what it waits for
    Move(Action.WITHHOLD, _ON_BOARD, None, _OFFICE, True, waits=None, then=None),
    Move(Action.UNPUBLISH, _ON_BOARD, None, frozenset({Party.CITIZEN}), False, waits=None,
         then=None),
)


class MoveRefused(ValueError):
    """An action the lifecycle does not allow: from this status (``reason="state"``), or by
    this party (``reason="party"``)."""

    def __init__(self, action: Action, status: Status | None, pending: Pending,
                 party: Party, reason: str) -> None:
        where = f"{status or 'nothing'}" + (f" awaiting {pending}" if pending else "")
        super().__init__(f"{party} may not {action} a ticket in {where}"
                         if reason == "party" else f"no {action} from {where}")
        self.action, self.status, self.pending = action, status, pending
        self.party, self.reason = party, reason


def find_move(action: Action, status: Status | None, pending: Pending, party: Party, *,
              review: bool = False) -> Move:
    """The row that ``party`` doing ``action`` on a ticket in ``status`` waiting for
    ``pending`` follows, or :class:`MoveRefused` (the state is checked first: an action
    nobody may take from here is refused for the state, whoever asks). ``review``: the
    department's answers go to the office before the citizen."""
    rows = [m for m in MOVES if m.action is action and status in m.sources
            and m.waits in (None, pending)]
    if action is Action.ANSWER:
        rows = [m for m in rows if (m.then is Pending.REVIEW) is review]
    if not rows:
        raise MoveRefused(action, status, pending, party, "state")
    if party not in rows[0].parties:
        raise MoveRefused(action, status, pending, party, "party")
    return rows[0]


def allowed(status: Status | None, pending: Pending, party: Party, *,
            review: bool = False) -> list[Action]:
    """The actions ``party`` may take on a ticket in ``status`` waiting for ``pending``,
    in the table's order (what a console offers)."""
    found: list[Action] = []
    for move in MOVES:
        if move.action in found:
            continue
        try:
            find_move(move.action, status, pending, party, review=review)
        except MoveRefused:
            continue
        found.append(move.action)
    return found


def _status_pairs() -> dict[Status | None, frozenset[Status]]:
    pairs: dict[Status | None, set[Status]] = {}
    for move in MOVES:
        if move.target is None:
            continue
        for source in move.sources:
            pairs.setdefault(source, set()).add(move.target)
    return {source: frozenset(targets) for source, targets in pairs.items()}


# Which status may follow which (derived from MOVES): what storage checks every write by.
TRANSITIONS: Mapping[Status | None, frozenset[Status]] = _status_pairs()
# where 撤回 is still possible: until a department signs for it (received, sent on, or sent
# back by the wrong department and waiting to be sent on again)
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
    due_on: date | None  # None: filed by an older version while the year was unknown
    created_at: datetime  # timezone-aware (UTC)
    # counted through a year whose working-day calendar is not known yet: 暂定
    due_provisional: bool = False
    version: int = 1  # raised by every move (optimistic concurrency)
    pending: Pending = Pending.NOTHING  # what it waits for from the office
    merged_into: int | None = None  # the ticket it was merged into
    withheld: str | None = None  # 不予公开: the office's reason for keeping it off the board


@dataclass(frozen=True, slots=True)
class TicketEventRecord:
    """One transition: who moved the ticket, when, from which status to which, and a note
    (the department it went to, the citizen's reason)."""

    actor: str
    at: datetime  # timezone-aware (UTC)
    from_status: Status | None
    to_status: Status
    note: str
    action: Action | None = None  # None: an event from before the lifecycle table
    party: Party | None = None
    citizen_text: str | None = None  # what the citizen was told of it


@dataclass(frozen=True, slots=True)
class AttachmentRecord:
    """A photo sent with a ticket, by the platform's media id."""

    media_id: str
    url: str
