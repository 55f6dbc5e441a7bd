"""XML parsing and rendering at the edge."""

from __future__ import annotations

import pytest

from bot.wechat_codec import BadMessage, Envelope, parse_xml, render_reply, to_inbound
from domain.messages import Article, Outbound

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
