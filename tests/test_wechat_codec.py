"""XML parsing and rendering at the edge."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.wechat.codec import (
    BadMessage,
    Crypto,
    Envelope,
    parse_xml,
    render_reply,
    sha1_signature,
    signature_ok,
    to_inbound,
    xml_chars,
)
from domain.messages import Article, Outbound
from tests.conftest import AES_KEY, APP_ID, TOKEN

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    "<xml><Content>&lol2;</Content></xml>"
)


@pytest.mark.parametrize("body", [
    BILLION_LAUGHS,
    '<!-- c --><?xml-stylesheet x?>\n<!DOCTYPE xml SYSTEM "file:///etc/passwd"><xml><a>1</a></xml>',
    "<xml><a>&undefined;</a></xml>",
    "<xml><a>\x00</a></xml>",
    "<xml><a>1</a>",
    "<notxml><a>1</a></notxml>",
    "<xml></xml>",
    "",
])
def test_unsafe_or_broken_xml_is_refused(body: str) -> None:
    with pytest.raises(BadMessage):
        parse_xml(body)


def test_doctype_text_inside_user_content_is_fine() -> None:
    fields = parse_xml("<xml><Content><![CDATA[<!DOCTYPE html> &amp; ]]]]><![CDATA[>]]>"
                       "</Content></xml>")
    assert fields["Content"] == "<!DOCTYPE html> &amp; ]]>"


def test_nested_and_repeated_fields() -> None:
    fields = parse_xml(
        "<xml><ToUserName>gh</ToUserName><Empty></Empty><SendPicsInfo><Count>2</Count>"
        "<PicList><item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item>"
        "</PicList></SendPicsInfo></xml>"
    )
    assert fields["ToUserName"] == "gh"
    assert fields["Empty"] is None
    assert fields["SendPicsInfo"]["PicList"]["item"] == [{"PicMd5Sum": "a"},
                                                           {"PicMd5Sum": "b"}]


def test_every_kind_maps_to_an_inbound() -> None:
    head = ("<ToUserName>gh_1</ToUserName><FromUserName>oU</FromUserName>"
            "<CreateTime>1700000000</CreateTime>")
    cases = {
        "text": "<MsgType>text</MsgType><Content> 你好 </Content><MsgId>1</MsgId>",
        "image": "<MsgType>image</MsgType><PicUrl>http://p</PicUrl><MediaId>m</MediaId>"
                 "<MsgId>2</MsgId>",
        "voice": "<MsgType>voice</MsgType><MediaId>m</MediaId><Format>amr</Format>"
                 "<MsgId>3</MsgId>",
        "video": "<MsgType>shortvideo</MsgType><MediaId>m</MediaId>"
                 "<ThumbMediaId>t</ThumbMediaId><MsgId>4</MsgId>",
        "location": "<MsgType>location</MsgType><Location_X>26.58</Location_X>"
                    "<Location_Y>106.71</Location_Y><Scale>15</Scale>"
                    "<Label>贵阳市观山湖区</Label><MsgId>5</MsgId>",
        "link": "<MsgType>link</MsgType><Title>t</Title><Url>http://u</Url><MsgId>6</MsgId>",
        "event": "<MsgType>event</MsgType><Event>subscribe</Event>"
                 "<EventKey>qrscene_county</EventKey>",
        "unsupported": "<MsgType>miniprogrampage</MsgType><MsgId>7</MsgId>",
    }
    for kind, rest in cases.items():
        inbound, envelope = to_inbound(f"<xml>{head}{rest}</xml>", "default")
        assert inbound.kind == kind
        assert envelope.account_id == "gh_1"
        assert envelope.user == "oU"
    text, _ = to_inbound(f"<xml>{head}{cases['text']}</xml>", "default")
    assert text.payload["content"] == " 你好 "
    assert text.text == "你好"
    loc, _ = to_inbound(f"<xml>{head}{cases['location']}</xml>", "default")
    assert (loc.payload["latitude"], loc.payload["label"]) == (26.58, "贵阳市观山湖区")
    follow, env = to_inbound(f"<xml>{head}{cases['event']}</xml>", "default")
    assert (follow.event, follow.event_key) == ("subscribe", "county")
    assert env.dedupe_key.startswith("e")


def test_rendered_replies_parse_back() -> None:
    envelope = Envelope("gh_1", "oU", "m1")
    text = parse_xml(render_reply(Outbound.of_text("a]]>b"), envelope))
    assert (text["MsgType"], text["Content"], text["ToUserName"]) == ("text", "a]]>b", "oU")
    image = parse_xml(render_reply(Outbound.of_image("MEDIA"), envelope))
    assert image["Image"]["MediaId"] == "MEDIA"
    news = parse_xml(render_reply(Outbound.of_news(Article("标题]]>", "d", "http://u")),
                                  envelope))
    assert news["Articles"]["item"]["Title"] == "标题]]>"


# -- hostile values (issue 9) --------------------------------------------------------------

# any characters (lone surrogates too), mixed with the pieces that break XML by design
ANY_TEXT = st.lists(st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=20),
    st.sampled_from(["]]>", "]]", "<![CDATA[", "<", "&", "&amp;", "\r\n", "\r", "\x00",
                     "\x0b", "\ufffe", "\ud800", "</Nonce>"]),
), max_size=6).map("".join)
CRYPTO = Crypto(TOKEN, AES_KEY, APP_ID)


def strict(xml: str) -> ElementTree.Element:
    """Parse with expat, no DTD, no leniency."""
    return ElementTree.fromstring(xml)


@settings(max_examples=300, deadline=None)
@given(text=ANY_TEXT, user=ANY_TEXT, account=ANY_TEXT, nonce=ANY_TEXT)
def test_replies_parse_back_whatever_they_echo(text: str, user: str, account: str,
                                               nonce: str) -> None:
    """Property: plain and encrypted replies, for any user text, user and account names
    and nonce, parse with a strict XML parser and give back what was put in (as XML can
    carry it: see xml_chars; the identity for text XML can carry)."""
    envelope = Envelope(account, user, "m1")
    replies = {
        "text": (Outbound.of_text(text), "Content"),
        "image": (Outbound.of_image(text), "Image/MediaId"),
        "news": (Outbound.of_news(Article(text, text, text, text)),
                 "Articles/item/Description"),
    }
    for outbound, path in replies.values():
        plain = render_reply(outbound, envelope)
        encrypted = CRYPTO.encrypt(plain, nonce, "1700000000")
        outer = strict(encrypted)
        assert outer.findtext("Nonce") == xml_chars(nonce)
        assert signature_ok((TOKEN, outer.findtext("TimeStamp") or "",
                             outer.findtext("Nonce") or "", outer.findtext("Encrypt") or ""),
                            outer.findtext("MsgSignature") or "")
        inner = CRYPTO.decrypt(outer.findtext("Encrypt") or "")
        assert inner == plain
        root = strict(inner)
        assert root.findtext("ToUserName") == xml_chars(user)
        assert root.findtext("FromUserName") == xml_chars(account)
        assert root.findtext(path) == xml_chars(text)
        if xml_chars(text) == text:  # round trip, to the character
            assert root.findtext(path) == text


# what XML 1.0 carries as is: tab, line feed and everything from space up, less the two
# non-characters (a carriage return comes back as a line feed; surrogates cannot be UTF-8)
CARRYABLE = st.lists(st.one_of(
    st.text(st.characters(codec="utf-8", exclude_characters="\ufffe\uffff").filter(
        lambda c: c in "\t\n" or c >= " "), max_size=20),
    st.sampled_from(["]]>", "]]", "<![CDATA[", "<", "&", "&amp;", "</Nonce>"]),
), max_size=6).map("".join)


@given(text=CARRYABLE, nonce=CARRYABLE)
def test_text_xml_can_carry_comes_back_exactly(text: str, nonce: str) -> None:
    assert xml_chars(text) == text
    reply = CRYPTO.encrypt(render_reply(Outbound.of_text(text), Envelope(text, text, "m")),
                           nonce, "1700000000")
    outer = strict(reply)
    assert outer.findtext("Nonce") == nonce
    root = strict(CRYPTO.decrypt(outer.findtext("Encrypt") or ""))
    assert root.findtext("Content") == root.findtext("ToUserName") == text


def test_a_nonce_holding_cdata_end_is_escaped_in_the_encrypted_reply() -> None:
    """Found: wechatpy writes the nonce into <Nonce><![CDATA[…]]> as given."""
    reply = CRYPTO.encrypt("<xml><a>1</a></xml>", "1]]><x>", "1700000000")
    assert strict(reply).findtext("Nonce") == "1]]><x>"


@pytest.mark.parametrize("given", ["é", "ä" * 40, "\ud800", "", "0" * 41, "%FF"])
def test_signature_check_takes_any_string(given: str) -> None:
    """Found: hmac.compare_digest raised TypeError on non-ASCII str (a 500 at the edge)."""
    assert signature_ok(("a", "b"), given) is False
    assert signature_ok(("a", "b"), sha1_signature("a", "b").upper()) is True
