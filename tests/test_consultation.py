"""The legal consultation's rules (domain/consultation.py): service hours in China time,
what a lawyer sees of a citizen, the wait a citizen is told, the lawyer's commands, and
a lawyer's profile."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from bot.config import DEFAULT_HOLIDAYS, load_calendar
from domain.consultation import (
    LawyerCommand,
    LegalArea,
    ProfileError,
    Said,
    ServiceHours,
    Span,
    check_profile,
    estimate_wait,
    format_number,
    lawyer_command,
    legal_from_json,
    legal_to_json,
    mask_name,
    parse_spans,
)
from domain.workdays import CHINA

HOURS = ServiceHours({"mon": parse_spans("09:00-12:00, 13:30-21:00"),
                      "sat": parse_spans("09:00-12:00"),
                      "sun": parse_spans("20:00-24:00")})


def china(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of December 2026 in China (the 7th is a Monday)."""
    return datetime(2026, 12, day, hour, minute, tzinfo=CHINA)


@pytest.mark.parametrize(("moment", "open_"), [
    (china(7, 8, 59), False), (china(7, 9), True), (china(7, 11, 59), True),
    (china(7, 12), False), (china(7, 13, 30), True), (china(7, 20, 59), True),
    (china(7, 21), False), (china(8, 10), False),  # Tuesday: not listed, closed
    (china(12, 11), True), (china(12, 15), False),  # Saturday morning only
    (china(13, 23, 59), True), (china(13, 19, 59), False),  # Sunday until midnight
])
def test_service_hours_are_china_time(moment: datetime, open_: bool) -> None:
    assert HOURS.is_open(moment) is open_
    assert HOURS.is_open(moment.astimezone(UTC)) is open_  # the same moment, any zone


def test_holidays_close_the_service_and_a_make_up_day_serves_mondays_hours() -> None:
    assert not HOURS.is_open(china(7, 10), holiday=True)
    saturday_worked = china(12, 15)  # a make-up working day (调休) on a Saturday
    assert HOURS.is_open(saturday_worked, workday=True)
    always = ServiceHours(HOURS.days, closed_on_holidays=False)
    assert always.is_open(china(7, 10), holiday=True)
    assert not always.is_open(saturday_worked, workday=True)  # its own Saturday hours


def test_hours_are_described_for_the_citizen() -> None:
    week = {day: parse_spans("09:00-17:30") for day in ("mon", "tue", "wed", "thu", "fri")}
    assert ServiceHours(week).describe() == "周一至周五 09:00-17:30"
    assert HOURS.describe() == "周一 09:00-12:00、13:30-21:00；周六 09:00-12:00；周日 20:00-24:00"


