"""Staff accounts: who works the tickets, and what each role may see. No I/O.

Three roles (docs/LIFECYCLE.md says what each may do to a ticket):

- **handler**: staff of one department; sees and works that department's tickets only;
- **supervisor**: the 12345 office; every department, dispatch decisions, approvals;
- **admin**: accounts and configuration; no ticket actions.

A login name is what a person types to sign in and what the command line names an
account by: 3–32 lower-case letters, digits, ``.``, ``_`` or ``-``, starting with a letter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

LOGIN = re.compile(r"[a-z][a-z0-9._-]{2,31}")
DISPLAY_NAME_MAX = 64
PASSWORD_MIN = 10  # characters; a passphrase is welcome
PASSWORD_MAX = 1024  # what the hasher is given at most (a bound on its work, not advice)
TOKEN_LABEL_MAX = 64


class Role(StrEnum):
    HANDLER = "handler"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


class AccountError(ValueError):
    """An account that cannot be made as asked; the message says which field and why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def check_account(login: str, display_name: str, role: Role, department: str | None) -> None:
    """:class:`AccountError` unless these make a valid account: a handler belongs to one
    department, a supervisor or admin to none."""
    if not LOGIN.fullmatch(login):
        raise AccountError("login", "3–32 lower-case letters, digits, '.', '_' or '-', "
                           "starting with a letter")
    if not display_name.strip() or len(display_name) > DISPLAY_NAME_MAX:
        raise AccountError("display_name", f"1–{DISPLAY_NAME_MAX} characters")
    if role is Role.HANDLER and not department:
        raise AccountError("department", "a handler belongs to a department")
    if role is not Role.HANDLER and department:
        raise AccountError("department", f"a {role} belongs to no department")


def check_password(password: str) -> None:
    """:class:`AccountError` unless ``password`` is long enough (and not absurdly long)."""
    if len(password) < PASSWORD_MIN:
        raise AccountError("password", f"at least {PASSWORD_MIN} characters")
    if len(password) > PASSWORD_MAX:
        raise AccountError("password", f"at most {PASSWORD_MAX} characters")


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """A staff account as the rest of the code sees it (never its password hash)."""

    id: int
    login: str
    display_name: str
    role: Role
    department: str | None  # a catalogue department id, for a handler
    active: bool
    created_at: datetime

    def sees_department(self, department: str) -> bool:
        """May this account see the tickets of ``department``?"""
        if not self.active:
            return False
        if self.role is Role.SUPERVISOR:
            return True
        return self.role is Role.HANDLER and self.department == department


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """An API token as listed (its secret is shown once, when it is made, and not kept)."""

    id: int
    staff_id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
