"""The scheduler's ticket jobs: each a plain function of "now" and what it works on
(:class:`Tools`), run by :class:`scheduler.runner.JobRunner` once per tick across every
scheduler process.

- ``dispatch``: a ticket still 已受理 (no department: the office did not dispatch it, or
  it was received while no rule covered it) that a rule of the catalogue now routes is
  dispatched by the system, the citizen and the department told as for a dispatch by hand;
- ``remind``: the department is reminded the working day before a 签收 or 答复 deadline;
- ``supervise``: a ticket past a deadline gets a 督办 each working day while it stays so:
  an event on its timeline, a notice to the department and to the office;
- ``surveys``: a survey not answered within ``survey_for`` lapses (a rating not given
  leaves the ticket unrated); ``recheck_after`` a closing, 问题是否仍已解决 is asked;
- ``redate``: provisional due dates counted again once their year's calendar is known
  (the calendar file is read again when it changes);
- ``cleanup``: expired bind codes, delivered pushes, old alerts and run-log entries
  deleted after their retention. Conversation state needs no job: every store keeps it
  for ``LIANXIN_STATE_TTL`` after the last message and drops it by itself.

Every job is idempotent: what it sends is recorded in the transaction that sends it, so a
job run twice (by two schedulers at once, or after a crash) sends nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.catalogue import Catalogue
from domain.consultation import TO_CITIZEN, TO_LAWYER, EndReason, mask_name
from domain.deadlines import (
    WATCHED,
    Deadline,
    deadline_of,
    office_hours,
    overdue_on,
    remind_on,
)
from domain.display import format_day
from domain.messages import excerpt
from domain.survey import Step, lawyer_rating, question
from domain.telling import Act, teller
from domain.texts import Wording
from domain.tickets import Action, MoveRefused, Party, TicketRecord
from domain.workdays import Calendar, local_day
from storage.consult_queue import RedisQueue
from storage.consultations import Consultations, Note, awaited_since
from storage.lawyers import Lawyers
from storage.leases import Leases
from storage.lifecycle import AlreadyDone, TicketMoves, VersionConflict
from storage.outbox import Outbox
from storage.staff import StaffAccounts
from storage.surveys import Surveys
from storage.tickets import Tickets
from storage.watch import Watch

log = logging.getLogger(__name__)

ACTOR = "scheduler"  # who the timeline says moved a ticket


@dataclass(frozen=True, slots=True)
class Policy:
    """The office's rules the jobs follow (settings: the README's table)."""

    sign_workdays: int = 1  # 签收 within this many working days of arriving
    alerts_hour: int = 8  # reminders and 督办 from this hour, China time
    keep_pushes: timedelta = timedelta(days=30)  # sent and delivered pushes
    keep_bind_codes: timedelta = timedelta(days=1)  # after they expired
    keep_runs: timedelta = timedelta(days=7)  # the run log and the alerts
    survey_for: timedelta = timedelta(days=7)  # a survey not answered then lapses
    recheck_after: timedelta | None = timedelta(days=28)  # 问题是否仍已解决; None: never
    # the legal consultation: a lawyer who took one and says nothing is reminded, then it
    # goes back to the queue; a citizen who says nothing after the lawyer's answer ends it
    consult_remind: timedelta = timedelta(minutes=10)
    consult_timeout: timedelta = timedelta(minutes=20)
    consult_silence: timedelta = timedelta(minutes=30)
    # … or this long after an answer that waited for a citizen out of reach
    consult_away: timedelta = timedelta(hours=72)
    # a question no lawyer has taken in this long is closed (the citizen told)
    consult_expire: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Tools:
    """What the jobs work on. ``catalogue`` and ``calendar`` are asked at each run: the
    routing catalogue as loaded now, the working-day calendar as the file says now."""

    engine: AsyncEngine
    texts: Wording
    catalogue: Callable[[], Awaitable[Catalogue | None]]
    calendar: Callable[[], Calendar]
    policy: Policy = Policy()
    queue: RedisQueue | None = None  # the consultation queue's Redis index, if any


Job = Callable[[datetime, Tools], Awaitable[int]]


async def dispatch_waiting(now: datetime, tools: Tools) -> int:
    """Dispatch every 已受理 ticket a rule of the catalogue routes; how many."""
    catalogue = await tools.catalogue()
    if catalogue is None:
        return 0
    calendar, moves, tell = tools.calendar(), TicketMoves(tools.engine), teller(
        tools.texts, catalogue)
    done = 0
    for ticket in await Watch(tools.engine).waiting():
        try:
            rule = catalogue.rule_for(ticket.category, ticket.region)
        except KeyError:  # a category or region the catalogue no longer has
            continue
        if rule is None:  # the office dispatches it by hand
            continue
        act = Act(Action.DISPATCH, Party.SYSTEM, ACTOR, version=ticket.version,
                  department=rule.department).due_after(
            local_day(now), catalogue.deadlines.get(ticket.kind), calendar)
        try:
            await moves.act(ticket.id, act, tell, now=now)
        except (VersionConflict, MoveRefused):  # the office acted on it meanwhile
            continue
        done += 1
    return done


async def _due_today(now: datetime, tools: Tools,
                     on: Callable[[Deadline, date, Calendar], bool],
                     ) -> list[tuple[TicketRecord, Deadline]]:
    """The running tickets, each with its deadline, that ``on`` says are due an alert
    today (``remind_on``, ``overdue_on``); none before the office's hours."""
    if not office_hours(now, tools.policy.alerts_hour):
        return []
    today, calendar = local_day(now), tools.calendar()
    found = []
    for watched in await Watch(tools.engine).running(WATCHED):
        due = deadline_of(watched.ticket, watched.arrived_at, calendar,
                          tools.policy.sign_workdays)
        if due is not None and on(due, today, calendar):
            found.append((watched.ticket, due))
    return found


