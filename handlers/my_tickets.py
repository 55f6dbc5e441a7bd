"""我的留言: a citizen's tickets, one ticket's timeline, and withdrawal (撤回).

Only the owner ever sees a ticket: a number that is not the asker's reads as not found.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from domain.catalogue import Catalogue
from domain.display import department_name, format_day
from domain.messages import Outbound, excerpt
from domain.texts import Texts
from domain.tickets import (
    ENDED,
    WITHDRAWABLE,
    Status,
    TicketEventRecord,
    TicketRecord,
    ends_with_short,
)
from domain.workdays import CHINA
from storage.tickets import Tickets, WithdrawOutcome

SHORT_LOOKUP = 100  # how many of the citizen's newest tickets a short number is looked for in
LIST_LIMIT = 10
EXCERPT = 40


class MyTickets:
    def __init__(self, tickets: Tickets, texts: Texts,
                 catalogue: Callable[[], Catalogue | None], *,
                 now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._tickets = tickets
        self._texts = texts
        self._catalogue = catalogue
        self._now = now  # when a withdrawal happens (the desk's clock)

    async def overview(self, account: str, openid: str) -> tuple[list[Outbound], list[str]]:
        """The list of the citizen's newest tickets, and their numbers in the order shown
        (a "1" sent next means the first)."""
        tickets = await self.listed(account, openid)
        if not tickets:
            return [self._say("my_tickets_none")], []
        lines = [self._line(i, t) for i, t in enumerate(tickets, 1)]
        return ([self._say("my_tickets_list", count=str(len(tickets)),
                           tickets="\n".join(lines), example=tickets[0].number)],
                [t.number for t in tickets])

    async def listed(self, account: str, openid: str) -> list[TicketRecord]:
        """The tickets 我的留言 lists, newest first."""
        return await self._tickets.of_citizen(account, openid, limit=LIST_LIMIT)

    async def withdraw_refusal(self, account: str, openid: str,
                               number: str) -> list[Outbound] | None:
        """Why ticket ``number`` cannot be withdrawn now, or ``None`` when it can (then
        the citizen is asked to confirm; :meth:`withdraw` checks again as it acts)."""
        ticket = await self._tickets.of_owner(number, account, openid)
        if ticket is None:
            return [self._say("withdraw_not_found", number=number)]
        if ticket.status is Status.WITHDRAWN:
            return [self._say("withdraw_already", number=number)]
        if ticket.status in WITHDRAWABLE:
            return None
        key = ("withdraw_merged" if ticket.status is Status.MERGED else
               "withdraw_ended" if ticket.status in ENDED else "withdraw_too_late")
        return [self._say(key, number=number, status=self.status(ticket.status))]

    async def detail(self, account: str, openid: str, number: str) -> list[Outbound]:
        ticket = await self._tickets.of_owner(number, account, openid)
        if ticket is None:
            return [self._say("my_ticket_not_found", number=number)]
        events = await self._tickets.events(ticket.id)
        photos = await self._tickets.attachments(ticket.id)
        timeline = "\n".join(
            self._texts("my_ticket_event", at=self._time(e.at),
                        status=self.status(e.to_status), note=self._told(e))
            for e in events if not _internal(e))
        hint = (self._texts("my_ticket_withdraw_hint", number=ticket.number)
                if ticket.status in WITHDRAWABLE else "")
        if ticket.public:
            hint += self._texts("my_ticket_unpublish_hint", number=ticket.number)
        return [self._say(
            "my_ticket_detail", number=ticket.number, kind=ticket.kind,
            status=self.status(ticket.status), category=self._category(ticket.category),
            department=self._department(ticket.department), due=self._due(ticket),
            description=excerpt(ticket.description, 200), photos=str(len(photos)),
            timeline=timeline, hint=hint)]

    async def withdraw(self, account: str, openid: str, number: str) -> list[Outbound]:
        outcome, ticket = await self._tickets.withdraw(number, account, openid,
                                                       now=self._now(),
                                                       note=self._texts("withdraw_note"))
        if outcome is WithdrawOutcome.WITHDRAWN:
            return [self._say("withdraw_done", number=number)]
        if outcome is WithdrawOutcome.ALREADY:
            return [self._say("withdraw_already", number=number)]
        if outcome is WithdrawOutcome.TOO_LATE and ticket is not None:
            key = ("withdraw_merged" if ticket.status is Status.MERGED else
                   "withdraw_ended" if ticket.status in ENDED else "withdraw_too_late")
            return [self._say(key, number=number, status=self.status(ticket.status))]
        return [self._say("withdraw_not_found", number=number)]

    async def unpublish(self, account: str, openid: str, number: str) -> list[Outbound]:
        ticket = await self._tickets.unpublish(number, account, openid, now=self._now(),
                                               note=self._texts("unpublish_note"))
        if ticket is None:
            return [self._say("my_ticket_not_found", number=number)]
        return [self._say("unpublish_done", number=number)]

    async def by_short_number(self, account: str, openid: str, short: str, *,
                              withdraw: bool = False) -> str | list[Outbound]:
        """The number of the citizen's own ticket whose number ends in ``short``, or the
        answer when none or several of theirs do. Only their own tickets are looked at, so
        nothing is said of another citizen's."""
        tickets = await self._tickets.of_citizen(account, openid, limit=SHORT_LOOKUP)
        matches = [t for t in tickets if ends_with_short(t.number, short)]
        if len(matches) == 1:
            return matches[0].number
        if not matches:
            return [self._say("my_ticket_short_none", short=short)]
        lines = [self._line(i, t) for i, t in enumerate(matches, 1)]
        key = "withdraw_short_several" if withdraw else "my_ticket_short_several"
        return [self._say(key, count=str(len(matches)), short=short, tickets="\n".join(lines),
                          example=matches[0].number)]

    async def recent(self, account: str, openid: str, within: float,
                     now: datetime | None = None) -> TicketRecord | None:
        """The citizen's newest ticket if it was filed less than ``within`` seconds ago."""
        tickets = await self._tickets.of_citizen(account, openid, limit=1)
        if not tickets:
            return None
        age = ((now or datetime.now(UTC)) - tickets[0].created_at).total_seconds()
        return tickets[0] if age < within else None

    # -- pieces ---------------------------------------------------------------------------

    def status(self, status: Status) -> str:
        key = status.label_key
        return self._texts(key) if key in self._texts else self._texts("ticket_status_other")

    def _line(self, index: int, ticket: TicketRecord) -> str:
        return self._texts("my_tickets_line", index=str(index), number=ticket.number,
                           status=self.status(ticket.status), kind=ticket.kind,
                           category=self._category(ticket.category), due=self._due(ticket),
                           excerpt=excerpt(ticket.description, EXCERPT))

    def _due(self, ticket: TicketRecord) -> str:
        if ticket.status in ENDED:
            return self._texts("my_ticket_due_ended")
        if ticket.due_on is None:
            return self._texts("my_ticket_due_unknown")
        key = "my_ticket_due_provisional" if ticket.due_provisional else "my_ticket_due"
        return self._texts(key, date=format_day(self._texts, ticket.due_on))

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

    def _told(self, event: TicketEventRecord) -> str:
        """What the citizen may read of an event: for a move of staff, what the citizen
        was told of it (their notes are internal); for filing, the router's dispatch and
        撤回, the note as before."""
        if event.action is None:
            return self._note(event.to_status, event.note)
        if not event.citizen_text:
            return ""
        return self._texts("my_ticket_event_note", note=excerpt(event.citizen_text, 60))

    def _note(self, status: Status, note: str) -> str:
        if not note:
            return ""
        if status is Status.DISPATCHED:
            note = self._department(note)
        return self._texts("my_ticket_event_note", note=excerpt(note, 60))

    def _time(self, moment: datetime) -> str:
        local = moment.astimezone(CHINA)
        return f"{local:%m-%d %H:%M}"

    def _say(self, key: str, **values: str) -> Outbound:
        return Outbound.of_text(self._texts(key, **values))


def _internal(event: TicketEventRecord) -> bool:
    """A staff move the citizen was not told of and that left the status as it was (an
    extension asked for, an answer sent back for rework): not in the citizen's timeline."""
    return (event.action is not None and not event.citizen_text
            and event.from_status == event.to_status)
