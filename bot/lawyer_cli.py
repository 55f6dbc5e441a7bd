"""``lianxin lawyer …``: duty lawyers' profiles and their invite codes, on the database at
``LIANXIN_DATABASE_URL`` (run ``lianxin db upgrade`` and ``lianxin config load`` first:
a lawyer's areas are the catalogue's legal areas).

- ``invite --name NAME --firm FIRM --licence NO --areas ID,ID [--capacity N]``: a new
  profile and its one-time invite code; ``invite --licence NO`` alone: a new code for a
  profile on file (a lost or expired one). The lawyer sends "律师绑定 <code>" to the
  account in WeChat within 24 hours; their WeChat user is then bound to the profile.
- ``list``: every profile: areas, capacity, on duty or not, bound or not, what it holds.
- ``disable NO`` / ``enable NO``: a disabled profile is off duty and serves nobody; what
  it held goes back to the queue at its place, each citizen told.
- ``demo``: for ``make run``: a demo lawyer in every area, and an invite code printed.

A fault prints one line, ``lianxin: <what is wrong>``, and exits 2. An invite code is
printed once and never written to the log.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from bot.config import ConfigError, load_office_settings
from domain.consultation import DEFAULT_CAPACITY, LawyerRecord, ProfileError
from domain.texts import Texts
from domain.workdays import CHINA
from storage import db
from storage.catalogue import CatalogueRepository
from storage.consultations import Consultations
from storage.lawyers import Lawyers, UnknownLawyer

DEMO_LICENCE = "00000000000000000"  # no real 执业证号 is all zeros


def _fail(message: str) -> int:
    print(f"lianxin: {message}", file=sys.stderr)
    return 2


Work = Callable[[Lawyers, Consultations, CatalogueRepository, Texts], Awaitable[int]]


def _run(work: Work) -> int:
    try:
        settings = load_office_settings()
        texts = Texts.load(settings.texts_file)
        db.require_migrated(settings.database_url)
    except (ConfigError, db.NotReady) as exc:
        return _fail(str(exc))
    except Exception as exc:  # a text catalogue that does not load
        return _fail(str(exc))

    async def run() -> int:
        engine = db.make_engine(settings.database_url)
        try:
            return await work(Lawyers(engine), Consultations(engine),
                              CatalogueRepository(engine), texts)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except (ProfileError, UnknownLawyer) as exc:
        return _fail(str(exc))
    except Exception as exc:  # the database: one line, not a traceback
        return _fail(f"lawyer: {type(exc).__name__}: {exc}")


async def _areas(catalogue: CatalogueRepository) -> list[str] | None:
    loaded = await catalogue.load()
    return None if loaded is None else [a.id for a in loaded.legal_areas]


def _print_invite(lawyer: LawyerRecord, code: str, expires: datetime) -> None:
    print(f"invite for {lawyer.name} ({lawyer.licence}); shown once. The lawyer sends this "
          f"to the account in WeChat before {expires.astimezone(CHINA):%Y-%m-%d %H:%M} "
          f"(China time):")
    print(f"  律师绑定 {code}")


def cmd_invite(args: argparse.Namespace) -> int:
    async def work(lawyers: Lawyers, _: Consultations, catalogue: CatalogueRepository,
                   texts: Texts) -> int:
        found = await lawyers.by_licence(args.licence)
        if found is None:
            if not (args.name and args.firm and args.areas):
                return _fail(f"no lawyer with licence {args.licence}: a new one needs "
                             "--name, --firm and --areas")
            known = await _areas(catalogue)
            if not known:
                return _fail("the catalogue in the database has no legal areas: add "
                             "[[legal_area]] and [legal] to it and run `lianxin config load`")
            areas = [a.strip() for a in args.areas.split(",") if a.strip()]
            found = await lawyers.add(args.name, args.firm, args.licence, areas,
                                      capacity=args.capacity, known_areas=known)
            print(f"added lawyer {found.id}: {found.name}, {found.firm}, areas "
                  f"{', '.join(found.areas)}, capacity {found.capacity}")
        elif args.name or args.firm or args.areas:
            return _fail(f"licence {args.licence} is on file already (lawyer {found.id}): "
                         "`invite --licence` alone makes a new code for it")
        code, expires = await lawyers.invite(found.id)
        _print_invite(found, code, expires)
        return 0

    return _run(work)


def cmd_list(args: argparse.Namespace) -> int:
    async def work(lawyers: Lawyers, consultations: Consultations,
                   catalogue: CatalogueRepository, texts: Texts) -> int:
        found = await lawyers.all()
        if not found:
            print("no lawyers; add one with `lianxin lawyer invite --name … --firm … "
                  "--licence … --areas …`")
            return 0
        for lawyer in found:
            held = len(await consultations.held_by(lawyer.id))
            state = ("disabled" if not lawyer.active
                     else "on duty" if lawyer.on_duty else "off duty")
            print(f"{lawyer.id:>4}  {lawyer.licence:<20} {lawyer.name:<8} {state:<9} "
                  f"{'bound' if lawyer.bound else 'unbound':<8} holds {held}/{lawyer.capacity}"
                  f"  {','.join(lawyer.areas)}  {lawyer.firm}")
        return 0

    return _run(work)


def cmd_active(args: argparse.Namespace) -> int:
    enable = args.lawyer_command == "enable"

    async def work(lawyers: Lawyers, consultations: Consultations,
                   catalogue: CatalogueRepository, texts: Texts) -> int:
        found = await lawyers.by_licence(args.licence)
        if found is None:
            return _fail(f"no lawyer with licence {args.licence}")
        lawyer = await lawyers.set_active(found.id, enable)
        given_back = 0
        if not enable:  # what they held goes back (else the scheduler's job does it)
            given_back = await consultations.give_back_inactive(
                datetime.now(UTC), lambda c: texts("consult_reassigned_citizen",
                                                   number=c.number))
        print(f"lawyer {lawyer.id} ({lawyer.licence}) is "
              f"{'active' if lawyer.active else 'disabled'}"
              + (f"; {given_back} consultation(s) back in the queue" if given_back else ""))
        return 0

    return _run(work)


def cmd_demo(args: argparse.Namespace) -> int:
    async def work(lawyers: Lawyers, consultations: Consultations,
                   catalogue: CatalogueRepository, texts: Texts) -> int:
        known = await _areas(catalogue)
        if not known:
            print("lawyer demo: the catalogue has no legal areas: no demo lawyer made")
            return 0
        found = await lawyers.by_licence(DEMO_LICENCE)
        if found is None:
            found = await lawyers.add(texts("lawyer_demo_name"), texts("lawyer_demo_firm"),
                                      DEMO_LICENCE, known, capacity=DEFAULT_CAPACITY)
        code, _ = await lawyers.invite(found.id)
        print(f"demo lawyer {found.name} ({found.firm}), every legal area: in a second chat "
              f"(lianxin chat --user lawyer) send  律师绑定 {code}  then  上线  and  接单")
        return 0

    return _run(work)


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``lianxin lawyer …``."""
    lawyer = sub.add_parser("lawyer", help="duty lawyers and their invite codes",
                            description=__doc__.split("\n\n")[0] if __doc__ else None)
    lawyer_sub = lawyer.add_subparsers(dest="lawyer_command", required=True)

    invite = lawyer_sub.add_parser("invite", help="a new lawyer (or a new code) and an "
                                                  "invite code, printed once")
    invite.add_argument("--licence", required=True, help="执业证号 (8-20 letters or digits)")
    invite.add_argument("--name", help="the lawyer's name, as citizens are told")
    invite.add_argument("--firm", help="the law firm, as citizens are told")
    invite.add_argument("--areas", help="legal area ids of the catalogue, comma-separated")
    invite.add_argument("--capacity", type=int, default=DEFAULT_CAPACITY,
                        help=f"consultations held at once (default {DEFAULT_CAPACITY})")
    invite.set_defaults(func=cmd_invite)

    listing = lawyer_sub.add_parser("list", help="every lawyer")
    listing.set_defaults(func=cmd_list)

    for name, what in (("disable", "serves nobody; what it held goes back to the queue"),
                       ("enable", "may serve again")):
        command = lawyer_sub.add_parser(name, help=f"the lawyer {what}")
        command.add_argument("licence")
        command.set_defaults(func=cmd_active)

    demo = lawyer_sub.add_parser("demo", help="a demo lawyer and an invite code (make run)")
    demo.set_defaults(func=cmd_demo)
