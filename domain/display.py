"""How tickets' dates and departments read, for the flows that file tickets and the
handlers that show them (neither needs the other for it)."""

from __future__ import annotations

from datetime import date

from domain.catalogue import Catalogue
from domain.texts import Wording as Texts


def format_day(texts: Texts, day: date) -> str:
    """``2026年11月30日（周一）`` — weekday names come from the text catalogue."""
    weekday = texts("weekday_names")[day.weekday()]
    return texts("date_format", year=str(day.year), month=str(day.month),
                 day=str(day.day), weekday=weekday)


def department_name(catalogue: Catalogue, department_id: str) -> str:
    try:
        return catalogue.department(department_id).name
    except KeyError:  # removed from the catalogue since: its id still says something
        return department_id
