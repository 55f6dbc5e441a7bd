"""The legal consultation in the staff API: duty lawyers and their invite codes, the
consultations and the figures. Lawyers and consultations are an admin's to see and manage
(a consultation shows the citizen masked, never a WeChat id or a phone); the figures are
also the office's (supervisors). A handler sees none of it."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from bot.staff import office
from bot.staff.api import SERVICES, ApiError, Handler, _answer, _staff
from bot.staff.models import (
    ConsultationList,
    ConsultationOut,
    ConsultReportOut,
    ConsultReportRow,
    Done,
    InviteOut,
    LawyerIn,
    LawyerList,
    LawyerOut,
)
from bot.staff.openapi import Parameter, Route
from domain.consultation import (
    ConsultationRecord,
    LawyerRecord,
    ProfileError,
    Status,
    mask_name,
)
from domain.contact import mask_phones
from domain.staff import Role


def _only(request: web.Request, *roles: Role) -> None:
    office.only(_staff(request), *roles)


async def _lawyer_json(request: web.Request, lawyer: LawyerRecord) -> LawyerOut:
    held = await request.app[SERVICES].consultations.held_by(lawyer.id)
    return LawyerOut(id=lawyer.id, name=lawyer.name, firm=lawyer.firm,
                     licence=lawyer.licence, areas=list(lawyer.areas),
                     capacity=lawyer.capacity, active=lawyer.active, on_duty=lawyer.on_duty,
                     bound=lawyer.bound, holds=len(held), created_at=lawyer.created_at)


async def list_lawyers(request: web.Request) -> web.Response:
    """``GET /lawyers``: every duty lawyer (admins)."""
    _only(request, Role.ADMIN)
    lawyers = await request.app[SERVICES].lawyers.all()
    return _answer(LawyerList(lawyers=[await _lawyer_json(request, one) for one in lawyers]))


async def add_lawyer(request: web.Request) -> web.Response:
    """``POST /lawyers``: a new duty lawyer and their invite code (admins)."""
    _only(request, Role.ADMIN)
    services = request.app[SERVICES]
    try:
        body = LawyerIn.model_validate_json(await request.read())
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "body"
        if first["type"] in ("json_invalid", "model_type"):
            field = "body"
        raise ApiError(422, "bad_body", services.texts, field=field) from None
    catalogue = await services.catalogues.get()
    known = [] if catalogue is None else [a.id for a in catalogue.legal_areas]
    try:
        made = await services.lawyers.add(body.name, body.firm, body.licence, body.areas,
                                          capacity=body.capacity, known_areas=known)
    except ProfileError as exc:
        status, code = (409, "licence_taken") if exc.field == "licence" else (
            422, "bad_body")
        raise ApiError(status, code, services.texts, field=exc.field) from None
    return await _invite(request, made, status=201)


async def invite_lawyer(request: web.Request) -> web.Response:
    """``POST /lawyers/{id}/invite``: a new invite code (a lost or expired one)."""
    lawyer, code, expires = await office.invite_lawyer(
        request.app[SERVICES], _staff(request), request.match_info["lawyer_id"])
    return _answer(InviteOut(lawyer=await _lawyer_json(request, lawyer), code=code,
                             expires_at=expires))


async def _invite(request: web.Request, lawyer: LawyerRecord,
                  status: int = 200) -> web.Response:
    code, expires = await request.app[SERVICES].lawyers.invite(lawyer.id)
    return _answer(InviteOut(lawyer=await _lawyer_json(request, lawyer), code=code,
                             expires_at=expires), status=status)


async def set_lawyer_active(request: web.Request) -> web.Response:
    """``POST /lawyers/{id}/disable`` (what they held goes back to the queue, each citizen
    told) and ``/enable``."""
    await office.set_lawyer_active(request.app[SERVICES], _staff(request),
                                   request.match_info["lawyer_id"],
                                   request.path.endswith("/enable"))
    return _answer(Done(ok=True))


def _consultation_json(consultation: ConsultationRecord) -> ConsultationOut:
    return ConsultationOut(
        id=consultation.id, number=consultation.number, area=consultation.area,
        citizen=mask_name(consultation.name), question=mask_phones(consultation.question),
        status=consultation.status.value, left_message=consultation.left_message,
        lawyer_id=consultation.lawyer_id, created_at=consultation.created_at,
        taken_at=consultation.taken_at, first_answer_at=consultation.first_answer_at,
        ended_at=consultation.ended_at,
        end_reason=None if consultation.end_reason is None else consultation.end_reason.value)


async def list_consultations(request: web.Request) -> web.Response:
    """``GET /consultations``: the newest first, ``status`` and ``area`` filters,
    ``limit`` 1–200 (admins)."""
    _only(request, Role.ADMIN)
    services, query = request.app[SERVICES], request.query
    try:
        status = Status(query["status"]) if query.get("status") else None
    except ValueError:
        raise ApiError(422, "bad_query", services.texts, field="status") from None
    raw = query.get("limit", "50")
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= 200:
        raise ApiError(422, "bad_query", services.texts, field="limit")
    area = query.get("area") or None
    if area is not None and (len(area) > 32 or "\x00" in area):
        raise ApiError(422, "bad_query", services.texts, field="area")
    found = await services.consultations.latest(status=status, area=area, limit=int(raw))
    return _answer(ConsultationList(consultations=[_consultation_json(c) for c in found]))


async def consultation_report(request: web.Request) -> web.Response:
    """``GET /consultations/report``: the figures of the consultations asked from
    ``from`` to ``to`` (China days, at most 366), ``by`` lawyer, area or day, as at the
    end of ``as_of`` (supervisors and admins)."""
    when, made = await office.consultation_report(request.app[SERVICES], _staff(request),
                                                  request.query)
    return _answer(ConsultReportOut.model_validate({
        "from": when.first, "to": when.last, "as_of": when.as_of,
        "by": request.query.get("by") or None,
        "rows": [ConsultReportRow.model_validate(row.row()) for row in made.sheets[0][1]]}))


_LAWYER = Parameter("lawyer_id", "path", "the lawyer's id", {"type": "integer"})

ROUTES: list[tuple[Route, Handler]] = [
    (Route("GET", "/lawyers", "duty lawyers (admins)", LawyerList, errors=(401, 403)),
     list_lawyers),
    (Route("POST", "/lawyers", "a new duty lawyer and their invite code (admins)",
           InviteOut, body=LawyerIn, errors=(401, 403, 409, 422)), add_lawyer),
    (Route("POST", "/lawyers/{lawyer_id}/invite", "a new invite code (admins)", InviteOut,
           parameters=[_LAWYER], errors=(401, 403, 404, 409)), invite_lawyer),
    (Route("POST", "/lawyers/{lawyer_id}/disable",
           "the lawyer serves nobody; what they held goes back to the queue (admins)", Done,
           parameters=[_LAWYER], errors=(401, 403, 404)), set_lawyer_active),
    (Route("POST", "/lawyers/{lawyer_id}/enable", "the lawyer may serve again (admins)",
           Done, parameters=[_LAWYER], errors=(401, 403, 404)), set_lawyer_active),
    (Route("GET", "/consultations", "legal consultations, newest first (admins)",
           ConsultationList, parameters=[Parameter(n, "query", w) for n, w in (
               ("status", "queued, taken, ended or abandoned"), ("area", "a legal area id"),
               ("limit", "1-200, default 50"))], errors=(401, 403, 422)),
     list_consultations),
    (Route("GET", "/consultations/report",
           "the legal consultation's figures for a period (docs/METRICS.md)",
           ConsultReportOut, parameters=[Parameter(name, "query", what) for name, what in (
               ("from", "YYYY-MM-DD, the first China day whose consultations count"),
               ("to", "YYYY-MM-DD, the last, included"), ("by", "lawyer, area or day"),
               ("as_of", "YYYY-MM-DD: as at the end of that China day (default now)"))],
           errors=(401, 403, 422)), consultation_report),
]
