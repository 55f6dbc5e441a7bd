"""What the dev platform remembers, and the rules it holds the account to.

Tokens; followers (:class:`Follower`) with the interactions that open the customer-service
window (a message: 5 sends within 48 h; a menu click, follow or scan: 3 within 1 minute);
templates, one-time subscribe consents, template sends deduplicated by ``client_msg_id``;
temporary media; the menu; pending faults; and what each user was sent (``inbox``).
Time comes from the injectable ``clock``, so tests can move it.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.config import Account
from devplatform.identity import MsgIds

TOKEN_RENEW_MARGIN = 300.0  # normal-mode stable_token renews this long before expiry
OLD_TOKEN_GRACE = 300.0  # /cgi-bin/token: the previous token lives this much longer
FORCE_REFRESH_INTERVAL = 30.0  # force_refresh within this of the last one does not refresh
MESSAGE_WINDOW = 48 * 3600.0  # customer-service messages after a user's message …
MESSAGE_QUOTA = 5  # … at most this many per message
EVENT_WINDOW = 60.0  # after a menu click, follow or scan …
EVENT_QUOTA = 3  # … at most this many within the minute
CLIENT_MSG_ID_TTL = 600.0  # template/send dedupes (openid, client_msg_id) this long
MEDIA_TTL = 3 * 86400.0  # temporary media live 3 days
TEMPLATE_EVENT_DELAY = 0.2  # seconds between template/send and TEMPLATESENDJOBFINISH

# (app_id, openid, event XML) → the bot's answer as a word (``none``, ``unavailable``, …)
EventSink = Callable[[str, str, str], Awaitable[str]]


@dataclass(slots=True)
class Token:
    value: str
    app_id: str
    expires_at: float
    stable: bool  # from stable_token (else from the classic /cgi-bin/token)
    revoked: bool = False  # invalidated: answers 40001


INTERACTION_KINDS = {  # the event that gives customer-service quota → its kind
    "CLICK": "click", "scancode_push": "click", "scancode_waitmsg": "click",
    "subscribe": "subscribe", "SCAN": "scan",
}


@dataclass(slots=True)
class Follower:
    """One user of one account, and what they allow the account to send them."""

    followed: bool = True
    last_message_at: float | None = None  # the 48-hour window starts here
    messages: int = 0
    message_sends: int = 0  # customer-service messages since the last message
    last_event_at: float | None = None  # a click, follow or scan: 3 sends within 1 minute
    last_event: str | None = None  # "click", "subscribe" or "scan"
    event_sends: int = 0
    subscribe_time: float | None = None
    subscribe_scene: str = "ADD_SCENE_SEARCH"
    qr_scene_str: str = ""
    blocks_templates: bool = False  # template sends end "failed:user block"
    consents: dict[str, int] = field(default_factory=dict)  # subscribe template → grants

    @property
    def last_interaction(self) -> tuple[str, float] | None:
        """The kind (``message``, ``click``, ``subscribe``, ``scan``) and time of the last."""
        found = [(at, kind) for at, kind in ((self.last_message_at, "message"),
                                             (self.last_event_at, self.last_event))
                 if at is not None and kind is not None]
        if not found:
            return None
        at, kind = max(found)
        return kind, at


@dataclass(frozen=True, slots=True)
class Template:
    """A template (``template/send``) or subscribe-message template (``bizsend``)."""

    template_id: str
    keys: tuple[str, ...]
    kind: Literal["template", "subscribe"] = "template"
    title: str = ""


DEFAULT_TEMPLATES = (
    Template("TM_TICKET_STATUS", ("character_string1", "thing2", "phrase3", "time4"),
             "template", "留言办理进度通知"),
    Template("TM_TICKET_REPLY", ("character_string1", "thing2", "thing3", "time4"),
             "template", "留言答复通知"),
    Template("TM_SURVEY", ("character_string1", "thing2", "time3"), "template", "满意度评价提醒"),
    Template("TM_CONSULT_REPLY", ("thing1", "thing2", "time3"), "template", "法律咨询回复通知"),
    Template("SUB_TICKET_STATUS", ("character_string1", "thing2", "phrase3", "time4"),
             "subscribe", "办理进度提醒"),
    Template("SUB_SURVEY", ("character_string1", "thing2", "date3"), "subscribe", "评价提醒"),
)


def load_templates(path: str | Path) -> list[Template]:
    """Templates from a JSON file: ``[{"id", "keys", "kind"?, "title"?}, …]``.

    ``ValueError`` names what is wrong.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read templates from {path}: {exc}") from None
    if not isinstance(raw, list):
        raise ValueError(f"{path}: expected a JSON list of templates")
    found: list[Template] = []
    for i, item in enumerate(raw):
        keys = item.get("keys") if isinstance(item, dict) else None
        if (not isinstance(item, dict) or not isinstance(item.get("id"), str)
                or not item["id"] or not isinstance(keys, list) or not keys
                or not all(isinstance(k, str) and k for k in keys)
                or item.get("kind", "template") not in ("template", "subscribe")
                or not isinstance(item.get("title", ""), str)):
            raise ValueError(f"{path}: template {i + 1} needs an id, a list of keys, "
                             "kind template or subscribe, and a title text")
        found.append(Template(item["id"], tuple(keys), item.get("kind", "template"),
                              item.get("title", "")))
    return found


