"""``lianxin staff …``: staff accounts and their API tokens, on the database at
``LIANXIN_DATABASE_URL`` (run ``lianxin db upgrade`` first).

- ``add LOGIN --name NAME --role handler|supervisor|admin [--department ID] [--password]``:
  a new account (the first admin of an empty database is made this way); ``--password``
  asks for one on the terminal, or reads one line from standard input when that is not a
  terminal. A handler's department must be one of the catalogue loaded in the database.
- ``list``: every account, with its live tokens.
- ``disable LOGIN`` / ``enable LOGIN``: a disabled account signs in with nothing; enabled
  again, its password and the tokens it had (not revoked) work again.
- ``passwd LOGIN``: a new password (asked for, or one line from standard input).
- ``token create LOGIN [--label TEXT]``: a new API token, printed once (it is not kept).
- ``token revoke ID``: the token stops working at once.
- ``bind-code LOGIN``: a one-time code (10 minutes): sent to the account in WeChat as
  "绑定 <code>", it binds that WeChat user to the staff account (notices, 待办).
- ``unbind LOGIN``: the account's WeChat user is a citizen again (a lost phone; the
  member can also send 解除绑定).
- ``demo``: for ``make run``: a supervisor ``demo-office``, an admin ``demo-admin``
  and a handler ``demo-<id>`` for each department of the loaded catalogue, each with a
  fresh token printed (the previous demo tokens are revoked). On a database with any
  account not made by it, it makes none and says so (exit 0, so ``make run`` goes on).

A fault prints one line, ``lianxin: <what is wrong>``, and exits 2. No password or token
is ever written to the log.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable

from bot.config import DEFAULT_TEXTS, ConfigError, load_database_settings
from domain.staff import LOGIN, AccountError, Role
from domain.texts import Texts
from storage import db
from storage.catalogue import CatalogueRepository
from storage.staff import StaffAccounts, UnknownAccount


def _fail(message: str) -> int:
    print(f"lianxin: {message}", file=sys.stderr)
    return 2


def _read_password(login: str) -> str:
    if sys.stdin.isatty():
        first = getpass.getpass(f"password for {login}: ")
        if getpass.getpass("again: ") != first:
            raise AccountError("password", "the two entries differ")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _run(work: Callable[[StaffAccounts, CatalogueRepository], Awaitable[int]]) -> int:
    try:
        settings = load_database_settings()
    except ConfigError as exc:
        return _fail(str(exc))

    async def run() -> int:
        engine = db.make_engine(settings.database_url)
        try:
            return await work(StaffAccounts(engine), CatalogueRepository(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (AccountError, UnknownAccount) as exc:
        return _fail(str(exc))
    except Exception as exc:  # the database: one line, not a traceback
        return _fail(f"staff: {type(exc).__name__}: {exc}")


def cmd_add(args: argparse.Namespace) -> int:
    role = Role(args.role)

    async def work(staff: StaffAccounts, catalogue: CatalogueRepository) -> int:
        if args.department:
            loaded = await catalogue.load()
            if loaded is None:
                return _fail("no catalogue in the database: run `lianxin config load` first")
            known = [d.id for d in loaded.departments]
            if args.department not in known:
                return _fail(f"department: {args.department!r} is not in the catalogue "
                             f"({', '.join(known)})")
        password = _read_password(args.login) if args.password else None
        made = await staff.add(args.login, args.name, role, args.department, password)
        print(f"added {made.login} ({made.role}"
              + (f", {made.department}" if made.department else "") + ")")
        return 0

    return _run(work)


def cmd_list(args: argparse.Namespace) -> int:
    async def work(staff: StaffAccounts, catalogue: CatalogueRepository) -> int:
        accounts = await staff.all()
        if not accounts:
            print("no staff accounts; make the first admin with "
                  "`lianxin staff add LOGIN --name NAME --role admin --password`")
            return 0
        for account in accounts:
            tokens = [t for t in await staff.tokens(account.login) if t.revoked_at is None]
            print(f"{account.login:<20} {account.role:<10} {account.department or '-':<10} "
                  f"{'active' if account.active else 'disabled':<8} {account.display_name}")
            for token in tokens:
                used = (f"last used {token.last_used_at:%Y-%m-%d %H:%M}"
                        if token.last_used_at else "never used")
                print(f"    token {token.id:<6} {token.label}  made "
                      f"{token.created_at:%Y-%m-%d %H:%M}, {used}")
        return 0

    return _run(work)


def cmd_active(args: argparse.Namespace) -> int:
    async def work(staff: StaffAccounts, catalogue: CatalogueRepository) -> int:
        account = await staff.set_active(args.login, args.staff_command == "enable")
        print(f"{account.login} is {'active' if account.active else 'disabled'}")
        return 0

    return _run(work)


def cmd_passwd(args: argparse.Namespace) -> int:
    async def work(staff: StaffAccounts, catalogue: CatalogueRepository) -> int:
        if await staff.get(args.login) is None:
            raise UnknownAccount(args.login)
        await staff.set_password(args.login, _read_password(args.login))
        print(f"password of {args.login} changed")
        return 0

    return _run(work)


def cmd_token(args: argparse.Namespace) -> int:
    async def work(staff: StaffAccounts, catalogue: CatalogueRepository) -> int:
        if args.token_command == "create":
            token, secret = await staff.create_token(args.login, args.label)
            print(f"token {token.id} for {args.login} ({token.label}); shown once, keep it:")
            print(secret)
            return 0
        if not await staff.revoke_token(args.id):
            return _fail(f"no live token {args.id}")
        print(f"token {args.id} revoked")
        return 0

    return _run(work)


DEMO_PREFIX = "demo-"
DEMO_LABEL = "make run"


# the demo accounts' password, printed by `make run` (a local demo: never on a database
# with accounts of its own, see cmd_demo)
DEMO_PASSWORD = "lianxin-demo"


def cmd_demo(args: argparse.Namespace) -> int:
    async def work(staff: StaffAccounts, catalogue: CatalogueRepository) -> int:
        others = [a.login for a in await staff.all() if not a.login.startswith(DEMO_PREFIX)]
        if others:  # not a fault: `make run` goes on, with the accounts made by hand
            print(f"staff demo: this database has accounts of its own ({others[0]} …): "
                  "no demo accounts made")
            return 0
        loaded = await catalogue.load()
        if loaded is None:
            return _fail("no catalogue in the database: run `lianxin config load` first")
        texts = Texts.load(DEFAULT_TEXTS)
        wanted: list[tuple[str, str, Role, str | None]] = [
            (f"{DEMO_PREFIX}office", texts("staff_demo_office"), Role.SUPERVISOR, None)]
        wanted += [(f"{DEMO_PREFIX}{d.id}",
                    texts("staff_demo_handler", department=d.short_name), Role.HANDLER, d.id)
                   for d in loaded.departments]
        wanted.append((f"{DEMO_PREFIX}admin", texts("staff_demo_admin"), Role.ADMIN, None))
        host = (os.environ.get("LIANXIN_STAFF_HOST") or os.environ.get("LIANXIN_HOST")
                or "127.0.0.1")
        port = os.environ.get("LIANXIN_STAFF_PORT") or os.environ.get("LIANXIN_PORT", "8080")
        base = f"http://{host}:{port}"
        print(f"web console: {base}/console  (every demo account below signs in with "
              f"the password {DEMO_PASSWORD})")
        print(f"public board: http://{os.environ.get('LIANXIN_HOST') or '127.0.0.1'}:"
              f"{os.environ.get('LIANXIN_PORT', '8080')}/board")
        print(f"demo staff accounts for the staff API at {base}/api/v1 "
              "(header: Authorization: Bearer TOKEN):")
        for login, name, role, department in wanted:
            if not LOGIN.fullmatch(login):  # a department id too long for a login name
                print(f"  {login:<24} skipped: not a valid login name")
                continue
            if await staff.get(login) is None:
                await staff.add(login, name, role, department, password=DEMO_PASSWORD)
            else:
                await staff.set_password(login, DEMO_PASSWORD)
            for token in await staff.tokens(login):
                if token.revoked_at is None and token.label == DEMO_LABEL:
                    await staff.revoke_token(token.id)
            _, secret = await staff.create_token(login, DEMO_LABEL)
            print(f"  {login:<24} {role:<10} {secret}")
        return 0

    return _run(work)


def cmd_bind_code(args: argparse.Namespace) -> int:
    async def work(staff: StaffAccounts, catalogue: CatalogueRepository) -> int:
        code, expires = await staff.bind_code(args.login)
        print(f"send this in WeChat to the account, within 10 minutes "
              f"(until {expires:%H:%M} UTC): 绑定 {code}")
        return 0

    return _run(work)


def cmd_unbind(args: argparse.Namespace) -> int:
    async def work(staff: StaffAccounts, catalogue: CatalogueRepository) -> int:
        was = await staff.unbind_login(args.login)
        print(f"{args.login}: " + ("WeChat user unbound" if was else "no WeChat user was bound"))
        return 0

    return _run(work)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lianxin staff …``."""
    staff = sub.add_parser("staff", help="staff accounts and API tokens",
                           description=__doc__.split("\n\n")[0] if __doc__ else None)
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)

    add = staff_sub.add_parser("add", help="a new account")
    add.add_argument("login", help="the login name (3-32: a-z 0-9 . _ -)")
    add.add_argument("--name", required=True, help="the name shown (e.g. 张三)")
    add.add_argument("--role", required=True, choices=[r.value for r in Role])
    add.add_argument("--department", help="a handler's department (a catalogue id)")
    add.add_argument("--password", action="store_true",
                     help="set a password (asked for, or one line of standard input)")
    add.set_defaults(func=cmd_add)

    listing = staff_sub.add_parser("list", help="every account and its live tokens")
    listing.set_defaults(func=cmd_list)

    for name, what in (("disable", "signs in with nothing, tokens included"),
                       ("enable", "may sign in again")):
        command = staff_sub.add_parser(name, help=f"the account {what}")
        command.add_argument("login")
        command.set_defaults(func=cmd_active)

    passwd = staff_sub.add_parser("passwd", help="a new password (asked for, or stdin)")
    passwd.add_argument("login")
    passwd.set_defaults(func=cmd_passwd)

    token = staff_sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="a new token, printed once")
    create.add_argument("login")
    create.add_argument("--label", default="api", help="what it is for (default: api)")
    create.set_defaults(func=cmd_token)
    revoke = token_sub.add_parser("revoke", help="stop a token working")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_token)

    bind = staff_sub.add_parser("bind-code", help="a one-time code to bind a WeChat user")
    bind.add_argument("login")
    bind.set_defaults(func=cmd_bind_code)

    unbind = staff_sub.add_parser("unbind", help="unbind the account's WeChat user")
    unbind.add_argument("login")
    unbind.set_defaults(func=cmd_unbind)

    demo = staff_sub.add_parser("demo", help="demo accounts and fresh tokens (make run)")
    demo.set_defaults(func=cmd_demo)
