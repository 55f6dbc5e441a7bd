"""Configuration from ``LIANXIN_*`` environment variables and an optional accounts file."""

from __future__ import annotations

import base64
import binascii
import ipaddress
import logging
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from domain.holidays_file import HolidaysError, parse_holidays
from domain.sending import Purpose, PurposesError, parse_purposes
from domain.workdays import STATUTORY, Calendar

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TEXTS = REPO_ROOT / "config" / "texts.toml"
DEFAULT_DELIVERY = REPO_ROOT / "config" / "delivery.toml"
DEFAULT_HOLIDAYS = REPO_ROOT / "config" / "holidays.toml"
REAL_WECHAT_API = "https://api.weixin.qq.com"
ASYNC_DRIVERS = frozenset({"sqlite+aiosqlite", "postgresql+asyncpg"})
_ACCOUNT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
log = logging.getLogger(__name__)


class ConfigError(Exception):
    """A setting is missing or wrong; the message is one line naming it."""


def check_aes_key(value: str) -> str:
    """An EncodingAESKey is 43 characters of base64 that decode to 32 bytes."""
    if len(value) != 43:
        raise ValueError("must be 43 characters (the EncodingAESKey from the WeChat console)")
    try:
        key = base64.b64decode(value + "=", validate=True)
    except binascii.Error as exc:
        raise ValueError("must be base64 (letters, digits, + and /)") from exc
    if len(key) != 32:
        raise ValueError("must decode to 32 bytes")
    return value


