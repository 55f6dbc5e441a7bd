"""No text promises what the system does not do when it is sent (issue 15).

A text that names the legal service or a lawyer is either tied to the ``legal`` feature
in the catalogue's ``[requires]`` (offered only while a lawyer can take questions), or
sent only inside that service (its prefixes below, each with the reason). The texts a
citizen gets without asking for it — the welcome, the greeting, the help — offer it only
while it is on. What texts promise of the other features (pushes, the department calling
back, the public board) is always on, and is checked to be there."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from bot.app import create_app
from domain.texts import Texts
from domain.tickets import Action
from storage import db
from tests.citizens import fresh_tickets
from tests.conftest import SettingsFactory

FILE = Path(__file__).resolve().parents[1] / "config" / "texts.toml"
RAW = tomllib.loads(FILE.read_text(encoding="utf-8"))
LEGAL_WORDS = ("律师", "法律咨询")
# texts sent only inside the legal service, or to the people who run it
LEGAL_ONLY = (
    "consult_",         # the citizen's consultation: only once 法律咨询 was let start
    "lawyer_",          # to a bound lawyer
    "survey_lawyer_",   # the rating after a consultation that happened
    "console_",         # the staff console's legal pages (staff, not citizens)
    "api_error_lawyer_",  # the staff API
    "report_",          # the office's report
)
# texts that say the service is NOT available: they promise nothing
LEGAL_NEGATIVE = {"legal_soon"}
# texts a citizen gets without asking for a service: they list what is on
UNASKED = ("welcome", "greeting", "help", "unrecognised", "flow_none_open", "not_text",
           "complaint_suggest", "idle_photo", "idle_location", "thanks", "human")


def texts(*features: str) -> Texts:
    loaded = Texts.load(FILE)
    loaded.use_features(lambda: frozenset(features))
    return loaded


def test_every_text_naming_the_legal_service_is_tied_to_it_or_sent_inside_it() -> None:
    catalogue = texts()
    loose = [key for key, value in RAW.items()
             if isinstance(value, str) and any(w in value for w in LEGAL_WORDS)
             and catalogue.requirement(key) != "legal"
             and not key.startswith(LEGAL_ONLY) and key not in LEGAL_NEGATIVE]
    assert loose == [], "tie these to the legal feature in [requires], or say why not"


@pytest.mark.parametrize("key", UNASKED)
def test_unasked_texts_offer_the_legal_service_only_while_it_is_on(key: str) -> None:
    off = texts()(key)
    assert not any(word in off for word in LEGAL_WORDS), off
    on = texts("legal")(key)
    if key in ("welcome", "greeting", "help"):
        assert "法律咨询" in on


def test_the_welcome_numbers_what_is_on() -> None:
    assert "3. 法律咨询" in texts("legal")("welcome")
    off = texts()("welcome")
    assert "1. 我要反映" in off and "2. 我的留言" in off and "3." not in off


def test_a_list_naming_a_text_that_is_not_there_is_refused(tmp_path: Path) -> None:
    broken = tmp_path / "texts.toml"
    broken.write_text(FILE.read_text(encoding="utf-8").replace(
        'services = ["service_complaint",', 'services = ["service_nothing",'), encoding="utf-8")
    with pytest.raises(Exception, match="service_nothing"):
        Texts.load(broken)


def test_what_texts_promise_of_pushes_is_a_push_of_the_lifecycle() -> None:
    """"办理进展会通知您", "结果仍会告知您": every move of staff that the citizen hears of
    has its push text."""
    pushes = {key.removeprefix("ticket_push_") for key in RAW if key.startswith("ticket_push_")}
    told = {"dispatch", "redispatch", "sign", "answer", "close", "merge", "reject",
            "withhold", "approve_answer", "approve_extension"}
    assert told <= pushes
    assert told <= {action.value for action in Action}


async def test_the_board_the_texts_promise_is_served(
    aiohttp_client: Any, make_settings: SettingsFactory, sqlite_url: str,
) -> None:
    """complaint_public promises 公开留言板: the public listener serves it."""
    assert "留言板" in RAW["complaint_public"]
    engine = db.make_engine(sqlite_url)
    try:
        await fresh_tickets(engine)  # the catalogue loaded, as `make run` does
    finally:
        await engine.dispose()
    client = await aiohttp_client(create_app(make_settings(database_url=sqlite_url)))
    response = await client.get("/board")
    assert response.status == 200, await response.text()

