"""SQLAlchemy models: citizens, the outbox, tickets, the routing catalogue, staff accounts,
the legal consultation."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class UTCDateTime(TypeDecorator[datetime]):
    """A moment, kept in UTC: an aware value is turned to UTC before it is written (SQLite
    keeps a value's wall-clock time and drops its zone, so a China time would be read back
    as a UTC one eight hours off), and a value read back is aware, in UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is not None:
            return value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None,
                             dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Citizen(Base):
    """A WeChat user of one account, known from the follow event or a first message."""

    __tablename__ = "citizens"
    __table_args__ = (UniqueConstraint("account", "openid", name="uq_citizens_account_openid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    subscribed: Mapped[bool] = mapped_column(default=True)
    first_seen_at: Mapped[datetime] = mapped_column(
        UTCDateTime(), server_default=func.now()
    )
    subscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Push(Base):
    """A message the domain wants delivered to a user, written in the same transaction as
    the change that causes it and sent by a delivery worker (the outbox).

    ``status``: queued → sending → sent → delivered (template delivery report), or
    pending (no channel open: ``reason`` says why; retried when the user writes), failed
    (refused for good), dead (out of tries), blocked (the user blocked templates),
    uncertain (a send without an idempotency key whose outcome is unknown: an operator
    decides whether to resend).

    ``text`` is the customer-service text (and what operators read); ``message``, when
    set, is a customer-service message of another kind — an image or a news card, as
    :meth:`domain.messages.Outbound.to_json` — and ``text`` then only labels it.
    """

    __tablename__ = "pushes"
    __table_args__ = (
        UniqueConstraint("idempotency_key", name="uq_pushes_idempotency_key"),
        Index("ix_pushes_user_order", "account", "openid", "id"),
        Index("ix_pushes_due", "status", "next_attempt_at"),
        Index("ix_pushes_template_msgid", "template_msgid"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    message: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    channel: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    worker: Mapped[str | None] = mapped_column(String(64))
    template_msgid: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TicketCounter(Base):
    """The last ticket number handed out on one day (numbers are LX{day}-{n:06d})."""

    __tablename__ = "ticket_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    """A complaint, request for help, enquiry, suggestion or praise (投诉/求助/咨询/建议/表扬)."""

    __tablename__ = "tickets"
    __table_args__ = (
        UniqueConstraint("number", name="uq_tickets_number"),
        UniqueConstraint("idempotency_key", name="uq_tickets_idempotency_key"),
        Index("ix_tickets_owner", "account", "openid", "id"),
        Index("ix_tickets_board", "public", "answered_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(24))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(32))  # None: the citizen did not say
    department: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    phone: Mapped[str | None] = mapped_column(String(20))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    place: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16))
    # None: a ticket filed before provisional deadlines, while its due year's calendar
    # was unpublished (`lianxin calendar refresh` dates it)
    due_on: Mapped[date | None] = mapped_column(Date)
    # counted through a year whose calendar is not known yet (weekdays only): counted
    # again, from ``due_workdays`` working days after the day it was filed, once it is
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False,
                                                  server_default=false())
    due_workdays: Mapped[int | None] = mapped_column(Integer)
    # the China day the count of ``due_workdays`` started (filing, 转办, 改派, 重办);
    # None: the day it was filed
    due_from: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # raised by every move: two staff acting at once, one finds it changed (409)
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # what an in-progress ticket waits for from the office (domain.tickets.Pending)
    pending: Mapped[str] = mapped_column(String(16), default="", server_default="")
    pending_due_on: Mapped[date | None] = mapped_column(Date)  # the extension asked for
    pending_text: Mapped[str | None] = mapped_column(Text)  # its reason, or the answer
    merged_into: Mapped[int | None] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"),
        ForeignKey("tickets.id", ondelete="SET NULL", name="fk_tickets_merged_into"),
        index=True)
    # the public board (docs/BOARD.md): the answer the citizen received, when, and the due
    # date it was given against; the office's reason for keeping it off the board
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    answer_due_on: Mapped[date | None] = mapped_column(Date)
    withheld: Mapped[str | None] = mapped_column(Text)

    # every ORM update of a ticket is "… WHERE id = ? AND version = ?" and raises the
    # version: a second writer that read the same version finds no row (StaleDataError)
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy reads it


class TicketEvent(Base):
    """One transition of a ticket: who, when, from which status to which, and a note."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"),
                                           index=True)
    actor: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime())
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    # the lifecycle's action (domain.tickets.Action), None for events before it
    action: Mapped[str | None] = mapped_column(String(24))
    party: Mapped[str | None] = mapped_column(String(16))  # domain.tickets.Party
    staff_id: Mapped[int | None] = mapped_column(
        ForeignKey("staff.id", ondelete="SET NULL", name="fk_ticket_events_staff_id"))
    citizen_text: Mapped[str | None] = mapped_column(Text)  # what the citizen was told
    # the ticket's due date as it stood after this move (None: events before 0010)
    due_on: Mapped[date | None] = mapped_column(Date)


class Attachment(Base):
    """Evidence a citizen sent with a ticket (a WeChat image, by media id and URL)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"),
                                           index=True)
    media_id: Mapped[str] = mapped_column(String(128))
    url: Mapped[str] = mapped_column(Text, default="")


# ---------------------------------------------------------------------- the catalogue
# ``lianxin config load`` writes config/catalogue.toml here, whole, in one transaction
# (storage/catalogue.py); ``position`` keeps the file's order. Tickets keep the ids they
# were routed with as plain strings, so a later catalogue never rewrites history.


class CatalogueMeta(Base):
    """The one row (``id`` 1) describing the loaded catalogue as a whole."""

    __tablename__ = "catalogue_meta"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    county: Mapped[str] = mapped_column(Text)
    deadlines: Mapped[dict[str, int]] = mapped_column(JSON)  # {kind: working days}
    anonymous_kinds: Mapped[list[str]] = mapped_column(JSON)  # kinds that need no phone
    # the legal consultation's areas and hours (domain/consultation.py legal_to_json)
    legal: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    source: Mapped[str] = mapped_column(Text)  # the file it was loaded from
    digest: Mapped[str] = mapped_column(String(64))  # sha256 of that file, hex
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    short_name: Mapped[str] = mapped_column(Text)
    fallback: Mapped[bool] = mapped_column(Boolean)
    reviews_answers: Mapped[bool] = mapped_column(Boolean, default=False,
                                                  server_default=false())
    position: Mapped[int] = mapped_column(Integer)


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("display_order", name="uq_categories_display_order"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    display_order: Mapped[int] = mapped_column(Integer)  # the number shown to the citizen
    keywords: Mapped[list[str]] = mapped_column(JSON)
    position: Mapped[int] = mapped_column(Integer)


class Region(Base):
    __tablename__ = "regions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    parent: Mapped[str | None] = mapped_column(String(32))  # a region id
    # its villages, communities and landmarks, in file order
    places: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    position: Mapped[int] = mapped_column(Integer)


class RoutingRule(Base):
    """category × region → department; ``region`` is a region id or ``"*"`` (anywhere)."""

    __tablename__ = "routing_rules"
    __table_args__ = (
        UniqueConstraint("category", "region", name="uq_routing_rules_category_region"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    category: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(32))
    department: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer)


class Staff(Base):
    """A staff account (domain/staff.py: roles and rules). ``password_hash`` is argon2id
    (argon2-cffi's encoded form, parameters included), ``None`` for an account that signs
    in with API tokens only until a password is set."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("login", name="uq_staff_login"),
                      UniqueConstraint("wechat_account", "wechat_openid",
                                       name="uq_staff_wechat"))

    id: Mapped[int] = mapped_column(primary_key=True)
    login: Mapped[str] = mapped_column(String(32))
    display_name: Mapped[str] = mapped_column(String(64))
    role: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(32))  # a catalogue department id
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    password_hash: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the WeChat user bound with a one-time code (notices in WeChat, the staff router)
    wechat_account: Mapped[str | None] = mapped_column(String(32))
    wechat_openid: Mapped[str | None] = mapped_column(String(64))


