"""Callback messages built exactly as WeChat sends them (pure functions, no I/O).

Every message carries ToUserName (the account's original id), FromUserName (the user's
OpenID), CreateTime and MsgType; ordinary messages add a MsgId, events an Event (and an
EventKey where WeChat sends one).
"""

from __future__ import annotations

import time

from bot.wechat.codec import cdata_safe


def _cdata(value: str) -> str:
    return f"<![CDATA[{cdata_safe(value)}]]>"


def _head(to_user: str, from_user: str, msg_type: str, create_time: int | None) -> str:
    created = int(time.time()) if create_time is None else create_time
    return (
        f"<ToUserName>{_cdata(to_user)}</ToUserName>"
        f"<FromUserName>{_cdata(from_user)}</FromUserName>"
        f"<CreateTime>{created}</CreateTime>"
        f"<MsgType>{_cdata(msg_type)}</MsgType>"
    )


def build_text(
    to_user: str, from_user: str, content: str, msg_id: int, *, create_time: int | None = None
) -> str:
    return (
        f"<xml>{_head(to_user, from_user, 'text', create_time)}"
        f"<Content>{_cdata(content)}</Content><MsgId>{msg_id}</MsgId></xml>"
    )


def build_image(
    to_user: str,
    from_user: str,
    pic_url: str,
    media_id: str,
    msg_id: int,
    *,
    create_time: int | None = None,
) -> str:
    return (
        f"<xml>{_head(to_user, from_user, 'image', create_time)}"
        f"<PicUrl>{_cdata(pic_url)}</PicUrl><MsgId>{msg_id}</MsgId>"
        f"<MediaId>{_cdata(media_id)}</MediaId></xml>"
    )


def build_voice(
    to_user: str,
    from_user: str,
    media_id: str,
    recognition: str,
    msg_id: int,
    *,
    create_time: int | None = None,
) -> str:
    """A voice message as the platform sends it with speech recognition on: what it heard
    in ``Recognition`` (empty when it made nothing of it)."""
    return (
        f"<xml>{_head(to_user, from_user, 'voice', create_time)}"
        f"<MediaId>{_cdata(media_id)}</MediaId><Format>{_cdata('amr')}</Format>"
        f"<Recognition>{_cdata(recognition)}</Recognition><MsgId>{msg_id}</MsgId></xml>"
    )


def build_location(
    to_user: str,
    from_user: str,
    latitude: float,
    longitude: float,
    label: str,
    msg_id: int,
    *,
    scale: int = 15,
    create_time: int | None = None,
) -> str:
    return (
        f"<xml>{_head(to_user, from_user, 'location', create_time)}"
        f"<Location_X>{latitude:.6f}</Location_X><Location_Y>{longitude:.6f}</Location_Y>"
        f"<Scale>{scale}</Scale><Label>{_cdata(label)}</Label>"
        f"<MsgId>{msg_id}</MsgId></xml>"
    )


def build_subscribe(to_user: str, from_user: str, *, create_time: int | None = None) -> str:
    """A follow event; WeChat sends an empty EventKey when no QR scene is involved."""
    return (
        f"<xml>{_head(to_user, from_user, 'event', create_time)}"
        f"<Event>{_cdata('subscribe')}</Event><EventKey>{_cdata('')}</EventKey></xml>"
    )


def build_unsubscribe(to_user: str, from_user: str, *, create_time: int | None = None) -> str:
    return (
        f"<xml>{_head(to_user, from_user, 'event', create_time)}"
        f"<Event>{_cdata('unsubscribe')}</Event><EventKey>{_cdata('')}</EventKey></xml>"
    )


def build_click(
    to_user: str, from_user: str, key: str, *, create_time: int | None = None
) -> str:
    """A menu click: Event ``CLICK`` (upper case, as WeChat sends it) with the menu key."""
    return (
        f"<xml>{_head(to_user, from_user, 'event', create_time)}"
        f"<Event>{_cdata('CLICK')}</Event><EventKey>{_cdata(key)}</EventKey></xml>"
    )


def build_scan(
    to_user: str, from_user: str, scene: str, *, following: bool,
    create_time: int | None = None,
) -> str:
    """A QR-code scan: ``SCAN`` with the scene for a follower, else a follow with
    ``qrscene_`` + the scene (and the Ticket WeChat adds)."""
    event, key = ("SCAN", scene) if following else ("subscribe", f"qrscene_{scene}")
    return (
        f"<xml>{_head(to_user, from_user, 'event', create_time)}"
        f"<Event>{_cdata(event)}</Event><EventKey>{_cdata(key)}</EventKey>"
        f"<Ticket>{_cdata('gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2Rldg==')}</Ticket>"
        "</xml>"
    )


def build_template_finish(
    to_user: str, from_user: str, msg_id: int, status: str, *, create_time: int | None = None
) -> str:
    """TEMPLATESENDJOBFINISH: ``MsgID`` (capital D, as WeChat spells it) and ``Status``
    (``success``, ``failed:user block``, ``failed: system failed``)."""
    return (
        f"<xml>{_head(to_user, from_user, 'event', create_time)}"
        f"<Event>{_cdata('TEMPLATESENDJOBFINISH')}</Event>"
        f"<MsgID>{msg_id}</MsgID><Status>{_cdata(status)}</Status></xml>"
    )


def build_subscribe_popup(
    to_user: str,
    from_user: str,
    choices: list[tuple[str, str]],
    *,
    scene: int = 2,
    create_time: int | None = None,
) -> str:
    """``subscribe_msg_popup_event``: one ``List`` per (template id, accept|reject)."""
    items = "".join(
        f"<List><TemplateId>{_cdata(template_id)}</TemplateId>"
        f"<SubscribeStatusString>{_cdata(status)}</SubscribeStatusString>"
        f"<PopupScene>{scene}</PopupScene></List>"
        for template_id, status in choices
    )
    return (
        f"<xml>{_head(to_user, from_user, 'event', create_time)}"
        f"<Event>{_cdata('subscribe_msg_popup_event')}</Event>"
        f"<SubscribeMsgPopupEvent>{items}</SubscribeMsgPopupEvent></xml>"
    )
