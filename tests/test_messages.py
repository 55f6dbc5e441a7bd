"""Channel-neutral message types and text splitting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.messages import Article, Inbound, Outbound, split_text


@given(st.text(max_size=3000), st.integers(min_value=4, max_value=2048))
def test_split_text_keeps_everything_within_limit(text: str, limit: int) -> None:
    pieces = split_text(text, limit)
    assert all(len(p.encode("utf-8")) <= limit for p in pieces)
    assert "".join(pieces).replace("\n", "") == text.replace("\n", "")


def test_split_text_prefers_line_breaks() -> None:
    text = ("第一段" * 200) + "\n" + ("第二段" * 200)
    pieces = split_text(text, 2048)
    assert pieces == ["第一段" * 200, "第二段" * 200]


def test_outbound_json_round_trip() -> None:
    news = Outbound.of_news(Article("标题", "说明", "https://example.org/a", "https://x/p.png"))
    for outbound in (Outbound.of_text("你好]]>"), Outbound.of_image("MEDIA"), news):
        assert Outbound.from_json(outbound.to_json()) == outbound
    with pytest.raises(ValueError, match="1 to 8"):
        Outbound.of_news()


def test_inbound_text_only_for_text() -> None:
    assert Inbound("a", "u", "text", {"content": "  帮助 \n"}).text == "帮助"
    assert Inbound("a", "u", "image", {"content": "x"}).text == ""
    click = Inbound("a", "u", "event", {"event": "click", "key": "HELP"})
    assert (click.event, click.event_key) == ("click", "HELP")
