"""Free legal consultation (法律咨询, the 12348 / 黔微普法 practice): its areas and service
hours, a consultation's states, the lawyer's commands, what a lawyer may see of a citizen,
and the wait a citizen is told. No I/O.

A citizen asks a question in a legal area and waits in that area's queue; a lawyer on duty
whose areas include it takes the longest-waiting one (接单), the two talk through the
bot, and the consultation ends (结束 by the lawyer, or the citizen's silence). Outside the
service hours, or with no lawyer on duty for the area, the citizen may leave the question
as a message (留言): it waits in the same queue and the next lawyer on duty answers it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from domain.workdays import CHINA, Calendar, working

QUESTION_MIN = 10  # characters of a question, at least
QUESTION_MAX = 1000
NAME_MAX = 32  # a lawyer's name, a citizen's 称呼
FIRM_MAX = 64
LICENCE = re.compile(r"[0-9A-Za-z]{8,20}")  # 执业证号: 17 digits today; older ones vary
DEFAULT_CAPACITY = 3
CAPACITY_MAX = 20
NUMBER_PREFIX = "FL"  # 法律: FL20261201-000001
NUMBER = re.compile(rf"{NUMBER_PREFIX}[0-9]{{8}}-[0-9]{{6}}(?![0-9])", re.IGNORECASE)
# the outbox purposes of its pushes (config/delivery.toml)
TO_CITIZEN = "consult"  # customer service only: waits (pending) until the citizen writes
NOTICE = "lawyer_answer"  # a template: tells a citizen out of reach that a lawyer answered
TO_LAWYER = "consult_lawyer"  # customer service only


class Status(StrEnum):
    QUEUED = "queued"  # 排队中: waits for a lawyer (a message left out of hours too)
    TAKEN = "taken"  # 咨询中: a lawyer holds it; messages pass between the two
    ENDED = "ended"  # 已结束: by the lawyer, or the citizen went silent
    ABANDONED = "abandoned"  # 已取消: the citizen left the queue before a lawyer took it

    @property
    def label_key(self) -> str:
        return f"consult_status_{self.value}"


OPEN = frozenset({Status.QUEUED, Status.TAKEN})


class Action(StrEnum):
    """What happened to a consultation (its timeline, and what the figures count)."""

    QUEUED = "queued"  # asked (a message left out of hours is one too: ``note`` says so)
    TAKEN = "taken"  # 接单
    RETURNED = "returned"  # 转回 by the lawyer: back in the queue at its place
    TIMED_OUT = "timed_out"  # the lawyer said nothing in time: back in the queue
    REMINDED = "reminded"  # the lawyer was reminded to answer
    ENDED = "ended"  # 结束 by the lawyer
    SILENT = "silent"  # ended: the citizen said nothing after the lawyer's last message
    ABANDONED = "abandoned"  # 取消 by the citizen while it waited
    EXPIRED = "expired"  # waited too long for any lawyer: closed, the citizen told
    RATED = "rated"  # the citizen rated the lawyer


class EndReason(StrEnum):
    LAWYER = "lawyer"  # 结束
    SILENT = "silent"  # the citizen's silence
    CANCELLED = "cancelled"  # the citizen left the queue (abandoned)
    EXPIRED = "expired"  # no lawyer took it in time


# -- areas and hours ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LegalArea:
    id: str
    name: str
    order: int  # the number the citizen sees
    keywords: tuple[str, ...] = ()


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-4]):([0-5][0-9])")


@dataclass(frozen=True, slots=True)
class Span:
    start: time
    end: time  # exclusive; 24:00 is written as time.max

    def holds(self, moment: time) -> bool:
        return self.start <= moment < self.end or (self.end == time.max and moment >= self.start)

    def __str__(self) -> str:
        end = "24:00" if self.end == time.max else f"{self.end:%H:%M}"
        return f"{self.start:%H:%M}-{end}"


def parse_spans(text: str) -> tuple[Span, ...]:
    """``"09:00-12:00, 14:00-17:30"`` → spans (China time); ``""`` → closed that day.
    :class:`ValueError` naming what is wrong."""
    spans: list[Span] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        found = _SPAN.fullmatch(part)
        if found is None:
            raise ValueError(f"{part!r} is not a span like 09:00-17:30")
        h1, m1, h2, m2 = (int(g) for g in found.groups())
        if h2 == 24 and m2 != 0:
            raise ValueError(f"{part!r}: 24:00 is the latest end")
        start, end = time(h1, m1), time.max if h2 == 24 else time(h2, m2)
        if end <= start:
            raise ValueError(f"{part!r} ends before it starts")
        if spans and start < spans[-1].end:
            raise ValueError(f"{part!r} overlaps or comes before the span before it")
        spans.append(Span(start, end))
    return tuple(spans)


@dataclass(frozen=True, slots=True)
class ServiceHours:
    """When lawyers serve, per weekday (China time); ``closed_on_holidays``: not on the
    statutory holidays (a make-up working day, 调休, serves as a weekday)."""

    days: Mapping[str, tuple[Span, ...]]  # weekday key (``WEEKDAYS``) → spans
    closed_on_holidays: bool = True

    def spans_on(self, day: date, holiday: bool | None = None, workday: bool | None = None,
                 ) -> tuple[Span, ...]:
        """The spans of ``day``: none on a holiday when closed then; a make-up working
        day (``workday`` on a weekend) has the spans of a Monday."""
        if self.closed_on_holidays and holiday:
            return ()
        key = WEEKDAYS[day.weekday()]
        if workday and day.weekday() >= 5 and self.closed_on_holidays:
            key = "mon"
        return tuple(self.days.get(key, ()))

    def is_open(self, now: datetime, *, holiday: bool | None = None,
                workday: bool | None = None) -> bool:
        local = now.astimezone(CHINA)
        return any(span.holds(local.time().replace(tzinfo=None))
                   for span in self.spans_on(local.date(), holiday, workday))

    def open_at(self, now: datetime, calendar: Calendar) -> bool:
        """:meth:`is_open` on ``calendar``: a weekday it does not work is a holiday, a
        weekend day it works a make-up working day (a year it does not know: weekdays)."""
        day = now.astimezone(CHINA).date()
        worked = working(day, calendar)
        return self.is_open(now, holiday=day.weekday() < 5 and not worked,
                            workday=day.weekday() >= 5 and worked)

    def describe(self) -> str:
        """``周一至周五 09:00-17:30`` style, for the citizen: days with the same spans
        run together."""
        names = "一二三四五六日"
        parts: list[str] = []
        run: list[int] = []

        def flush() -> None:
            if not run:
                return
            spans = "、".join(str(s) for s in self.days.get(WEEKDAYS[run[0]], ()))
            days = f"周{names[run[0]]}" if len(run) == 1 else \
                f"周{names[run[0]]}至周{names[run[-1]]}"
            parts.append(f"{days} {spans}")

        for index, key in enumerate(WEEKDAYS):
            spans = tuple(self.days.get(key, ()))
            if spans and run and tuple(self.days.get(WEEKDAYS[run[-1]], ())) == spans \
                    and run[-1] == index - 1:
                run.append(index)
                continue
            flush()
            run = [index] if spans else []
        flush()
        return "；".join(parts)


def legal_to_json(areas: Sequence[LegalArea], hours: ServiceHours | None,
                  ) -> dict[str, object] | None:
    """The consultation's part of the catalogue as the database keeps it (``None``: not
    offered)."""
    if hours is None:
        return None
    return {"areas": [{"id": a.id, "name": a.name, "order": a.order,
                       "keywords": list(a.keywords)} for a in areas],
            "hours": {day: ", ".join(str(s) for s in spans)
                      for day, spans in hours.days.items()},
            "closed_on_holidays": hours.closed_on_holidays}


def legal_from_json(data: object) -> tuple[tuple[LegalArea, ...], ServiceHours | None]:
    """:func:`legal_to_json` read back; ``((), None)`` for nothing (or a shape this version
    does not know: the service is then not offered rather than half-read)."""
    if not isinstance(data, dict):
        return (), None
    try:
        areas = tuple(LegalArea(str(a["id"]), str(a["name"]), int(a["order"]),
                                tuple(str(k) for k in a.get("keywords", ())))
                      for a in data["areas"])
        hours = ServiceHours({str(day): parse_spans(str(spans))
                              for day, spans in data["hours"].items()},
                             closed_on_holidays=bool(data.get("closed_on_holidays", True)))
    except (KeyError, TypeError, ValueError, AttributeError):
        return (), None
    return areas, hours


ALWAYS = ServiceHours({key: (Span(time(0, 0), time.max),) for key in WEEKDAYS},
                      closed_on_holidays=False)


# -- people ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LawyerRecord:
    """A lawyer's profile as the code sees it (their WeChat user never leaves storage
    except to address a push)."""

    id: int
    name: str
    firm: str
    licence: str
    areas: tuple[str, ...]
    capacity: int
    active: bool
    on_duty: bool
    bound: bool  # a WeChat user is bound to the profile
    created_at: datetime

    @property
    def display(self) -> str:
        """What a citizen is told: name and firm, never a WeChat id."""
        return f"{self.name}（{self.firm}）"


class ProfileError(ValueError):
    """A lawyer profile that cannot be made as asked; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check_profile(name: str, firm: str, licence: str, areas: Sequence[str], capacity: int,
                  known_areas: Sequence[str] | None = None) -> None:
    """:class:`ProfileError` unless these make a valid profile (``known_areas``: the
    catalogue's, when it is at hand)."""
    if not name.strip() or len(name) > NAME_MAX:
        raise ProfileError("name", f"1–{NAME_MAX} characters")
    if not firm.strip() or len(firm) > FIRM_MAX:
        raise ProfileError("firm", f"1–{FIRM_MAX} characters")
    if not LICENCE.fullmatch(licence):
        raise ProfileError("licence", "8–20 letters or digits (执业证号)")
    if not areas:
        raise ProfileError("areas", "at least one legal area")
    if len(set(areas)) != len(areas):
        raise ProfileError("areas", "an area is listed twice")
    unknown = [a for a in areas if known_areas is not None and a not in known_areas]
    if unknown:
        raise ProfileError("areas", f"unknown legal area {unknown[0]!r}")
    if isinstance(capacity, bool) or not 1 <= capacity <= CAPACITY_MAX:
        raise ProfileError("capacity", f"1–{CAPACITY_MAX} consultations at once")


