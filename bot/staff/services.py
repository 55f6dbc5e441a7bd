"""What the staff API and the web console work with: the repositories and settings,
bound once the database engine exists (at start-up, after the routes are fixed)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.texts import Texts
from domain.workdays import Calendar
from storage.catalogue_cache import CatalogueCache
from storage.consultations import Consultations
from storage.lawyers import Lawyers
from storage.lifecycle import TicketMoves
from storage.notices import Notices
from storage.reports import Reports
from storage.staff import StaffAccounts
from storage.tickets import Tickets
from storage.watch import Watch


class Services:
    """What the API works with, bound once the database engine exists (at start-up, after
    the routes are fixed)."""

    staff: StaffAccounts
    tickets: Tickets
    notices: Notices
    moves: TicketMoves
    texts: Texts
    catalogues: CatalogueCache
    calendar: Calendar
    keeps_due_date: bool  # re-dispatch keeps the citizen's date (docs/LIFECYCLE.md)
    reports: Reports
    watch: Watch  # running tickets with their deadlines (the console's 待办)
    lawyers: Lawyers
    consultations: Consultations
    sign_workdays: int  # 签收 within this many working days (docs/METRICS.md)
    now: Callable[[], datetime]  # the time the moves are made at (a test moves it)

    def bind(self, engine: AsyncEngine, texts: Texts, catalogues: CatalogueCache,
             calendar: Calendar, *, keeps_due_date: bool = False,
             sign_workdays: int = 1,
             now: Callable[[], datetime] = lambda: datetime.now(UTC),
             consultations: Consultations | None = None) -> None:
        self.staff, self.tickets = StaffAccounts(engine), Tickets(engine)
        self.notices, self.reports = Notices(engine), Reports(engine)
        self.watch = Watch(engine)
        self.lawyers = Lawyers(engine)
        self.consultations = consultations or Consultations(engine)
        self.moves, self.texts, self.catalogues = TicketMoves(engine), texts, catalogues
        self.calendar, self.keeps_due_date = calendar, keeps_due_date
        self.sign_workdays, self.now = sign_workdays, now
