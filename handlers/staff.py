"""Staff in WeChat: binding a WeChat user to a staff account with a one-time code
("绑定 12345678", from ``lianxin staff bind-code`` or ``POST /api/v1/me/bind-code``), and
the router of bound staff, registered ahead of every citizen router: 待办 lists what
awaits them, anything else gets the staff help. A bound member never files a complaint
from that account by accident; a member who wants to must be unbound first."""

from __future__ import annotations

import re
import time
from collections.abc import Callable

from domain.messages import Outbound
from domain.staff import Role, StaffRecord
from domain.tickets import Pending, Status, TicketRecord
from handlers.dispatcher import Kind, Message, Router, Update
from handlers.texts import Texts
from storage.staff import StaffAccounts
from storage.tickets import Tickets

BIND = re.compile(r"绑定\s*([0-9]{8})")
TODO_WORDS = frozenset({"待办", "待办事项", "我的待办"})
TODO_SHOWN = 10


class StaffDesk:
    """``ttl``: seconds the bound members are known without asking the database again (a
    binding made in this process counts at once; in another, within ``ttl``): every
    message asks whether its sender is staff, and a query per message would cost the
    citizens' messages a database round trip."""

    def __init__(self, texts: Texts, staff: StaffAccounts, tickets: Tickets, *,
                 ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._texts = texts
        self._staff = staff
        self._tickets = tickets
        self._ttl, self._clock = ttl, clock
        self._bound: dict[tuple[str, str], StaffRecord] = {}
        self._read_at = -float("inf")

    def bind_router(self) -> Router:
        """"绑定 <code>" from anyone."""
        router = Router("staff binding")
        router.add(self._bind, Kind("text"), _is_bind)
        return router

    def router(self) -> Router:
        """A bound member's messages and clicks."""
        router = Router("staff")
        router.add(self._todo, Kind("text"), _is_todo, self._is_staff)
        router.add(self._help, Message(), self._is_staff)
        return router

    async def _is_staff(self, update: Update) -> bool:
        return await self._member(update) is not None

    async def _member(self, update: Update) -> StaffRecord | None:
        if self._clock() - self._read_at >= self._ttl:
            await self._refresh()
        inbound = update.inbound
        return self._bound.get((inbound.account, inbound.user))

    async def _refresh(self) -> None:
        self._bound = await self._staff.all_bound()
        self._read_at = self._clock()

    async def _bind(self, update: Update) -> list[Outbound]:
        found = BIND.fullmatch(update.text)
        assert found is not None
        inbound = update.inbound
        staff = await self._staff.bind(found.group(1), inbound.account, inbound.user)
        if staff is None:
            return [Outbound.of_text(self._texts("staff_bind_invalid"))]
        await self._refresh()
        return [Outbound.of_text(self._texts(
            "staff_bound", name=staff.display_name,
            role=self._texts(f"staff_role_{staff.role.value}")))]

    async def _todo(self, update: Update) -> list[Outbound]:
        staff = await self._member(update)
        if staff is None:  # unbound since the filter asked
            return [Outbound.of_text(self._texts("help"))]
        if staff.role is Role.HANDLER and staff.department:
            waiting = await self._tickets.search(
                departments=frozenset({staff.department}),
                statuses=frozenset({Status.DISPATCHED, Status.IN_PROGRESS}), running=True,
                limit=200)
        else:
            waiting = [t for t in await self._tickets.search(
                statuses=frozenset({Status.SUBMITTED, Status.RETURNED, Status.IN_PROGRESS}),
                limit=200) if t.status is not Status.IN_PROGRESS
                or t.pending is not Pending.NOTHING]
        if not waiting:
            return [Outbound.of_text(self._texts("staff_todo_none"))]
        waiting.sort(key=lambda t: (t.due_on is None, t.due_on, t.id))
        lines = [self._line(t) for t in waiting[:TODO_SHOWN]]
        return [Outbound.of_text(self._texts("staff_todo", count=str(len(waiting)),
                                             tickets="\n".join(lines)))]

    def _line(self, ticket: TicketRecord) -> str:
        what = (self._texts(f"staff_pending_{ticket.pending.value}")
                if ticket.pending is not Pending.NOTHING
                else self._texts(ticket.status.label_key))
        due = "" if ticket.due_on is None else f"{ticket.due_on:%m-%d}"
        return self._texts("staff_todo_line", number=ticket.number, what=what, due=due)

    async def _help(self, update: Update) -> list[Outbound]:
        staff = await self._member(update)
        name = staff.display_name if staff is not None else ""
        return [Outbound.of_text(self._texts("staff_help", name=name))]


def _is_bind(update: Update) -> bool:
    return BIND.fullmatch(update.text) is not None


def _is_todo(update: Update) -> bool:
    return update.text in TODO_WORDS
