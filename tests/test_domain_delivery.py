"""The outbox's channel rules without a platform: which door a push takes, when a window
opens and closes, how long a failed send waits, and what operators read as its reason.

``tests/test_delivery.py`` drives the same rules through the dev platform and a database;
these are the pure unit tests that ``make mutate`` runs against ``domain/delivery.py``.
"""

from __future__ import annotations

import random

import pytest

from domain.delivery import (
    EVENT_WINDOW,
    MESSAGE_WINDOW,
    REASON_LIMIT,
    WINDOW_SECONDS,
    Route,
    Window,
    backoff,
    bounded_reason,
    choose_channel,
    one_line,
    window_opened_by,
)

NOW = 1_800_000_000.0
HOUR = 3600.0


class Fixed(random.Random):
    """A random source that always draws ``value`` (0 ≤ value < 1)."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.value = value

    def random(self) -> float:
        return self.value


# ---------------------------------------------------------------- what opens a window
@pytest.mark.parametrize("kind", ["text", "image", "voice", "video", "location", "link"])
def test_every_message_a_user_sends_opens_the_48_hour_window(kind: str) -> None:
    assert window_opened_by(kind, "") == "message"


@pytest.mark.parametrize(
    "event", ["click", "subscribe", "scan", "subscribe_scan", "scancode_push", "scancode_waitmsg"])
def test_a_menu_click_follow_or_scan_opens_the_short_window(event: str) -> None:
    assert window_opened_by("event", event) == "event"


@pytest.mark.parametrize(
    ("kind", "event"),
    [
        ("event", "unsubscribe"),  # the user left: nothing may be sent
        ("event", "view"),  # a menu link opens a page, not a conversation
        ("event", "location"),  # reported in the background, not by the user
        ("event", "templatesendjobfinish"),  # the platform's own report
        ("event", ""),
        ("unsupported", "click"),  # an event name on something that is no event
        ("unsupported", ""),
    ],
)
def test_what_opens_no_window(kind: str, event: str) -> None:
    assert window_opened_by(kind, event) is None


def test_the_windows_last_48_hours_and_one_minute() -> None:
    assert WINDOW_SECONDS == {"message": 48 * HOUR, "event": 60.0}
    assert Window(NOW, "message").limits() == (48 * HOUR, 5)
    assert Window(NOW, "event").limits() == (60.0, 3)


@pytest.mark.parametrize(("interaction", "length", "quota"),
                         [("message", MESSAGE_WINDOW, 5), ("event", EVENT_WINDOW, 3)])
def test_a_window_is_open_until_its_last_instant_and_closed_from_then_on(
    interaction: str, length: float, quota: int,
) -> None:
    window = Window(NOW, interaction)  # type: ignore[arg-type]
    assert window.quota == quota
    assert window.is_open(NOW)
    assert window.is_open(NOW + length - 0.001)
    assert not window.is_open(NOW + length)  # 48 h (60 s) after: WeChat says 45015
    assert not window.is_open(NOW + length + 1)


def test_a_window_survives_the_store_as_json() -> None:
    for window in (Window(NOW, "message"), Window(NOW + 0.25, "event")):
        assert window.to_json() == {"at": window.opened_at, "kind": window.interaction}
        assert Window.from_json(window.to_json()) == window
    assert Window.from_json({"at": 1700000000, "kind": "event"}) == Window(1.7e9, "event")
    restored = Window.from_json({"at": 5, "kind": "event"})
    assert restored is not None
    assert isinstance(restored.opened_at, float)


@pytest.mark.parametrize("raw", [
    None, "x", [NOW, "message"], {}, {"at": NOW}, {"kind": "message"},
    {"at": "yesterday", "kind": "message"}, {"at": NOW, "kind": "click"},
    {"at": None, "kind": "event"},
])
def test_a_damaged_window_record_is_no_window(raw: object) -> None:
    assert Window.from_json(raw) is None


# ---------------------------------------------------------------- which door
TEMPLATE = Route(template_id="TM_STATUS")
SUBSCRIBE = Route(subscribe_template_id="SUB_STATUS")
BOTH = Route(template_id="TM_STATUS", subscribe_template_id="SUB_STATUS")
NEITHER = Route()


def test_an_open_window_with_quota_left_takes_customer_service() -> None:
    window = Window(NOW - 47 * HOUR, "message")
    decision = choose_channel(now=NOW, windows=[(window, 4)], route=BOTH, consented=True)
    assert decision.channel == "custom"
    assert decision.reason == "customer-service window open"
    assert decision.window == window


def test_a_used_quota_goes_by_template_and_says_so() -> None:
    window = Window(NOW - HOUR, "message")
    decision = choose_channel(now=NOW, windows=[(window, 5)], route=BOTH, consented=True)
    assert decision.channel == "template"
    assert decision.reason == "customer-service quota used (5 per message); template message"
    assert decision.window is None


def test_a_closed_window_then_an_open_one_uses_the_open_one() -> None:
    closed = Window(NOW - 48 * HOUR, "message")
    clicked = Window(NOW - 30, "event")
    decision = choose_channel(now=NOW, windows=[(closed, 0), (clicked, 2)], route=NEITHER,
                              consented=False)
    assert (decision.channel, decision.window) == ("custom", clicked)


def test_a_used_message_quota_falls_to_an_unused_click_window() -> None:
    talked = Window(NOW - HOUR, "message")
    clicked = Window(NOW - 10, "event")
    decision = choose_channel(now=NOW, windows=[(talked, 5), (clicked, 0)], route=TEMPLATE,
                              consented=False)
    assert (decision.channel, decision.window) == ("custom", clicked)
    decision = choose_channel(now=NOW, windows=[(talked, 5), (clicked, 3)], route=TEMPLATE,
                              consented=False)
    assert decision.channel == "template"
    assert decision.reason == "customer-service quota used (3 per event); template message"


def test_a_closed_window_goes_by_template() -> None:
    window = Window(NOW - 49 * HOUR, "message")
    decision = choose_channel(now=NOW, windows=[(window, 0)], route=TEMPLATE, consented=False)
    assert decision.channel == "template"
    assert decision.reason == "customer-service window closed; template message"


def test_a_user_who_never_wrote_gets_a_template_or_waits() -> None:
    decision = choose_channel(now=NOW, windows=[], route=TEMPLATE, consented=False)
    assert decision.channel == "template"
    assert decision.reason == ("no customer-service window: the user has not written; "
                               "template message")
    decision = choose_channel(now=NOW, windows=[], route=NEITHER, consented=True)
    assert decision.channel is None
    assert decision.reason == ("no customer-service window: the user has not written; "
                               "no template configured for this purpose")


def test_customer_service_refused_by_the_platform_is_not_tried_again() -> None:
    window = Window(NOW - 10, "message")
    decision = choose_channel(now=NOW, windows=[(window, 0)], route=TEMPLATE, consented=False,
                              exclude=frozenset({"custom"}))
    assert decision.channel == "template"
    assert decision.reason == "customer-service refused by the platform; template message"


def test_subscribe_needs_the_users_consent() -> None:
    decision = choose_channel(now=NOW, windows=[], route=SUBSCRIBE, consented=True)
    assert decision.channel == "subscribe"
    assert decision.reason == ("no customer-service window: the user has not written; "
                               "subscribe message")
    decision = choose_channel(now=NOW, windows=[], route=SUBSCRIBE, consented=False)
    assert decision.channel is None
    assert decision.reason == ("no customer-service window: the user has not written; "
                               "no subscribe consent")


def test_a_refused_template_falls_to_subscribe() -> None:
    decision = choose_channel(now=NOW, windows=[], route=BOTH, consented=True,
                              exclude=frozenset({"template"}))
    assert decision.channel == "subscribe"
    decision = choose_channel(now=NOW, windows=[], route=TEMPLATE, consented=True,
                              exclude=frozenset({"template"}))
    assert decision.channel is None
    assert decision.reason == "no customer-service window: the user has not written"


def test_a_refused_subscribe_waits_for_the_user() -> None:
    decision = choose_channel(now=NOW, windows=[], route=SUBSCRIBE, consented=True,
                              exclude=frozenset({"subscribe"}))
    assert decision.channel is None
    assert decision.reason == ("no customer-service window: the user has not written; "
                               "no template configured for this purpose")


# ---------------------------------------------------------------- retries
def test_retries_wait_2_4_8_seconds_doubling_up_to_five_minutes() -> None:
    middle = Fixed(0.5)  # no jitter: the raw schedule
    assert [backoff(n, rng=middle) for n in range(1, 11)] == [
        2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0, 300.0]
    assert backoff(0, rng=middle) == 2.0  # a first try that never counted
    assert backoff(-3, rng=middle) == 2.0
    assert backoff(3, base=0.5, cap=3.0, rng=middle) == 2.0
    assert backoff(4, base=0.5, cap=3.0, rng=middle) == 3.0


def test_jitter_spreads_a_retry_over_half_to_one_and_a_half_times_its_delay() -> None:
    assert backoff(4, rng=Fixed(0.0)) == 8.0
    assert backoff(4, rng=Fixed(0.999)) == pytest.approx(16 * 1.499)
    assert backoff(20, rng=Fixed(0.0)) == 150.0  # the cap is jittered too


def test_retries_without_a_given_random_source_are_jittered_and_never_negative() -> None:
    delays = [backoff(2) for _ in range(200)]
    assert all(2.0 <= delay < 6.0 for delay in delays)
    assert len(set(delays)) > 100  # spread, so workers do not retry in step
    assert min(delays) < 3.0 < 5.0 < max(delays)


# ---------------------------------------------------------------- what operators read
def test_a_reason_is_one_line_whatever_the_platform_sent() -> None:
    assert one_line("invalid openid\nhint: [xyz]") == "invalid openid hint: [xyz]"
    assert one_line("  a \r\n\t b  ") == "a b"
    assert one_line("a\n\n\nb") == "a b"
    assert one_line("a\x1b[31mred") == "a [31mred"  # no terminal escape reaches the screen
    assert one_line("abc\u202eevil") == "abc evil"  # no bidi override turns the line round
    assert one_line("a\u2028b\u2029c\u200bd") == "a b c d"
    assert one_line("a  b") == "a  b"  # ordinary spaces are the platform's own
    assert one_line("\n") == ""
    assert one_line("已受理：市住建局") == "已受理：市住建局"


def test_a_long_reason_is_cut_to_the_limit_with_an_ellipsis() -> None:
    assert REASON_LIMIT == 300
    exact = "x" * 300
    assert bounded_reason(exact) == exact
    cut = bounded_reason("y" * 301)
    assert cut == "y" * 299 + "…"
    assert len(bounded_reason("z\n" * 10_000)) == 300
    assert bounded_reason("abcdef", limit=4) == "abc…"
    assert bounded_reason("a\nb", limit=4) == "a b"
