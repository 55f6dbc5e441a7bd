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
    NUMBER,
    TRANSITIONS,
    WITHDRAWABLE,
    Status,
    TicketEventRecord,
    TicketRecord,
    TransitionRefused,
    can_move,
    check_transition,
    ends_with_short,
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


LIFECYCLE = ("submitted", "dispatched", "accepted", "in_progress", "replied", "closed",
             "rated", "returned", "extended", "reopened", "merged", "withdrawn", "rejected")


def test_the_statuses_are_the_lifecycles() -> None:
    assert [s.value for s in Status] == list(LIFECYCLE)


def test_each_status_names_the_catalogue_entry_of_its_chinese_name() -> None:
    assert [s.label_key for s in Status] == [f"status_{name}" for name in LIFECYCLE]
    assert Status.IN_PROGRESS.label_key == "status_in_progress"


# -- transitions ----------------------------------------------------------------------------

TODAY = {
    (None, Status.SUBMITTED),
    (Status.SUBMITTED, Status.DISPATCHED),
    (Status.SUBMITTED, Status.WITHDRAWN),
    (Status.DISPATCHED, Status.WITHDRAWN),
    (Status.RETURNED, Status.WITHDRAWN),
}


def test_the_transitions_allowed_today() -> None:
    assert {(old, new) for old, news in TRANSITIONS.items() for new in news} == TODAY


@pytest.mark.parametrize("old", [None, *Status])
def test_can_move_answers_by_the_table(old: Status | None) -> None:
    for new in Status:
        assert can_move(old, new) is ((old, new) in TODAY), (old, new)


def test_a_move_the_table_refuses_raises_naming_both_ends() -> None:
    check_transition(None, Status.SUBMITTED)
    check_transition(Status.DISPATCHED, Status.WITHDRAWN)
    with pytest.raises(TransitionRefused) as refused:
        check_transition(Status.ACCEPTED, Status.WITHDRAWN)
    assert (refused.value.current, refused.value.new) == (Status.ACCEPTED, Status.WITHDRAWN)
    assert str(refused.value) == "a ticket may not move from accepted to withdrawn"
    with pytest.raises(TransitionRefused, match="from nothing to dispatched"):
        check_transition(None, Status.DISPATCHED)
    with pytest.raises(TransitionRefused, match="from withdrawn to dispatched"):
        check_transition(Status.WITHDRAWN, Status.DISPATCHED)  # nothing leaves 撤回
    assert issubclass(TransitionRefused, ValueError)


def test_withdrawal_is_possible_until_a_department_signs_for_it() -> None:
    assert {Status.SUBMITTED, Status.DISPATCHED, Status.RETURNED} == WITHDRAWABLE
    assert Status.ACCEPTED not in WITHDRAWABLE and Status.WITHDRAWN not in WITHDRAWABLE


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