@pytest.mark.parametrize(("text", "problem"), [
    ("9:00-12:00", "'9:00-12:00' is not a span like 09:00-17:30"),
    ("12:00-09:00", "'12:00-09:00' ends before it starts"),
    ("09:00-12:00, 11:00-13:00", "'11:00-13:00' overlaps or comes before the span before it"),
    ("09:00-24:01", "'09:00-24:01': 24:00 is the latest end"),
])
def test_a_bad_span_says_what_is_wrong(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_spans(text)


def test_a_span_to_midnight_holds_its_last_minute() -> None:
    (span,) = parse_spans("20:00-24:00")
    assert span == Span(time(20), time.max) and str(span) == "20:00-24:00"
    assert span.holds(time(23, 59, 59)) and not span.holds(time(19, 59))


def test_the_catalogues_legal_part_round_trips_and_an_unknown_shape_is_no_service() -> None:
    areas = (LegalArea("labour", "劳动争议", 1, ("欠薪",)), LegalArea("other", "其他", 2))
    assert legal_from_json(legal_to_json(areas, HOURS)) == (areas, HOURS)
    assert legal_to_json(areas, None) is None
    assert legal_from_json(None) == ((), None)
    assert legal_from_json({"areas": "x", "hours": {}}) == ((), None)


@pytest.mark.parametrize(("name", "shown"), [
    ("张三", "张**"), ("欧阳娜娜", "欧**"), ("李", "李**"), (" 王先生 ", "王**"), ("", ""),
    (None, ""),
])
def test_a_lawyer_sees_only_the_first_character_of_a_name(name: str | None,
                                                           shown: str) -> None:
    assert mask_name(name) == shown


def test_the_wait_is_the_median_wait_per_place_times_the_position() -> None:
    # waited 10 min from 2nd place, 3 min from 1st, 12 min from 3rd: 5, 3, 4 min a place
    recent = [(600.0, 2), (180.0, 1), (720.0, 3)]
    assert estimate_wait(1, recent) == 4
    assert estimate_wait(3, recent) == 12
    assert estimate_wait(1, [(5.0, 1)]) == 1  # never "0 minutes"
    assert estimate_wait(2, []) is None  # no history: 暂无参考


@pytest.mark.parametrize(("text", "said"), [
    ("上线", Said(LawyerCommand.ON)), ("下线", Said(LawyerCommand.OFF)),
    (" 接单 ", Said(LawyerCommand.TAKE)), ("接", Said(LawyerCommand.TAKE)),
    ("列表", Said(LawyerCommand.LIST)), ("结束", Said(LawyerCommand.END)),
    ("切换 2", Said(LawyerCommand.SWITCH, number=2)), ("切3", Said(LawyerCommand.SWITCH, 3)),
    ("转回", Said(LawyerCommand.RETURN)),
    ("转回 需要刑事方向的律师", Said(LawyerCommand.RETURN, note="需要刑事方向的律师")),
    ("转回：不是我的专业", Said(LawyerCommand.RETURN, note="不是我的专业")),
    ("帮助", Said(LawyerCommand.HELP)), ("HELP", Said(LawyerCommand.HELP)),
])
def test_a_lawyers_commands(text: str, said: Said) -> None:
    assert lawyer_command(text) == said


@pytest.mark.parametrize("text", [
    "您好，根据劳动合同法第四十七条，您可以主张经济补偿。", "结束了吗", "转回头看",
    "切换到第二个", "上线了没有",
])
def test_an_answer_is_no_command(text: str) -> None:
    assert lawyer_command(text) is None


def test_a_profile_is_checked_field_by_field() -> None:
    check_profile("李明", "某律师事务所", "14401201810123456", ["labour"], 3, ["labour"])
    bad = [
        (("", "所", "14401201810123456", ["labour"], 3), "name"),
        (("李明", "", "14401201810123456", ["labour"], 3), "firm"),
        (("李明", "所", "1440-1201", ["labour"], 3), "licence"),
        (("李明", "所", "14401201810123456", [], 3), "areas"),
        (("李明", "所", "14401201810123456", ["labour", "labour"], 3), "areas"),
        (("李明", "所", "14401201810123456", ["tax"], 3), "areas"),
        (("李明", "所", "14401201810123456", ["labour"], 0), "capacity"),
        (("李明", "所", "14401201810123456", ["labour"], 21), "capacity"),
    ]
    for args, field in bad:
        with pytest.raises(ProfileError) as info:
            check_profile(*args, known_areas=["labour"])
        assert info.value.field == field, args


def test_a_consultation_number() -> None:
    assert format_number(datetime(2026, 12, 1).date(), 7) == "FL20261201-000007"


def test_the_calendar_says_which_days_are_holidays_and_make_up_days() -> None:
    calendar = load_calendar(DEFAULT_HOLIDAYS)
    national_day = datetime(2026, 10, 5, 10, tzinfo=CHINA)  # a Monday of the holiday
    assert HOURS.is_open(national_day) and not HOURS.open_at(national_day, calendar)
    make_up = datetime(2026, 10, 10, 15, tzinfo=CHINA)  # a Saturday worked after it
    assert not HOURS.is_open(make_up) and HOURS.open_at(make_up, calendar)
    assert HOURS.open_at(china(7, 10), calendar)  # an ordinary Monday
