"""handlers/context.py: the state context the edge hands a handler."""

from __future__ import annotations

from handlers.context import StateContext


def test_a_state_read_and_left_alone_is_unchanged() -> None:
    stored = {"flow": "complaint", "step": "kind"}
    state = StateContext(stored)
    assert state.get() == stored and not state.changed


def test_setting_a_state_records_the_change_and_the_value() -> None:
    state = StateContext(None)
    state.set(["any", "shape"])
    assert state.changed and state.get() == ["any", "shape"]


def test_a_cleared_state_reads_as_none_and_counts_as_a_change() -> None:
    state = StateContext({"step": 2})
    state.clear()
    assert state.changed and state.get() is None
