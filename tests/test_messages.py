"""Channel-neutral message types and text splitting."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.messages import Article, Inbound, Outbound, excerpt, join_texts, split_text


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


def test_split_text_fills_each_piece_up_to_the_limit() -> None:
    assert split_text("abcdefghij", 4) == ["abcd", "efgh", "ij"]
    assert split_text("一二三四五", 7) == ["一二", "三四", "五"]  # 3 bytes a character
    assert split_text("一二三四五", 9) == ["一二三", "四五"]
    assert split_text("abcd", 4) == ["abcd"]
    assert split_text("", 4) == [""]
    assert split_text("x" * 2048) == ["x" * 2048]
    assert split_text("x" * 2049) == ["x" * 2048, "x"]


def test_split_text_uses_a_line_break_only_in_the_second_half_of_a_piece() -> None:
    assert split_text("abcde\nghijklmnop", 10) == ["abcde\nghij", "klmnop"]  # at half: no
    assert split_text("abcdef\nhijklmnop", 10) == ["abcdef", "hijklmnop"]
    assert split_text("abcd\nfghijklmnop", 10) == ["abcd\nfghij", "klmnop"]
    assert split_text("ab\n\n\nfghijk", 6) == ["ab", "fghijk"]  # the breaks go with the cut
    assert split_text("abcde\n\nhijklmn", 10) == ["abcde", "hijklmn"]


def test_split_text_keeps_what_stands_at_a_cut() -> None:
    assert split_text("abcd  efgh", 6) == ["abcd  ", "efgh"]  # spaces are text
    assert split_text("XXXXXX", 4) == ["XXXX", "XX"]
    # a line break after the cut is no place to cut at
    assert split_text("abcdefghij\nk", 6) == ["abcdef", "ghij\nk"]


def test_split_text_needs_room_for_one_character() -> None:
    assert split_text("𠀀𠀀", 4) == ["𠀀", "𠀀"]  # 4 bytes each
    with pytest.raises(ValueError, match="room for one character"):
        split_text("abc", 3)


def test_stored_pushes_keep_their_json_form() -> None:
    """The outbox keeps ``to_json``; a push written by an earlier release must still read."""
    stored: dict[str, object] = {
        "kind": "news", "text": "", "media_id": "",
        "articles": [{"title": "标题", "description": "说明", "url": "https://example.org/a",
                      "image_url": "https://example.org/p.png"}],
    }
    news = Outbound.of_news(Article("标题", "说明", "https://example.org/a",
                                    "https://example.org/p.png"))
    assert news.to_json() == stored
    assert Outbound.from_json(stored) == news
    assert Outbound.of_text("你好").to_json() == {"kind": "text", "text": "你好", "media_id": "",
                                                 "articles": []}
    assert Outbound.of_image("MEDIA").to_json() == {"kind": "image", "text": "",
                                                    "media_id": "MEDIA", "articles": []}


def test_a_stored_push_with_missing_parts_reads_with_defaults() -> None:
    assert Outbound.from_json({"kind": "text"}) == Outbound("text")
    assert Outbound.from_json({"kind": "text", "articles": None}) == Outbound("text")
    assert Outbound.from_json({"kind": "news", "articles": "x"}) == Outbound("news")
    partial = Outbound.from_json({"kind": "news", "articles": [{"title": "只有标题"}, "junk",
                                                               {"url": "https://x/a"}]})
    assert partial.articles == (Article("只有标题"), Article("", url="https://x/a"))
    assert Outbound.from_json({"kind": "text", "text": 12}) == Outbound.of_text("12")
    for kind in ("video", None):
        with pytest.raises(ValueError, match="unknown outbound kind"):
            Outbound.from_json({"kind": kind})


def test_a_news_reply_carries_one_to_eight_articles() -> None:
    eight = [Article(f"第{i}条") for i in range(8)]
    assert Outbound.of_news(*eight).articles == tuple(eight)
    assert Outbound.of_news(eight[0]).kind == "news"
    with pytest.raises(ValueError, match="1 to 8"):
        Outbound.of_news(*eight, Article("第九条"))


def test_only_events_have_event_names_and_only_strings_count() -> None:
    assert Inbound("a", "u", "text", {"content": "x", "event": "click"}).event == ""
    assert Inbound("a", "u", "event", {"event": 3, "key": 4}).event == ""
    assert Inbound("a", "u", "event", {"event": "click", "key": 4}).event_key == ""
    assert Inbound("a", "u", "event", {"event": "subscribe"}).event_key == ""
    assert Inbound("a", "u", "text", {"content": 5}).text == ""
    assert Inbound("a", "u", "text").text == ""


def test_consecutive_texts_become_one_reply_a_blank_line_apart() -> None:
    image = Outbound.of_image("M")
    assert join_texts([]) == []
    assert join_texts([Outbound.of_text("a")]) == [Outbound.of_text("a")]
    assert join_texts([Outbound.of_text("a"), Outbound.of_text("b"), Outbound.of_text("c")]) \
        == [Outbound.of_text("a\n\nb\n\nc")]
    assert join_texts([Outbound.of_text("a"), image, Outbound.of_text("b")]) == [
        Outbound.of_text("a"), image, Outbound.of_text("b")]
    assert join_texts([image, Outbound.of_text("a"), Outbound.of_text("b")]) == [
        image, Outbound.of_text("a\n\nb")]
    assert join_texts([image, image]) == [image, image]


def test_an_excerpt_is_one_line_cut_with_an_ellipsis() -> None:
    assert excerpt("  楼下\n噪音\t扰民  ", 20) == "楼下 噪音 扰民"
    assert excerpt("abcdef", 6) == "abcdef"
    assert excerpt("abcdefg", 6) == "abcde…"


def test_a_voice_message_round_trips() -> None:
    """A lawyer's or a citizen's voice message relayed in a consultation."""
    voice = Outbound.of_voice("VOICE_1")
    assert Outbound.from_json(voice.to_json()) == voice and voice.kind == "voice"