async def remind(now: datetime, tools: Tools) -> int:
    """Remind departments of the deadlines due on the next working day; how many."""
    watch, done = Watch(tools.engine), 0
    for ticket, due in await _due_today(now, tools, remind_on):
        text = tools.texts(f"staff_notice_reminder_{due.due.value}", number=ticket.number,
                           summary=excerpt(ticket.description, 40),
                           date=format_day(tools.texts, due.day))
        if await watch.remind(ticket, kind=f"remind_{due.due.value}", day=due.day, text=text,
                              now=now):
            done += 1
    return done


async def supervise(now: datetime, tools: Tools) -> int:
    """A 督办 for every ticket past a deadline, once a working day; how many."""
    catalogue = await tools.catalogue()
    if catalogue is None:
        return 0
    moves, tell, done = TicketMoves(tools.engine), teller(tools.texts, catalogue), 0
    for ticket, due in await _due_today(now, tools, overdue_on):
        note = tools.texts(f"supervise_note_{due.due.value}",
                           date=format_day(tools.texts, due.day))
        # as read: a ticket that has moved since (signed, answered, an extension asked
        # for) is looked at again at the next tick
        act = Act(Action.SUPERVISE, Party.SYSTEM, ACTOR, note=note, version=ticket.version)
        try:
            await moves.act(ticket.id, act, tell, now=now, once=("supervise", local_day(now)))
        except (AlreadyDone, MoveRefused, VersionConflict):
            continue
        done += 1
    return done


async def redate(now: datetime, tools: Tools) -> int:
    """Count provisional due dates again on the calendar as it is now; how many
    changed."""
    catalogue = await tools.catalogue()

    def workdays_for(kind: str) -> int | None:
        return None if catalogue is None else catalogue.deadlines.get(kind)

    changed = await Tickets(tools.engine).redate(tools.calendar(), workdays_for)
    if changed:
        log.info("due dates counted again: %d ticket(s), %d of them no longer provisional",
                 len(changed), sum(not t.due_provisional for t in changed))
    return len(changed)


async def surveys(now: datetime, tools: Tools) -> int:
    """Close the surveys not answered in time (a rating not given: the ticket stays
    unrated), and ask 问题是否仍已解决 of tickets closed ``recheck_after`` ago; how
    many."""
    repository = Surveys(tools.engine)
    done = await repository.expire(now - tools.policy.survey_for)
    if tools.policy.recheck_after is not None:
        def asked(number: str) -> str:
            return question(tools.texts, Step.RECHECK, number)

        for ticket_id in await repository.due_rechecks(now - tools.policy.recheck_after):
            done += await repository.recheck(ticket_id, asked,
                                             tools.texts("survey_template_recheck"), now=now)
    return done


