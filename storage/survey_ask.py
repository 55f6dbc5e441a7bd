"""Asking a ticket's reporter (or a consultation's citizen) a survey question: the survey's
row and its push, in the caller's transaction (the close that asks the rating, the job
that asks the recheck, the end of a consultation). Kept apart from ``storage/surveys.py``
so that the ticket moves may ask without importing the repository that answers through
them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from domain.survey import Step, SurveyKind
from domain.tickets import Action
from storage.models import Consultation, Survey, Ticket, TicketEvent
from storage.outbox import add_push

PURPOSE = "survey"


async def ask(session: AsyncSession, ticket: Ticket, *, kind: SurveyKind, text: str | None,
              label: str, now: datetime) -> Survey | None:
    """Ask the ticket's reporter ``text`` (the question) in the caller's transaction: the
    survey's row and its push (purpose ``survey``). The round is the ticket's closings so
    far (a rating per closing; a recheck per the last one). ``label``: the question in a
    few words, for the template outside the customer-service window (``question``, a
    ``thing`` of at most 20 characters). ``None`` without a text."""
    if text is None:
        return None
    closings = await session.scalar(
        select(func.count()).select_from(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.action == Action.CLOSE.value))
    survey = Survey(ticket_id=ticket.id, account=ticket.account, openid=ticket.openid,
                    kind=kind.value, round=max(int(closings or 0), 1),
                    step=(Step.RATING if kind is SurveyKind.RATING else Step.RECHECK).value,
                    asked_at=now)
    session.add(survey)
    add_push(session, account=ticket.account, openid=ticket.openid, purpose=PURPOSE,
             text=text, fields={"ticket_no": ticket.number, "question": label,
                                "time": now.isoformat()})
    return survey


async def ask_consultation(session: AsyncSession, consultation: Consultation, *, text: str,
                           label: str, now: datetime) -> Survey:
    """Ask the citizen to rate the lawyer of an ended consultation, in the caller's
    transaction (the survey's row and its push, as :func:`ask`)."""
    survey = Survey(consultation_id=consultation.id, account=consultation.account,
                    openid=consultation.openid, kind=SurveyKind.LAWYER.value, round=1,
                    step=Step.RATING.value, asked_at=now)
    session.add(survey)
    add_push(session, account=consultation.account, openid=consultation.openid,
             purpose=PURPOSE, text=text, fields={"ticket_no": consultation.number,
                                                 "question": label, "time": now.isoformat()})
    return survey
