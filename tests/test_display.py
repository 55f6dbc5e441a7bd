"""How dates and departments read in receipts and in 我的留言 (domain/display.py)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from domain.display import department_name, format_day
from domain.texts import Texts
from tests.citizens import demo_catalogue

TEXTS = Texts.load(Path(__file__).resolve().parents[1] / "config" / "texts.toml")


def test_a_day_reads_with_its_weekday_from_the_catalogue() -> None:
    assert format_day(TEXTS, date(2026, 11, 30)) == "2026年11月30日（周一）"
    assert format_day(TEXTS, date(2026, 10, 4)) == "2026年10月4日（周日）"


def test_a_department_reads_by_name_and_a_removed_one_by_its_id() -> None:
    catalogue = demo_catalogue()
    assert department_name(catalogue, "zjj") == "县住房和城乡建设局"
    assert department_name(catalogue, "gone") == "gone"
