"""The staff API's request and response bodies (pydantic): what the handlers validate and
answer with, and what ``/api/v1/openapi.json`` is generated from — one source for both."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ActionBody(BaseModel):
    """The body of ``POST /tickets/{id}/{action}``: the version the caller saw, and what
    the action carries."""

    version: int = Field(ge=1, description="the ticket's version as the caller saw it")
    note: str = Field(default="", max_length=2000,
                      description="for staff: the reason (退单, 不予受理, 审核退回 …)")
    department: str | None = Field(default=None, max_length=32,
                                   description="转办 / 改派: the department's catalogue id")
    due_on: date | None = Field(default=None, description="申请延期: the date asked for")
    text: str | None = Field(default=None, max_length=20000,
                             description="答复: the answer; 申请延期: the reason")
    into: int | None = Field(default=None, ge=1, le=2**63 - 1,
                             description="并单: the id of the earlier ticket")

    @field_validator("note", "department", "text")
    @classmethod
    def _no_nul(cls, value: str | None) -> str | None:
        if value is not None and "\x00" in value:
            raise ValueError("no NUL characters")
        return value

    @field_validator("due_on")
    @classmethod
    def _in_range(cls, value: date | None) -> date | None:
        if value is not None and not 2000 <= value.year <= 2100:
            raise ValueError("a date from 2000 to 2100")
        return value

    # strict: "1" is no version; dates come as ISO strings, as JSON has no dates
    model_config = ConfigDict(extra="forbid", strict=True)


class Location(BaseModel):
    latitude: float
    longitude: float
    place: str | None


class TicketOut(BaseModel):
    id: int
    number: str
    kind: str
    category: str
    region: str | None
    department: str
    department_name: str
    description: str
    phone: str | None
    public: bool
    location: Location | None
    status: str
    pending: str | None = Field(description="extension or review, when it waits for the office")
    due_on: date | None
    due_provisional: bool
    version: int
    merged_into: int | None
    created_at: datetime


class EventOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    at: datetime
    actor: str
    action: str | None
    from_: str | None = Field(alias="from")
    to: str
    note: str
    citizen_text: str | None


class Attachment(BaseModel):
    media_id: str
    url: str


class TicketDetail(BaseModel):
    ticket: TicketOut
    timeline: list[EventOut]
    attachments: list[Attachment]


class TicketPage(BaseModel):
    tickets: list[TicketOut]
    next_cursor: str | None


class TicketAfter(BaseModel):
    ticket: TicketOut


class Me(BaseModel):
    login: str
    display_name: str
    role: str
    department: str | None


class Message(BaseModel):
    zh: str
    en: str


class ErrorBody(BaseModel):
    code: str
    message: Message
    field: str | None = None


class ErrorOut(BaseModel):
    error: ErrorBody
    ticket: TicketOut | None = Field(
        default=None, description="409: the ticket as it stands now")


class OpenApi(BaseModel):
    """The OpenAPI document (its schema is OpenAPI's own)."""

    model_config = ConfigDict(extra="allow")

    openapi: str


class DepartmentOut(BaseModel):
    id: str
    name: str
    short_name: str
    fallback: bool
    reviews_answers: bool


class CategoryOut(BaseModel):
    id: str
    name: str
    order: int


class RegionOut(BaseModel):
    id: str
    name: str
    parent: str | None


class CatalogueOut(BaseModel):
    county: str
    deadlines: dict[str, int] = Field(description="working days to answer, by kind")
    departments: list[DepartmentOut]
    categories: list[CategoryOut]
    regions: list[RegionOut]


class BindCode(BaseModel):
    code: str = Field(description="send it to the account in WeChat: 绑定 <code>")
    expires_at: datetime


class NoticeOut(BaseModel):
    id: int
    ticket_id: int
    kind: str = Field(description="dispatched, returned, extension or review")
    text: str
    created_at: datetime
    read: bool


class NoticeList(BaseModel):
    notifications: list[NoticeOut]
    unread: int


class Done(BaseModel):
    ok: bool


class ReportRow(BaseModel):
    """One group's figures (docs/METRICS.md): counts, rates as fractions (None: nothing
    to divide by), times in working days."""

    group: str
    volume: int
    set_aside: int
    sign_due: int
    signed_on_time: int
    sign_rate: float | None
    answer_due: int
    answered_on_time: int
    answer_rate: float | None
    closed: int
    rated: int
    satisfied: int
    satisfaction: float | None
    participation: float | None
    reopened: int
    redo_rate: float | None
    reached: int
    returned: int
    return_rate: float | None
    sign_days_mean: float | None
    sign_days_p90: int | None
    answer_days_mean: float | None
    answer_days_p90: int | None
    overdue_now: int
    supervised: int


class ReportOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    as_of: datetime
    by: str | None
    rows: list[ReportRow]  # one per group, then the whole


# -- the legal consultation (admins; the figures also for supervisors) ----------------------


class LawyerIn(BaseModel):
    """A new duty lawyer: their invite code comes back once."""

    name: str = Field(min_length=1, max_length=32, description="as citizens are told")
    firm: str = Field(min_length=1, max_length=64, description="as citizens are told")
    licence: str = Field(pattern=r"^[0-9A-Za-z]{8,20}$", description="执业证号")
    areas: list[str] = Field(min_length=1, max_length=20,
                             description="legal area ids of the catalogue")
    capacity: int = Field(default=3, ge=1, le=20,
                          description="consultations held at once, at most")

    model_config = ConfigDict(extra="forbid", strict=True)

    @field_validator("name", "firm")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        if "\x00" in value:
            raise ValueError("no NUL characters")
        return value

    @field_validator("areas")
    @classmethod
    def _area_ids(cls, value: list[str]) -> list[str]:
        if any(not area or len(area) > 32 or "\x00" in area for area in value):
            raise ValueError("area ids of 1-32 characters")
        return value


class LawyerOut(BaseModel):
    id: int
    name: str
    firm: str
    licence: str
    areas: list[str]
    capacity: int
    active: bool
    on_duty: bool
    bound: bool  # a WeChat user is bound (never shown)
    holds: int  # consultations taken and not ended
    created_at: datetime


class LawyerList(BaseModel):
    lawyers: list[LawyerOut]


class InviteOut(BaseModel):
    lawyer: LawyerOut
    code: str = Field(description="sent in WeChat as “律师绑定 <code>”; shown once")
    expires_at: datetime


class ConsultationOut(BaseModel):
    """A consultation as an admin sees it: the citizen masked (张**), never a WeChat id
    or a phone."""

    id: int
    number: str
    area: str
    citizen: str  # 张**, or "" when no name was given
    question: str  # phone numbers masked
    status: str
    left_message: bool
    lawyer_id: int | None
    created_at: datetime
    taken_at: datetime | None
    first_answer_at: datetime | None
    ended_at: datetime | None
    end_reason: str | None


class ConsultationList(BaseModel):
    consultations: list[ConsultationOut]


class ConsultReportRow(BaseModel):
    """One group's figures of the legal consultation (docs/METRICS.md)."""

    group: str
    requested: int
    left_messages: int
    taken: int
    connection_rate: float | None
    abandoned: int
    abandonment_rate: float | None
    given_back: int
    ended: int
    rated: int
    satisfied: int
    consult_satisfaction: float | None
    wait_minutes_mean: float | None
    wait_minutes_p90: int | None
    first_answer_minutes_mean: float | None
    first_answer_minutes_p90: int | None
    duration_minutes_mean: float | None
    duration_minutes_p90: int | None


class ConsultReportOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    as_of: datetime
    by: str | None
    rows: list[ConsultReportRow]
