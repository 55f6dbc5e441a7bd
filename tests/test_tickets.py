"""Ticket rules (domain/tickets.py), pure and fast (no files, no I/O: `make mutate` runs
them): the number and its parser, the statuses and their catalogue keys, the transitions
table, withdrawal. The repository: tests/test_tickets_store.py; the catalogue holding a
name for every status: tests/test_my_tickets.py."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.tickets import (
    ENDED,
    MAX_ATTACHMENTS,
    MOVES,
    NUMBER,
    TRANSITIONS,
    WITHDRAWABLE,
    Action,
    MoveRefused,
    Party,
    Pending,
    Status,
    TicketEventRecord,
    TicketRecord,
    TransitionRefused,
    allowed,
    can_move,
    check_transition,
    ends_with_short,
    find_move,
    format_number,
    narrow,
    parse_number,
    short_number,
)

# -- the number ---------------------------------------------------------------------------


def test_a_number_is_lx_the_day_and_six_digits_of_serial() -> None:
    assert format_number(date(2026, 11, 23), 1) == "LX20261123-000001"
    assert format_number(date(2027, 1, 5), 42) == "LX20270105-000042"
    assert format_number(date(2026, 11, 23), 999_999) == "LX20261123-999999"


@pytest.mark.parametrize("serial", [0, -1, 1_000_000])
def test_a_serial_the_number_cannot_hold_is_refused(serial: int) -> None:
    with pytest.raises(ValueError, match=f"serial {serial} outside 1..999999"):
        format_number(date(2026, 11, 23), serial)


@given(st.dates(date(2000, 1, 1), date(2099, 12, 31)), st.integers(1, 999_999))
def test_every_number_reads_back_as_itself(day: date, serial: int) -> None:
    number = format_number(day, serial)
    assert NUMBER.fullmatch(number)
    assert parse_number(number) == number
    assert parse_number(f"查询 {number.lower()} 的进度") == number
    wide = number.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})  # ＬＸ２０…－…
    assert parse_number(wide) == number


@pytest.mark.parametrize(("text", "number"), [
    ("LX20261123-000007", "LX20261123-000007"),
    ("lx20261123-000007", "LX20261123-000007"),
    ("Lx20261123-000007", "LX20261123-000007"),
    ("查询ＬＸ２０２６１１２３－０００００７", "LX20261123-000007"),
    ("ｌｘ20261123-000007", "LX20261123-000007"),
    ("LX20261123—000007", "LX20261123-000007"),  # em dash
    ("LX20261123–000007", "LX20261123-000007"),  # en dash
    ("LX20261123−000007", "LX20261123-000007"),  # minus sign
    ("LX20261123﹣000007", "LX20261123-000007"),  # small hyphen-minus
    ("我想问问LX20261123-000007怎么样了", "LX20261123-000007"),
    ("LX20261123-000007 LX20261124-000001", "LX20261123-000007"),  # the first one
])
def test_a_number_is_found_in_any_width_case_and_dash(text: str, number: str) -> None:
    assert parse_number(text) == number


@pytest.mark.parametrize("text", [
    "", "LX", "LX2026", "LX20261123-00007",  # a digit short
    "LX20261123-0000071",  # a digit too many: the front of a longer run is no number
    "LX2026112-000001", "LX20261123000001", "LX20261123 000001", "XL20261123-000001",
    "LX20261123_000001", "LY20261123-000001",
])
def test_what_is_not_a_number(text: str) -> None:
    assert parse_number(text) is None


def test_narrow_makes_ascii_of_full_width_letters_digits_dashes_spaces_and_marks() -> None:
    assert narrow("０９ＡＺａｚ") == "09AZaz"
    assert narrow("a\u3000b\u00a0c") == "a b c"
    assert narrow("－—–−﹣") == "-----"
    assert narrow("﹖︖") == "??"
    # just outside the ranges, and the rest of a message, stay as they are
    assert narrow("／：＠［｀｛，。") == "／：＠［｀｛，。"
    assert narrow("投诉 LX1") == "投诉 LX1"


# -- statuses -------------------------------------------------------------------------------


LIFECYCLE = ("submitted", "dispatched", "in_progress", "replied", "closed", "rated",
             "returned", "reopened", "merged", "withdrawn", "rejected")


def test_the_statuses_are_the_lifecycles() -> None:
    assert [s.value for s in Status] == list(LIFECYCLE)


def test_each_status_names_the_catalogue_entry_of_its_chinese_name() -> None:
    assert [s.label_key for s in Status] == [f"status_{name}" for name in LIFECYCLE]
    assert Status.IN_PROGRESS.label_key == "status_in_progress"


# -- transitions ----------------------------------------------------------------------------

# The lifecycle as docs/LIFECYCLE.md states it, written out independently of MOVES: for
# each action, who, from where (status, what it awaits), to where, and whether the citizen
# is told. "review": the department's answers go to the office first.
S, P, A = Status, Pending, Action
HANDLER, SUPERVISOR, CITIZEN, SYSTEM = Party.HANDLER, Party.SUPERVISOR, Party.CITIZEN, Party.SYSTEM
UNSIGNED = (S.SUBMITTED, S.DISPATCHED, S.RETURNED)
SIGNED = (S.IN_PROGRESS, S.REOPENED)  # worked on: the first time, or again (重办)
SPEC: list[tuple[Action, tuple[Party, ...], tuple[Status | None, ...], Pending | None,
                 bool | None, Status | None, Pending | None, bool]] = [
    # action, parties, from, awaiting (None: anything), review (None: either), to (None:
    # same), then (None: what it awaited), told
    (A.FILE, (CITIZEN,), (None,), P.NOTHING, None, S.SUBMITTED, P.NOTHING, False),
    (A.DISPATCH, (SUPERVISOR, SYSTEM), (S.SUBMITTED,), P.NOTHING, None, S.DISPATCHED,
     P.NOTHING, True),
    (A.SIGN, (HANDLER,), (S.DISPATCHED,), P.NOTHING, None, S.IN_PROGRESS, P.NOTHING, True),
    (A.RETURN, (HANDLER,), (S.DISPATCHED,), P.NOTHING, None, S.RETURNED, P.NOTHING, False),
    (A.REDISPATCH, (SUPERVISOR,), (S.RETURNED, S.DISPATCHED), P.NOTHING, None, S.DISPATCHED,
     P.NOTHING, True),
    (A.REQUEST_EXTENSION, (HANDLER,), SIGNED, P.NOTHING, None, None, P.EXTENSION,
     False),
    (A.APPROVE_EXTENSION, (SUPERVISOR,), SIGNED, P.EXTENSION, None, None,
     P.NOTHING, True),
    (A.DENY_EXTENSION, (SUPERVISOR,), SIGNED, P.EXTENSION, None, None, P.NOTHING,
     False),
    (A.ANSWER, (HANDLER,), SIGNED, P.NOTHING, False, S.REPLIED, P.NOTHING, True),
    (A.ANSWER, (HANDLER,), SIGNED, P.NOTHING, True, None, P.REVIEW, False),
    (A.APPROVE_ANSWER, (SUPERVISOR,), SIGNED, P.REVIEW, None, S.REPLIED,
     P.NOTHING, True),
    (A.SEND_BACK_ANSWER, (SUPERVISOR,), SIGNED, P.REVIEW, None, None, P.NOTHING,
     False),
    (A.CLOSE, (HANDLER, SUPERVISOR), (S.REPLIED,), P.NOTHING, None, S.CLOSED, P.NOTHING,
     True),
    (A.MERGE, (SUPERVISOR,), UNSIGNED, P.NOTHING, None, S.MERGED, P.NOTHING, True),
    (A.REJECT, (SUPERVISOR,), UNSIGNED, P.NOTHING, None, S.REJECTED, P.NOTHING, True),
    (A.WITHDRAW, (CITIZEN,), UNSIGNED, P.NOTHING, None, S.WITHDRAWN, P.NOTHING, False),
    (A.SUPERVISE, (SUPERVISOR, SYSTEM), (S.DISPATCHED, S.IN_PROGRESS, S.REOPENED), None,
     None, None, None, False),
    (A.RATE, (CITIZEN,), (S.CLOSED,), P.NOTHING, None, S.RATED, P.NOTHING, False),
    (A.REOPEN, (CITIZEN,), (S.CLOSED, S.RATED), P.NOTHING, None, S.REOPENED, P.NOTHING,
     False),
    (A.WITHHOLD, (SUPERVISOR,), (*UNSIGNED, *SIGNED, S.REPLIED, S.CLOSED, S.RATED), None,
     None, None, None, True),
    (A.UNPUBLISH, (CITIZEN,), (*UNSIGNED, *SIGNED, S.REPLIED, S.CLOSED, S.RATED), None,
     None, None, None, False),
]
UNKNOWN = Status("archived")  # a status of a newer version
STATES = [None, *Status, UNKNOWN]


def expected(action: Action, status: Status | None, pending: Pending,
             review: bool) -> tuple[tuple[Party, ...], Status | None, Pending, bool] | None:
    for act, parties, sources, waits, needs_review, target, then, told in SPEC:
        if (act is action and status in sources and waits in (None, pending)
                and needs_review in (None, review)):
            return parties, target, pending if then is None else then, told
    return None


@pytest.mark.parametrize("action", list(Action))
def test_every_action_from_every_state_by_every_party_follows_the_lifecycle(
    action: Action,
) -> None:
    for status in STATES:
        for pending in Pending:
            for review in (False, True):
                spec = expected(action, status, pending, review)
                for party in Party:
                    where = (action, status, pending, review, party)
                    if spec is None:
                        with pytest.raises(MoveRefused) as refused:
                            find_move(action, status, pending, party, review=review)
                        assert refused.value.reason == "state", where
                        continue
                    parties, target, then, told = spec
                    if party not in parties:
                        with pytest.raises(MoveRefused) as refused:
                            find_move(action, status, pending, party, review=review)
                        assert refused.value.reason == "party", where
                        continue
                    move = find_move(action, status, pending, party, review=review)
                    assert (move.target, move.pending_after(pending),
                            move.tells_citizen) == (target, then, told), where


def test_the_table_has_no_row_the_lifecycle_does_not_name() -> None:
    assert len(MOVES) == len(SPEC)


def test_a_refusal_names_the_state_or_the_party() -> None:
    with pytest.raises(MoveRefused, match=r"^no sign from in_progress$"):
        find_move(A.SIGN, S.IN_PROGRESS, P.NOTHING, HANDLER)
    with pytest.raises(MoveRefused, match=r"^no answer from in_progress awaiting review$"):
        find_move(A.ANSWER, S.IN_PROGRESS, P.REVIEW, HANDLER)
    with pytest.raises(MoveRefused, match=r"^handler may not dispatch a ticket in submitted$"):
        find_move(A.DISPATCH, S.SUBMITTED, P.NOTHING, HANDLER)
    with pytest.raises(MoveRefused, match=r"^no withdraw from nothing$"):
        find_move(A.WITHDRAW, None, P.NOTHING, CITIZEN)
    assert issubclass(MoveRefused, ValueError)


def test_what_each_party_is_offered() -> None:
    assert allowed(S.DISPATCHED, P.NOTHING, HANDLER) == [A.SIGN, A.RETURN]
    assert allowed(S.DISPATCHED, P.NOTHING, SUPERVISOR) == [A.REDISPATCH, A.MERGE, A.REJECT,
                                                             A.SUPERVISE, A.WITHHOLD]
    assert allowed(S.IN_PROGRESS, P.NOTHING, HANDLER) == [A.REQUEST_EXTENSION, A.ANSWER]
    assert allowed(S.IN_PROGRESS, P.EXTENSION, HANDLER) == []
    assert allowed(S.IN_PROGRESS, P.EXTENSION, SUPERVISOR) == [A.APPROVE_EXTENSION,
                                                                A.DENY_EXTENSION,
                                                                A.SUPERVISE, A.WITHHOLD]
    assert allowed(S.IN_PROGRESS, P.REVIEW, SUPERVISOR) == [A.APPROVE_ANSWER,
                                                             A.SEND_BACK_ANSWER, A.SUPERVISE,
                                                             A.WITHHOLD]
    assert allowed(S.REPLIED, P.NOTHING, SUPERVISOR) == [A.CLOSE, A.WITHHOLD]
    assert allowed(S.CLOSED, P.NOTHING, SUPERVISOR) == [A.WITHHOLD]
    assert allowed(S.MERGED, P.NOTHING, SUPERVISOR) == []
    assert allowed(UNKNOWN, P.NOTHING, SUPERVISOR) == []


TODAY = {(source, move.target) for move in MOVES if move.target is not None
         for source in move.sources}


def test_the_status_pairs_are_those_of_the_lifecycle() -> None:
    assert {(old, new) for old, news in TRANSITIONS.items() for new in news} == TODAY
    assert {(None, S.SUBMITTED), (S.SUBMITTED, S.DISPATCHED), (S.DISPATCHED, S.IN_PROGRESS),
            (S.DISPATCHED, S.RETURNED), (S.RETURNED, S.DISPATCHED),
            (S.DISPATCHED, S.DISPATCHED), (S.IN_PROGRESS, S.REPLIED),
            (S.REOPENED, S.REPLIED), (S.CLOSED, S.RATED), (S.CLOSED, S.REOPENED),
            (S.RATED, S.REOPENED),
            (S.REPLIED, S.CLOSED), *((u, S.MERGED) for u in UNSIGNED),
            *((u, S.REJECTED) for u in UNSIGNED),
            *((u, S.WITHDRAWN) for u in UNSIGNED)} == TODAY


@pytest.mark.parametrize("old", STATES)
def test_can_move_answers_by_the_table(old: Status | None) -> None:
    for new in Status:
        assert can_move(old, new) is ((old, new) in TODAY), (old, new)


def test_a_move_the_table_refuses_raises_naming_both_ends() -> None:
    check_transition(None, Status.SUBMITTED)
    check_transition(Status.DISPATCHED, Status.WITHDRAWN)
    with pytest.raises(TransitionRefused) as refused:
        check_transition(Status.IN_PROGRESS, Status.WITHDRAWN)
    assert (refused.value.current, refused.value.new) == (Status.IN_PROGRESS,
                                                          Status.WITHDRAWN)
    assert str(refused.value) == "a ticket may not move from in_progress to withdrawn"
    with pytest.raises(TransitionRefused, match="from nothing to dispatched"):
        check_transition(None, Status.DISPATCHED)
    with pytest.raises(TransitionRefused, match="from withdrawn to dispatched"):
        check_transition(Status.WITHDRAWN, Status.DISPATCHED)  # nothing leaves 撤回
    assert issubclass(TransitionRefused, ValueError)


def test_withdrawal_is_possible_until_a_department_signs_for_it() -> None:
    assert {Status.SUBMITTED, Status.DISPATCHED, Status.RETURNED} == WITHDRAWABLE
    assert Status.IN_PROGRESS not in WITHDRAWABLE and Status.WITHDRAWN not in WITHDRAWABLE


def test_the_clock_stops_once_no_answer_is_due() -> None:
    assert {Status.WITHDRAWN, Status.CLOSED, Status.RATED, Status.REJECTED,
            Status.MERGED} == ENDED


def test_a_ticket_carries_at_most_nine_photos() -> None:
    assert MAX_ATTACHMENTS == 9


# -- records ----------------------------------------------------------------------------------


def test_records_cannot_be_changed_by_who_reads_them() -> None:
    now = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    ticket = TicketRecord(
        id=1, number="LX20261123-000001", idempotency_key="k", account="default",
        openid="oA", kind="投诉", category="zfjs", region=None, department="zjj",
        description="小区门口路灯坏了一周", phone=None, public=False, latitude=None,
        longitude=None, place=None, status=Status.DISPATCHED, due_on=None, created_at=now)
    event = TicketEventRecord("router", now, Status.SUBMITTED, Status.DISPATCHED, "zjj")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ticket.status = Status.WITHDRAWN  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.note = ""  # type: ignore[misc]


def test_a_status_this_version_does_not_know_is_read_but_allows_no_move() -> None:
    newer = Status("signed_off")
    assert newer == "signed_off" and not newer.known and Status.SUBMITTED.known
    assert newer.label_key == "status_signed_off"  # not in the catalogue: the neutral name
    assert newer not in WITHDRAWABLE
    assert not can_move(newer, Status.WITHDRAWN)
    assert newer not in list(Status)
    with pytest.raises(ValueError, match="is not a valid Status"):
        Status("")
    with pytest.raises(ValueError, match="is not a valid Status"):
        Status(3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "short"), [
    ("查询 000001", "000001"), ("撤回０００００７", "000007"), ("查询 000001 ", "000001"),
    ("查询 0000012", None), ("查询 00001", None), ("000001 查询", None), ("", None),
])
def test_a_short_number_is_the_serial_that_ends_a_command(text: str, short: str | None) -> None:
    assert short_number(text) == short


def test_a_short_number_names_the_ticket_whose_serial_it_is() -> None:
    assert ends_with_short("LX20261124-000001", "000001")
    assert not ends_with_short("LX20261124-1000001", "000001")
    assert not ends_with_short("LX20261124-000010", "000001")