def mask_name(name: str | None) -> str:
    """What a lawyer sees of a citizen's name: its first character and two stars (张**),
    whatever its length; no name: ``""`` (the caller says 市民)."""
    name = (name or "").strip()
    return f"{name[0]}**" if name else ""


@dataclass(frozen=True, slots=True)
class ConsultationRecord:
    id: int
    number: str
    account: str
    openid: str  # storage and pushes only: never shown to a lawyer
    name: str | None  # the citizen's 称呼, if given (shown masked to a lawyer)
    area: str
    question: str
    status: Status
    left_message: bool  # left out of hours (or with no lawyer on duty)
    queued_at: datetime  # its place in the queue (kept when it comes back)
    lawyer_id: int | None
    taken_at: datetime | None
    first_answer_at: datetime | None
    last_lawyer_at: datetime | None
    last_citizen_at: datetime | None
    ended_at: datetime | None
    end_reason: EndReason | None
    version: int
    created_at: datetime

    @property
    def short(self) -> str:
        """The serial a lawyer or citizen names it by (its last six digits)."""
        return self.number.rsplit("-", 1)[-1]


def format_number(day: date, serial: int) -> str:
    return f"{NUMBER_PREFIX}{day:%Y%m%d}-{serial:06d}"


# -- the wait ---------------------------------------------------------------------------------

