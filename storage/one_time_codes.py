"""One-time codes that bind a WeChat user to an account (a staff member's "绑定 <code>", a
lawyer's invite): 8 random digits, kept only as their SHA-256, each live for one account
at a time, used once."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable

from sqlalchemy.exc import IntegrityError

DIGITS = 8


def digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def well_formed(code: str) -> bool:
    """Whether ``code`` can be one (the rest are refused without asking the database)."""
    return code.isascii() and code.isdigit() and len(code) == DIGITS


async def issue(store: Callable[[str], Awaitable[None]]) -> str:
    """A new code: ``store`` keeps its digest (an insert into a table whose digest column
    is unique); a code that happens to be live already is drawn again."""
    while True:
        code = f"{secrets.randbelow(10**DIGITS):0{DIGITS}d}"
        try:
            await store(digest(code))
        except IntegrityError:  # the same code live for another: draw again
            continue
        return code