async def consultations(now: datetime, tools: Tools) -> int:
    """The legal consultation's timers: a consultation waiting for its lawyer (taken and
    not answered, or the citizen's follow-up not answered) ``consult_remind`` long gets a
    reminder, and at ``consult_timeout`` goes back to the queue at its place (both sides
    told); a citizen silent ``consult_silence`` after the lawyer's last message (or
    ``consult_away`` after an answer that waited for them out of reach) ends it, both
    told, the citizen asked to rate the lawyer. Each acts on the consultation as read:
    one that moved meanwhile is looked at again at the next tick. How many changed."""
    policy, texts = tools.policy, tools.texts
    repository = Consultations(tools.engine, queue=tools.queue)
    done = 0
    remind_minutes = str(int(policy.consult_remind.total_seconds() // 60))
    timeout_minutes = str(int(policy.consult_timeout.total_seconds() // 60))
    left_minutes = str(int((policy.consult_timeout - policy.consult_remind)
                           .total_seconds() // 60))
    for waiting in await repository.awaiting_lawyer(now - policy.consult_remind):
        assert waiting.lawyer_id is not None
        if awaited_since(waiting) <= now - policy.consult_timeout:
            back = await repository.give_back(
                waiting.id, lawyer_id=waiting.lawyer_id, timed_out=True, now=now,
                version=waiting.version,
                tell=lambda c: [
                    Note("lawyer", TO_LAWYER, texts("lawyer_timed_out", short=c.short,
                                                    minutes=timeout_minutes)),
                    Note("citizen", TO_CITIZEN, texts("consult_timed_out_citizen",
                                                      number=c.number))])
            done += back is not None
        elif await repository.remind(waiting, now=now, tell=lambda c: [
                Note("lawyer", TO_LAWYER, texts(
                    "lawyer_reminder", short=c.short, who=mask_name(c.name)
                    or texts("lawyer_citizen"), minutes=remind_minutes,
                    left=left_minutes))]):
            done += 1
    silence = str(int(policy.consult_silence.total_seconds() // 60))
    for quiet in await repository.silent(now - policy.consult_silence,
                                         now - policy.consult_away):
        ended = await repository.end(
            quiet.id, reason=EndReason.SILENT, now=now, version=quiet.version,
            survey=lambda c: lawyer_rating(texts, c.number),
            tell=lambda c: [
                Note("citizen", TO_CITIZEN, texts("consult_silent_citizen", number=c.number)),
                Note("lawyer", TO_LAWYER, texts("lawyer_citizen_silent", short=c.short,
                                                minutes=silence))])
        done += ended is not None
    expire_days = str(int(policy.consult_expire.total_seconds() // 86400))
    done += await repository.expire_waiting(now - policy.consult_expire, now=now, tell=lambda c: [
        Note("citizen", TO_CITIZEN, texts("consult_expired_citizen", number=c.number,
                                          days=expire_days))])
    done += await repository.give_back_inactive(now, tell_citizen=lambda c: texts(
        "consult_reassigned_citizen", number=c.number))
    done += await repository.restore_index()
    return done


async def cleanup(now: datetime, tools: Tools) -> int:
    """Delete what has outlived its retention; how many rows."""
    policy = tools.policy
    done = await Outbox(tools.engine).purge(statuses=("sent", "delivered"),
                                            older_than=policy.keep_pushes, now=now)
    done += await StaffAccounts(tools.engine).forget_bind_codes(now - policy.keep_bind_codes)
    done += await Lawyers(tools.engine).forget_codes(now - policy.keep_bind_codes)
    done += await Watch(tools.engine).forget_alerts(local_day(now - policy.keep_runs))
    done += await Leases(tools.engine).forget_runs(now - policy.keep_runs)
    return done


# the jobs in the order they run, and how often, in ticks (LIANXIN_SCHEDULER_TICK,
# a minute): what is pressing every tick, the calendar and the clean-up every 60
JOBS: dict[str, tuple[Job, int]] = {
    "dispatch": (dispatch_waiting, 1),
    "remind": (remind, 1),
    "supervise": (supervise, 1),
    "surveys": (surveys, 1),
    "consultations": (consultations, 1),
    "redate": (redate, 60),
    "cleanup": (cleanup, 60),
}
