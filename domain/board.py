"""The public board (公开留言板, docs/BOARD.md): what of a ticket citizens and the press may
read, once answered, when its citizen agreed to publish it and the office did not withhold
it. Nothing here is redacted yet: the page redacts (``domain.redact``) what it shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from domain.tickets import Status
from domain.workdays import local_day

# answered, and still so: the statuses a published ticket is shown in
SHOWN = frozenset({Status.REPLIED, Status.CLOSED, Status.RATED, Status.REOPENED})


@dataclass(frozen=True, slots=True)
class BoardEntry:
    id: int
    number: str
    kind: str
    category: str
    region: str | None
    department: str
    status: Status
    description: str
    created_at: datetime
    answer: str
    answered_at: datetime
    answer_due_on: date | None  # the due date the answer was given against

    @property
    def on_time(self) -> bool | None:
        """Answered by its due date (China days); ``None``: it had none."""
        if self.answer_due_on is None:
            return None
        return local_day(self.answered_at) <= self.answer_due_on
