"""Staff in WeChat: binding a WeChat user to a staff account with a one-time code
("绑定 12345678", from ``lianxin staff bind-code`` or ``POST /api/v1/me/bind-code``), and
the router of bound staff, registered ahead of every citizen router: 待办 lists what
awaits them, 解除绑定 unbinds, any other message or menu click gets the staff help. A
bound member never files a complaint from that account by accident; to file as a citizen
they unbind first."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable

from domain.contact import mask_openid
from domain.messages import Outbound
from domain.staff import Role, StaffRecord
from domain.texts import Texts
from domain.tickets import Pending, TicketRecord, narrow
from handlers.dispatcher import MENU_EVENTS, Event, Kind, Message, Router, Update
from storage.staff import StaffAccounts
from storage.tickets import Tickets

BIND = re.compile(r"绑定\s*([0-9]{8})")
TODO_WORDS = frozenset({"待办", "待办事项", "我的待办"})
UNBIND_WORDS = frozenset({"解除绑定", "解绑"})
TODO_SHOWN = 10
BIND_TRIES = 5  # wrong codes a WeChat user may send …
BIND_PAUSE = 600.0  # … before their tries are refused for this many seconds
RETRY_AFTER_FAULT = 5.0  # seconds before the bound members are asked for again

log = logging.getLogger(__name__)


class StaffDesk:
    """``ttl``: seconds the bound members are known without asking the database again (a
    binding made in this process counts at once; in another, within ``ttl``): every
    message asks whether its sender is staff, and a query per message would cost the
    citizens' messages a database round trip. When the database cannot be asked, the
    members last known stand (citizens are not held up by it)."""

    def __init__(self, texts: Texts, staff: StaffAccounts, tickets: Tickets, *,
                 ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._texts = texts
        self._staff = staff
        self._tickets = tickets
        self._ttl, self._clock = ttl, clock
        self._bound: dict[tuple[str, str], StaffRecord] = {}
        self._due = -float("inf")  # when to ask the database again
        self._refreshing = asyncio.Lock()
        self._failed_binds: dict[tuple[str, str], list[float]] = {}

    def bind_router(self) -> Router:
        """"绑定 <code>" from anyone."""
        router = Router("staff binding")
        router.add(self._bind, Kind("text"), _is_bind)
        return router

    def router(self) -> Router:
        """A bound member's messages and menu clicks."""
        router = Router("staff")
        router.add(self._todo, Kind("text"), _is_todo, self._is_staff)
        router.add(self._unbind, Kind("text"), _is_unbind, self._is_staff)
        router.add(self._help, Message(), self._is_staff)
        router.add(self._help, Event(*MENU_EVENTS), self._is_staff)
        return router

    def _is_staff(self, update: Update) -> bool | Awaitable[bool]:
        """Whether a bound member sent it: a plain answer from the list in memory while it
        is fresh (every message asks; no coroutine for it), else after reading it."""
        if self._clock() < self._due:
            inbound = update.inbound
            return (inbound.account, inbound.user) in self._bound
        return self._is_staff_read(update)

    async def _is_staff_read(self, update: Update) -> bool:
        return await self._member(update) is not None

    async def _member(self, update: Update) -> StaffRecord | None:
        if self._clock() >= self._due:
            await self._refresh()
        inbound = update.inbound
        return self._bound.get((inbound.account, inbound.user))

    async def _refresh(self) -> None:
        async with self._refreshing:
            if self._clock() < self._due:  # another message just asked
                return
            try:
                self._bound = await self._staff.all_bound()
            except Exception as exc:  # the members last known stand meanwhile
                log.warning("could not read the bound staff: %s", type(exc).__name__)
                self._due = self._clock() + RETRY_AFTER_FAULT
                return
            self._due = self._clock() + self._ttl

    async def _bind(self, update: Update) -> list[Outbound]:
        found = BIND.fullmatch(narrow(update.text))
        assert found is not None
        inbound = update.inbound
        who = (inbound.account, inbound.user)
        now = self._clock()
        recent = [t for t in self._failed_binds.get(who, []) if now - t < BIND_PAUSE]
        if len(recent) >= BIND_TRIES:
            return [Outbound.of_text(self._texts("staff_bind_paused"))]
        staff = await self._staff.bind(found.group(1), inbound.account, inbound.user)
        if staff is None:
            self._failed_binds[who] = [*recent, now]
            log.warning("[%s] a wrong staff bind code from %s", inbound.account,
                        mask_openid(inbound.user))
            return [Outbound.of_text(self._texts("staff_bind_invalid"))]
        self._failed_binds.pop(who, None)
        log.info("[%s] staff account %s bound to %s", inbound.account, staff.login,
                 mask_openid(inbound.user))
        self._due = -float("inf")
        await self._refresh()
        return [Outbound.of_text(self._texts(
            "staff_bound", name=staff.display_name,
            role=self._texts(f"staff_role_{staff.role.value}")))]

    async def _unbind(self, update: Update) -> list[Outbound]:
        inbound = update.inbound
        await self._staff.unbind(inbound.account, inbound.user)
        self._due = -float("inf")
        await self._refresh()
        return [Outbound.of_text(self._texts("staff_unbound"))]

    async def _todo(self, update: Update) -> list[Outbound]:
        staff = await self._member(update)
        if staff is None or staff.role is Role.ADMIN:  # admins have no tickets
            return await self._help(update)
        department = staff.department if staff.role is Role.HANDLER else None
        count, waiting = await self._tickets.todo(department, limit=TODO_SHOWN)
        if not count:
            return [Outbound.of_text(self._texts("staff_todo_none"))]
        return [Outbound.of_text(self._texts(
            "staff_todo", count=str(count), tickets="\n".join(map(self._line, waiting))))]

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
    text = update.text  # 绑定 has no full-width form: most texts stop here, unnarrowed
    return text.startswith("绑定") and BIND.fullmatch(narrow(text)) is not None


def _is_todo(update: Update) -> bool:
    return update.text in TODO_WORDS


def _is_unbind(update: Update) -> bool:
    return update.text in UNBIND_WORDS