@dataclass(frozen=True, slots=True)
class TemplateEvent:
    """A TEMPLATESENDJOBFINISH event the platform sent (or would have, without a callback)."""

    app_id: str
    openid: str
    msg_id: int
    status: str
    body: str  # the event XML before signing
    reply: str | None = None  # what the bot answered (``none``, ``unavailable``…); None: unsent


@dataclass(slots=True)
class Fault:
    """The next ``count`` API calls (to ``path``, or any) fail this way: answer ``errcode``
    (with ``errmsg``, else the platform's text for it), ``hang`` seconds then answer
    normally, ``drop`` the connection, or answer HTTP ``status`` (5xx) without doing the
    call."""

    count: int
    errcode: int | None = None
    hang: float | None = None
    drop: bool = False
    path: str | None = None
    status: int | None = None
    errmsg: str | None = None

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"count": self.count}
        if self.errcode is not None:
            shown["errcode"] = self.errcode
        if self.errmsg is not None:
            shown["errmsg"] = self.errmsg
        if self.hang is not None:
            shown["hang"] = self.hang
        if self.drop:
            shown["drop"] = True
        if self.status is not None:
            shown["status"] = self.status
        if self.path is not None:
            shown["path"] = self.path
        return shown


@dataclass(frozen=True, slots=True)
class MediaFile:
    data: bytes
    content_type: str
    media_type: str = "image"
    app_id: str | None = None  # None: a user's upload, usable by every account
    created_at: float = 0.0


@dataclass(slots=True)
class _AppTokens:
    stable: Token | None = None
    classic: Token | None = None
    last_force_at: float | None = None
    issued: list[Token] = field(default_factory=list)


