"""``lianxin report`` as an operator runs it: what it refuses (one line, exit 2) and the
shape of its output; the figures themselves: tests/test_report_e2e.py."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.cli import cli_env, lianxin


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