class StaffToken(Base):
    """An API token of a staff account: only the SHA-256 of its secret is kept (the secret
    is random, 256 bits: a slow hash adds nothing), found by that hash on every request."""

    __tablename__ = "staff_tokens"
    __table_args__ = (UniqueConstraint("secret_hash", name="uq_staff_tokens_secret_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffBindCode(Base):
    """A one-time code that binds the WeChat user who sends it to a staff account: kept
    as its SHA-256, valid for minutes, used once."""

    __tablename__ = "staff_bind_codes"
    __table_args__ = (UniqueConstraint("code_hash", name="uq_staff_bind_codes_code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffNotice(Base):
    """Something a staff member should act on (a ticket sent to their department, one
    returned to the office, one awaiting approval): listed in the API, pushed in WeChat to
    a bound member in the same transaction as the move."""

    __tablename__ = "staff_notices"
    __table_args__ = (Index("ix_staff_notices_staff_id", "staff_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"))
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


# ---------------------------------------------------------------------- the scheduler


class SchedulerLease(Base):
    """Who runs the scheduled jobs (one holder at a time): taken when ``until`` has
    passed, renewed by its holder well before (storage/leases.py)."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    until: Mapped[datetime] = mapped_column(UTCDateTime())


class SchedulerRun(Base):
    """One run of a job for one tick: the unique pair is the claim, so a job runs once
    per tick however many schedulers try."""

    __tablename__ = "scheduler_runs"
    __table_args__ = (UniqueConstraint("job", "tick", name="uq_scheduler_runs_job_tick"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(32))
    tick: Mapped[datetime] = mapped_column(UTCDateTime())
    holder: Mapped[str] = mapped_column(String(128))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    outcome: Mapped[str | None] = mapped_column(String(16))  # ok, failed
    done: Mapped[int | None] = mapped_column(Integer)  # what the run did (tickets, rows)


class TicketAlert(Base):
    """An alert a deadline job sent for a ticket (a reminder, a 督办), kept so that it is
    sent once: per deadline for a reminder, per China day for a 督办."""

    __tablename__ = "ticket_alerts"
    __table_args__ = (UniqueConstraint("ticket_id", "kind", "day", name="uq_ticket_alerts_once"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    day: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Survey(Base):
    """A question put to a ticket's reporter after it was closed: the rating (评价, one
    per closing: ``round``), or, days later, whether the problem is still solved
    (``recheck``). ``step`` is where it stands: ``rating``/``recheck`` (asked), ``comment``
    (rated, a comment may follow), ``redo`` (offered 不满意重办), ``done``, ``expired``
    (never answered in time: closed as unrated)."""

    __tablename__ = "surveys"
    __table_args__ = (UniqueConstraint("ticket_id", "kind", "round", name="uq_surveys_round"),
                      Index("ix_surveys_owner", "account", "openid", "step"),
                      Index("ix_surveys_consultation", "consultation_id"))

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"),
                                    primary_key=True, autoincrement=True)
    # of a ticket, or (kind lawyer) of a legal consultation
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    consultation_id: Mapped[int | None] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE", name="fk_surveys_consultation"))
    account: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # rating, recheck, lawyer
    round: Mapped[int] = mapped_column(Integer)  # the ticket's n-th closing
    step: Mapped[str] = mapped_column(String(8))
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rating: Mapped[int | None] = mapped_column(Integer)  # 1-5
    comment: Mapped[str | None] = mapped_column(Text)
    resolved: Mapped[bool | None] = mapped_column(Boolean)  # the recheck's answer
    redo: Mapped[bool | None] = mapped_column(Boolean)  # 不满意重办 asked for or declined


# -- the legal consultation (domain/consultation.py) -------------------------------------------

_BIG = BigInteger().with_variant(Integer, "sqlite")


class Lawyer(Base):
    """A duty lawyer's profile, bound to a WeChat user by a one-time invite code. The
    WeChat user addresses pushes only; a citizen is told ``name`` and ``firm``."""

    __tablename__ = "lawyers"
    __table_args__ = (UniqueConstraint("licence", name="uq_lawyers_licence"),
                      UniqueConstraint("wechat_account", "wechat_openid",
                                       name="uq_lawyers_wechat"))

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32))
    firm: Mapped[str] = mapped_column(String(64))
    licence: Mapped[str] = mapped_column(String(20))
    areas: Mapped[list[str]] = mapped_column(JSON)  # legal area ids
    capacity: Mapped[int] = mapped_column(Integer)  # consultations held at once, at most
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    on_duty: Mapped[bool] = mapped_column(Boolean, default=False)
    duty_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the consultation the lawyer's next messages go to (切换 N)
    current_id: Mapped[int | None] = mapped_column(_BIG)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    wechat_account: Mapped[str | None] = mapped_column(String(32))
    wechat_openid: Mapped[str | None] = mapped_column(String(64))


class LawyerSignInCode(Base):
    """A one-time code a bound lawyer asks for in WeChat (网页登录) to sign in to the web
    console: kept as its SHA-256, valid for ten minutes, used once."""

    __tablename__ = "lawyer_sign_in_codes"
    __table_args__ = (UniqueConstraint("code_hash", name="uq_lawyer_sign_in_codes_code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lawyer_id: Mapped[int] = mapped_column(
        ForeignKey("lawyers.id", ondelete="CASCADE", name="fk_lawyer_sign_in_codes_lawyer"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class LawyerInvite(Base):
    """A one-time code that binds the WeChat user who sends it to a lawyer's profile:
    kept as its SHA-256, valid for a day, used once."""

    __tablename__ = "lawyer_invites"
    __table_args__ = (UniqueConstraint("code_hash", name="uq_lawyer_invites_code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lawyer_id: Mapped[int] = mapped_column(ForeignKey("lawyers.id", ondelete="CASCADE"))
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ConsultationCounter(Base):
    """The last consultation number handed out on one day (FL{day}-{n:06d})."""

    __tablename__ = "consultation_counters"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Consultation(Base):
    """A citizen's legal question and its conversation with a lawyer: the durable record
    (the Redis queue, when there is one, is rebuilt from the queued rows)."""

    __tablename__ = "consultations"
    __table_args__ = (
        UniqueConstraint("number", name="uq_consultations_number"),
        UniqueConstraint("idempotency_key", name="uq_consultations_idempotency_key"),
        Index("ix_consultations_queue", "status", "area", "queued_at", "id"),
        Index("ix_consultations_owner", "account", "openid", "status"),
        Index("ix_consultations_lawyer", "lawyer_id", "status"),
    )

    id: Mapped[int] = mapped_column(_BIG, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(24))
    idempotency_key: Mapped[str] = mapped_column(String(64))
    account: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(32))  # the citizen's 称呼
    area: Mapped[str] = mapped_column(String(32))
    question: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))
    left_message: Mapped[bool] = mapped_column(Boolean, default=False)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime())  # its place in the queue
    asked_position: Mapped[int] = mapped_column(Integer)  # its place when it was asked
    lawyer_id: Mapped[int | None] = mapped_column(ForeignKey("lawyers.id"))
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    first_answer_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_lawyer_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_citizen_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the lawyer answered while the citizen was out of reach: the lawyer_answer template
    # went (once), and the answer waits for the citizen's next message
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(String(16))
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsultationMessage(Base):
    """What passed in a consultation: the question's later additions and photos, and every
    message relayed between the citizen and the lawyer (text, or a media id)."""

    __tablename__ = "consultation_messages"
    __table_args__ = (Index("ix_consultation_messages_of", "consultation_id", "id"),)

    id: Mapped[int] = mapped_column(_BIG, primary_key=True, autoincrement=True)
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"))
    sender: Mapped[str] = mapped_column(String(8))  # citizen, lawyer
    lawyer_id: Mapped[int | None] = mapped_column(ForeignKey("lawyers.id"))
    kind: Mapped[str] = mapped_column(String(8))  # text, image, voice
    text: Mapped[str] = mapped_column(Text, default="")
    media_id: Mapped[str | None] = mapped_column(String(256))
    at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConsultationEvent(Base):
    """A consultation's timeline (domain/consultation.py ``Action``): what the figures of
    ``lianxin report`` count."""

    __tablename__ = "consultation_events"
    __table_args__ = (Index("ix_consultation_events_of", "consultation_id", "id"),)

    id: Mapped[int] = mapped_column(_BIG, primary_key=True, autoincrement=True)
    consultation_id: Mapped[int] = mapped_column(
        ForeignKey("consultations.id", ondelete="CASCADE"))
    action: Mapped[str] = mapped_column(String(16))
    lawyer_id: Mapped[int | None] = mapped_column(ForeignKey("lawyers.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime())
