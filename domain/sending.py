"""The port the delivery worker sends through, owned by this side of the house.

The worker (``scheduler/delivery.py``) decides *which door* a push takes — a customer-service
message inside the window, a template or a subscribe message outside it — and needs from
the channel only the four sends below and what a failed send means. ``bot/wechat/api.py``
is the real implementation; tests pass a fake. Nothing here knows HTTP or WeChat's wire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from domain.messages import Outbound


class SendError(Exception):
    """The platform refused a send (``errcode`` > 0), or could not be reached (< 0).

    ``errmsg`` must be safe to log and to keep in the outbox (no secret, one line).
    ``may_have_arrived`` is ``True`` when the outcome is unknown (a timeout, a dropped
    connection, an HTTP 5xx): sending again could make a second copy.
    """

    def __init__(self, errcode: int, errmsg: str = "", *,
                 may_have_arrived: bool = False) -> None:
        super().__init__(f"send failed, errcode {errcode}: {errmsg}")
        self.errcode = errcode
        self.errmsg = errmsg
        self.may_have_arrived = may_have_arrived


class FieldError(ValueError):
    """A value the platform would refuse; ``field`` is its path (``data.thing1.value``)."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class Messenger(Protocol):
    """One account's sending side of the channel."""

    async def send_text(self, openid: str, text: str) -> None: ...

    async def send(self, openid: str, outbound: Outbound) -> None: ...

    async def send_template(self, openid: str, template_id: str, data: Mapping[str, str], *,
                            client_msg_id: str, url: str | None = None) -> int: ...

    async def send_subscribe(self, openid: str, template_id: str, data: Mapping[str, str],
                             *, page: str | None = None) -> None: ...


@dataclass(frozen=True, slots=True)
class Purpose:
    """How pushes of one purpose may reach a user besides customer-service messages."""

    name: str
    template_id: str | None
    subscribe_template_id: str | None
    fields: dict[str, str]  # template key → the push field that fills it


class PurposesError(ValueError):
    """The delivery file is wrong; the message names the table and the key."""


def parse_purposes(data: Mapping[str, object], where: str) -> dict[str, Purpose]:
    """The ``[purposes.NAME]`` tables of the delivery file (``config/delivery.toml``)."""
    table = data.get("purposes")
    if not isinstance(table, dict):
        raise PurposesError(f"{where}: needs [purposes.NAME] tables")
    purposes: dict[str, Purpose] = {}
    for name, entry in table.items():
        here = f"{where}: [purposes.{name}]"
        if not isinstance(entry, dict):
            raise PurposesError(f"{here}: must be a table")
        unknown = set(entry) - {"template_id", "subscribe_template_id", "fields"}
        if unknown:
            raise PurposesError(f"{here}: unknown key {sorted(unknown)[0]}")
        ids: dict[str, str | None] = {}
        for key in ("template_id", "subscribe_template_id"):
            value = entry.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise PurposesError(f"{here}: {key} must be a non-empty string")
            ids[key] = value
        fields = entry.get("fields", {})
        if not isinstance(fields, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in fields.items()
        ):
            raise PurposesError(f"{here}: fields must map template keys to field names")
        if (ids["template_id"] or ids["subscribe_template_id"]) and not fields:
            raise PurposesError(f"{here}: a template needs fields")
        purposes[name] = Purpose(name, ids["template_id"], ids["subscribe_template_id"],
                                 dict(fields))
    return purposes
