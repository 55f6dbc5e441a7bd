"""The legal consultation's figures (domain/consult_metrics.py) over consultations whose
every figure is worked out by hand below: 接通率 with the abandoned counted, the wait, the
first answer, the duration, 满意率; by lawyer, area and day; as at a moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.consult_metrics import (
    CONSULT_COLUMNS,
    ConsultEvent,
    ConsultFacts,
    ConsultGrouping,
    report,
)

T = datetime(2026, 12, 7, 2, 0, tzinfo=UTC)  # Monday 10:00 in China
M = timedelta(minutes=1)


def consultation(number: str, area: str, asked: datetime, *events: ConsultEvent,
                 answered: datetime | None = None, left: bool = False) -> ConsultFacts:
    return ConsultFacts(number=number, area=area, created_at=asked, left_message=left,
                        first_answer_at=answered, events=(ConsultEvent("queued", asked),
                                                          *events))


# A: labour, taken by lawyer 1 after 4 min, answered at 6, ended at 26, rated 5
# B: labour, taken by 2 after 10 min, given back at 30 (timed out), taken by 1 at 40,
#    answered at 41, silent end at 75, rated 2
# C: family, abandoned after 3 min
# D: family, left out of hours on the 7th at 22:00, taken by 2 next morning (8th 09:00,
#    660 min), answered at 09:05 (665 min), ended at 09:25, not rated
# E: labour, still waiting
CONSULTATIONS = [
    consultation("A", "labour", T, ConsultEvent("taken", T + 4 * M, 1),
                 ConsultEvent("ended", T + 26 * M, 1), ConsultEvent("rated", T + 30 * M, 1, "5"),
                 answered=T + 6 * M),
    consultation("B", "labour", T + M, ConsultEvent("taken", T + 11 * M, 2),
                 ConsultEvent("timed_out", T + 31 * M, 2), ConsultEvent("taken", T + 41 * M, 1),
                 ConsultEvent("silent", T + 76 * M, 1), ConsultEvent("rated", T + 80 * M, 1, "2"),
                 answered=T + 42 * M),
    consultation("C", "family", T + 2 * M, ConsultEvent("abandoned", T + 5 * M)),
    consultation("D", "family", T + 720 * M, ConsultEvent("taken", T + 1380 * M, 2),
                 ConsultEvent("ended", T + 1405 * M, 2), answered=T + 1385 * M, left=True),
    consultation("E", "labour", T + 3 * M),
]
LATER = T + timedelta(days=2)


def rows(grouping: ConsultGrouping | None, as_of: datetime = LATER) -> dict[str, dict[str, object]]:
    return {row.group: row.row() for row in report(CONSULTATIONS, as_of, grouping)}


def test_the_whole_period() -> None:
    whole = rows(None)["*"]
    assert list(whole) == list(CONSULT_COLUMNS)
    assert {k: whole[k] for k in ("requested", "left_messages", "taken", "connection_rate",
                                  "abandoned", "abandonment_rate", "given_back", "ended",
                                  "rated", "satisfied", "consult_satisfaction")} == {
        "requested": 5, "left_messages": 1, "taken": 3, "connection_rate": 0.6,
        "abandoned": 1, "abandonment_rate": 0.2, "given_back": 1, "ended": 3, "rated": 2,
        "satisfied": 1, "consult_satisfaction": 0.5}
    # waits to the first taking: 4, 10, 660 → mean 224.67, p90 660 (nearest rank: the 3rd)
    assert (whole["wait_minutes_mean"], whole["wait_minutes_p90"]) == (224.67, 660)
    # first answers from asking: 6, 41, 665 → mean 237.33
    assert (whole["first_answer_minutes_mean"], whole["first_answer_minutes_p90"]) == (
        237.33, 665)
    # durations from the last taking to the end: 22, 35, 25 → mean 27.33, p90 35
    assert (whole["duration_minutes_mean"], whole["duration_minutes_p90"]) == (27.33, 35)


def test_by_lawyer_area_and_day() -> None:
    by_lawyer = rows(ConsultGrouping.LAWYER)
    assert list(by_lawyer) == ["", "00000001", "00000002", "*"]  # never taken first
    assert (by_lawyer["00000001"]["requested"], by_lawyer["00000001"]["rated"]) == (2, 2)
    assert by_lawyer["00000002"]["requested"] == 1 and by_lawyer[""]["requested"] == 2
    by_area = rows(ConsultGrouping.AREA)
    assert (by_area["labour"]["connection_rate"], by_area["family"]["connection_rate"]) == (
        0.6667, 0.5)
    by_day = rows(ConsultGrouping.DAY)
    assert (by_day["2026-12-07"]["requested"], by_day["2026-12-07"]["left_messages"]) == (
        5, 1)  # D was asked at 22:00 China time on the 7th


def test_as_at_a_moment_later_events_are_not_seen() -> None:
    early = rows(None, T + 20 * M)["*"]
    # at 10:20: A taken (not ended), B taken, C abandoned, D and E not asked yet or waiting
    assert (early["requested"], early["taken"], early["ended"], early["rated"]) == (
        4, 2, 0, 0)
    assert early["first_answer_minutes_mean"] == 6.0  # B's answer came later
