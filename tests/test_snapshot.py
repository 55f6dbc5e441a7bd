"""The in-process store kept across restarts (storage/snapshot.py): what a graceful stop
saves, what start-up reads back, and what a crash (the files as a kill -9 leaves them)
loses and says it lost."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import stat
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from flows.context import Conversation, lost_on_restart, open_in
from storage.base import decode, encode
from storage.keys import KeyBuilder
from storage.memory import MemoryStore
from storage.snapshot import FORMAT, VERSION, Forms, KeptStore, StoreFiles, files_for

KEYS = KeyBuilder()
FORMS = Forms(prefix="lianxin:state:", is_open=open_in, lost=lost_on_restart, lost_ttl=3600)
LOCKS = ("lianxin:lock:",)
PER_MESSAGE = ("lianxin:nonce:", "lianxin:dedupe:", "lianxin:reply:", *LOCKS)
LOGGER = "storage.snapshot"


def state_key(user: str) -> str:
    return KEYS.state("default", user)


def in_form(step: str, tries: int = 0) -> dict[str, Any]:
    return Conversation("complaint", step, {"answers": {"kind": "投诉"}, "tries": tries},
                        2_000_000_000.0).to_json()


def idle(tag: int = 1) -> dict[str, Any]:
    """A state with no form open (``tag`` tells one write from another)."""
    return Conversation(data={"tag": tag}).to_json()


def files_in(directory: Path) -> StoreFiles:
    files = files_for(f"sqlite+aiosqlite:///{directory}/lianxin.db")
    assert files is not None
    return files


Opener = Callable[[StoreFiles], Any]


@pytest.fixture
async def opened() -> AsyncIterator[Callable[[StoreFiles], Any]]:
    """Open kept stores; any still open at the end are closed gracefully."""
    kept: list[KeptStore] = []

    async def open_(files: StoreFiles) -> tuple[MemoryStore, KeptStore]:
        store = MemoryStore()
        one = await KeptStore.open(store, files, FORMS, transient=PER_MESSAGE, skip=LOCKS)
        assert one is not None
        kept.append(one)
        return store, one

    yield open_
    for one in kept:
        await one.close()  # a second close does nothing


def crash_copy(files: StoreFiles, into: Path) -> StoreFiles:
    """The files as they are on disk now: what a kill -9 at this moment leaves behind."""
    into.mkdir()
    copy = files_in(into)
    for source, target in ((files.snapshot, copy.snapshot), (files.journal, copy.journal),
                           (files.previous_journal, copy.previous_journal)):
        if source.exists():
            shutil.copy2(source, target)
    return copy


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER]


def test_the_files_sit_beside_the_sqlite_database(tmp_path: Path) -> None:
    files = files_for(f"sqlite+aiosqlite:///{tmp_path}/data/bot.db")
    assert files is not None
    assert files.snapshot == tmp_path / "data" / "bot.db.store.json"
    assert files.journal == tmp_path / "data" / "bot.db.store.journal"
    relative = files_for("sqlite+aiosqlite:///./lianxin.db")
    assert relative is not None and str(relative.snapshot) == "lianxin.db.store.json"
    other = files_for("postgresql+asyncpg://u@h/lianxin")
    assert other is not None and str(other.snapshot) == "lianxin.store.json"
    assert files_for("sqlite+aiosqlite:///:memory:") is None
    assert files_for("sqlite+aiosqlite://") is None


async def test_a_graceful_stop_keeps_everything_with_its_remaining_ttl(
    tmp_path: Path, opened: Opener,
) -> None:
    files = files_in(tmp_path)
    store, kept = await opened(files)
    await store.set(state_key("oA"), in_form("region"), ttl=7 * 86400)
    await store.set(KEYS.nonce("default", "n1"), "digest", ttl=600)
    await store.set(KEYS.dedupe("default", "m1"), 1, ttl=60)
    await store.set(KEYS.window("default", "oA", "message"), {"opened_at": 1.5}, ttl=172800)
    await store.set(KEYS.consent("default", "oA", "T1"), 1)
    assert await store.incr("counter", ttl=100) == 1
    await store.set("short", "x", ttl=0.6)
    await kept.close()
    doc = json.loads(files.snapshot.read_text(encoding="utf-8"))
    assert doc["clean"] is True and doc["complete"] is True and doc["format"] == FORMAT
    assert stat.S_IMODE(files.snapshot.stat().st_mode) == 0o600
    assert not files.journal.exists() and not files.previous_journal.exists()
    assert KEYS.consent("default", "oA", "T1") not in doc["expires"]  # no expiry
    assert abs(doc["expires"][KEYS.nonce("default", "n1")] - (time.time() + 600)) < 5

    again, _ = await opened(files)
    assert await again.get(state_key("oA")) == in_form("region")
    assert await again.get(KEYS.nonce("default", "n1")) == "digest"
    assert await again.get(KEYS.dedupe("default", "m1")) == 1
    assert await again.get(KEYS.window("default", "oA", "message")) == {"opened_at": 1.5}
    assert await again.get(KEYS.consent("default", "oA", "T1")) == 1
    assert await again.incr("counter", ttl=100) == 2
    assert await again.get("short") == "x"
    await asyncio.sleep(0.8)
    assert await again.get("short") is None  # its remaining TTL, not a new one


async def test_expired_entries_and_locks_are_not_brought_back(
    tmp_path: Path, opened: Opener,
) -> None:
    files = files_in(tmp_path)
    now = time.time()
    files.snapshot.write_text(json.dumps({
        "format": FORMAT, "version": VERSION, "written_at": now - 30, "clean": True,
        "complete": True, "journal_seq": 0,
        "values": {"lianxin:nonce:default:old": '"d"', "lianxin:nonce:default:new": '"d"',
                   "lianxin:lock:user:default:oA": '"token"'},
        "expires": {"lianxin:nonce:default:old": now - 1,
                    "lianxin:nonce:default:new": now + 300,
                    "lianxin:lock:user:default:oA": now + 60}}), encoding="utf-8")
    store, _ = await opened(files)
    assert len(store) == 1  # dropped as they are read, not left to expire
    assert await store.get("lianxin:nonce:default:old") is None
    assert await store.get("lianxin:nonce:default:new") == "d"
    assert await store.try_lock("lianxin:lock:user:default:oA", 60) is not None


async def test_a_lock_held_at_a_stop_is_free_after_it(tmp_path: Path, opened: Opener) -> None:
    files = files_in(tmp_path)
    store, kept = await opened(files)
    lock = KEYS.token_lock("wx1")
    assert await store.try_lock(lock, 60) is not None
    await kept.close()
    again, _ = await opened(files)
    assert await again.try_lock(lock, 60) is not None


async def test_background_saves_hold_the_lasting_keys_only(
    tmp_path: Path, opened: Opener,
) -> None:
    """Per-message keys grow with the traffic of the last minutes: saving them every few
    seconds would cost that much. A graceful stop saves them; a kill -9 loses them."""
    files = files_in(tmp_path)
    store, kept = await opened(files)
    await store.set(state_key("oA"), in_form("region"), ttl=86400)
    await store.set(KEYS.window("default", "oA", "message"), {"opened_at": 1.5}, ttl=172800)
    await store.set(KEYS.nonce("default", "n1"), "digest", ttl=600)
    await store.set(KEYS.dedupe("default", "m1"), 1, ttl=60)
    await store.set(KEYS.reply("default", "m1"), {"mode": "passive"}, ttl=60)
    assert await store.try_lock(KEYS.user_lock("default", "oA"), 60) is not None
    before = store.changes
    await store.set(KEYS.nonce("default", "n2"), "digest", ttl=600)
    assert store.changes == before  # nothing lasting changed: no background save for it
    assert await kept.save(complete=False)
    doc = json.loads(files.snapshot.read_text(encoding="utf-8"))
    assert doc["complete"] is False
    assert sorted(doc["values"]) == sorted([state_key("oA"),
                                            KEYS.window("default", "oA", "message")])
    crashed = crash_copy(files, tmp_path / "crashed")
    after, _ = await opened(crashed)
    assert await after.get(state_key("oA")) == in_form("region")
    assert await after.get(KEYS.nonce("default", "n1")) is None


@pytest.mark.parametrize("content", [
    None,
    b"\x00\xff garbage",
    b'{"format": "lianxin-store", "version": 1, "entries": [',
    b"[]",
    b'{"format": "something-else", "version": 1}',
    b'{"format": "lianxin-store", "version": 99, "entries": []}',
    b'{"format": "lianxin-store", "version": 1, "written_at": "soon", "clean": true, '
    b'"complete": true, "journal_seq": 0, "values": {}, "expires": {}}',
    b'{"format": "lianxin-store", "version": 1, "written_at": 1, "clean": true, '
    b'"complete": true, "journal_seq": 0, "values": [], "expires": {}}',
], ids=["missing", "garbage", "truncated", "list", "other-format", "other-version",
        "bad-time", "bad-values"])
async def test_a_missing_or_unusable_snapshot_starts_empty_with_one_log_line(
    tmp_path: Path, opened: Opener, caplog: pytest.LogCaptureFixture, content: bytes | None,
) -> None:
    files = files_in(tmp_path)
    if content is not None:
        files.snapshot.write_bytes(content)
    caplog.set_level(logging.INFO, LOGGER)
    store, _ = await opened(files)
    assert len(store) == 0
    [line] = logged(caplog)
    assert "starting empty" in line and str(files.snapshot) in line
    if content is not None:  # kept for whoever wants to look, and replaced
        corrupt = files.snapshot.with_name(f"{files.snapshot.name}.corrupt")
        assert corrupt.read_bytes() == content
        assert json.loads(files.snapshot.read_text(encoding="utf-8"))["values"] == {}


async def test_unreadable_entries_are_skipped_and_counted(
    tmp_path: Path, opened: Opener, caplog: pytest.LogCaptureFixture,
) -> None:
    files = files_in(tmp_path)
    files.snapshot.write_text(json.dumps({
        "format": FORMAT, "version": VERSION, "written_at": time.time(), "clean": True,
        "complete": True, "journal_seq": 0,
        "values": {"good": '{"a":1}', "not json": "{", "nan": "NaN", "not text": 1,
                   "bad expiry": "1", "infinite": "2"},
        "expires": {"bad expiry": "tomorrow", "infinite": float("inf")}},
        allow_nan=True), encoding="utf-8")
    caplog.set_level(logging.INFO, LOGGER)
    store, _ = await opened(files)
    assert await store.get("good") == {"a": 1} and len(store) == 1
    [line] = logged(caplog)
    assert "restored 1 entries" in line and "5 unreadable entries skipped" in line


async def test_after_a_crash_only_forms_changed_since_the_last_save_are_lost(
    tmp_path: Path, opened: Opener, caplog: pytest.LogCaptureFixture,
) -> None:
    files = files_in(tmp_path)
    store, kept = await opened(files)
    for user, state in (("oSaved", in_form("region")), ("oStale", in_form("region", 7)),
                        ("oDone", in_form("public")), ("oIdle", idle()),
                        ("oNew", idle(4))):
        await store.set(state_key(user), state, ttl=86400)
    assert await kept.save(clean=False)
    # after the save: one answers a question, one files, one chats, one starts a form
    await store.set(state_key("oStale"), in_form("description", 8), ttl=86400)
    await store.set(state_key("oDone"), idle(9), ttl=86400)
    await store.set(state_key("oIdle"), idle(2), ttl=86400)
    await store.set(state_key("oNew"), in_form("kind", 5), ttl=86400)
    crashed = crash_copy(files, tmp_path / "crashed")

    caplog.set_level(logging.INFO, LOGGER)
    after, _ = await opened(crashed)
    assert await after.get(state_key("oSaved")) == (await store.get(state_key("oSaved")))
    assert await after.get(state_key("oIdle")) == idle()  # as saved: nothing to announce
    assert await after.get(state_key("oDone")) is None  # the saved form was filed since
    for user in ("oStale", "oNew"):
        lost = Conversation.from_json(await after.get(state_key(user)))
        assert lost.flow is None and lost.data == {"dropped": "restart"}
    [line] = logged(caplog)
    assert "did not stop gracefully" in line and "2 form(s)" in line


async def test_what_the_edge_commits_is_journaled(tmp_path: Path, opened: Opener) -> None:
    """The journal hangs on the store's writes: the edge's admit/commit must reach it."""
    files = files_in(tmp_path)
    store, _ = await opened(files)
    admission = await store.admit(
        nonce_key=KEYS.nonce("default", "n"), body_digest="d", nonce_ttl=600,
        dedupe_key=KEYS.dedupe("default", "m"), dedupe_ttl=60,
        lock_key=KEYS.user_lock("default", "oEdge"), state_key=state_key("oEdge"))
    assert admission.lock_token is not None
    await store.commit(state_key=state_key("oEdge"), state=in_form("kind"), state_ttl=600,
                       lock_key=KEYS.user_lock("default", "oEdge"),
                       lock_token=admission.lock_token)
    await store.set(state_key("oChat"), idle(), ttl=600)
    lines = files.journal.read_text(encoding="utf-8").splitlines()
    assert lines == [f"1 1 {state_key('oEdge')}"]  # idle chat is not journaled
    await store.delete(state_key("oEdge"))
    assert files.journal.read_text(encoding="utf-8").splitlines()[-1] == \
        f"2 0 {state_key('oEdge')}"
    assert stat.S_IMODE(files.journal.stat().st_mode) == 0o600


async def test_a_state_the_edge_clears_is_journaled_as_closed(
    tmp_path: Path, opened: Opener,
) -> None:
    """A form cleared in the commit (a re-follow) is closed: a crash then restores no
    form and announces none."""
    files = files_in(tmp_path)
    store, _ = await opened(files)
    lock = KEYS.user_lock("default", "oRefollow")
    await store.set(state_key("oRefollow"), in_form("kind"), ttl=600)
    token = await store.try_lock(lock, ttl=5)
    assert token is not None
    await store.commit(state_key=state_key("oRefollow"), state=None, state_ttl=600,
                       lock_key=lock, lock_token=token, clear_state=True)
    assert files.journal.read_text(encoding="utf-8").splitlines() == [
        f"1 1 {state_key('oRefollow')}", f"2 0 {state_key('oRefollow')}"]


async def test_journal_lines_no_landed_snapshot_holds_are_kept_through_failed_saves(
    tmp_path: Path, opened: Opener,
) -> None:
    files = files_in(tmp_path)
    store, kept = await opened(files)
    landed = files.snapshot.read_bytes()
    files.snapshot.unlink()
    files.snapshot.mkdir()  # the disk refuses the next saves
    (files.snapshot / "x").touch()
    await store.set(state_key("o1"), in_form("kind"), ttl=600)
    assert not await kept.save(clean=False)
    await store.set(state_key("o2"), in_form("kind"), ttl=600)
    assert not await kept.save(clean=False)
    await store.set(state_key("o3"), in_form("kind"), ttl=600)
    into = tmp_path / "crashed"
    into.mkdir()
    copy = files_in(into)
    copy.snapshot.write_bytes(landed)  # what is on disk: the last snapshot that landed
    shutil.copy2(files.journal, copy.journal)
    if files.previous_journal.exists():
        shutil.copy2(files.previous_journal, copy.previous_journal)
    after, _ = await opened(copy)
    for user in ("o1", "o2", "o3"):
        assert Conversation.from_json(await after.get(state_key(user))).data == {
            "dropped": "restart"}, user
    shutil.rmtree(files.snapshot)


async def test_torn_and_foreign_journal_lines_are_skipped(tmp_path: Path,
                                                          opened: Opener) -> None:
    files = files_in(tmp_path)
    files.journal.write_bytes(
        f"1 1 {state_key('oA')}\nnonsense\n2 7 {state_key('oB')}\n3 1 lianxin:nonce:x\n"
        f"\xff\n4 1 {state_key('oC')}".encode()[:-3])
    store, _ = await opened(files)
    assert Conversation.from_json(await store.get(state_key("oA"))).data == {
        "dropped": "restart"}
    assert len(store) == 1


async def test_the_background_save_writes_only_while_the_store_changes(
    tmp_path: Path, opened: Opener,
) -> None:
    files = files_in(tmp_path)
    store, kept = await opened(files)
    kept.keep(0.05)
    first = files.snapshot.stat().st_ino
    await store.set("k", 1)
    for _ in range(100):
        await asyncio.sleep(0.02)
        if files.snapshot.stat().st_ino != first:
            break
    second = files.snapshot.stat().st_ino
    assert second != first, "no background save after a change"
    await asyncio.sleep(0.3)
    assert files.snapshot.stat().st_ino == second  # nothing changed: nothing written
    assert decode(json.loads(files.snapshot.read_text())["values"]["k"]) == 1
    await kept.close()
    assert json.loads(files.snapshot.read_text())["clean"] is True


async def test_a_second_process_on_the_same_files_keeps_nothing(
    tmp_path: Path, opened: Opener, caplog: pytest.LogCaptureFixture,
) -> None:
    files = files_in(tmp_path)
    await opened(files)
    caplog.set_level(logging.INFO, LOGGER)
    assert await KeptStore.open(MemoryStore(), files, FORMS, skip=LOCKS) is None
    assert "another process keeps" in caplog.text


def test_lost_on_restart_keeps_nothing_of_the_form() -> None:
    lost = decode(lost_on_restart(encode(in_form("phone", 2))))
    assert Conversation.from_json(lost) == Conversation(data={"dropped": "restart"})
    assert decode(lost_on_restart(None))["data"] == {"dropped": "restart"}
    assert not open_in(lost_on_restart(None))
