"""What a line typed in ``lianxin chat`` means (pure; no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

HELP = """Type a line to send it as a text message. Commands:
  /follow              follow the account (subscribe event)
  /unfollow            unfollow it (unsubscribe event)
  /click KEY           click the menu item KEY (CLICK event)
  /menu                show the account's menu and the keys /click takes
  /scan SCENE          scan the account's QR code with scene SCENE (SCAN, or follow)
  /subscribe ID        accept one subscribe message of template ID
  /loc LAT LNG LABEL   send a location, e.g. /loc 26.647 106.630 贵阳市政府
  /img PATH            send an image file (PNG, JPEG or GIF)
  /voice WORDS         send a voice message that speech recognition heard as WORDS
                       (/voice alone: one it could not make out)
  /help                this list
  /quit                leave (so do Ctrl-D and Ctrl-C)
A line starting with // sends the text after the first /.
Labels: [reply] is the account's immediate answer; [push] a customer-service message
it sent later; [template] a template message; [subscribe] a subscribe message."""


class CommandError(ValueError):
    """The line is not a valid command; the text tells the user what to type."""


@dataclass(frozen=True, slots=True)
class Command:
    """``send`` carries the JSON for ``/dev/chat/{user}/send``; ``image`` a file path."""

    action: Literal["send", "image", "menu", "help", "quit", "nothing"]
    payload: dict[str, Any] = field(default_factory=dict)
    path: str = ""


def _coordinate(text: str, name: str, limit: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise CommandError(f"{name} must be a number, not {text!r}") from None
    if not -limit <= value <= limit:
        raise CommandError(f"{name} must be between -{limit:g} and {limit:g}")
    return value


def parse_line(line: str) -> Command:
    """The command a typed line stands for; :class:`CommandError` with a hint if it is bad."""
    text = line.rstrip("\r\n")
    if not text.strip():
        return Command("nothing")
    if text.startswith("//"):
        return Command("send", {"kind": "text", "content": text[1:]})
    if not text.startswith("/"):
        return Command("send", {"kind": "text", "content": text})
    name, _, rest = text[1:].strip().partition(" ")
    rest = rest.strip()
    name = name.lower()
    if name in ("help", "?"):
        return Command("help")
    if name in ("quit", "exit", "q"):
        return Command("quit")
    if name in ("follow", "unfollow"):
        if rest:
            raise CommandError(f"/{name} takes no arguments")
        return Command("send", {"kind": name})
    if name == "click":
        if not rest or " " in rest:
            raise CommandError("usage: /click KEY  (one menu key, e.g. /click HELP)")
        return Command("send", {"kind": "click", "key": rest})
    if name == "menu":
        if rest:
            raise CommandError("/menu takes no arguments")
        return Command("menu")
    if name == "scan":
        if not rest or " " in rest:
            raise CommandError("usage: /scan SCENE  (the QR code's scene, e.g. /scan 1001)")
        return Command("send", {"kind": "scan", "scene": rest})
    if name == "subscribe":
        if not rest or " " in rest:
            raise CommandError("usage: /subscribe TEMPLATE_ID  (/menu lists the templates)")
        return Command("send", {"kind": "subscribe", "template_id": rest})
    if name == "loc":
        parts = rest.split(maxsplit=2)
        if len(parts) < 2:
            raise CommandError("usage: /loc LAT LNG LABEL  (e.g. /loc 26.647 106.630 贵阳)")
        latitude = _coordinate(parts[0], "LAT", 90)
        longitude = _coordinate(parts[1], "LNG", 180)
        label = parts[2] if len(parts) > 2 else ""
        return Command("send", {"kind": "location", "latitude": latitude,
                                "longitude": longitude, "label": label})
    if name == "voice":  # what speech recognition heard; nothing: it heard nothing
        return Command("send", {"kind": "voice", "recognition": rest})
    if name == "img":
        if not rest:
            raise CommandError("usage: /img PATH  (a PNG, JPEG or GIF file)")
        return Command("image", path=rest)
    raise CommandError(f"unknown command /{name}; /help lists the commands")
