"""我的留言: a citizen's tickets, one ticket's timeline, and withdrawal (撤回).

Only the owner ever sees a ticket: a number that is not the asker's reads as not found.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from domain.catalogue import Catalogue
from domain.messages import Outbound, excerpt
from domain.workdays import CHINA
from flows.complaint import department_name, format_day
from handlers.texts import Texts
from storage.models import Ticket
from storage.tickets import WITHDRAWABLE, Tickets, WithdrawOutcome

# not the front of a longer run of digits ("LX20261123-0000012" is no ticket number)
NUMBER = re.compile(r"LX[0-9]{8}-[0-9]{6}(?![0-9])", re.IGNORECASE)
# a ticket number's last six digits ("查询 000001"), taken among the citizen's own tickets
SHORT_NUMBER = re.compile(r"[0-9]{6}")
SHORT_LOOKUP = 100  # how many of the citizen's newest tickets a short number is looked for in
# no answer is due any more: the clock has stopped
ENDED = frozenset({"withdrawn", "closed", "rated", "rejected", "merged"})
LIST_LIMIT = 10
EXCERPT = 40


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


def normalise(text: str) -> str:
    """Full-width letters, digits, dashes and spaces as ASCII (a citizen's keyboard may
    send them)."""
    return text.translate(_NARROW) if _WIDE.search(text) else text


def ticket_number(text: str) -> str | None:
    """The ticket number in ``text`` (``lx20261123-000001`` too), upper-cased."""
    found = NUMBER.search(normalise(text))
    return found.group(0).upper() if found else None


def short_number(text: str) -> str | None:
    """The six digits that end a command naming a ticket by its short number."""
    found = re.search(rf"(?<![0-9]){SHORT_NUMBER.pattern}$", normalise(text).strip())
    return found.group(0) if found else None


class MyTickets:
    def __init__(self, tickets: Tickets, texts: Texts,
                 catalogue: Callable[[], Catalogue | None]) -> None:
        self._tickets = tickets
        self._texts = texts
        self._catalogue = catalogue

    async def overview(self, account: str, openid: str) -> list[Outbound]:
        tickets = await self._tickets.of_citizen(account, openid, limit=LIST_LIMIT)
        if not tickets:
            return [self._say("my_tickets_none")]
        lines = [self._line(i, t) for i, t in enumerate(tickets, 1)]
        return [self._say("my_tickets_list", count=str(len(tickets)),
                          tickets="\n".join(lines), example=tickets[0].number)]

    async def detail(self, account: str, openid: str, number: str) -> list[Outbound]:
        ticket = await self._tickets.of_owner(number, account, openid)
        if ticket is None:
            return [self._say("my_ticket_not_found", number=number)]
        events = await self._tickets.events(ticket.id)
        photos = await self._tickets.attachments(ticket.id)
        timeline = "\n".join(
            self._texts("my_ticket_event", at=self._time(e.at),
                        status=self.status(e.to_status),
                        note=self._note(e.to_status, e.note))
            for e in events)
        hint = (self._texts("my_ticket_withdraw_hint", number=ticket.number)
                if ticket.status in WITHDRAWABLE else "")
        return [self._say(
            "my_ticket_detail", number=ticket.number, kind=ticket.kind,
            status=self.status(ticket.status), category=self._category(ticket.category),
            department=self._department(ticket.department), due=self._due(ticket),
            description=excerpt(ticket.description, 200), photos=str(len(photos)),
            timeline=timeline, hint=hint)]

    async def withdraw(self, account: str, openid: str, number: str) -> list[Outbound]:
        outcome, ticket = await self._tickets.withdraw(number, account, openid,
                                                       note=self._texts("withdraw_note"))
        if outcome is WithdrawOutcome.WITHDRAWN:
            return [self._say("withdraw_done", number=number)]
        if outcome is WithdrawOutcome.ALREADY:
            return [self._say("withdraw_already", number=number)]
        if outcome is WithdrawOutcome.TOO_LATE and ticket is not None:
            key = ("withdraw_merged" if ticket.status == "merged" else
                   "withdraw_ended" if ticket.status in ENDED else "withdraw_too_late")
            return [self._say(key, number=number, status=self.status(ticket.status))]
        return [self._say("withdraw_not_found", number=number)]

    async def by_short_number(self, account: str, openid: str, short: str, *,
                              withdraw: bool = False) -> str | list[Outbound]:
        """The number of the citizen's own ticket whose number ends in ``short``, or the
        answer when none or several of theirs do. Only their own tickets are looked at, so
        nothing is said of another citizen's."""
        tickets = await self._tickets.of_citizen(account, openid, limit=SHORT_LOOKUP)
        matches = [t for t in tickets if t.number.endswith(f"-{short}")]
        if len(matches) == 1:
            return matches[0].number
        if not matches:
            return [self._say("my_ticket_short_none", short=short)]
        lines = [self._line(i, t) for i, t in enumerate(matches, 1)]
        key = "withdraw_short_several" if withdraw else "my_ticket_short_several"
        return [self._say(key, count=str(len(matches)), short=short, tickets="\n".join(lines),
                          example=matches[0].number)]

    async def recent(self, account: str, openid: str, within: float,
                     now: datetime | None = None) -> Ticket | None:
        """The citizen's newest ticket if it was filed less than ``within`` seconds ago."""
        tickets = await self._tickets.of_citizen(account, openid, limit=1)
        if not tickets:
            return None
        created = _aware(tickets[0].created_at)
        age = ((now or datetime.now(UTC)) - created).total_seconds()
        return tickets[0] if age < within else None

    # -- pieces ---------------------------------------------------------------------------

    def status(self, status: str) -> str:
        key = f"status_{status}"
        return self._texts(key) if key in self._texts else status

    def _line(self, index: int, ticket: Ticket) -> str:
        return self._texts("my_tickets_line", index=str(index), number=ticket.number,
                           status=self.status(ticket.status), kind=ticket.kind,
                           category=self._category(ticket.category), due=self._due(ticket),
                           excerpt=excerpt(ticket.description, EXCERPT))

    def _due(self, ticket: Ticket) -> str:
        if ticket.status in ENDED:
            return self._texts("my_ticket_due_ended")
        if ticket.due_on is None:
            return self._texts("my_ticket_due_unknown")
        return self._texts("my_ticket_due", date=format_day(self._texts, ticket.due_on))

    def _category(self, category_id: str) -> str:
        catalogue = self._catalogue()
        if catalogue is None:
            return category_id
        try:
            return catalogue.category(category_id).name
        except KeyError:
            return category_id

    def _department(self, department_id: str) -> str:
        catalogue = self._catalogue()
        return department_id if catalogue is None else department_name(catalogue,
                                                                       department_id)

    def _note(self, status: str, note: str) -> str:
        if not note:
            return ""
        if status == "dispatched":
            note = self._department(note)
        return self._texts("my_ticket_event_note", note=excerpt(note, 60))

    def _time(self, moment: datetime) -> str:
        local = _aware(moment).astimezone(CHINA)
        return f"{local:%m-%d %H:%M}"

    def _say(self, key: str, **values: str) -> Outbound:
        return Outbound.of_text(self._texts(key, **values))


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; every time stored is UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
