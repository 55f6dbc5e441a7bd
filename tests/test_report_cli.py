"""``lianxin report`` as an operator runs it: what it refuses (one line, exit 2) and the
shape of its output; the figures themselves: tests/test_report_e2e.py."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage import db
from storage.consultations import Consultations, NewConsultation
from storage.lawyers import Lawyers
from tests.cli import cli_env, lianxin
from tests.test_staff_cli import load_demo_catalogue


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """A migrated SQLite database and no other setting (made before the test's loop)."""
    return cli_env(tmp_path)


async def test_refusals_are_one_line_and_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    period = ("--from", "2026-11-01", "--to", "2026-11-30")
    for args, said in (
        (("--from", "2026-11-30", "--to", "2026-11-01"), "lianxin: --to is before --from\n"),
        ((*period, "--format", "xlsx"),
         "lianxin: --format xlsx needs --out FILE (a workbook is not for the terminal)\n"),
    ):
        assert await lianxin("report", *args, env=env) == (2, "", said)
    missing = {**env, "LIANXIN_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/none.db"}
    code, out, err = await lianxin("report", *period, env=missing)
    assert (code, out) == (2, "") and err.startswith("lianxin: no database at ")
    assert len(err.splitlines()) == 1


async def test_an_empty_period_gives_a_row_of_zeros_in_each_format(
    env: dict[str, str], tmp_path: Path,
) -> None:
    period = ("--from", "2026-11-01", "--to", "2026-11-30")
    code, table, _ = await lianxin("report", *period, env=env)
    assert code == 0
    header, total = table.splitlines()
    assert header.split()[:3] == ["全部", "受理量", "撤回/并单/不予受理"]
    assert total.split()[:2] == ["合计", "0"] and "-" in total.split()  # no rate: "-"
    code, text, _ = await lianxin("report", *period, "--format", "csv", "--by", "kind",
                                  env=env)
    rows = list(csv.reader(io.StringIO(text)))
    assert code == 0 and rows[0][0] == "按类型" and rows[1][:2] == ["合计", "0"]
    assert rows[1][rows[0].index("满意率")] == ""  # nothing rated: no figure
    out = tmp_path / "r.xlsx"
    code, said, _ = await lianxin("report", *period, "--format", "xlsx", "--out", str(out),
                                  env=env)
    assert (code, said) == (0, f"report written to {out}\n") and out.stat().st_size > 0


async def test_the_legal_consultations_report_by_lawyer_and_area(
    env: dict[str, str], tmp_path: Path,
) -> None:
    """Issue 13 point 7: the consultation's figures in `lianxin report`, named by the
    lawyers' names and the catalogue's areas."""
    await load_demo_catalogue(env)
    engine = db.make_engine(env["LIANXIN_DATABASE_URL"])
    asked_at = datetime(2026, 11, 9, 2, 0, tzinfo=UTC)
    try:
        repo = Consultations(engine)
        for n, area in enumerate(("labour", "labour", "family")):
            await repo.ask(NewConsultation(
                idempotency_key=f"k{n}", account="default", openid=f"o{n}", name=None,
                area=area, question="公司拖欠工资三个月了怎么办", left_message=False),
                now=asked_at + timedelta(minutes=n))
        li = await Lawyers(engine).add("李明", "某所", "14401201810123456", ["labour"])
        await repo.take(li, now=asked_at + timedelta(minutes=5))
    finally:
        await engine.dispose()
    period = ("--from", "2026-11-01", "--to", "2026-11-30", "--of", "consultations")
    code, text, _ = await lianxin("report", *period, "--format", "csv", "--by", "lawyer",
                                  env=env)
    rows = list(csv.reader(io.StringIO(text)))
    assert code == 0 and rows[0][:4] == ["按律师", "咨询量", "其中留言", "接通量"]
    assert [row[:4] for row in rows[1:]] == [
        ["未接通", "2", "0", "0"], ["李明", "1", "0", "1"], ["合计", "3", "0", "1"]]
    assert rows[-1][rows[0].index("接通率")] == "0.3333"
    code, table, _ = await lianxin("report", *period, "--by", "area", env=env)
    assert code == 0 and "劳动争议" in table and "婚姻家庭" in table
    assert await lianxin("report", *period, "--by", "department", env=env) == (
        2, "", "lianxin: --by department: a report of consultations is by lawyer, area, "
               "day\n")