class PlatformState:
    """The platform's memory, shared by the API side, the callback side and the chat."""

    def __init__(
        self,
        accounts: list[Account],
        *,
        token_ttl: int = 7200,
        clock: Callable[[], float] = time.time,
        templates: Iterable[Template] | None = None,
        enforce_rules: bool = True,
        template_event_delay: float = TEMPLATE_EVENT_DELAY,
    ) -> None:
        """``templates`` are registered for every account (default :data:`DEFAULT_TEMPLATES`).

        ``enforce_rules=False`` lifts the customer-service window and quota and the check
        that an image's media_id was uploaded (for tests of API clients that send freely).
        """
        if token_ttl < 1:
            raise ValueError("token_ttl must be at least 1 second")
        self.accounts = list(accounts)
        self.token_ttl = token_ttl
        # WeChat renews 5 minutes early on a 2-hour token; keep the same share for short ones
        self.renew_margin = min(TOKEN_RENEW_MARGIN, token_ttl / 24)
        self.token_calls = 0  # every request to stable_token or token, answered or refused
        self.tokens_issued = 0
        self.enforce_rules = enforce_rules
        self.template_event_delay = template_event_delay
        self.sent: dict[str, list[dict[str, Any]]] = {}  # openid → custom/send bodies
        # openid → everything the user was pushed, as the chat shows it: custom/send bodies,
        # {"msgtype": "template", "template": …} and {"msgtype": "subscribe", "subscribe": …}
        self.inbox: dict[str, list[dict[str, Any]]] = {}
        self.templates: dict[str, list[dict[str, Any]]] = {}  # openid → template sends
        self.subscribe_sent: dict[str, list[dict[str, Any]]] = {}  # openid → bizsend sends
        self.template_events: list[TemplateEvent] = []
        self.users: dict[tuple[str, str], Follower] = {}  # (app_id, openid) → record
        self.media: dict[str, MediaFile] = {}
        self.menus: dict[str, list[dict[str, Any]]] = {}  # app_id → buttons (menu/get)
        self.calls: dict[str, int] = {}  # API path → calls, answered, refused or faulted
        self.faults: list[Fault] = []
        self.event_sink: EventSink | None = None  # set by the server: deliver to the bot
        self._registry: dict[str, dict[str, Template]] = {a.app_id: {} for a in accounts}
        for template in DEFAULT_TEMPLATES if templates is None else templates:
            for account in accounts:
                self._registry[account.app_id][template.template_id] = template
        self._client_msg_ids: dict[tuple[str, str, str], tuple[int, float]] = {}
        self._msg_ids = MsgIds()
        self._tasks: set[asyncio.Task[None]] = set()
        self._clock = clock
        self._apps: dict[str, _AppTokens] = {a.app_id: _AppTokens() for a in accounts}
        self._tokens: dict[str, Token] = {}
        self._sent_changed = asyncio.Event()
        self._hung = asyncio.Event()
        self._stopping = False

    # -- accounts ----------------------------------------------------------------------------

    def account(self, app_id: str) -> Account | None:
        return next((a for a in self.accounts if a.app_id == app_id), None)

    # -- tokens ------------------------------------------------------------------------------

    def _issue(self, app_id: str, *, stable: bool) -> Token:
        token = Token(
            value=secrets.token_urlsafe(102),
            app_id=app_id,
            expires_at=self._clock() + self.token_ttl,
            stable=stable,
        )
        self._tokens[token.value] = token
        self._apps[app_id].issued.append(token)
        self.tokens_issued += 1
        return token

    def _usable(self, token: Token | None) -> bool:
        return token is not None and not token.revoked and token.expires_at > self._clock()

    def stable_token(self, app_id: str, *, force_refresh: bool) -> Token:
        """``stable_token``: the current token while it is valid (normal mode).

        Normal mode renews in the last ``renew_margin`` seconds and the old token stays valid
        until it expires. Force-refresh revokes the current token and issues a new one,
        except within 30 s of the previous forced refresh while the current token is valid
        (WeChat then does not refresh).
        """
        app = self._apps[app_id]
        now = self._clock()
        current = app.stable
        if force_refresh:
            recent = (app.last_force_at is not None
                      and now - app.last_force_at < FORCE_REFRESH_INTERVAL)
            if recent and self._usable(current):
                assert current is not None
                return current
            if current is not None:
                current.revoked = True
            app.last_force_at = now
        elif self._usable(current) and current is not None and (
            current.expires_at - now > self.renew_margin
        ):
            return current
        app.stable = self._issue(app_id, stable=True)
        return app.stable

    def classic_token(self, app_id: str) -> Token:
        """``/cgi-bin/token``: always a new token; the previous one lives 5 more minutes."""
        app = self._apps[app_id]
        previous = app.classic
        if previous is not None:
            previous.expires_at = min(previous.expires_at, self._clock() + OLD_TOKEN_GRACE)
        app.classic = self._issue(app_id, stable=False)
        return app.classic

    def expires_in(self, token: Token) -> int:
        return max(0, int(token.expires_at - self._clock()))

    def check_token(self, value: str) -> tuple[int, Token | None]:
        """``(0, token)`` if usable, else the errcode: 40001 unknown/revoked, 42001 expired."""
        token = self._tokens.get(value)
        if token is None or token.revoked:
            return 40001, None
        if token.expires_at <= self._clock():
            return 42001, None
        return 0, token

    def expire_tokens(self, app_id: str) -> None:
        """Test hook: every token of the app has expired (calls answer 42001)."""
        past = self._clock() - 1
        for token in self._apps[app_id].issued:
            token.expires_at = min(token.expires_at, past)

    def invalidate_tokens(self, app_id: str) -> None:
        """Test hook: every token of the app is invalid (calls answer 40001)."""
        for token in self._apps[app_id].issued:
            token.revoked = True

    def now(self) -> float:
        return self._clock()

    # -- users -------------------------------------------------------------------------------

    def _follower(self, app_id: str, openid: str) -> Follower:
        return self.users.setdefault((app_id, openid), Follower(subscribe_time=self._clock()))

    def follow(
        self, app_id: str, openid: str, *, scene: str = "ADD_SCENE_SEARCH", qr_scene: str = ""
    ) -> None:
        """Make ``openid`` a follower of the account (known to the API).

        Following by itself opens no customer-service window: the follow *event* does
        (:meth:`saw_event`, which the callback side calls when it delivers one).
        """
        user = self._follower(app_id, openid)
        if not user.followed or user.subscribe_time is None:
            user.subscribe_time = self._clock()
        user.followed = True
        user.subscribe_scene = scene
        user.qr_scene_str = qr_scene

    def unfollow(self, app_id: str, openid: str) -> None:
        self._follower(app_id, openid).followed = False

    def saw_message(self, app_id: str, openid: str) -> None:
        """The user wrote to the account (only followers can): 5 sends within 48 h."""
        user = self._follower(app_id, openid)
        user.followed = True
        user.last_message_at = self._clock()
        user.messages += 1
        user.message_sends = 0

    def saw_event(self, app_id: str, openid: str, event: str, event_key: str = "") -> None:
        """The user caused ``event``; a click, follow or scan allows 3 sends within 1 min.

        A follow with a ``qrscene_`` key is a scan; other events (unsubscribe, VIEW, …)
        change nothing here.
        """
        kind = INTERACTION_KINDS.get(event)
        if kind is None:
            return
        if event == "subscribe" and event_key.startswith("qrscene_"):
            kind = "scan"
        user = self._follower(app_id, openid)
        user.last_event_at = self._clock()
        user.last_event = kind
        user.event_sends = 0

    def user(self, app_id: str, openid: str) -> Follower | None:
        return self.users.get((app_id, openid))

    def customer_service_allows(self, app_id: str, openid: str) -> int:
        """0 and one send used up, or why not: 45015 window closed / unfollowed, 45047 quota.

        A click, follow or scan in the last minute is used first, then the last message.
        """
        user = self.users.get((app_id, openid))
        if user is None or not user.followed:
            return 45015
        if not self.enforce_rules:
            return 0
        now = self._clock()
        in_window = False
        if user.last_event_at is not None and now - user.last_event_at <= EVENT_WINDOW:
            in_window = True
            if user.event_sends < EVENT_QUOTA:
                user.event_sends += 1
                return 0
        if user.last_message_at is not None and now - user.last_message_at <= MESSAGE_WINDOW:
            in_window = True
            if user.message_sends < MESSAGE_QUOTA:
                user.message_sends += 1
                return 0
        return 45047 if in_window else 45015

    def block_templates(self, app_id: str, openid: str, blocked: bool = True) -> None:
        """Test hook: the user refuses template messages (sends end ``failed:user block``)."""
        self._follower(app_id, openid).blocks_templates = blocked

    # -- templates and subscribe messages -----------------------------------------------------

    def register_template(
        self,
        app_id: str,
        template_id: str,
        keys: list[str],
        *,
        kind: Literal["template", "subscribe"] = "template",
        title: str = "",
    ) -> Template:
        template = Template(template_id, tuple(keys), kind, title)
        self._registry[app_id][template_id] = template
        return template

    def template(
        self, app_id: str, template_id: str, kind: Literal["template", "subscribe"]
    ) -> Template | None:
        found = self._registry.get(app_id, {}).get(template_id)
        return found if found is not None and found.kind == kind else None

    def registered(self, app_id: str) -> list[Template]:
        return list(self._registry.get(app_id, {}).values())

    def consent(self, app_id: str, openid: str, template_id: str) -> None:
        """The user accepted one subscribe message of ``template_id`` (one grant, one send)."""
        consents = self._follower(app_id, openid).consents
        consents[template_id] = consents.get(template_id, 0) + 1

    def take_consent(self, app_id: str, openid: str, template_id: str) -> bool:
        user = self.users.get((app_id, openid))
        if user is None or user.consents.get(template_id, 0) < 1:
            return False
        user.consents[template_id] -= 1
        return True

    def new_msg_id(self) -> int:
        return self._msg_ids.next()

    def dedupe_template(self, app_id: str, openid: str, client_msg_id: str) -> int | None:
        """The msgid of a template send with this ``client_msg_id`` in the last 10 minutes."""
        now = self._clock()
        for key, (_, at) in list(self._client_msg_ids.items()):
            if now - at > CLIENT_MSG_ID_TTL:
                del self._client_msg_ids[key]
        found = self._client_msg_ids.get((app_id, openid, client_msg_id))
        return None if found is None else found[0]

    def remember_template(
        self, app_id: str, openid: str, client_msg_id: str, msg_id: int
    ) -> None:
        self._client_msg_ids[(app_id, openid, client_msg_id)] = (msg_id, self._clock())

    def record_template(self, openid: str, record: dict[str, Any]) -> None:
        self.templates.setdefault(openid, []).append(record)
        self._push(openid, {"msgtype": "template", "template": record})

    def record_subscribe(self, openid: str, record: dict[str, Any]) -> None:
        self.subscribe_sent.setdefault(openid, []).append(record)
        self._push(openid, {"msgtype": "subscribe", "subscribe": record})

    def finish_template(self, app_id: str, openid: str, msg_id: int, body: str,
                        status: str) -> None:
        """Send the TEMPLATESENDJOBFINISH event ``body`` to the bot, after the delay.

        Without an ``event_sink`` (the API app alone) it is only recorded.
        """
        sink = self.event_sink
        if sink is None:
            self.template_events.append(TemplateEvent(app_id, openid, msg_id, status, body))
            return

        async def later() -> None:
            await asyncio.sleep(self.template_event_delay)
            reply = await sink(app_id, openid, body)
            self.template_events.append(
                TemplateEvent(app_id, openid, msg_id, status, body, reply))

        task = asyncio.get_running_loop().create_task(later())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def settle(self) -> None:
        """Wait for the pending TEMPLATESENDJOBFINISH deliveries (tests; shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        """Cancel pending event deliveries."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def track(self, task: asyncio.Task[Any]) -> None:
        """Keep ``task`` alive until it ends (work the platform finishes on its own)."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- faults ------------------------------------------------------------------------------

    def inject_fault(
        self,
        count: int = 1,
        *,
        errcode: int | None = None,
        hang: float | None = None,
        drop: bool = False,
        path: str | None = None,
        status: int | None = None,
        errmsg: str | None = None,
    ) -> Fault:
        """The next ``count`` API calls (to ``path``, default any ``/cgi-bin/``) answer
        ``errcode`` (with ``errmsg`` if given), hang ``hang`` seconds before answering
        normally, are dropped, or answer HTTP ``status`` (500–599) without being done."""
        if count < 1:
            raise ValueError("count must be at least 1")
        if sum((errcode is not None, hang is not None, drop, status is not None)) != 1:
            raise ValueError("a fault is one of errcode, hang, drop or status")
        if errcode == 0:
            raise ValueError("errcode 0 is not a fault")
        if errmsg is not None and errcode is None:
            raise ValueError("errmsg goes with an errcode")
        if hang is not None and not 0 < hang <= 600:
            raise ValueError("hang must be more than 0 and at most 600 seconds")
        if status is not None and not 500 <= status <= 599:
            raise ValueError("status must be an HTTP server error, 500 to 599")
        if path is not None and not path.startswith("/cgi-bin/"):
            raise ValueError("path must be an API path, /cgi-bin/…")
        fault = Fault(count, errcode, hang, drop, path, status, errmsg)
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    @property
    def hung(self) -> asyncio.Event:
        """Set by :meth:`release_hung`: the calls hanging now answer at once."""
        return self._hung

    def release_hung(self) -> None:
        """Let every call hanging now answer before its ``hang`` is over (tests order the
        platform's late answer after another event instead of after a guessed time)."""
        released, self._hung = self._hung, asyncio.Event()
        released.set()

    def take_fault(self, path: str) -> Fault | None:
        """Count a call to ``path``; the fault it meets, if one is pending (used up by it)."""
        self.calls[path] = self.calls.get(path, 0) + 1
        for fault in self.faults:
            if fault.path is None or fault.path == path:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    # -- messages sent to users --------------------------------------------------------------

    def record_sent(self, openid: str, body: dict[str, Any]) -> None:
        """A customer-service message (custom/send body) the user was sent."""
        self.sent.setdefault(openid, []).append(body)
        self._push(openid, body)

    def _push(self, openid: str, item: dict[str, Any]) -> None:
        self.inbox.setdefault(openid, []).append(item)
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        changed, self._sent_changed = self._sent_changed, asyncio.Event()
        changed.set()

    def stop_waiting(self) -> None:
        """The platform is stopping: inbox long polls answer now with what they have, so
        the stop does not wait for them (a chat that has left never ends its poll)."""
        self._stopping = True
        self._wake_waiters()

    async def wait_inbox(self, openid: str, after: int, wait: float) -> list[dict[str, Any]]:
        """What ``openid`` was pushed after the first ``after`` items; waits up to ``wait`` s
        (not at all once the platform is stopping)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while not self._stopping and len(self.inbox.get(openid, ())) <= after:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                await asyncio.wait_for(self._sent_changed.wait(), remaining)
            except TimeoutError:
                break
        return self.inbox.get(openid, [])[after:]

    # -- media -------------------------------------------------------------------------------

    def add_media(self, media_id: str, data: bytes, content_type: str, *,
                  media_type: str = "image", app_id: str | None = None) -> None:
        self.media[media_id] = MediaFile(data, content_type, media_type, app_id, self._clock())

    def find_media(self, app_id: str, media_id: str) -> MediaFile | None:
        """The account's media (or a user's upload) that has not expired."""
        found = self.media.get(media_id)
        if found is None or found.app_id not in (None, app_id):
            return None
        if self._clock() - found.created_at > MEDIA_TTL:
            return None
        return found