RECENT = 20  # taken consultations the estimate learns from, at most …
RECENT_WITHIN = timedelta(days=7)  # … within this long


def estimate_wait(position: int, recent: Sequence[tuple[float, int]]) -> int | None:
    """Minutes a citizen at ``position`` (1: next) in an area's queue may wait, from the
    area's recent consultations, each ``(seconds from asking to being taken, its position
    when asked)``: the median wait per place in the queue, times ``position``, rounded up
    to whole minutes (at least one). ``None``: nothing to go by (the citizen is told
    暂无参考)."""
    per_place = sorted(wait / max(1, place) for wait, place in recent if wait >= 0)
    if not per_place or position < 1:
        return None
    middle = len(per_place) // 2
    median = (per_place[middle] if len(per_place) % 2
              else (per_place[middle - 1] + per_place[middle]) / 2)
    return max(1, math.ceil(median * position / 60))


# -- the lawyer's commands -------------------------------------------------------------------


class LawyerCommand(StrEnum):
    ON = "on"  # 上线
    OFF = "off"  # 下线
    TAKE = "take"  # 接单
    LIST = "list"  # 列表
    SWITCH = "switch"  # 切换 N
    END = "end"  # 结束
    RETURN = "return"  # 转回 [note]
    HELP = "help"  # 帮助
    CONSOLE = "console"  # 网页登录: a code to sign in to the web console


_WORDS: dict[str, LawyerCommand] = {
    "上线": LawyerCommand.ON, "值班": LawyerCommand.ON, "上": LawyerCommand.ON,
    "下线": LawyerCommand.OFF, "下班": LawyerCommand.OFF, "下": LawyerCommand.OFF,
    "接单": LawyerCommand.TAKE, "接": LawyerCommand.TAKE,
    "列表": LawyerCommand.LIST, "我的咨询": LawyerCommand.LIST, "列": LawyerCommand.LIST,
    "结束": LawyerCommand.END, "结": LawyerCommand.END,
    "帮助": LawyerCommand.HELP, "help": LawyerCommand.HELP, "?": LawyerCommand.HELP,
    "？": LawyerCommand.HELP,
    "网页登录": LawyerCommand.CONSOLE, "工作台": LawyerCommand.CONSOLE,
    "登录码": LawyerCommand.CONSOLE,
}
_SWITCH = re.compile(r"(?:切换|切)\s*([0-9]{1,2})")
_RETURN = re.compile(r"(?:转回|转)(?:\s+|[:：，,]\s*|$)(.*)", re.DOTALL)
RETURN_NOTE_MAX = 200


@dataclass(frozen=True, slots=True)
class Said:
    command: LawyerCommand
    number: int | None = None  # 切换 N
    note: str = ""  # 转回's note


def lawyer_command(text: str) -> Said | None:
    """The command a lawyer's text is, if it is one; else it is an answer to relay."""
    said = text.strip()
    found = _WORDS.get(said.lower())
    if found is not None:
        return Said(found)
    switch = _SWITCH.fullmatch(said)
    if switch is not None:
        return Said(LawyerCommand.SWITCH, number=int(switch.group(1)))
    back = _RETURN.fullmatch(said)
    if back is not None:
        return Said(LawyerCommand.RETURN, note=back.group(1).strip()[:RETURN_NOTE_MAX])
    return None