class DatabaseSettings(BaseSettings):
    """The one setting the commands that only touch the database need (``lianxin staff``):
    they run where no WeChat account is configured."""

    model_config = SettingsConfigDict(env_prefix="LIANXIN_", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///./lianxin.db"

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            raise ValueError("is not a database URL (sqlite+aiosqlite:///… or "
                             "postgresql+asyncpg://…)") from None
        if url.drivername not in ASYNC_DRIVERS:
            raise ValueError(f"driver {url.drivername!r} is not one lianxin runs on; use "
                             + " or ".join(sorted(ASYNC_DRIVERS)))
        return value


class OfficeSettings(DatabaseSettings):
    """What the commands that count with the office's rules need besides the database
    (``lianxin report``): the texts, the calendar, the 签收 deadline."""

    texts_file: Path = DEFAULT_TEXTS
    holidays_file: Path = DEFAULT_HOLIDAYS
    # the scheduler's ticket jobs (scheduler/jobs.py, docs/METRICS.md): 签收 within this
    # many working days of a ticket reaching a department
    sign_workdays: int = Field(default=1, ge=1, le=10)


class Settings(OfficeSettings):
    """Everything the bot reads from its environment. See the README's table."""

    @property
    def delivers_in_process(self) -> bool:
        """Whether ``lianxin serve`` runs the outbox delivery itself (default: only on the
        in-process stores, where a separate scheduler could not see the same store)."""
        if self.deliver_in_process is not None:
            return self.deliver_in_process
        return self.redis_url is None

    model_config = SettingsConfigDict(env_prefix="LIANXIN_", extra="ignore")

    wechat_token: str = Field(min_length=3, max_length=32)
    wechat_app_id: str = Field(min_length=1, max_length=64)
    wechat_app_secret: SecretStr = Field(min_length=1)
    wechat_aes_key: str | None = None
    # compatible mode (WeChat console 兼容模式): plaintext callbacks are accepted too; when a
    # callback carries both, the encrypted part is used. Off: a safe-mode account (one
    # with an EncodingAESKey) takes only encrypted callbacks.
    wechat_compatible: bool = False
    wechat_api_base: str = REAL_WECHAT_API

    redis_url: str | None = None
    # without Redis: seconds between background saves of the in-process store's lasting
    # keys while they change (what a kill -9 can lose; a graceful stop saves everything);
    # 0 keeps nothing across restarts (see storage/snapshot.py)
    store_save_interval: float = Field(default=2.0, ge=0, le=3600)
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # the staff API on a listener of its own (not where WeChat's callbacks arrive); unset:
    # under /api/v1 on the callback listener
    staff_host: str | None = None
    staff_port: int | None = Field(default=None, ge=1, le=65535)
    # the scheduler's ticket jobs: reminders and 督办 from this hour, China time; sent
    # pushes kept this many days; the job lease (one active scheduler among several) runs
    # out this many seconds after its holder's last renewal, which comes three times per
    # lease
    alerts_hour: int = Field(default=8, ge=0, le=23)
    keep_pushes_days: float = Field(default=30.0, ge=1)
    keep_bind_codes_days: float = Field(default=1.0, ge=0)  # after they expired
    scheduler_lease: float = Field(default=30.0, ge=1.0, le=600.0)
    # the survey: a question not answered within survey_days lapses (a rating not given
    # leaves the ticket unrated); 问题是否仍已解决 is asked recheck_days after a closing
    # (0: never)
    survey_days: float = Field(default=7.0, gt=0, le=90)
    recheck_days: float = Field(default=28.0, ge=0, le=365)
    # the legal consultation: a lawyer silent consult_remind_minutes after taking one is
    # reminded, and at consult_timeout_minutes it goes back to the queue; a citizen silent
    # consult_silence_minutes after the lawyer's last message ends it
    consult_remind_minutes: float = Field(default=10.0, gt=0, le=1440)
    consult_timeout_minutes: float = Field(default=20.0, gt=0, le=1440)
    consult_silence_minutes: float = Field(default=30.0, gt=0, le=10080)
    # … or this many hours after an answer that waited for a citizen out of reach
    consult_away_hours: float = Field(default=72.0, gt=0, le=720)
    # a question no lawyer has taken in this many days is closed, the citizen told
    consult_expire_days: float = Field(default=7.0, gt=0, le=90)
    # the deadline jobs run once per tick (seconds), the calendar and clean-up per 60
    scheduler_tick: float = Field(default=60.0, ge=0.5, le=3600.0)
    # 改派: the new department inherits the citizen's due date (true), or gets its own
    # time from the day after it receives the ticket (false: docs/LIFECYCLE.md)
    redispatch_keeps_due_date: bool = False
    # the web console (/console, docs/CONSOLE.md): the key that encrypts its session
    # cookie (a Fernet key: 32 bytes, URL-safe base64; `lianxin console key` makes one).
    # Unset: a fresh key at each start (everyone signs in again after a restart, and
    # several processes would not share sessions). The cookie is marked Secure when the
    # console is served over HTTPS (behind a proxy that terminates it).
    console_secret: SecretStr | None = None
    console_https: bool = False
    console_session_hours: float = Field(default=8.0, gt=0, le=168)
    # failed sign-ins allowed per login name (and four times as many per client address)
    # refused for console_lockout_minutes
    console_login_attempts: int = Field(default=5, ge=1, le=100)
    console_lockout_minutes: float = Field(default=15.0, gt=0, le=1440)

    accounts_file: Path | None = None
    delivery_file: Path = DEFAULT_DELIVERY
    outbox_max_attempts: int = Field(default=8, ge=1, le=50)
    deliver_in_process: bool | None = None

    timestamp_window: int = Field(default=300, ge=1)
    reply_budget: float = Field(default=4.0, gt=0, le=4.8)
    dedupe_ttl: int = Field(default=60, ge=16)
    reply_ttl: int = Field(default=60, ge=16)
    # a conversation is kept this long after its last message; a flow left longer than
    # flow_ttl is offered to resume or discard, so state_ttl must be longer than flow_ttl
    state_ttl: int = Field(default=7 * 86400, ge=60)
    flow_ttl: int = Field(default=1800, ge=60)
    catalogue_ttl: float = Field(default=30.0, ge=0)  # re-read the routing catalogue after
    lock_ttl: float = Field(default=60.0, gt=0)  # a handler running this long is given up
    # a worker's claim on a message and on its user's lock is a lease this long, renewed
    # while the worker lives: a worker killed mid-message blocks its user this long at most
    lease: float = Field(default=3.0, ge=0.3, le=30.0)
    # a message that was not handled (a store failed) is not answered for this long, so
    # WeChat (which waits 5 s) tries again; a message older than last_try_age by its
    # CreateTime is WeChat's last try, and is answered with what to do instead
    retry_hold: float = Field(default=5.5, gt=0, le=30.0)
    last_try_age: float = Field(default=8.0, gt=0)
    # a message answered ``success`` before its handler finished is kept this long for
    # another worker to finish if its own dies
    parked_ttl: int = Field(default=3600, ge=60)
    max_body_bytes: int = Field(default=64 * 1024, ge=1024)
    api_timeout: float = Field(default=10.0, gt=0)
    log_level: str = "INFO"

    @field_validator("wechat_aes_key", mode="before")
    @classmethod
    def _aes(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        return check_aes_key(value)

    @field_validator("console_secret", mode="before")
    @classmethod
    def _console_secret(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if not isinstance(value, str):
            raise ValueError("must be a string")
        try:
            raw = base64.urlsafe_b64decode(value.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ValueError("must be URL-safe base64 (lianxin console key)") from None
        if len(raw) != 32:
            raise ValueError("must be 32 bytes in URL-safe base64 (lianxin console key)")
        return value

    @field_validator("wechat_api_base")
    @classmethod
    def _base(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// address")
        return value.rstrip("/")

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis(cls, value: object) -> object:
        if value in (None, ""):
            return None
        if not isinstance(value, str) or not value.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ValueError("must be redis://host:port/db (or rediss://, unix://)")
        return value

    @field_validator("wechat_token")
    @classmethod
    def _token(cls, value: str) -> str:
        if not value.isalnum() or not value.isascii():
            raise ValueError("must be 3-32 ASCII letters or digits, as the WeChat console asks")
        return value

    @model_validator(mode="after")
    def _compatible_needs_key(self) -> Settings:
        if self.wechat_compatible and not self.wechat_aes_key:
            raise ValueError("wechat_compatible needs wechat_aes_key: compatible mode is a "
                             "mode of safe-mode (encrypted) accounts")
        return self

    @model_validator(mode="after")
    def _flow_fits_state(self) -> Settings:
        if self.state_ttl <= self.flow_ttl:
            raise ValueError(f"state_ttl ({self.state_ttl}) must be longer than flow_ttl "
                             f"({self.flow_ttl}): an expired flow is offered to resume")
        return self

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        upper = value.upper()
        if upper not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return upper


@dataclass(frozen=True, slots=True)
class Account:
    """One public account served by this deployment."""

    name: str
    token: str
    app_id: str
    app_secret: str
    aes_key: str | None
    api_base: str
    # with an aes_key: also accept plaintext callbacks (WeChat's compatible mode)
    compatible: bool = False

    @property
    def path(self) -> str:
        return "/wechat" if self.name == "default" else f"/wechat/{self.name}"


def read_toml(path: Path, where: str) -> dict[str, Any]:
    """Parse a TOML config file; :class:`ConfigError` starting with ``where`` on any fault."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {exc}") from None


_S = TypeVar("_S", bound=BaseSettings)


def load_settings() -> Settings:
    """Read the environment; raises :class:`ConfigError` with one line naming the setting."""
    return _load(Settings)


def load_database_settings() -> DatabaseSettings:
    """Only ``LIANXIN_DATABASE_URL``; :class:`ConfigError` as :func:`load_settings`."""
    return _load(DatabaseSettings)


def load_office_settings() -> OfficeSettings:
    """The database, texts, calendar and 签收 settings; :class:`ConfigError`."""
    return _load(OfficeSettings)


def _load(model: type[_S]) -> _S:
    try:
        return model()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = "LIANXIN_" + "_".join(str(p) for p in err["loc"]).upper()
        if not err["loc"]:  # a rule between settings: the message names them
            raise ConfigError(f"settings: {err['msg'].removeprefix('Value error, ')}") \
                from None
        if err["type"] == "missing":
            raise ConfigError(f"{name} is not set") from None
        raise ConfigError(f"{name}: {err['msg']}") from None


def load_accounts(settings: Settings) -> list[Account]:
    """The environment's account first, then those in ``LIANXIN_ACCOUNTS_FILE``."""
    accounts = [
        Account(
            name="default",
            token=settings.wechat_token,
            app_id=settings.wechat_app_id,
            app_secret=settings.wechat_app_secret.get_secret_value(),
            aes_key=settings.wechat_aes_key,
            api_base=settings.wechat_api_base,
            compatible=settings.wechat_compatible,
        )
    ]
    if settings.accounts_file is None:
        return accounts
    path = settings.accounts_file
    where = f"LIANXIN_ACCOUNTS_FILE {path}"
    data = read_toml(path, where)
    table = data.get("accounts")
    if not isinstance(table, dict) or not table:
        raise ConfigError(f"{where}: needs at least one [accounts.NAME] table")
    for name, entry in table.items():
        here = f"{where}: [accounts.{name}]"
        if not _ACCOUNT_NAME.match(name) or name == "default":
            raise ConfigError(f"{here}: name must be lower-case letters, digits, - or _")
        if not isinstance(entry, dict):
            raise ConfigError(f"{here}: must be a table")
        unknown = set(entry) - {"token", "app_id", "app_secret", "aes_key", "api_base",
                                "compatible"}
        if unknown:
            raise ConfigError(f"{here}: unknown key {sorted(unknown)[0]}")
        values: dict[str, str] = {}
        for key in ("token", "app_id", "app_secret"):
            value = entry.get(key)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{here}: {key} is not set")
            values[key] = value
        aes = entry.get("aes_key")
        if aes is not None:
            if not isinstance(aes, str):
                raise ConfigError(f"{here}: aes_key must be a string")
            try:
                check_aes_key(aes)
            except ValueError as exc:
                raise ConfigError(f"{here}: aes_key {exc}") from None
        compatible = entry.get("compatible", False)
        if not isinstance(compatible, bool):
            raise ConfigError(f"{here}: compatible must be true or false")
        if compatible and aes is None:
            raise ConfigError(f"{here}: compatible mode needs an aes_key")
        base = entry.get("api_base", settings.wechat_api_base)
        if not isinstance(base, str) or not base.startswith(("http://", "https://")):
            raise ConfigError(f"{here}: api_base must be an http:// or https:// address")
        if not values["token"].isalnum() or not 3 <= len(values["token"]) <= 32:
            raise ConfigError(f"{here}: token must be 3-32 ASCII letters or digits")
        accounts.append(
            Account(
                name=name,
                token=values["token"],
                app_id=values["app_id"],
                app_secret=values["app_secret"],
                aes_key=aes,
                api_base=base.rstrip("/"),
                compatible=compatible,
            )
        )
    return accounts


# ---------------------------------------------------------------- fit for the real platform
DEV_ENV = REPO_ROOT / "config" / "dev.env"
ACCOUNTS_EXAMPLE = REPO_ROOT / "config" / "accounts.example.toml"
_DEV_CREDENTIAL = re.compile(
    r"^\s*(?:export\s+)?LIANXIN_WECHAT_(?:TOKEN|APP_SECRET|AES_KEY)=[\"']?([^\"'\s]+)")
_CREDENTIALS = {"token": "Token", "app_secret": "AppSecret", "aes_key": "EncodingAESKey"}


def committed_credentials() -> dict[str, str]:
    """Every Token, AppSecret and EncodingAESKey committed to this repository, each with
    the file that holds it (``config/dev.env``, ``config/accounts.example.toml``): anyone
    who reads the repository knows them, so they are fit only for the dev platform."""
    known: dict[str, str] = {}
    try:
        lines = DEV_ENV.read_text(encoding="utf-8").splitlines()
    except OSError:
        lines = []
    for line in lines:
        found = _DEV_CREDENTIAL.match(line)
        if found:
            known[found.group(1)] = "config/dev.env"
    try:
        example = tomllib.loads(ACCOUNTS_EXAMPLE.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError):
        example = {}
    table = example.get("accounts")
    for entry in table.values() if isinstance(table, dict) else ():
        for key in _CREDENTIALS:
            value = entry.get(key) if isinstance(entry, dict) else None
            if isinstance(value, str) and value:
                known[value] = "config/accounts.example.toml"
    return known


def is_loopback(url: str) -> bool:
    """Whether ``url`` points at this machine (the dev platform), by name or address."""
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_fit_for_platform(settings: Settings, accounts: list[Account]) -> None:
    """What ``lianxin serve`` and ``lianxin scheduler`` refuse for an account whose API base
    is not this machine, with :class:`ConfigError` (one line, no secret in it): a plain
    ``http://`` API base (the AppSecret would cross the network in clear), and a Token,
    AppSecret or EncodingAESKey committed to the repository (``config/dev.env``,
    ``config/accounts.example.toml``). On loopback both are the dev platform's, and fine."""
    known = committed_credentials()
    for account in accounts:
        if is_loopback(account.api_base):
            continue
        if account.name == "default":
            names = {key: f"LIANXIN_WECHAT_{key.upper()}" for key in (*_CREDENTIALS, "api_base")}
        else:
            where = f"LIANXIN_ACCOUNTS_FILE {settings.accounts_file}: [accounts.{account.name}]"
            names = {key: f"{where} {key}" for key in (*_CREDENTIALS, "api_base")}
        if urlsplit(account.api_base).scheme != "https":
            raise ConfigError(
                f"{names['api_base']}: {account.api_base} is plain http to another machine, "
                "and the AppSecret would cross the network in clear: use https:// (http:// "
                "is for the dev platform on this machine)")
        for key, label in _CREDENTIALS.items():
            value = getattr(account, key)
            if value is not None and value in known:
                raise ConfigError(
                    f"{names[key]} is the development {label} committed in {known[value]}, "
                    f"and the API base {account.api_base} is not the dev platform on this "
                    f"machine: set the account's own {label} from the WeChat console")


def holidays_path() -> Path:
    """``LIANXIN_HOLIDAYS_FILE`` (default ``config/holidays.toml``), for the commands that
    need no other setting."""
    return Path(os.environ.get("LIANXIN_HOLIDAYS_FILE") or DEFAULT_HOLIDAYS)


def load_calendar(path: Path) -> Calendar:
    """The working-day calendar: the operator's file (``LIANXIN_HOLIDAYS_FILE``) in front of
    the ``chinesecalendar`` package; :class:`ConfigError` names the fault."""
    where = f"LIANXIN_HOLIDAYS_FILE {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{where}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: cannot read: {exc}") from None
    try:
        return STATUTORY.with_arrangements(parse_holidays(text, where))
    except HolidaysError as exc:
        raise ConfigError(str(exc)) from None


class CalendarFile:
    """The calendar of ``path``, read again when the file changes (an operator adds next
    year's arrangement while the scheduler runs); a file that turns bad keeps the calendar
    it had, with one warning per change."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._calendar = load_calendar(path)
        self._seen = self._stamp()

    def _stamp(self) -> tuple[int, int] | None:
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def __call__(self) -> Calendar:
        stamp = self._stamp()
        if stamp != self._seen:
            self._seen = stamp
            try:
                self._calendar = load_calendar(self._path)
            except ConfigError as exc:
                log.warning("calendar file changed and is not usable, the last one is "
                            "kept: %s", exc)
            else:
                log.info("calendar file %s read again", self._path)
        return self._calendar


def load_delivery(path: Path) -> dict[str, Purpose]:
    """The delivery config (``LIANXIN_DELIVERY_FILE``); :class:`ConfigError` names the fault."""
    where = f"LIANXIN_DELIVERY_FILE {path}"
    try:
        return parse_purposes(read_toml(path, where), where)
    except PurposesError as exc:
        raise ConfigError(str(exc)) from None
